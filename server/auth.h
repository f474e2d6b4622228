// File: server/auth.h
// Bearer-token authentication for ovid.v1.Generation. Health and reflection are not guarded
// (kubelet probes send no token), so the check is made by the service's handlers rather than by
// a server-wide credentials processor, which would also cover them.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ServerContextBase;
}

namespace ovid::server {

class BearerAuth {
 public:
  // No token: every call is let through.
  BearerAuth() = default;
  // Reads the token from `path` (surrounding whitespace trimmed). Errors name the file; an empty
  // token is refused, since it would let any "Bearer " header in.
  static absl::StatusOr<BearerAuth> FromFile(const std::string& path);
  static BearerAuth WithToken(std::string token);

  bool enabled() const { return !token_.empty(); }
  // OK or UNAUTHENTICATED (missing header, wrong scheme, wrong token) without echoing the token.
  absl::Status Check(const grpc::ServerContextBase& context) const;
  absl::Status CheckHeader(absl::string_view authorization) const;

 private:
  std::string token_;
};

}  // namespace ovid::server
