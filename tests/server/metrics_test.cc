// File: tests/server/metrics_test.cc
// ServerMetrics without HTTP: what JobObserver calls and MetricsSources turn into, read back from
// the exposition text a scrape returns; and the real JobQueue driving it.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/job_queue.h"
#include "tests/server/fake_pipeline.h"
#include "tests/server/metrics_test_util.h"

namespace ovid::server {
namespace {

using testing::SampleValue;

constexpr uint64_t kGiB = uint64_t{1} << 30;

double Sample(const ServerMetrics& metrics, std::string_view series) {
  const std::string text = metrics.Scrape();
  std::optional<double> value = SampleValue(text, series);
  EXPECT_TRUE(value.has_value()) << series << " not in:\n" << text;
  return value.value_or(-1);
}

std::unique_ptr<Job> NewJob(const std::string& id) {
  return std::make_unique<Job>(id, GenerationRequest{}, "", 0, absl::Now());
}

TEST(ServerMetricsTest, EveryClosedLabelValueIsExportedAtZeroFromTheStart) {
  auto metrics = ServerMetrics::CreateUnserved({});
  for (const char* outcome : {"succeeded", "failed", "cancelled", "rejected"}) {
    EXPECT_EQ(Sample(*metrics, absl::StrCat("ovid_requests_total{outcome=\"", outcome, "\"}")), 0);
  }
  for (FailureReason reason : kAllFailureReasons) {
    EXPECT_EQ(Sample(*metrics, absl::StrCat("ovid_request_failures_total{reason=\"",
                                            std::string(FailureReasonName(reason)), "\"}")),
              0);
  }
  for (const char* stage :
       {"text_encode", "image_encode", "denoise", "video_decode", "audio_decode", "mux"}) {
    EXPECT_EQ(Sample(*metrics,
                     absl::StrCat("ovid_stage_duration_seconds_count{stage=\"", stage, "\"}")),
              0);
    EXPECT_EQ(Sample(*metrics, absl::StrCat("ovid_stage_peak_gpu_memory_bytes_count{stage=\"",
                                            stage, "\"}")),
              0);
  }
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_count"), 0);
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_count"), 0);
}

TEST(ServerMetricsTest, RejectionsCountAsRejectedUnderTheirReason) {
  auto metrics = ServerMetrics::CreateUnserved({});
  metrics->OnRejected(QueueFullError(4, 4, 1));
  metrics->OnRejected(QueueFullError(4, 4, 1));
  metrics->OnRejected(VramBudgetError(10, 5));
  metrics->OnRejected(absl::InvalidArgumentError("steps must be positive"));
  metrics->OnRejected(absl::UnavailableError("draining"));
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"rejected\"}"), 5);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"queue_full\"}"), 2);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"vram_budget\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"invalid_argument\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"unavailable\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"device_oom\"}"), 0);
}

TEST(ServerMetricsTest, JobEndsCountOutcomeReasonAndDuration) {
  auto metrics = ServerMetrics::CreateUnserved({});
  auto job = NewJob("j1");
  const GenerationResult result;
  metrics->OnFinished(*job, absl::OkStatus(), &result, absl::Seconds(100));
  metrics->OnFinished(*job, absl::ResourceExhaustedError("CUDA out of memory"), nullptr,
                      absl::Seconds(30));
  metrics->OnFinished(*job, absl::CancelledError("client"), nullptr, absl::Seconds(2));
  metrics->OnFinished(*job, absl::DeadlineExceededError("late"), nullptr, absl::Seconds(7));
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"succeeded\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"failed\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"cancelled\"}"), 2);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"device_oom\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"cancelled\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"deadline_exceeded\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_duration_seconds_count{outcome=\"succeeded\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_duration_seconds_sum{outcome=\"succeeded\"}"), 100);
  EXPECT_EQ(Sample(*metrics, "ovid_request_duration_seconds_sum{outcome=\"cancelled\"}"), 9);
  // 100 s lands in the 120 s bucket, not the 90 s one.
  EXPECT_EQ(Sample(*metrics,
                   "ovid_request_duration_seconds_bucket{outcome=\"succeeded\",le=\"90\"}"),
            0);
  EXPECT_EQ(Sample(*metrics,
                   "ovid_request_duration_seconds_bucket{outcome=\"succeeded\",le=\"120\"}"),
            1);
}

// A job the shutdown drain stopped ends UNAVAILABLE in state CANCELLED: counted cancelled (reason
// unavailable), not failed, which fed OvidHighErrorRate during rollouts.
TEST(ServerMetricsTest, AJobStoppedByTheDrainCountsAsCancelled) {
  auto metrics = ServerMetrics::CreateUnserved({});
  auto job = NewJob("j1");
  job->cancel_token().Cancel(CancelReason::kShutdown, "the server is shutting down");
  const absl::Status status = job->cancel_token().status();
  ASSERT_TRUE(job->Fail(status, absl::Now()));
  ASSERT_EQ(job->state(), v1::JOB_STATE_CANCELLED);
  metrics->OnFinished(*job, status, nullptr, absl::Seconds(3));
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"cancelled\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"failed\"}"), 0);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"unavailable\"}"), 1);
}

