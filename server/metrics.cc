// File: server/metrics.cc
#include "server/metrics.h"

#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "prometheus/text_serializer.h"
#include "server/metrics_buckets.h"
#include "server/metrics_exposer.h"
#include "server/metrics_process.h"

namespace ovid::server {
namespace {

namespace buckets = metrics_buckets;

// The engine's stages (ovid/engine.h, Progress). Anything else is exported as "other", so a new
// engine stage cannot grow the label set past what docs/metrics.md lists.
constexpr std::array<std::string_view, 6> kStages = {"text_encode", "image_encode", "denoise",
                                                     "audio_decode", "video_decode", "mux"};
// The methods of ovid.v1.Generation; others (health, reflection) count as "other".
constexpr std::array<std::string_view, 6> kMethods = {"Generate", "WatchJob", "GetJob",
                                                      "CancelJob", "ListJobs", "GetModel"};

size_t Index(Outcome outcome) { return static_cast<size_t>(outcome); }
size_t Index(FailureReason reason) { return static_cast<size_t>(reason); }

std::string KnownOr(std::string_view name, const auto& known, std::string_view fallback) {
  for (std::string_view candidate : known) {
    if (candidate == name) return std::string(name);
  }
  return std::string(fallback);
}

double StartSeconds() {
  absl::StatusOr<double> start = ProcessStartUnixSeconds();
  // Without /proc, the metrics' own creation is the best stand-in: it happens at start-up.
  return start.ok() ? *start : absl::ToUnixMicros(absl::Now()) / 1e6;
}

}  // namespace

ServerMetrics::ServerMetrics(MetricsSources sources)
    : registry_(std::make_shared<prometheus::Registry>()),
      state_(std::make_shared<StateCollector>(std::move(sources), StartSeconds())) {
  // Every series of a closed label set exists from the start at 0, so rate() and absent() work
  // before the first event of each kind.
  auto& requests = prometheus::BuildCounter()
                       .Name("ovid_requests_total")
                       .Help("Generation requests by how they ended (a rejected one never ran).")
                       .Register(*registry_);
  for (Outcome outcome : kAllOutcomes) {
    requests_[Index(outcome)] = &requests.Add({{"outcome", std::string(OutcomeName(outcome))}});
  }
  auto& failures = prometheus::BuildCounter()
                       .Name("ovid_request_failures_total")
                       .Help("Requests that did not succeed, by reason (rejections included).")
                       .Register(*registry_);
  for (FailureReason reason : kAllFailureReasons) {
    failures_[Index(reason)] =
        &failures.Add({{"reason", std::string(FailureReasonName(reason))}});
  }
  auto& duration = prometheus::BuildHistogram()
                       .Name("ovid_request_duration_seconds")
                       .Help("Job creation to its end, queue wait included, by outcome.")
                       .Register(*registry_);
  for (Outcome outcome : {Outcome::kSucceeded, Outcome::kFailed, Outcome::kCancelled}) {
    request_duration_[Index(outcome)] = &duration.Add(
        {{"outcome", std::string(OutcomeName(outcome))}}, buckets::RequestDurationSeconds());
  }
  queue_wait_ = &prometheus::BuildHistogram()
                     .Name("ovid_queue_wait_seconds")
                     .Help("Time a job waited in the queue before a worker took it.")
                     .Register(*registry_)
                     .Add({}, buckets::QueueWaitSeconds());
  stage_duration_ = &prometheus::BuildHistogram()
                         .Name("ovid_stage_duration_seconds")
                         .Help("Time of one pipeline stage of a successful job.")
                         .Register(*registry_);
  for (std::string_view stage : kStages) StageHistogram(std::string(stage));
  denoise_step_ = &prometheus::BuildHistogram()
                       .Name("ovid_denoise_step_seconds")
                       .Help("Time of one denoising step (all guidance passes).")
                       .Register(*registry_)
                       .Add({}, buckets::DenoiseStepSeconds());
  stage_peak_vram_ = &prometheus::BuildHistogram()
                         .Name("ovid_stage_peak_gpu_memory_bytes")
                         .Help("Peak device memory during one pipeline stage of a successful job.")
                         .Register(*registry_);
  for (std::string_view stage : kStages) StagePeakHistogram(std::string(stage));
  peak_vram_ = &prometheus::BuildHistogram()
                    .Name("ovid_request_peak_gpu_memory_bytes")
                    .Help("Peak device memory of a successful job, as the engine measured it.")
                    .Register(*registry_)
                    .Add({}, buckets::PeakVramBytes());
  // The histogram's buckets are 8-16 GiB wide near card sizes, too coarse to say "within 10% of
  // the card": this gauge keeps the exact peak of the latest job for max_over_time().
  last_peak_vram_ = &prometheus::BuildGauge()
                         .Name("ovid_request_last_peak_gpu_memory_bytes")
                         .Help("Peak device memory of the latest successful job (0 until a job "
                               "on a GPU finished).")
                         .Register(*registry_)
                         .Add({});
  tenant_jobs_ = &prometheus::BuildCounter()
                      .Name("ovid_tenant_jobs_total")
                      .Help("Jobs of tokens with a tenant, by tenant and how they ended.")
                      .Register(*registry_);
  tenant_run_seconds_ = &prometheus::BuildCounter()
                             .Name("ovid_tenant_run_seconds_total")
                             .Help("Worker time of each tenant's jobs, start to end.")
                             .Register(*registry_);
  tenant_queue_wait_ = &prometheus::BuildHistogram()
                            .Name("ovid_tenant_queue_wait_seconds")
                            .Help(
                                "Time each tenant's jobs waited in the queue before a worker "
                                "took them.")
                            .Register(*registry_);
  rpcs_ = &prometheus::BuildCounter()
               .Name("ovid_grpc_requests_total")
               .Help("Finished RPCs of ovid.v1.Generation by method and final status code.")
               .Register(*registry_);
  // Every method x code at 0 from the start (6 x 17 small series): a series created at its
  // first call is already 1, and rate()/increase() never count that first call, so a pod's one
  // INTERNAL or UNAUTHENTICATED stayed invisible on the dashboard (and again after a restart).
  for (std::string_view method : kMethods) {
    for (int code = 0; code <= 16; ++code) {
      rpcs_->Add({{"method", std::string(method)},
                  {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
    }
  }
  tls_expiry_ = &prometheus::BuildGauge()
                     .Name("ovid_tls_certificate_expiry_timestamp_seconds")
                     .Help(
                         "When the certificate the TLS port serves expires (Unix seconds), as "
                         "ovid last read it.")
                     .Register(*registry_);
}

void ServerMetrics::SetTlsCertificateExpiry(absl::Time not_after) {
  tls_expiry_->Add({}).Set(absl::ToDoubleSeconds(not_after - absl::UnixEpoch()));
}

ServerMetrics::~ServerMetrics() = default;

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Start(
    const std::string& listen_address, MetricsSources sources) {
  std::unique_ptr<ServerMetrics> metrics = CreateUnserved(std::move(sources));
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      StartExposer(listen_address, {metrics->registry_, metrics->state_});
  if (!exposer.ok()) return exposer.status();
  metrics->exposer_ = *std::move(exposer);
  return metrics;
}

std::unique_ptr<ServerMetrics> ServerMetrics::CreateUnserved(MetricsSources sources) {
  return std::unique_ptr<ServerMetrics>(new ServerMetrics(std::move(sources)));
}

int ServerMetrics::port() const {
  if (exposer_ == nullptr) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void ServerMetrics::SetSources(MetricsSources sources) { state_->SetSources(std::move(sources)); }

std::string ServerMetrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : state_->Collect()) {
    families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void ServerMetrics::OnRpc(std::string_view method, absl::StatusCode code) {
  // gRPC names a method by its full path; the label keeps the short name.
  constexpr std::string_view kService = "/ovid.v1.Generation/";
  if (method.substr(0, kService.size()) == kService) method.remove_prefix(kService.size());
  std::string code_name = absl::StatusCodeToString(code);
  // absl names codes outside google.rpc.Code's 0..16 with "" (and the enum can hold any int).
  if (code_name.empty()) code_name = "UNKNOWN";
  // Family::Add returns the existing series (made at start, but for method "other").
  rpcs_->Add({{"method", KnownOr(method, kMethods, "other")}, {"code", code_name}}).Increment();
}

void ServerMetrics::OnRejected(const absl::Status& status, std::string_view /*peer*/) {
  requests_[Index(Outcome::kRejected)]->Increment();
  failures_[Index(RejectionReason(status))]->Increment();
}

void ServerMetrics::OnStarted(const Job& job, absl::Duration queue_wait) {
  queue_wait_->Observe(absl::ToDoubleSeconds(queue_wait));
  if (!job.tenant().empty()) {
    TenantQueueWait(job.tenant()).Observe(absl::ToDoubleSeconds(queue_wait));
  }
}

void ServerMetrics::OnProgress(const Job& job, const Progress& progress) {
  const StepTimes times = step_timer_.OnProgress(job.id(), progress);
  for (uint32_t i = 0; i < times.steps; ++i) denoise_step_->Observe(times.seconds);
}

void ServerMetrics::OnFinished(const Job& job, const absl::Status& status,
                               const GenerationResult* result, absl::Duration total) {
  step_timer_.Forget(job.id());
  const Outcome outcome = FinishOutcome(status, job.state() == v1::JOB_STATE_CANCELLED);
  requests_[Index(outcome)]->Increment();
  if (!job.tenant().empty()) {
    tenant_jobs_->Add({{"tenant", job.tenant()}, {"outcome", std::string(OutcomeName(outcome))}})
        .Increment();
    // 0 for a job that never started (cancelled while queued): the series still appears.
    tenant_run_seconds_->Add({{"tenant", job.tenant()}})
        .Increment(absl::ToDoubleSeconds(job.run_time()));
  }
  request_duration_[Index(outcome)]->Observe(absl::ToDoubleSeconds(total));
  if (!status.ok()) {
    failures_[Index(FinishReason(status))]->Increment();
    return;
  }
  if (result == nullptr) return;
  for (const StageTiming& stage : result->stages) {
    StageHistogram(stage.stage).Observe(stage.seconds);
    if (stage.peak_vram_bytes > 0) {
      StagePeakHistogram(stage.stage).Observe(static_cast<double>(stage.peak_vram_bytes));
    }
  }
  // 0 means the device could not say (the CPU); a 0 sample would read as "fits anywhere".
  if (result->peak_vram_bytes > 0) {
    peak_vram_->Observe(static_cast<double>(result->peak_vram_bytes));
    last_peak_vram_->Set(static_cast<double>(result->peak_vram_bytes));
  }
}

void ServerMetrics::AddTenants(const std::vector<std::string>& tenants) {
  for (const std::string& tenant : tenants) {
    for (Outcome outcome : {Outcome::kSucceeded, Outcome::kFailed, Outcome::kCancelled}) {
      tenant_jobs_->Add({{"tenant", tenant}, {"outcome", std::string(OutcomeName(outcome))}});
    }
    tenant_run_seconds_->Add({{"tenant", tenant}});
    TenantQueueWait(tenant);
  }
}

prometheus::Histogram& ServerMetrics::TenantQueueWait(const std::string& tenant) {
  return tenant_queue_wait_->Add({{"tenant", tenant}}, buckets::QueueWaitSeconds());
}

prometheus::Histogram& ServerMetrics::StageHistogram(const std::string& stage) {
  return stage_duration_->Add({{"stage", KnownOr(stage, kStages, "other")}},
                              buckets::StageDurationSeconds());
}

prometheus::Histogram& ServerMetrics::StagePeakHistogram(const std::string& stage) {
  return stage_peak_vram_->Add({{"stage", KnownOr(stage, kStages, "other")}},
                               buckets::PeakVramBytes());
}

}  // namespace ovid::server
