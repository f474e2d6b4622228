// File: server/tls.h
// Server credentials from the TLS flags: plaintext, TLS, or mutual TLS (--tls-client-ca).
#pragma once

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"
#include "server/config.h"

namespace ovid::server {

// Reads the PEM files named by the config; errors name the flag and the file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const Config& config);

}  // namespace ovid::server