TEST(ServerMetricsTest, ASuccessObservesEveryStageAndThePeak) {
  auto metrics = ServerMetrics::CreateUnserved({});
  auto job = NewJob("j1");
  GenerationResult result;
  result.stages = {{"text_encode", 0.8, 0}, {"denoise", 150, 0}, {"upscale", 3, 0}};
  result.peak_vram_bytes = 20 * kGiB;
  metrics->OnFinished(*job, absl::OkStatus(), &result, absl::Seconds(160));
  EXPECT_EQ(Sample(*metrics, "ovid_stage_duration_seconds_count{stage=\"denoise\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_stage_duration_seconds_sum{stage=\"denoise\"}"), 150);
  EXPECT_DOUBLE_EQ(Sample(*metrics, "ovid_stage_duration_seconds_sum{stage=\"text_encode\"}"),
                   0.8);
  EXPECT_EQ(Sample(*metrics, "ovid_stage_duration_seconds_count{stage=\"mux\"}"), 0);
  // A stage the engine may add later is kept inside the documented label set.
  EXPECT_EQ(Sample(*metrics, "ovid_stage_duration_seconds_count{stage=\"other\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_peak_gpu_memory_bytes_count"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_peak_gpu_memory_bytes_sum"), 20.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_request_last_peak_gpu_memory_bytes"), 20.0 * kGiB);
  // The gauge follows the latest job, not the largest (max_over_time does that).
  result.peak_vram_bytes = 12 * kGiB;
  metrics->OnFinished(*job, absl::OkStatus(), &result, absl::Seconds(160));
  EXPECT_EQ(Sample(*metrics, "ovid_request_last_peak_gpu_memory_bytes"), 12.0 * kGiB);
}

TEST(ServerMetricsTest, APeakOfZeroIsNotObserved) {
  auto metrics = ServerMetrics::CreateUnserved({});
  auto job = NewJob("j1");
  const GenerationResult cpu_result;  // peak 0: the CPU reports none
  metrics->OnFinished(*job, absl::OkStatus(), &cpu_result, absl::Seconds(1));
  EXPECT_EQ(Sample(*metrics, "ovid_request_peak_gpu_memory_bytes_count"), 0);
  EXPECT_EQ(Sample(*metrics, "ovid_request_last_peak_gpu_memory_bytes"), 0);
}

TEST(ServerMetricsTest, QueueWaitIsObservedWhenAJobStarts) {
  auto metrics = ServerMetrics::CreateUnserved({});
  auto job = NewJob("j1");
  metrics->OnStarted(*job, absl::Seconds(45));
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_count"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_sum"), 45);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_bucket{le=\"30\"}"), 0);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_bucket{le=\"60\"}"), 1);
}

TEST(ServerMetricsTest, DenoiseStepsComeFromConsecutiveReportsAndEndWithTheJob) {
  auto metrics = ServerMetrics::CreateUnserved({});
  auto a = NewJob("a");
  auto b = NewJob("b");
  for (uint32_t step = 0; step <= 4; ++step) {
    metrics->OnProgress(*a, Progress{"denoise", step, 4, 10.0 + 2.5 * step, 0});
    metrics->OnProgress(*b, Progress{"denoise", step, 4, 1.0 + 0.5 * step, 0});
  }
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_count"), 8);
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_sum"), 4 * 2.5 + 4 * 0.5);
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_bucket{le=\"0.5\"}"), 4);
  metrics->OnFinished(*a, absl::CancelledError("x"), nullptr, absl::Seconds(20));
  // The job's mark went with it: a report under the same id starts over and observes nothing.
  metrics->OnProgress(*a, Progress{"denoise", 5, 5, 30.0, 0});
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_count"), 8);
}

