// File: server/auth.cc
#include "server/auth.h"

#include <grpcpp/server_context.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/secret_file.h"

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

namespace {

// A tenant name: what job listings and logs show, so plain and short.
bool ValidTenant(absl::string_view name) {
  if (name.empty() || name.size() > BearerAuth::kMaxTenantLength) return false;
  return absl::c_all_of(name, [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// The file's tokens, one per line ("TOKEN" or "TOKEN tenant=NAME"; "#" starts a comment line);
// errors name the file and the line, never a token. The tenant is marked, not positional: with
// "TOKEN NAME", a line written the other way round made the name a valid token and put the
// secret in logs and metric labels as a tenant name.
absl::StatusOr<std::vector<BearerAuth::Entry>> ReadTokens(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSecretFile("--auth-token-file", path);
  if (!text.ok()) return text.status();
  std::vector<BearerAuth::Entry> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(absl::StripAsciiWhitespace(line), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.empty() || absl::StartsWith(fields[0], "#")) continue;
    if (fields.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--auth-token-file: ", path, " line ", line_number, " has ", fields.size(),
          " fields; a line is a token, or a token and tenant=NAME, separated by a space"));
    }
    const absl::string_view token = fields[0];
    // A header value no client can send (a BOM, a control byte) would start a daemon that
    // refuses every call.
    for (size_t i = 0; i < token.size(); ++i) {
      const auto c = static_cast<unsigned char>(token[i]);
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--auth-token-file: ", path, " holds a byte outside printable ASCII (0x21-0x7e) at ",
            "offset ", i, " of the token on line ", line_number,
            "; a bearer token must be one line of visible characters"));
      }
    }
    BearerAuth::Entry entry{std::string(token), ""};
    if (fields.size() == 2) {
      // Neither field is echoed: either may be the secret.
      absl::string_view tenant = fields[1];
      if (!absl::ConsumePrefix(&tenant, "tenant=")) {
        return absl::InvalidArgumentError(
            absl::StrCat("--auth-token-file: ", path, " line ", line_number,
                         ": the second field must be tenant=NAME (the token comes first)"));
      }
      if (!ValidTenant(tenant)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--auth-token-file: ", path, " line ", line_number, ": the tenant must be 1-",
            BearerAuth::kMaxTenantLength, " letters, digits, '-', '_' or '.'"));
      }
      entry.tenant = std::string(tenant);
    }
    // The same token for two tenants would give its holder whichever came first.
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (ConstantTimeEquals(tokens[i].token, entry.token)) {
        return absl::InvalidArgumentError(absl::StrCat("--auth-token-file: ", path, " line ",
                                                       line_number,
                                                       " repeats a token of an "
                                                       "earlier line"));
      }
    }
    tokens.push_back(std::move(entry));
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth-token-file: ", path, " is empty"));
  }
  // A tenant name is shown in logs, job listings and metric labels: never a token's text.
  for (const BearerAuth::Entry& named : tokens) {
    if (named.tenant.empty()) continue;
    for (const BearerAuth::Entry& other : tokens) {
      if (ConstantTimeEquals(named.tenant, other.token)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--auth-token-file: ", path, " names a tenant that is also a token"));
      }
    }
  }
  return tokens;
}

}  // namespace

BearerAuth::FileStamp BearerAuth::StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
}

absl::StatusOr<BearerAuth> BearerAuth::FromFile(const std::string& path) {
  const FileStamp stamp = StampOf(path);  // before the read: a change during it is seen later
  absl::StatusOr<std::vector<Entry>> tokens = ReadTokens(path);
  if (!tokens.ok()) return tokens.status();
  BearerAuth auth;
  auth.tokens_ = std::make_shared<Tokens>();
  auth.tokens_->path = path;
  auth.tokens_->list = *std::move(tokens);
  auth.tokens_->loaded = stamp;
  return auth;
}

BearerAuth BearerAuth::WithToken(std::string token) { return WithTokens({{std::move(token), ""}}); }

BearerAuth BearerAuth::WithTokens(std::vector<Entry> entries) {
  BearerAuth auth;
  // An empty token would let any "Bearer " header in.
  std::erase_if(entries, [](const Entry& e) { return e.token.empty(); });
  if (entries.empty()) return auth;
  auth.tokens_ = std::make_shared<Tokens>();
  auth.tokens_->list = std::move(entries);
  return auth;
}

