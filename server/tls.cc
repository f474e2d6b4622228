// File: server/tls.cc
#include "server/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <ctime>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/secret_file.h"

namespace ovid::server {
namespace {

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  absl::StatusOr<std::string> text = ReadSecretFile(flag, path);
  if (!text.ok()) return text.status();
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no PEM block"));
  }
  return text;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in the PEM text, in order; an error names the one OpenSSL cannot parse
// (gRPC would otherwise refuse the whole chain later, at listen, without saying why).
absl::StatusOr<std::vector<X509Ptr>> Certificates(const char* flag, const std::string& path,
                                                  const std::string& pem) {
  std::vector<X509Ptr> certificates;
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return absl::ResourceExhaustedError(absl::StrCat(flag, ": out of memory"));
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(cert);
  }
  // The read past the last certificate ends with "no start line"; anything else is a bad one.
  const unsigned long error = ERR_peek_last_error();
  ERR_clear_error();
  if (error != 0 &&
      !(ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", path, " certificate ", certificates.size() + 1, " cannot be parsed as X.509"));
  }
  if (certificates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no PEM certificate"));
  }
  return certificates;
}

// A passphrase callback that has none: an encrypted key fails instead of prompting on a
// terminal the daemon does not have.
int NoPassphrase(char*, int, int, void*) { return 0; }

std::optional<absl::Time> NotAfter(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return absl::FromTimeT(timegm(&tm));
}

std::string HexSha256(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

struct TlsFiles {
  std::string cert_pem, key_pem, ca_pem;
  TlsCertificateInfo info;
};

// Reads each file once. With --reload-interval 0 what is checked is what gRPC gets; with the
// file watcher gRPC reads them again itself (the start-up check and CredentialsWatch's look at
// them cover what it will have loaded, up to a swap in between).
absl::StatusOr<TlsFiles> ReadTlsFiles(const Config& config) {
  TlsFiles files;
  absl::StatusOr<std::string> cert_pem = ReadPem("--tls-cert", config.tls_cert);
  if (!cert_pem.ok()) return cert_pem.status();
  files.cert_pem = *std::move(cert_pem);
  absl::StatusOr<std::string> key_pem = ReadPem("--tls-key", config.tls_key);
  if (!key_pem.ok()) return key_pem.status();
  files.key_pem = *std::move(key_pem);
  absl::StatusOr<std::vector<X509Ptr>> chain =
      Certificates("--tls-cert", config.tls_cert, files.cert_pem);
  if (!chain.ok()) return chain.status();
  BioPtr key_bio = MemoryBio(files.key_pem);
  KeyPtr key(key_bio == nullptr
                 ? nullptr
                 : PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", config.tls_key,
                     " holds no private key ovid can read (it must be an unencrypted PEM key)"));
  }
  const X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", config.tls_key, " is not the key of the certificate in ",
                     "--tls-cert ", config.tls_cert, " (its first certificate)"));
  }
  files.info.chain_length = static_cast<int>(chain->size());
  files.info.not_after = NotAfter(leaf);
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(leaf, &der);
  if (der_size > 0)
    files.info.sha256 = HexSha256(std::string_view(reinterpret_cast<char*>(der), der_size));
  OPENSSL_free(der);
  ERR_clear_error();
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
  files.info.subject = subject;
  if (!config.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca_pem = ReadPem("--tls-client-ca", config.tls_client_ca);
    if (!ca_pem.ok()) return ca_pem.status();
    files.ca_pem = *std::move(ca_pem);
    absl::StatusOr<std::vector<X509Ptr>> cas =
        Certificates("--tls-client-ca", config.tls_client_ca, files.ca_pem);
    if (!cas.ok()) return cas.status();
    files.info.ca_certificates = static_cast<int>(cas->size());
  }
  files.info.files_sha256 = HexSha256(files.cert_pem + '\0' + files.ca_pem);
  return files;
}

}  // namespace

absl::StatusOr<ServerSecurity> ServerCredentialsFor(const Config& config) {
  if (!config.tls()) return ServerSecurity{grpc::InsecureServerCredentials(), std::nullopt};
  absl::StatusOr<TlsFiles> files = ReadTlsFiles(config);
  if (!files.ok()) return files.status();
  const bool mutual = !config.tls_client_ca.empty();
  ServerSecurity security{nullptr, files->info};
  if (config.reload_interval == absl::ZeroDuration()) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({files->key_pem, files->cert_pem});
    if (mutual) {
      options.pem_root_certs = files->ca_pem;
      options.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    security.credentials = grpc::SslServerCredentials(options);
    return security;
  }
  const auto seconds = static_cast<unsigned int>(
      absl::ToInt64Seconds(absl::Ceil(config.reload_interval, absl::Seconds(1))));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.tls_key, config.tls_cert, mutual ? config.tls_client_ca : std::string(), seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  security.credentials = grpc::experimental::TlsServerCredentials(options);
  return security;
}

absl::StatusOr<TlsCertificateInfo> ReadTlsCertificate(const Config& config) {
  absl::StatusOr<TlsFiles> files = ReadTlsFiles(config);
  if (!files.ok()) return files.status();
  return files->info;
}

}  // namespace ovid::server