TEST(ServerMetricsTest, GaugesReadTheSourcesAtEveryScrape) {
  std::atomic<size_t> depth{2};
  MetricsSources sources;
  sources.queue_depth = [&] { return depth.load(); };
  sources.running_jobs = [] { return size_t{1}; };
  sources.vram_reserved_bytes = [] { return 7 * kGiB; };
  sources.limits = {.max_queue = 9, .workers = 3, .vram_budget_bytes = 60 * kGiB};
  sources.vram = [] {
    VramSnapshot vram;
    vram.resident_by_type = {{"q4_K", 10, 3 * kGiB}, {"bf16", 20, kGiB}};
    vram.weights_bf16_equivalent_bytes = 12 * kGiB;
    vram.dequant_workspace_bytes = 100;
    vram.cache_bytes = 200;
    vram.torch_allocated_bytes = 300;
    vram.torch_reserved_bytes = 400;
    vram.torch_peak_bytes = 500;
    vram.device_total_bytes = 80 * kGiB;
    vram.device_used_bytes = 9 * kGiB;
    return vram;
  };
  sources.model.variant = "960x960_10s";
  sources.model.weight_mode = "cache";
  sources.model.batch_guidance = "auto";
  sources.model.device = "cuda:0";
  sources.version = "1.2.3";
  auto metrics = ServerMetrics::CreateUnserved(std::move(sources));
  EXPECT_EQ(Sample(*metrics, "ovid_queue_depth"), 2);
  depth = 5;
  EXPECT_EQ(Sample(*metrics, "ovid_queue_depth"), 5);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_running"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_vram_reserved_bytes"), 7.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_capacity"), 9);
  EXPECT_EQ(Sample(*metrics, "ovid_workers"), 3);
  EXPECT_EQ(Sample(*metrics, "ovid_vram_budget_bytes"), 60.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_weights_resident_bytes{type=\"q4_K\"}"), 3.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_weights_resident_bytes{type=\"bf16\"}"), 1.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_weights_bf16_equivalent_bytes"), 12.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_dequant_workspace_bytes"), 100);
  EXPECT_EQ(Sample(*metrics, "ovid_bf16_cache_bytes"), 200);
  EXPECT_EQ(Sample(*metrics, "ovid_torch_allocated_bytes"), 300);
  EXPECT_EQ(Sample(*metrics, "ovid_torch_reserved_bytes"), 400);
  EXPECT_EQ(Sample(*metrics, "ovid_torch_peak_allocated_bytes"), 500);
  EXPECT_EQ(Sample(*metrics, "ovid_gpu_memory_total_bytes"), 80.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_gpu_memory_used_bytes"), 9.0 * kGiB);
  EXPECT_EQ(Sample(*metrics, "ovid_model_info{batch_guidance=\"auto\",device=\"cuda:0\","
                             "variant=\"960x960_10s\",weight_mode=\"cache\"}"),
            1);
  EXPECT_EQ(Sample(*metrics, "ovid_build_info{version=\"1.2.3\"}"), 1);
}

TEST(ServerMetricsTest, EmptySourcesLeaveTheirGaugesOutAndSetSourcesSwapsThem) {
  std::atomic<int> calls{0};
  MetricsSources with_queue;
  with_queue.queue_depth = [&] {
    ++calls;
    return size_t{4};
  };
  auto metrics = ServerMetrics::CreateUnserved({});
  std::string text = metrics->Scrape();
  EXPECT_FALSE(absl::StrContains(text, "ovid_queue_depth")) << text;
  EXPECT_FALSE(absl::StrContains(text, "ovid_weights_bf16_equivalent_bytes")) << text;
  EXPECT_FALSE(absl::StrContains(text, "ovid_model_info")) << text;  // no model yet: no blanks
  EXPECT_FALSE(absl::StrContains(text, "ovid_workers")) << text;     // no queue, no limits
  EXPECT_TRUE(absl::StrContains(text, "ovid_build_info")) << text;

  metrics->SetSources(with_queue);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_depth"), 4);
  const int calls_before = calls.load();
  metrics->SetSources({});  // what the daemon does before destroying the queue
  text = metrics->Scrape();
  EXPECT_FALSE(absl::StrContains(text, "ovid_queue_depth")) << text;
  EXPECT_EQ(calls.load(), calls_before);
}

