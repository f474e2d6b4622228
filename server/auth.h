// File: server/auth.h
// Bearer-token authentication for ovid.v1.Generation. Health and reflection are not guarded
// (kubelet probes send no token), so the check is made by the service's handlers rather than by
// a server-wide credentials processor, which would also cover them.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ServerContextBase;
}

namespace ovid::server {

// Who a call comes from, as far as jobs go. A token with a tenant sees and manages only the
// jobs submitted with a token of that tenant; a token without one (and every call when there
// are no tokens) sees every job.
struct Caller {
  std::string tenant;  // empty: every job
  bool SeesEveryJob() const { return tenant.empty(); }
  bool Sees(const std::string& job_tenant) const { return SeesEveryJob() || job_tenant == tenant; }
};

class BearerAuth {
 public:
  // Shorter tokens are warned about at start and at each reload: ovid does not slow down a
  // client that tries token after token, so a token's length is what stops a guess.
  static constexpr size_t kMinTokenLength = 16;
  static constexpr size_t kMaxTenantLength = 64;
  // One line of the token file.
  struct Entry {
    std::string token;
    std::string tenant;  // empty: a token that sees every job
  };

  // No token: every call is let through.
  BearerAuth() = default;
  // Reads the tokens from `path`, one per line (each trimmed of surrounding whitespace; blank
  // lines skipped), each optionally followed by a space and its tenant (Caller). Several tokens let
  // a rotation overlap: add the new one, move the clients, remove the old one. Errors name the file
  // (and the line); the tokens are never echoed. An empty file is refused, since it would let any
  // "Bearer " header in.
  static absl::StatusOr<BearerAuth> FromFile(const std::string& path);
  // An empty `token` gives the open (no token) object.
  static BearerAuth WithToken(std::string token);
  // Tokens with tenants; entries with an empty token are dropped (none left: open).
  static BearerAuth WithTokens(std::vector<Entry> entries);

  // Reads FromFile's file again (the daemon's SIGHUP). Copies of this object share the tokens,
  // so the service's copy sees the new ones. On an error the tokens stay as they were.
  // Returns how many tokens there are now. FAILED_PRECONDITION without a file.
  absl::StatusOr<size_t> Reload() const;
  // Reload() when the file is not the one last looked at (device, inode, size or modification
  // or change time differ: an edit, a chmod, the kubelet's swap of a mounted Secret); nullopt
  // when it is. A version that fails to load is tried again at every check (a chmod or a
  // passing EMFILE must not lose a rotation) but its error is returned once, not every time.
  absl::StatusOr<std::optional<size_t>> ReloadIfChanged() const;

  bool enabled() const { return tokens_ != nullptr; }
  // The tenants named in the tokens, each once, in file order.
  std::vector<std::string> Tenants() const;
  // How many of the tokens are shorter than kMinTokenLength.
  size_t ShortTokens() const;
  // The caller, or UNAUTHENTICATED (missing header, wrong scheme, wrong token) without echoing
  // the token. Without tokens: a caller that sees every job.
  absl::StatusOr<Caller> Identify(const grpc::ServerContextBase& context) const;
  absl::StatusOr<Caller> IdentifyHeader(absl::string_view authorization) const;
  // IdentifyHeader's verdict alone.
  absl::Status CheckHeader(absl::string_view authorization) const;
  // The refusal of a call without an authorization header (Check's, AuthAtHeaders').
  static absl::Status MissingHeaderError();

 private:
  // What identifies one version of the file (stat's answer); all zero: missing.
  struct FileStamp {
    uint64_t device = 0, inode = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Tokens {
    std::string path;  // empty for WithToken
    mutable std::mutex mu;
    std::vector<Entry> list;  // never empty
    // Held across a reload's read and store: SIGHUP's and the periodic check's reloads must not
    // interleave, or an older read could be stored last.
    std::mutex reload_mu;
    // Under reload_mu: the version last loaded, and the last failure (version and message).
    FileStamp loaded;
    std::optional<std::pair<FileStamp, std::string>> failed;
  };
  static FileStamp StampOf(const std::string& path);
  // FAILED_PRECONDITION unless the tokens came from a file (FromFile).
  absl::Status NeedsFile() const;
  // Reads the file (stamped `stamp` just before) and stores its tokens; reload_mu held.
  absl::StatusOr<size_t> LoadLocked(const FileStamp& stamp) const;
  std::shared_ptr<Tokens> tokens_;
};

}  // namespace ovid::server
