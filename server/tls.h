// File: server/tls.h
// Server credentials from the TLS flags: plaintext, TLS, or mutual TLS (--tls-client-ca), with
// the files re-read every --reload-interval so that a renewed certificate is served without a
// restart.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/config.h"

namespace ovid::server {

// What the certificate file holds, for the start-up log.
struct TlsCertificateInfo {
  std::string subject;  // of the first (leaf) certificate
  std::optional<absl::Time> not_after;  // nullopt: a date OpenSSL could not read
  int chain_length = 0;                 // certificates in --tls-cert
  int ca_certificates = 0;  // in --tls-client-ca (0 without mTLS)
  std::string sha256;       // of the leaf certificate (DER), hex: tells a renewal from the same one
  std::string files_sha256;  // of the certificate file and the CA file: any change to either
};

struct ServerSecurity {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::optional<TlsCertificateInfo> certificate;  // with TLS
};

// Plaintext without --tls-cert. With it, the PEM files are read once and checked before gRPC
// sees them: every certificate parses, the key is unencrypted and belongs to the leaf
// certificate, the client CA holds a certificate. A mismatch stops the start with a message
// naming the flag and the file instead of failing every handshake later.
// With a reload interval gRPC then watches the files itself; a renewal takes effect for new
// connections within the interval. gRPC (1.51) does not keep the previous pair when it reads a
// key and a certificate that do not match: until a later read finds a matching pair, new
// handshakes fail. Hence the README's advice to replace both at once.
absl::StatusOr<ServerSecurity> ServerCredentialsFor(const Config& config);

// The same checks on the files as they are now, for the periodic look at what gRPC loads. (gRPC's
// file watcher reads the files itself, so a file swapped between this check and its read is
// seen by the next check, not this one.)
absl::StatusOr<TlsCertificateInfo> ReadTlsCertificate(const Config& config);

}  // namespace ovid::server
