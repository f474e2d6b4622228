// File: server/opaque_ids.cc
#include "server/opaque_ids.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ovid::server {
namespace {

constexpr size_t kBlock = 16;

bool FillRandom(unsigned char* out, size_t n) { return RAND_bytes(out, static_cast<int>(n)) == 1; }

absl::Status NoRandomSource(std::string_view what) {
  return absl::InternalError(
      absl::StrCat("the system's random source (OpenSSL RAND_bytes) failed: no ",
                   absl::string_view(what.data(), what.size())));
}

// One AES-128 block, encrypted or decrypted; false if OpenSSL fails.
bool AesBlock(const std::array<unsigned char, 16>& key, bool encrypt, const unsigned char* in,
              unsigned char* out) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  int len = 0;
  return ctx != nullptr &&
         EVP_CipherInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key.data(), nullptr,
                           encrypt ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
         EVP_CipherUpdate(ctx.get(), out, &len, in, kBlock) == 1 && len == kBlock;
}

absl::Status NotOurs() {
  return absl::InvalidArgumentError(
      "page_token: not a next_page_token of this server's ListJobs (tokens do not survive a "
      "restart; list again from the start)");
}

}  // namespace

PageTokenSeal::PageTokenSeal()
    : keyed_(FillRandom(key_.data(), key_.size()) &&
             FillRandom(reinterpret_cast<unsigned char*>(&check_), sizeof(check_))) {}

absl::StatusOr<std::string> PageTokenSeal::Seal(uint64_t number) const {
  if (!keyed_) return NoRandomSource("key for ListJobs page tokens");
  unsigned char plain[kBlock], sealed[kBlock];
  std::memcpy(plain, &number, 8);
  std::memcpy(plain + 8, &check_, 8);
  if (!AesBlock(key_, true, plain, sealed)) {
    return absl::InternalError("OpenSSL could not seal a ListJobs page token");
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(sealed), kBlock));
}

absl::StatusOr<uint64_t> PageTokenSeal::Open(std::string_view token) const {
  if (!keyed_) return NoRandomSource("key for ListJobs page tokens");
  // Lower-case hex only, as Seal writes it: HexStringToBytes would take upper case too.
  if (token.size() != 2 * kBlock) return NotOurs();
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return NotOurs();
  }
  const std::string bytes = absl::HexStringToBytes(absl::string_view(token.data(), token.size()));
  unsigned char plain[kBlock];
  if (!AesBlock(key_, false, reinterpret_cast<const unsigned char*>(bytes.data()), plain)) {
    return absl::InternalError("OpenSSL could not open a ListJobs page token");
  }
  uint64_t number = 0, check = 0;
  std::memcpy(&number, plain, 8);
  std::memcpy(&check, plain + 8, 8);
  if (check != check_) return NotOurs();
  return number;
}

absl::StatusOr<std::string> RandomJobId() {
  unsigned char bytes[16];
  if (!FillRandom(bytes, sizeof(bytes))) return NoRandomSource("job id");
  return "job-" +
         absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), 16));
}

}  // namespace ovid::server
