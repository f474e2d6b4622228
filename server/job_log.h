// File: server/job_log.h
// One log line per job when it ends: id, client request id, outcome, status, queue wait, run and
// total time, steps, peak VRAM. Operators grep these; the metrics carry the aggregates.
#pragma once

#include "server/job_observer.h"
#include "server/log.h"

namespace ovid::server {

class JobLog : public JobObserver {
 public:
  explicit JobLog(const Logger& logger) : logger_(logger) {}
  void OnRejected(const absl::Status& status) override;
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                  absl::Duration total) override;

 private:
  const Logger& logger_;
};

// Calls every observer in order (metrics, the job log, the daemon's health watch).
class ObserverList : public JobObserver {
 public:
  void Add(JobObserver* observer) { observers_.push_back(observer); }
  void OnRejected(const absl::Status& status) override;
  void OnQueued(const Job& job) override;
  void OnStarted(const Job& job, absl::Duration queue_wait) override;
  void OnProgress(const Job& job, const Progress& progress) override;
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                  absl::Duration total) override;

 private:
  std::vector<JobObserver*> observers_;
};

}  // namespace ovid::server
