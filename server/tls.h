// File: server/tls.h
// Server credentials from the TLS flags: plaintext, TLS, or mutual TLS (--tls-client-ca), with
// the files re-read every --reload-interval so that a renewed certificate is served without a
// restart.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/config.h"

namespace ovid::server {

// What the certificate file holds, for the start-up log.
struct TlsCertificateInfo {
  std::string subject;  // of the first (leaf) certificate
  absl::Time not_after;
  int chain_length = 0;     // certificates in --tls-cert
  int ca_certificates = 0;  // in --tls-client-ca (0 without mTLS)
};

// Parses the PEM files named by the config and checks that the key is unencrypted and belongs to
// the leaf certificate, so that a mismatch stops the start with a message naming both files
// instead of failing every handshake later. Errors name the flag and the file.
absl::StatusOr<TlsCertificateInfo> CheckTlsFiles(const Config& config);

// Checks the files (CheckTlsFiles) and builds the credentials. With a reload interval gRPC
// watches the files itself; a renewal takes effect for new connections within the interval, and
// a half-written or mismatched pair is skipped (the previous one stays in use).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const Config& config);

}  // namespace ovid::server
