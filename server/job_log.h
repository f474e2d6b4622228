// File: server/job_log.h
// One log line per job when it ends: id, client request id, outcome, status, queue wait, run and
// total time, steps, peak VRAM. Operators grep these; the metrics carry the aggregates.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

#include "absl/time/clock.h"
#include "server/job_observer.h"
#include "server/log.h"
#include "server/log_window.h"

namespace ovid::server {

// Refusals are logged at most kRefusalsPerWindow per kRefusalWindow: a client retrying a bad
// token in a loop must not fill the disk. The next line logged says how many were left out
// (`not_logged`); the metrics count every one. Refusals for credentials (any method) and
// refusals of requests (a full queue, a request too large or invalid) each have their own
// window, so that a client looping on a bad token cannot hide the queue filling up.
class JobLog : public JobObserver {
 public:
  static constexpr int kRefusalsPerWindow = 20;
  static constexpr absl::Duration kRefusalWindow = absl::Seconds(10);

  explicit JobLog(const Logger& logger, std::function<absl::Time()> now = absl::Now)
      : logger_(logger), now_(std::move(now)) {}
  // Refusals still left out are said at the end (a burst with no refusal after it).
  ~JobLog() override;
  using JobObserver::OnRejected;
  void OnRejected(const absl::Status& status, std::string_view peer) override;
  // The same "request refused" line with a `method` field, in the credentials' window.
  void OnAuthRefused(std::string_view method, const absl::Status& status,
                     std::string_view peer) override;
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                  absl::Duration total) override;

 private:
  // The window a refusal with this status counts in.
  LogWindow& WindowFor(const absl::Status& status);
  void LogRefusal(LogWindow& window, LogFields fields);

  const Logger& logger_;
  const std::function<absl::Time()> now_;
  std::mutex refusals_mu_;
  LogWindow credentials_{kRefusalsPerWindow, kRefusalWindow};  // UNAUTHENTICATED, PERMISSION_DENIED
  LogWindow requests_{kRefusalsPerWindow, kRefusalWindow};     // everything else
};

// Calls every observer in order (metrics, the job log, the daemon's health watch).
class ObserverList : public JobObserver {
 public:
  void Add(JobObserver* observer) { observers_.push_back(observer); }
  using JobObserver::OnRejected;
  void OnRejected(const absl::Status& status, std::string_view peer) override;
  void OnAuthRefused(std::string_view method, const absl::Status& status,
                     std::string_view peer) override;
  void OnQueued(const Job& job) override;
  void OnStarted(const Job& job, absl::Duration queue_wait) override;
  void OnProgress(const Job& job, const Progress& progress) override;
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                  absl::Duration total) override;

 private:
  std::vector<JobObserver*> observers_;
};

}  // namespace ovid::server
