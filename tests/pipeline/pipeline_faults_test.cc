// Stopping and failing jobs: cancellation from another thread and by deadline (within one
// step), the injected device OOM (RESOURCE_EXHAUSTED, and the pipeline keeps working) and the
// injected sticky device error (INTERNAL, healthy() false for good).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/pipeline/pipeline_test_util.h"

namespace ovid {
namespace {

using ::ovid::testing::LoadTiny;
using ::ovid::testing::RecordingSink;
using ::ovid::testing::TinyRequest;

std::unique_ptr<LoadedPipeline> WithFaults(FaultHooks faults,
                                           BatchGuidance batch = BatchGuidance::kOff) {
  PipelineOptions o;
  o.faults = faults;
  o.batch_guidance = batch;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

uint32_t LastStep(const RecordingSink& sink) {
  const std::vector<Progress> p = sink.progress();
  return p.empty() ? 0 : p.back().step;
}

// Cancels `cancel` ("client went away") from its own thread, `delay` after `sink` reports
// denoising step `step` (nothing if that step is not reported within a minute); joined on
// destruction.
class CancelAfterStep {
 public:
  CancelAfterStep(RecordingSink& sink, CancelToken& cancel, uint32_t step,
                  std::chrono::milliseconds delay) {
    sink.on_progress = [this, step](const Progress& pr) {
      if (pr.stage != "denoise" || pr.step != step) return;
      std::lock_guard<std::mutex> lock(mu_);
      reached_ = true;
      cv_.notify_one();
    };
    thread_ = std::thread([this, &cancel, delay] {
      std::unique_lock<std::mutex> lock(mu_);
      // A run that fails before the step never reports it: give up rather than hang the test.
      if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return reached_; })) return;
      lock.unlock();
      std::this_thread::sleep_for(delay);
      cancel.Cancel(CancelReason::kCancelled, "client went away");
    });
  }
  ~CancelAfterStep() { thread_.join(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool reached_ = false;
  std::thread thread_;
};

TEST(PipelineFaultsTest, CancelFromAnotherThreadStopsWithinOneStep) {
  std::unique_ptr<LoadedPipeline> p = WithFaults({.step_delay_ms = 40});
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  RecordingSink sink;
  absl::StatusOr<GenerationResult> r;
  {
    CancelAfterStep canceller(sink, cancel, 2, std::chrono::milliseconds(0));
    r = p->Run(TinyRequest(40, 1), sink, cancel);
  }
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_EQ(r.status().message(), "client went away");
  // Cancelled after step 2 was reported: step 3 may have been under way, no step after it.
  EXPECT_GE(LastStep(sink), 2u);
  EXPECT_LE(LastStep(sink), 3u);
  EXPECT_TRUE(sink.outputs().empty());
}

TEST(PipelineFaultsTest, DeadlineStopsWithDeadlineExceeded) {
  std::unique_ptr<LoadedPipeline> p = WithFaults({});
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  RecordingSink sink;
  sink.on_progress = [&](const Progress& pr) {
    if (pr.step == 1) cancel.Cancel(CancelReason::kDeadlineExceeded);
  };
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(30, 1), sink, cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ(LastStep(sink), 1u);
  // A token already stopped: nothing runs.
  RecordingSink idle;
  EXPECT_EQ(p->Run(TinyRequest(30, 1), idle, cancel).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(idle.progress().empty());
}

// A cancel during the last step: the sampler has no later step to check the token before, and
// the job used to emit its latents and succeed after the client had cancelled it.
TEST(PipelineFaultsTest, ACancelDuringTheLastStepEndsTheJobWithoutOutputs) {
  std::unique_ptr<LoadedPipeline> p = WithFaults({});
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  RecordingSink sink;
  sink.on_progress = [&](const Progress& pr) {
    if (pr.stage == "denoise" && pr.step == 1) {
      cancel.Cancel(CancelReason::kCancelled, "client went away");
    }
  };
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(1, 1), sink, cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_TRUE(sink.outputs().empty());
}

TEST(PipelineFaultsTest, OomIsResourceExhaustedAndTheNextJobRuns) {
  std::unique_ptr<LoadedPipeline> p = WithFaults({.oom_at_step = 2});
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  RecordingSink sink;
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(3, 1), sink, cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("out of device memory at denoising step 2: "),
            std::string::npos)
      << r.status();
  EXPECT_EQ(LastStep(sink), 1u);
  EXPECT_TRUE(p->healthy());
  // The hook fires at step 2 of every job; a one-step job never gets there and succeeds.
  RecordingSink next;
  absl::StatusOr<GenerationResult> ok = p->Run(TinyRequest(1, 1), next, cancel);
  EXPECT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(next.outputs().size(), 1u);
}

// Both guidance passes in one model call (the default on a GPU) still meet every hook once per
// step: the OOM at its step, the delay on every step. They used to fire on the positive pass
// only, which a batched step does not have, so on a GPU the hooks did nothing.
TEST(PipelineFaultsTest, HooksFireOncePerStepWithBothPassesBatched) {
  std::unique_ptr<LoadedPipeline> p =
      WithFaults({.oom_at_step = 3, .step_delay_ms = 60}, BatchGuidance::kOn);
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  RecordingSink sink;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(4, 1), sink, cancel);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("at denoising step 3: "), std::string::npos) << r.status();
  EXPECT_EQ(LastStep(sink), 2u);
  EXPECT_GE(elapsed, std::chrono::milliseconds(3 * 60));  // steps 1, 2 and the failing 3
  RecordingSink done;
  absl::StatusOr<GenerationResult> ok = p->Run(TinyRequest(2, 1), done, cancel);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->parameters.guidance_batched);
}

TEST(PipelineFaultsTest, StickyDeviceErrorMakesThePipelineUnhealthy) {
  std::unique_ptr<LoadedPipeline> p = WithFaults({.device_error_at_step = 1});
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->healthy());
  CancelToken cancel;
  RecordingSink sink;
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, 1), sink, cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_NE(r.status().message().find("device error at denoising step 1"), std::string::npos)
      << r.status();
  EXPECT_FALSE(p->healthy());
  // Validation still answers; running does not.
  GenerationRequest bad = TinyRequest(0, 1);
  EXPECT_EQ(p->Run(bad, sink, cancel).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p->Run(TinyRequest(1, 1), sink, cancel).status().code(),
            absl::StatusCode::kUnavailable);
}

// A cancel that arrives while a step fails on the device must not hide the device error: the
// job reports it and the pipeline turns unhealthy (it used to say CANCELLED and stay healthy).
TEST(PipelineFaultsTest, ADeviceErrorDuringACancelledStepIsStillADeviceError) {
  // Step 2 sleeps 600 ms, then fails on the device; the cancel comes 150 ms after step 1 was
  // reported, while step 2 sleeps (the loop looks at the token right after the report, before
  // step 2 starts, so the cancel must come later than that look).
  std::unique_ptr<LoadedPipeline> p = WithFaults({.device_error_at_step = 2, .step_delay_ms = 600});
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  RecordingSink sink;
  absl::StatusOr<GenerationResult> r;
  {
    CancelAfterStep canceller(sink, cancel, 1, std::chrono::milliseconds(150));
    r = p->Run(TinyRequest(3, 1), sink, cancel);
  }
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_FALSE(p->healthy());
}

}  // namespace
}  // namespace ovid
