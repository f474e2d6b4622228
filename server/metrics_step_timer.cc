// File: server/metrics_step_timer.cc
#include "server/metrics_step_timer.h"

namespace ovid::server {
namespace {

// A jump this large between two reports is a broken report, not progress: observing it once per
// step would add thousands of made-up samples.
constexpr uint32_t kMaxStepsPerReport = 1000;

}  // namespace

StepTimes DenoiseStepTimer::OnProgress(const std::string& job_id, const Progress& progress) {
  if (progress.stage != "denoise") return {};
  const Mark now{progress.step, progress.elapsed_seconds};
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = marks_.try_emplace(job_id, now);
  if (inserted) return {};
  const Mark last = it->second;
  it->second = now;
  if (now.step <= last.step || now.elapsed_seconds < last.elapsed_seconds) return {};
  const uint32_t steps = now.step - last.step;
  if (steps > kMaxStepsPerReport) return {};
  return StepTimes{steps, (now.elapsed_seconds - last.elapsed_seconds) / steps};
}

void DenoiseStepTimer::Forget(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  marks_.erase(job_id);
}

size_t DenoiseStepTimer::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return marks_.size();
}

}  // namespace ovid::server