std::vector<std::string> BearerAuth::Tenants() const {
  std::vector<std::string> tenants;
  if (!enabled()) return tenants;
  const std::lock_guard<std::mutex> lock(tokens_->mu);
  for (const Entry& entry : tokens_->list) {
    if (!entry.tenant.empty() && absl::c_find(tenants, entry.tenant) == tenants.end()) {
      tenants.push_back(entry.tenant);
    }
  }
  return tenants;
}

size_t BearerAuth::ShortTokens() const {
  if (!enabled()) return 0;
  const std::lock_guard<std::mutex> lock(tokens_->mu);
  return std::count_if(tokens_->list.begin(), tokens_->list.end(),
                       [](const Entry& e) { return e.token.size() < kMinTokenLength; });
}

absl::Status BearerAuth::NeedsFile() const {
  if (tokens_ == nullptr || tokens_->path.empty()) {
    return absl::FailedPreconditionError("no --auth-token-file to reload");
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> BearerAuth::LoadLocked(const FileStamp& stamp) const {
  absl::StatusOr<std::vector<Entry>> tokens = ReadTokens(tokens_->path);
  if (!tokens.ok()) {
    tokens_->failed.emplace(stamp, std::string(tokens.status().message()));
    return tokens.status();
  }
  tokens_->loaded = stamp;
  tokens_->failed.reset();
  const std::lock_guard<std::mutex> lock(tokens_->mu);
  tokens_->list = *std::move(tokens);
  return tokens_->list.size();
}

absl::StatusOr<size_t> BearerAuth::Reload() const {
  if (absl::Status file = NeedsFile(); !file.ok()) return file;
  const std::lock_guard<std::mutex> reloading(tokens_->reload_mu);
  // Stamped before the read: a change during it is seen by the next check.
  return LoadLocked(StampOf(tokens_->path));
}

absl::StatusOr<std::optional<size_t>> BearerAuth::ReloadIfChanged() const {
  if (absl::Status file = NeedsFile(); !file.ok()) return file;
  const std::lock_guard<std::mutex> reloading(tokens_->reload_mu);
  const FileStamp stamp = StampOf(tokens_->path);
  if (stamp == tokens_->loaded) return std::nullopt;
  const std::optional<std::pair<FileStamp, std::string>> before = tokens_->failed;
  absl::StatusOr<size_t> count = LoadLocked(stamp);
  if (count.ok()) return *count;
  // The same version failing the same way again: already reported.
  if (before && before->first == stamp && before->second == count.status().message()) {
    return std::nullopt;
  }
  return count.status();
}

absl::Status BearerAuth::CheckHeader(absl::string_view authorization) const {
  return IdentifyHeader(authorization).status();
}

absl::StatusOr<Caller> BearerAuth::Identify(const grpc::ServerContextBase& context) const {
  if (!enabled()) return Caller{};
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return MissingHeaderError();
  return IdentifyHeader(absl::string_view(it->second.data(), it->second.size()));
}

absl::Status BearerAuth::MissingHeaderError() {
  return absl::UnauthenticatedError(
      "missing \"authorization: Bearer <token>\" metadata (this server requires a token)");
}

absl::StatusOr<Caller> BearerAuth::IdentifyHeader(absl::string_view authorization) const {
  if (!enabled()) return Caller{};
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  if (!absl::StartsWithIgnoreCase(value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata must use the Bearer scheme");
  }
  value.remove_prefix(7);
  value = absl::StripAsciiWhitespace(value);
  const Entry* match = nullptr;
  Caller caller;
  {
    const std::lock_guard<std::mutex> lock(tokens_->mu);
    // Every token is compared, so the time does not tell which one (or whether any) matched.
    for (const Entry& entry : tokens_->list) {
      if (ConstantTimeEquals(value, entry.token) && match == nullptr) match = &entry;
    }
    if (match != nullptr) caller.tenant = match->tenant;
  }
  if (match == nullptr) return absl::UnauthenticatedError("invalid bearer token");
  return caller;
}

}  // namespace ovid::server
