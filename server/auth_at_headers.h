// File: server/auth_at_headers.h
// The bearer-token check made while a call's headers arrive, on TLS listeners. gRPC hands a
// call to its handler only with the whole request message (up to --max-receive-bytes), so the
// handlers' own check (BearerAuth::Check) comes after the daemon has buffered whatever an
// unauthenticated client sent, and a client that never finishes its message is never checked:
// measured, 200 half-sent 16 MB Generate requests made a daemon with tokens hold 1.6 GB more.
// Refused here, such a call ends at its headers and its message is never read.
// gRPC runs a metadata processor on secure listeners only (it asserts on plaintext ones), so a
// plaintext listener keeps the handlers' check alone; the handlers keep theirs on TLS too.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "server/auth.h"

namespace ovid::server {

class AuthAtHeaders final : public grpc::AuthMetadataProcessor {
 public:
  // Told every refusal: the call's method path ("/ovid.v1.Generation/GetModel"), why, and who
  // (the client certificate's identity under mutual TLS, else empty: gRPC gives a metadata
  // processor no peer address).
  using RefusalListener = std::function<void(std::string_view path, const absl::Status& status,
                                             std::string_view client)>;

  // Calls of the `guarded` method paths ("/ovid.v1.Generation/GetModel", ...) need a token
  // `auth` accepts. Other paths pass: health and reflection (probes and tools send no token, as
  // in the handlers), and methods the server does not have, which gRPC answers UNIMPLEMENTED
  // without reading a message (as over plaintext; nor are their client-chosen names logged).
  AuthAtHeaders(BearerAuth auth, std::vector<std::string> guarded, RefusalListener on_refused);

  // A constant-time comparison under a short lock: cheap enough for gRPC's own thread.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const BearerAuth auth_;
  const std::vector<std::string> guarded_;
  const RefusalListener on_refused_;
};

}  // namespace ovid::server
