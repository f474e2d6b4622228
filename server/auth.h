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

class BearerAuth {
 public:
  // Shorter tokens are warned about at start and at each reload: ovid does not slow down a
  // client that tries token after token, so a token's length is what stops a guess.
  static constexpr size_t kMinTokenLength = 16;

  // No token: every call is let through.
  BearerAuth() = default;
  // Reads the tokens from `path`, one per line (each trimmed of surrounding whitespace; blank
  // lines skipped). Several tokens let a rotation overlap: add the new one, move the clients,
  // remove the old one. Errors name the file (and the line); the tokens are never echoed. An
  // empty file is refused, since it would let any "Bearer " header in.
  static absl::StatusOr<BearerAuth> FromFile(const std::string& path);
  // An empty `token` gives the open (no token) object.
  static BearerAuth WithToken(std::string token);

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
  // How many of the tokens are shorter than kMinTokenLength.
  size_t ShortTokens() const;
  // OK or UNAUTHENTICATED (missing header, wrong scheme, wrong token) without echoing the token.
  absl::Status Check(const grpc::ServerContextBase& context) const;
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
    std::vector<std::string> list;  // never empty
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
