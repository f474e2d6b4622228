// File: server/credentials_watch.cc
#include "server/credentials_watch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ovid::server {
namespace {

void LogTlsCertificate(const char* message, const TlsCertificateInfo& info, const Config& config,
                       const Logger& log) {
  LogFields fields = {
      {"subject", info.subject},
      {"expires", info.not_after
                      ? absl::FormatTime(absl::RFC3339_sec, *info.not_after, absl::UTCTimeZone())
                      : std::string("unknown")},
      {"chain", absl::StrCat(info.chain_length)},
      {"sha256", info.sha256.substr(0, 16)},
      {"reload_every", config.reload_interval == absl::ZeroDuration()
                           ? std::string("never")
                           : absl::FormatDuration(config.reload_interval)}};
  if (info.ca_certificates > 0)
    fields.push_back({"client_ca_certificates", absl::StrCat(info.ca_certificates)});
  const absl::Time now = absl::Now();
  if (info.not_after && *info.not_after <= now) {
    fields.push_back({"warning", "expired: clients will refuse it"});
    log.Warn(message, fields);
  } else if (info.not_after && *info.not_after - now < absl::Hours(24 * 7)) {
    fields.push_back({"warning", "expires within 7 days"});
    log.Warn(message, fields);
  } else {
    log.Info(message, fields);
  }
}

}  // namespace

CredentialsWatch::CredentialsWatch(const Config& config, const BearerAuth& auth, const Logger& log,
                                   std::optional<TlsCertificateInfo> certificate,
                                   std::function<void(const TlsCertificateInfo&)> on_certificate,
                                   std::function<void(const std::vector<std::string>&)> on_tenants)
    : config_(config),
      auth_(auth),
      log_(log),
      on_certificate_(std::move(on_certificate)),
      on_tenants_(std::move(on_tenants)),
      certificate_(std::move(certificate)) {
  if (certificate_) {
    if (on_certificate_) on_certificate_(*certificate_);
    LogTlsCertificate("tls certificate", *certificate_, config_, log_);
  }
  TokensLoaded();
  if (config_.reload_interval > absl::ZeroDuration() && (WatchesTokens() || certificate_)) {
    // Whole seconds, as gRPC's file watcher takes them: both look at the files as often.
    periodic_.emplace(absl::Ceil(config_.reload_interval, absl::Seconds(1)),
                      [this] { CheckNow(); });
  }
}

void CredentialsWatch::ReloadTokens(const std::string& signal) {
  if (!auth_.enabled()) {
    log_.Warn(
        "signal ignored",
        {{"signal", signal},
         {"why", "SIGHUP re-reads --auth-token-file, which is not set; flags take a restart"}});
    return;
  }
  ReportTokens(signal, auth_.Reload());
}

void CredentialsWatch::CheckNow() {
  if (WatchesTokens()) {
    absl::StatusOr<std::optional<size_t>> tokens = auth_.ReloadIfChanged();
    if (!tokens.ok()) {
      ReportTokens("file changed", tokens.status());
    } else if (tokens->has_value()) {
      ReportTokens("file changed", **tokens);
    }
  }
  if (certificate_) CheckCertificate();
}

void CredentialsWatch::ReportTokens(const std::string& cause,
                                    const absl::StatusOr<size_t>& tokens) {
  if (tokens.ok()) {
    log_.Info("token file reloaded", {{"cause", cause}, {"tokens", absl::StrCat(*tokens)}});
    TokensLoaded();
  } else {
    log_.Error("token file not reloaded; the previous tokens stay",
               {{"cause", cause}, {"error", std::string(tokens.status().message())}});
  }
}

void CredentialsWatch::TokensLoaded() {
  WarnAboutShortTokens();
  if (on_tenants_ && auth_.enabled()) on_tenants_(auth_.Tenants());
}

void CredentialsWatch::WarnAboutShortTokens() {
  const size_t short_tokens = auth_.ShortTokens();
  if (short_tokens == 0) return;
  log_.Warn("guessable bearer tokens",
            {{"short_tokens", absl::StrCat(short_tokens)},
             {"file", config_.auth_token_file},
             {"hint", absl::StrCat("ovid does not slow down a client that tries token after "
                                   "token: use tokens of at least ",
                                   BearerAuth::kMinTokenLength,
                                   " random characters (openssl rand -hex 32 makes 64)")}});
}

void CredentialsWatch::CheckCertificate() {
  absl::StatusOr<TlsCertificateInfo> now = ReadTlsCertificate(config_);
  if (!now.ok()) {
    const std::string error(now.status().message());
    if (error != certificate_error_) {
      log_.Error("tls files do not load as they are now; new connections may fail until they do",
                 {{"error", error}});
      certificate_error_ = error;
    }
    return;
  }
  const bool changed = now->files_sha256 != certificate_->files_sha256;
  if (!certificate_error_.empty() && !changed) {
    log_.Info("tls files load again", {{"sha256", now->sha256.substr(0, 16)}});
  }
  certificate_error_.clear();
  if (!changed) return;
  certificate_ = *std::move(now);
  // The gauge first: whoever reads the log line finds the metric already updated.
  if (on_certificate_) on_certificate_(*certificate_);
  LogTlsCertificate("tls certificate changed", *certificate_, config_, log_);
}

}  // namespace ovid::server
