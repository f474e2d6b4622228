// File: server/job_stall_watch.cc
#include "server/job_stall_watch.h"

#include <optional>
#include <utility>

namespace ovid::server {

JobStallWatch::JobStallWatch(absl::Duration limit, std::function<void(const Stall&)> on_stall)
    : limit_(limit),
      on_stall_(std::move(on_stall)),
      periodic_(
          std::make_unique<Periodic>(CheckIntervalFor(limit), [this] { Check(Clock::now()); })) {}

JobStallWatch::~JobStallWatch() { periodic_.reset(); }

void JobStallWatch::OnStarted(const Job& job, absl::Duration) {
  const std::lock_guard<std::mutex> lock(mu_);
  running_[job.id()] = Running{.last = Clock::now(), .stage = {}, .step = 0, .total = 0};
}

void JobStallWatch::OnProgress(const Job& job, const Progress& progress) {
  const std::lock_guard<std::mutex> lock(mu_);
  running_[job.id()] = Running{.last = Clock::now(),
                               .stage = progress.stage,
                               .step = progress.step,
                               .total = progress.total};
}

void JobStallWatch::OnFinished(const Job& job, const absl::Status&, const GenerationResult*,
                               absl::Duration) {
  const std::lock_guard<std::mutex> lock(mu_);
  running_.erase(job.id());
}

void JobStallWatch::Check(Clock::time_point now) {
  std::optional<Stall> stall;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    if (reported_) return;
    // The longest silence, so that with several workers the report names the first to wedge.
    for (const auto& [id, job] : running_) {
      const absl::Duration silent = absl::FromChrono(now - job.last);
      if (silent >= limit_ && (!stall || silent > stall->silent)) {
        stall = Stall{.job_id = id,
                      .stage = job.stage,
                      .step = job.step,
                      .total = job.total,
                      .silent = silent};
      }
    }
    if (!stall) return;
    reported_ = true;
  }
  on_stall_(*stall);  // outside the lock: it logs and starts the daemon's stop
}

}  // namespace ovid::server
