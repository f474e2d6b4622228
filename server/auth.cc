// File: server/auth.cc
#include "server/auth.h"

#include <fstream>
#include <sstream>
#include <utility>

#include <grpcpp/server_context.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ovid::server {
namespace {

// Compares in time independent of where the first difference is, so the token cannot be
// guessed byte by byte from response times.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

absl::StatusOr<BearerAuth> BearerAuth::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--auth-token-file: cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth-token-file: ", path, " is empty"));
  }
  // A header value no client can send (a BOM, a second line, a control byte) would start a
  // daemon that refuses every call. The token itself is not echoed.
  for (size_t i = 0; i < token.size(); ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--auth-token-file: ", path, " holds a byte outside printable ASCII (0x21-0x7e) at ",
          "offset ", i, " of the token; a bearer token must be one line of visible characters"));
    }
  }
  return WithToken(std::move(token));
}

BearerAuth BearerAuth::WithToken(std::string token) {
  BearerAuth auth;
  auth.token_ = std::move(token);
  return auth;
}

absl::Status BearerAuth::Check(const grpc::ServerContextBase& context) const {
  if (!enabled()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing \"authorization: Bearer <token>\" metadata (this server requires a token)");
  }
  return CheckHeader(absl::string_view(it->second.data(), it->second.size()));
}

absl::Status BearerAuth::CheckHeader(absl::string_view authorization) const {
  if (!enabled()) return absl::OkStatus();
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  if (!absl::StartsWithIgnoreCase(value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must use the Bearer scheme");
  }
  value.remove_prefix(7);
  if (!ConstantTimeEquals(absl::StripAsciiWhitespace(value), token_)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

}  // namespace ovid::server
