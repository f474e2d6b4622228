// File: server/credentials_watch.h
// The daemon's view of its credentials over time. gRPC re-reads the TLS files by itself and
// says nothing; the token file is ovid's to re-read. Every --reload-interval this looks at both
// and logs what changed: a token file reloaded (or one that no longer loads, once per version),
// a renewed certificate with its new expiry, TLS files that do not load as a pair (new
// handshakes may fail until they do). SIGHUP reloads the token file at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/auth.h"
#include "server/config.h"
#include "server/log.h"
#include "server/periodic.h"
#include "server/tls.h"

namespace ovid::server {

class CredentialsWatch {
 public:
  // `auth` and `log` must outlive this object. `certificate`: what the start served (nullopt
  // without TLS), logged here (subject, expiry with a warning within 7 days or after, how often
  // it is re-read). Starts checking every config.reload_interval (not at all when 0).
  // `on_certificate` (may be empty) hears of the certificate at start and of each renewal
  // (the metrics' expiry gauge), from the constructor's thread and then the watch's.
  // `on_tenants` (may be empty) hears the token file's tenants at start and after each
  // reload (the metrics' per-tenant series), from the same threads.
  CredentialsWatch(const Config& config, const BearerAuth& auth, const Logger& log,
                   std::optional<TlsCertificateInfo> certificate,
                   std::function<void(const TlsCertificateInfo&)> on_certificate = nullptr,
                   std::function<void(const std::vector<std::string>&)> on_tenants = nullptr);

  // SIGHUP: the token file now; `signal` names the cause in the log.
  void ReloadTokens(const std::string& signal);
  // One periodic check (public for tests; the thread calls it).
  void CheckNow();

 private:
  void ReportTokens(const std::string& cause, const absl::StatusOr<size_t>& tokens);
  // A warning naming how many tokens are shorter than BearerAuth::kMinTokenLength (none: quiet).
  void WarnAboutShortTokens();
  // The checks and callbacks of a token list just loaded (at start or by a reload).
  void TokensLoaded();
  bool WatchesTokens() const { return auth_.enabled() && !config_.auth_token_file.empty(); }
  void CheckCertificate();

  const Config config_;
  const BearerAuth& auth_;
  const Logger& log_;
  const std::function<void(const TlsCertificateInfo&)> on_certificate_;
  const std::function<void(const std::vector<std::string>&)> on_tenants_;
  std::optional<TlsCertificateInfo> certificate_;  // the last version seen (the thread's)
  std::string certificate_error_;     // the last failure logged, so it is logged once (thread's)
  std::optional<Periodic> periodic_;  // last: stopped first
};

}  // namespace ovid::server
