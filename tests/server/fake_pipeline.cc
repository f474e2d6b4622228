// File: tests/server/fake_pipeline.cc
#include "tests/server/fake_pipeline.h"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <thread>

namespace ovid::server::testing {

absl::StatusOr<GenerationResult> FakePipeline::Run(const GenerationRequest& request,
                                                   ProgressSink& sink, const CancelToken& cancel) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    ++runs_started_;
    cv_.notify_all();
    // Held runs still honour cancellation, as a real pipeline would between stages.
    while (options_.hold && !released_ && !cancel.cancelled()) {
      cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }
  const int now = ++concurrent_;
  int seen = max_concurrent_.load();
  while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
  }
  struct Leave {
    std::atomic<int>& c;
    ~Leave() { --c; }
  } leave{concurrent_};

  const uint32_t steps = request.steps.value_or(options_.steps);
  for (uint32_t step = 1; step <= steps; ++step) {
    if (cancel.cancelled()) {
      last_steps_done_ = step - 1;
      return cancel.status();
    }
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(options_.step_delay));
    if (step == options_.throw_at_step) {
      last_steps_done_ = step - 1;
      if (options_.throw_bad_alloc) throw std::bad_alloc();
      throw std::runtime_error("fake engine bug");
    }
    if (step == options_.oom_at_step) {
      last_steps_done_ = step - 1;
      return absl::ResourceExhaustedError("CUDA out of memory (fake, at step)");
    }
    sink.OnProgress(Progress{"denoise", step, steps, 0, 0});
  }
  last_steps_done_ = steps;
  sink.OnOutput(Output{OutputFormat::kLatents, options_.output});
  GenerationResult result;
  result.seed = request.seed.value_or(42);
  result.parameters.steps = steps;
  result.parameters.outputs = {OutputFormat::kLatents};
  result.stages = {StageTiming{"denoise", 0.01, options_.vram_bytes}};
  result.peak_vram_bytes = options_.vram_bytes;
  return result;
}

absl::StatusOr<uint64_t> FakePipeline::EstimateVram(const GenerationRequest& request) const {
  if (!options_.estimate_error.ok()) return options_.estimate_error;
  if (options_.estimate_from_seed && request.seed.has_value()) return *request.seed;
  return options_.vram_bytes;
}

absl::Status FakePipeline::CheckContents(const GenerationRequest&) const {
  contents_checked_.fetch_add(1);
  return options_.contents_error;
}

void FakePipeline::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  cv_.notify_all();
}

bool FakePipeline::WaitForRunsStarted(int n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return runs_started_.load() >= n; });
}

}  // namespace ovid::server::testing
