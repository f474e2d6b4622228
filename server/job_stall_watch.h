// File: server/job_stall_watch.h
// Notices a running job that has stopped making progress: no progress report from the engine (a
// denoising step, a stage starting or advancing) for --job-stall-timeout. The engine reports
// every step (seconds apart) and every stage (the longest without steps, decoding a 10 s
// 960x960 video, takes a few minutes), so a silence that long means a wedged worker: a kernel
// that never returns, a deadlock. Nothing in the process can stop such a worker, and it holds
// its GPU slot and the queue behind it for good; daemon.cc answers by stopping the daemon so
// that its supervisor (the kubelet, systemd) starts a fresh one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/time/time.h"
#include "server/job_observer.h"
#include "server/periodic.h"

namespace ovid::server {

class JobStallWatch : public JobObserver {
 public:
  struct Stall {
    std::string job_id;
    std::string stage;  // the last stage reported ("" before the first report)
    uint32_t step = 0;
    uint32_t total = 0;
    absl::Duration silent;  // since the job started or last reported progress
  };
  using Clock = std::chrono::steady_clock;

  // `limit` > 0. Checks every quarter of it (at most every 5 s) and calls `on_stall` once, for
  // the first job found silent for `limit`; later stalls are not reported again (the daemon is
  // stopping by then).
  JobStallWatch(absl::Duration limit, std::function<void(const Stall&)> on_stall);
  ~JobStallWatch() override;
  JobStallWatch(const JobStallWatch&) = delete;
  JobStallWatch& operator=(const JobStallWatch&) = delete;

  void OnStarted(const Job& job, absl::Duration queue_wait) override;
  void OnProgress(const Job& job, const Progress& progress) override;
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                  absl::Duration total) override;

  // One check at `now` (the periodic thread's work; tests call it with times of their own).
  void Check(Clock::time_point now);

 private:
  struct Running {
    Clock::time_point last;
    std::string stage;
    uint32_t step = 0;
    uint32_t total = 0;
  };

  const absl::Duration limit_;
  const std::function<void(const Stall&)> on_stall_;
  std::mutex mu_;
  std::map<std::string, Running> running_;  // by job id
  bool reported_ = false;
  std::unique_ptr<Periodic> periodic_;  // last: its thread reads the members above
};

}  // namespace ovid::server
