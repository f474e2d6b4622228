// File: tests/server/metrics_selftest.cc
// ovid-metrics-selftest: ServerMetrics with fixed fake sources, driven through a fixed script of
// observer calls, serving /metrics until stdin closes. tests/server/test_metrics_doc.py scrapes
// it and checks the result against docs/metrics.md, promtool and the counts below; change the
// script and that test together.
//
// Prints "port N" on stdout once /metrics is up. Exit status 0 after stdin closes, 1 when the
// server cannot start (the message on stderr). Optional argument: the listen address
// (default 127.0.0.1:0).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/job.h"
#include "server/metrics.h"

namespace ovid::server {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

MetricsSources FakeSources() {
  MetricsSources sources;
  sources.queue_depth = [] { return size_t{3}; };
  sources.running_jobs = [] { return size_t{1}; };
  sources.vram_reserved_bytes = [] { return 6 * kGiB; };
  sources.limits = {.max_queue = 16, .workers = 2, .vram_budget_bytes = 70 * kGiB};
  sources.vram = [] {
    VramSnapshot vram;
    vram.resident_by_type = {{"q4_K", 400, 5 * kGiB}, {"q6_K", 60, 1 * kGiB},
                             {"bf16", 900, 512 * kMiB}};
    vram.weights_resident_bytes = 6 * kGiB + 512 * kMiB;
    vram.weights_bf16_equivalent_bytes = 22 * kGiB;
    vram.dequant_workspace_bytes = 256 * kMiB;
    vram.cache_bytes = 0;
    vram.torch_allocated_bytes = 2 * kGiB;
    vram.torch_reserved_bytes = 3 * kGiB;
    vram.torch_peak_bytes = 9 * kGiB;
    vram.device_total_bytes = 80 * kGiB;
    vram.device_used_bytes = 12 * kGiB;
    return vram;
  };
  sources.model.variant = "720x720_5s";
  sources.model.weight_mode = "lazy";
  sources.model.batch_guidance = "auto";
  sources.model.device = "cuda:0";
  sources.version = "0.1.0-selftest";
  return sources;
}

GenerationResult FiveStageResult() {
  GenerationResult result;
  // Peaks: the denoise stage at 10 GiB, the video decode at 20 GiB, the CPU-side mux at 0
  // (not observed, as the CPU reports).
  result.stages = {{"text_encode", 1.0, 9 * kGiB},   {"denoise", 30.0, 10 * kGiB},
                   {"video_decode", 12.0, 20 * kGiB}, {"audio_decode", 2.0, 9 * kGiB},
                   {"mux", 0.5, 0}};
  result.peak_vram_bytes = 20 * kGiB;
  return result;
}

// Denoise reports for steps first..last, elapsed 1 + 3 * step: every step takes 3 s.
void Steps(ServerMetrics& metrics, const Job& job, uint32_t first, uint32_t last) {
  for (uint32_t step = first; step <= last; ++step) {
    metrics.OnProgress(job, Progress{"denoise", step, 10, 1.0 + 3.0 * step, 0});
  }
}

std::unique_ptr<Job> NewJob(int n, std::string tenant = "") {
  return std::make_unique<Job>(absl::StrCat("job-", n), GenerationRequest{}, "", 0, absl::Now(), 0,
                               absl::InfiniteDuration(), absl::InfiniteDuration(),
                               std::move(tenant));
}

// The script. Expected totals: requests succeeded 5, failed 2, cancelled 2, rejected 8;
// failures queue_full 3, vram_budget 2, invalid_argument 1, unavailable 1, unauthenticated 1,
// device_oom 1, cancelled 1, deadline_exceeded 1, internal 1; queue wait 8 samples (sum 10.5);
// denoise steps 54 samples of 3 s; 5 samples per stage; 5 peak-VRAM samples of 20 GiB.
void RunScript(ServerMetrics& metrics) {
  metrics.AddTenants({"team-a", "team-b"});
  int next_job = 0;
  for (int i = 0; i < 5; ++i) {
    // The first of them is team-a's, and really runs (its run time is on the steady clock).
    std::unique_ptr<Job> job = NewJob(++next_job, i == 0 ? "team-a" : "");
    metrics.OnQueued(*job);
    metrics.OnStarted(*job, absl::Seconds(2));
    if (i == 0) {
      job->Start(absl::Now());
      absl::SleepFor(absl::Milliseconds(50));
      job->Succeed(v1::Final(), absl::Now());
    }
    Steps(metrics, *job, 0, 10);
    const GenerationResult result = FiveStageResult();
    metrics.OnFinished(*job, absl::OkStatus(), &result, absl::Seconds(50));
  }
  for (int i = 0; i < 3; ++i) metrics.OnRejected(QueueFullError(16, 16, 1));
  for (int i = 0; i < 2; ++i) metrics.OnRejected(VramBudgetError(90 * kGiB, 60 * kGiB));
  metrics.OnRejected(absl::InvalidArgumentError("width must be a multiple of 16"));
  metrics.OnRejected(absl::UnavailableError("the server is draining and accepts no new jobs"));
  metrics.OnRejected(absl::UnauthenticatedError("missing bearer token"));

  std::unique_ptr<Job> oom = NewJob(++next_job);
  metrics.OnQueued(*oom);
  metrics.OnStarted(*oom, absl::Milliseconds(500));
  Steps(metrics, *oom, 0, 4);
  metrics.OnFinished(*oom, absl::ResourceExhaustedError("CUDA out of memory"), nullptr,
                     absl::Seconds(20));

  std::unique_ptr<Job> cancelled = NewJob(++next_job);  // cancelled while queued: never started
  metrics.OnQueued(*cancelled);
  metrics.OnFinished(*cancelled, absl::CancelledError("job cancelled"), nullptr, absl::Seconds(5));

  std::unique_ptr<Job> late = NewJob(++next_job);
  metrics.OnQueued(*late);
  metrics.OnStarted(*late, absl::ZeroDuration());
  metrics.OnFinished(*late, absl::DeadlineExceededError("deadline exceeded"), nullptr,
                     absl::Seconds(600));

  std::unique_ptr<Job> broken = NewJob(++next_job);
  metrics.OnQueued(*broken);
  metrics.OnStarted(*broken, absl::ZeroDuration());
  metrics.OnFinished(*broken, absl::InternalError("decoder failed"), nullptr, absl::Seconds(1));

  // RPCs: Generate OK 5, Generate RESOURCE_EXHAUSTED 5, GetJob OK 2, CancelJob OK 1, other OK 1.
  for (int i = 0; i < 5; ++i) metrics.OnRpc("Generate", absl::StatusCode::kOk);
  for (int i = 0; i < 5; ++i) metrics.OnRpc("Generate", absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < 2; ++i) metrics.OnRpc("GetJob", absl::StatusCode::kOk);
  metrics.OnRpc("CancelJob", absl::StatusCode::kOk);
  metrics.OnRpc("grpc.health.v1.Health/Check", absl::StatusCode::kOk);

  // A TLS port whose certificate expires at 2030-01-01T00:00:00Z, renewed once to 2031-01-01:
  // the gauge holds the latest.
  metrics.SetTlsCertificateExpiry(absl::FromUnixSeconds(1893456000));
  metrics.SetTlsCertificateExpiry(absl::FromUnixSeconds(1924992000));
}

}  // namespace
}  // namespace ovid::server

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<ovid::server::ServerMetrics>> metrics =
      ovid::server::ServerMetrics::Start(address, ovid::server::FakeSources());
  if (!metrics.ok()) {
    std::fprintf(stderr, "ovid-metrics-selftest: %s\n", metrics.status().ToString().c_str());
    return 1;
  }
  ovid::server::RunScript(**metrics);
  std::printf("port %d\n", (*metrics)->port());
  std::fflush(stdout);
  // Serve until the test closes our stdin (or dies, which closes it too).
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  return 0;
}