TEST(ServerMetricsTest, RpcsCountByMethodAndCodeWithinTheDocumentedSets) {
  auto metrics = ServerMetrics::CreateUnserved({});
  // Before any call every method x code is there at 0, so rate() counts the first call.
  EXPECT_EQ(Sample(*metrics, "ovid_grpc_requests_total{code=\"INTERNAL\",method=\"GetJob\"}"), 0);
  EXPECT_EQ(
      Sample(*metrics, "ovid_grpc_requests_total{code=\"UNAUTHENTICATED\",method=\"WatchJob\"}"),
      0);
  metrics->OnRpc("Generate", absl::StatusCode::kOk);
  metrics->OnRpc("/ovid.v1.Generation/Generate", absl::StatusCode::kOk);
  metrics->OnRpc("Generate", absl::StatusCode::kResourceExhausted);
  metrics->OnRpc("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                 absl::StatusCode::kOk);
  metrics->OnRpc("/grpc.health.v1.Health/Generate", absl::StatusCode::kUnavailable);
  metrics->OnRpc("GetJob", static_cast<absl::StatusCode>(99));
  EXPECT_EQ(Sample(*metrics, "ovid_grpc_requests_total{code=\"OK\",method=\"Generate\"}"), 2);
  EXPECT_EQ(Sample(*metrics,
                   "ovid_grpc_requests_total{code=\"RESOURCE_EXHAUSTED\",method=\"Generate\"}"),
            1);
  EXPECT_EQ(Sample(*metrics, "ovid_grpc_requests_total{code=\"OK\",method=\"other\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_grpc_requests_total{code=\"UNAVAILABLE\",method=\"other\"}"),
            1);
  EXPECT_EQ(Sample(*metrics, "ovid_grpc_requests_total{code=\"UNKNOWN\",method=\"GetJob\"}"), 1);
}

TEST(ServerMetricsTest, ProcessStartTimeIsThisProcesssRecentPast) {
  auto metrics = ServerMetrics::CreateUnserved({});
  const double now = absl::ToUnixMicros(absl::Now()) / 1e6;
  const double start = Sample(*metrics, "ovid_process_start_time_seconds");
  EXPECT_LE(start, now + 1);          // clock ticks are 10 ms; allow rounding
  EXPECT_GT(start, now - 24 * 3600);  // a test binary started today
}

// Observer calls come from the workers and gRPC threads while the exposer's thread scrapes:
// nothing may be lost or torn.
TEST(ServerMetricsTest, ConcurrentObserversAndScrapesCountEverything) {
  MetricsSources sources;
  sources.queue_depth = [] { return size_t{1}; };
  auto metrics = ServerMetrics::CreateUnserved(std::move(sources));
  constexpr int kThreads = 4;
  constexpr int kJobs = 50;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) EXPECT_TRUE(absl::StrContains(metrics->Scrape(), "ovid_queue_depth 1"));
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int j = 0; j < kJobs; ++j) {
        auto job = NewJob(absl::StrCat("t", t, "-j", j));
        metrics->OnStarted(*job, absl::Seconds(1));
        for (uint32_t step = 0; step <= 3; ++step) {
          metrics->OnProgress(*job, Progress{"denoise", step, 3, 1.0 * step, 0});
        }
        const GenerationResult result;
        metrics->OnFinished(*job, absl::OkStatus(), &result, absl::Seconds(5));
        metrics->OnRejected(QueueFullError(1, 1, 1));
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  done = true;
  scraper.join();
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"succeeded\"}"), kThreads * kJobs);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"rejected\"}"), kThreads * kJobs);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_count"), kThreads * kJobs);
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_count"), kThreads * kJobs * 3);
}

// The real queue: its two RESOURCE_EXHAUSTED messages land under the right reasons, and the
// queue's own accessors feed the gauges.
TEST(ServerMetricsTest, TheRealQueuesRejectionsAndStateShowUp) {
  testing::FakePipeline pipeline({.steps = 2, .vram_bytes = 1000, .hold = true});
  JobStore store(absl::Hours(1), 100);
  auto metrics = ServerMetrics::CreateUnserved({});
  {
    JobQueue queue(pipeline, store, {.max_queue = 1, .workers = 1, .observer = metrics.get()});
    MetricsSources sources;
    sources.queue_depth = [&] { return queue.queued(); };
    sources.running_jobs = [&] { return queue.running(); };
    sources.vram_reserved_bytes = [&] { return queue.vram_reserved_bytes(); };
    metrics->SetSources(sources);
    ASSERT_TRUE(queue.Submit({}, "").ok());
    ASSERT_TRUE(pipeline.WaitForRunsStarted(1, absl::Seconds(20)));
    ASSERT_TRUE(queue.Submit({}, "").ok());
    EXPECT_FALSE(queue.Submit({}, "").ok());  // queue full
    EXPECT_EQ(Sample(*metrics, "ovid_queue_depth"), 1);
    EXPECT_EQ(Sample(*metrics, "ovid_requests_running"), 1);
    EXPECT_EQ(Sample(*metrics, "ovid_vram_reserved_bytes"), 1000);
    pipeline.Release();
    queue.Drain(absl::Seconds(20));
    metrics->SetSources({});
  }
  {
    testing::FakePipeline big({.vram_bytes = 5000});
    JobQueue queue(big, store, {.vram_budget_bytes = 4000, .observer = metrics.get()});
    EXPECT_FALSE(queue.Submit({}, "").ok());  // over the VRAM budget
  }
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"queue_full\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_request_failures_total{reason=\"vram_budget\"}"), 1);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"rejected\"}"), 2);
  EXPECT_EQ(Sample(*metrics, "ovid_requests_total{outcome=\"succeeded\"}"), 2);
  EXPECT_EQ(Sample(*metrics, "ovid_queue_wait_seconds_count"), 2);
  // The fake reports steps 1 and 2 (no step-0 anchor): one step time per job.
  EXPECT_EQ(Sample(*metrics, "ovid_denoise_step_seconds_count"), 2);
}

}  // namespace
}  // namespace ovid::server
