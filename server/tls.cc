// File: server/tls.cc
#include "server/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ovid::server {
namespace {

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no PEM block"));
  }
  return text.str();
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

// Every certificate in the PEM text, in order.
std::vector<X509Ptr> Certificates(const std::string& pem) {
  std::vector<X509Ptr> certificates;
  BioPtr bio = MemoryBio(pem);
  while (bio != nullptr) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    certificates.emplace_back(cert);
  }
  ERR_clear_error();  // the read past the last one leaves an "no start line" error queued
  return certificates;
}

// A passphrase callback that has none: an encrypted key fails instead of prompting on a
// terminal the daemon does not have.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::Time NotAfter(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

}  // namespace

absl::StatusOr<TlsCertificateInfo> CheckTlsFiles(const Config& config) {
  absl::StatusOr<std::string> cert_pem = ReadPem("--tls-cert", config.tls_cert);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadPem("--tls-key", config.tls_key);
  if (!key_pem.ok()) return key_pem.status();
  std::vector<X509Ptr> chain = Certificates(*cert_pem);
  if (chain.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert: ", config.tls_cert, " holds no PEM certificate"));
  }
  BioPtr key_bio = MemoryBio(*key_pem);
  KeyPtr key(key_bio == nullptr
                 ? nullptr
                 : PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", config.tls_key,
                     " holds no private key ovid can read (it must be an unencrypted PEM key)"));
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key: ", config.tls_key, " is not the key of the certificate in ",
                     "--tls-cert ", config.tls_cert, " (its first certificate)"));
  }
  TlsCertificateInfo info;
  info.chain_length = static_cast<int>(chain.size());
  info.not_after = NotAfter(chain.front().get());
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(chain.front().get()), subject, sizeof(subject));
  info.subject = subject;
  if (!config.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca_pem = ReadPem("--tls-client-ca", config.tls_client_ca);
    if (!ca_pem.ok()) return ca_pem.status();
    info.ca_certificates = static_cast<int>(Certificates(*ca_pem).size());
    if (info.ca_certificates == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-client-ca: ", config.tls_client_ca, " holds no PEM certificate"));
    }
  }
  return info;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const Config& config) {
  if (!config.tls()) return grpc::InsecureServerCredentials();
  absl::StatusOr<TlsCertificateInfo> checked = CheckTlsFiles(config);
  if (!checked.ok()) return checked.status();
  const bool mutual = !config.tls_client_ca.empty();
  if (config.reload_interval == absl::ZeroDuration()) {
    // Read once: the files' contents as they are now.
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back(
        {*ReadPem("--tls-key", config.tls_key), *ReadPem("--tls-cert", config.tls_cert)});
    if (mutual) {
      options.pem_root_certs = *ReadPem("--tls-client-ca", config.tls_client_ca);
      options.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    return grpc::SslServerCredentials(options);
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
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace ovid::server
