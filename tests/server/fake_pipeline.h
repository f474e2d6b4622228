// File: tests/server/fake_pipeline.h
// A Pipeline without a model: a configurable number of "denoise" steps with a delay each, an
// optional failure or OOM at a step, a fixed VRAM estimate (or one each request names), and a gate
// that holds every run at its start so tests can pin jobs in the RUNNING state.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ovid/engine.h"

namespace ovid::server::testing {

struct FakePipelineOptions {
  uint32_t steps = 3;
  absl::Duration step_delay = absl::Milliseconds(1);
  uint32_t oom_at_step = 0;         // 0 = never
  absl::Status estimate_error;      // returned by EstimateVram when not ok
  absl::Status contents_error;      // returned by CheckContents when not ok
  uint64_t vram_bytes = 1000;       // the estimate of a request without `seed`
  bool estimate_from_seed = false;  // a request with `seed` is estimated at seed bytes
  std::string output = "latents";   // the one output, as kLatents
  bool hold = false;                // runs wait at their start until Release()
  uint32_t throw_at_step = 0;       // 0 = never; else Run throws there (an engine's bug)
  bool throw_bad_alloc = false;     // what it throws: std::bad_alloc, else std::runtime_error
};

class FakePipeline : public Pipeline {
 public:
  explicit FakePipeline(FakePipelineOptions options) : options_(std::move(options)) {}

  absl::StatusOr<GenerationResult> Run(const GenerationRequest& request, ProgressSink& sink,
                                       const CancelToken& cancel) override;
  absl::StatusOr<uint64_t> EstimateVram(const GenerationRequest& request) const override;
  absl::Status CheckContents(const GenerationRequest& request) const override;

  // Lets held runs (and all later ones) go.
  void Release();
  // Waits until `n` runs have started (true) or `timeout` passed (false).
  bool WaitForRunsStarted(int n, absl::Duration timeout);

  int runs_started() const { return runs_started_.load(); }
  int contents_checked() const { return contents_checked_.load(); }
  int max_concurrent() const { return max_concurrent_.load(); }
  // Steps completed by the last run that stopped (for "stops within one step").
  uint32_t last_steps_done() const { return last_steps_done_.load(); }

 private:
  const FakePipelineOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::atomic<int> runs_started_{0};
  mutable std::atomic<int> contents_checked_{0};
  std::atomic<int> concurrent_{0};
  std::atomic<int> max_concurrent_{0};
  std::atomic<uint32_t> last_steps_done_{0};
};

}  // namespace ovid::server::testing
