// File: engine/media/ustar_writer.cc
#include "engine/media/ustar_writer.h"

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::media {
namespace {

constexpr size_t kBlock = 512;

// Numeric fields are zero-padded octal, NUL-terminated, filling the field (POSIX ustar).
void PutOctal(char* field, size_t width, uint64_t value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
}

}  // namespace

absl::Status UstarWriter::Add(std::string_view name, std::string_view data) {
  if (finished_) return absl::FailedPreconditionError("tar: Add after Finish");
  if (name.empty() || name.size() > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("tar: entry name must be 1..100 bytes, got \"", std::string(name), "\""));
  }
  if (data.size() >= (uint64_t{1} << 33)) {
    return absl::InvalidArgumentError(absl::StrCat("tar: entry \"", std::string(name), "\" is ", data.size(),
                                                   " bytes, over ustar's 8 GiB"));
  }
  // mtime is 11 octal digits: outside 0..8^11-1 snprintf would cut it to another time silently.
  if (mtime_ < 0 || mtime_ >= (int64_t{1} << 33)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tar: mtime ", mtime_, " does not fit ustar's 11 octal digits"));
  }
  char h[kBlock] = {};
  std::memcpy(h, name.data(), name.size());  // name[100], NUL-padded when shorter
  PutOctal(h + 100, 8, 0644);                // mode
  PutOctal(h + 108, 8, 0);                   // uid
  PutOctal(h + 116, 8, 0);                   // gid
  PutOctal(h + 124, 12, data.size());        // size
  PutOctal(h + 136, 12, static_cast<uint64_t>(mtime_));
  h[156] = '0';                              // typeflag: regular file
  std::memcpy(h + 257, "ustar", 6);          // magic "ustar\0"
  std::memcpy(h + 263, "00", 2);             // version
  // The checksum is the byte sum of the header with its own field read as eight spaces, written
  // as six octal digits, NUL, space.
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 7, "%06o", sum);
  h[155] = ' ';
  out_.append(h, kBlock);
  out_.append(data);
  out_.append((kBlock - data.size() % kBlock) % kBlock, '\0');
  return absl::OkStatus();
}

std::string UstarWriter::Finish() {
  if (!finished_) out_.append(2 * kBlock, '\0');
  finished_ = true;
  return std::move(out_);
}

}  // namespace ovid::media
