// File: server/metrics.h
// The daemon's Prometheus metrics (docs/metrics.md is the normative list): counters and
// histograms fed by the job runtime through JobObserver, gauges read from MetricsSources at every
// scrape, served at http://LISTEN/metrics by prometheus-cpp's civetweb server.
//
// A binary that runs this server and links LibTorch's CUDA libraries must also link the
// ovid_civetweb_stack object library (server/civetweb_stack.cc says why); server/metrics.cmake
// makes ovid_server_metrics carry it.
//
// Daemon wiring:
//   1. metrics = ServerMetrics::Start(config.metrics_listen, {.version = ...}) before the model
//      loads (a scrape during a long load sees the daemon up and not ready) — fail start-up
//      with its status; once loaded, SetSources() with .vram and .model = pipeline->Describe();
//   2. create the JobQueue with options.observer = metrics.get(), then SetSources() again with
//      queue_depth / running_jobs / vram_reserved_bytes bound to the queue;
//   3. every finished RPC: OnRpc(method, status code);
//   4. shutdown: Drain the queue, SetSources() without the queue's callbacks, destroy the queue,
//      then the metrics (the observer must outlive the queue; the callbacks must not).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/job_observer.h"
#include "server/metrics_reasons.h"
#include "server/metrics_sources.h"
#include "server/metrics_state.h"
#include "server/metrics_step_timer.h"

namespace ovid::server {

class ServerMetrics : public JobObserver {
 public:
  // Serves /metrics on `listen_address` ("IPV4:PORT", "[IPV6]:PORT" or "PORT"; port 0 picks a
  // free one, see port()). INVALID_ARGUMENT for a malformed address, UNAVAILABLE when the server
  // cannot start (address in use, ...), both naming the address.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Start(const std::string& listen_address,
                                                              MetricsSources sources);
  // The same metrics without an HTTP server (tests; a daemon run with metrics off).
  static std::unique_ptr<ServerMetrics> CreateUnserved(MetricsSources sources);

  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;
  ~ServerMetrics() override;

  // The port /metrics is served on (the real one when started with port 0); 0 when unserved.
  int port() const;
  // Replaces the scrape-time sources; see StateCollector::SetSources for the guarantee.
  void SetSources(MetricsSources sources);
  // The ovid_ metrics in the text exposition format, as a scrape returns them (less the
  // exposer_* metrics prometheus-cpp adds about itself).
  std::string Scrape() const;

  // One finished RPC with its final status code. `method` is the short name ("Generate") or
  // the full path ("/ovid.v1.Generation/Generate"); methods of other services (health,
  // reflection) count as "other".
  void OnRpc(std::string_view method, absl::StatusCode code);
  // When the certificate the TLS port serves expires, as ovid last read it (at start and on each
  // renewal). The series is absent without TLS.
  void SetTlsCertificateExpiry(absl::Time not_after);
  // The tenants of the token file (at start and after each reload): their series exist at 0
  // from then on, so rate() and increase() count a tenant's first job too.
  void AddTenants(const std::vector<std::string>& tenants);

  // JobObserver.
  using JobObserver::OnRejected;
  void OnRejected(const absl::Status& status, std::string_view peer) override;
  void OnStarted(const Job& job, absl::Duration queue_wait) override;
  void OnProgress(const Job& job, const Progress& progress) override;
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult* result,
                  absl::Duration total) override;

 private:
  explicit ServerMetrics(MetricsSources sources);
  prometheus::Histogram& StageHistogram(const std::string& stage);
  prometheus::Histogram& StagePeakHistogram(const std::string& stage);
  prometheus::Histogram& TenantQueueWait(const std::string& tenant);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<StateCollector> state_;

  std::array<prometheus::Counter*, kAllOutcomes.size()> requests_{};
  std::array<prometheus::Counter*, kFailureReasonCount> failures_{};
  // Indexed by Outcome; kRejected stays null (a rejected request never became a job).
  std::array<prometheus::Histogram*, kAllOutcomes.size()> request_duration_{};
  prometheus::Histogram* queue_wait_ = nullptr;
  prometheus::Histogram* denoise_step_ = nullptr;
  prometheus::Histogram* peak_vram_ = nullptr;
  prometheus::Gauge* last_peak_vram_ = nullptr;  // the exact figure the histogram only buckets
  prometheus::Family<prometheus::Histogram>* stage_peak_vram_ = nullptr;
  prometheus::Family<prometheus::Histogram>* stage_duration_ = nullptr;
  prometheus::Family<prometheus::Counter>* rpcs_ = nullptr;
  // Per tenant (token file lines "TOKEN tenant=NAME"): a series appears at the tenant's first
  // finished job. The operator bounds the label's values by the tenants it writes.
  prometheus::Family<prometheus::Counter>* tenant_jobs_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_run_seconds_ = nullptr;
  // How long each tenant's jobs wait for a worker: whether the tenants' turns
  // (--tenant-scheduling) keep one tenant's burst from making the others wait.
  prometheus::Family<prometheus::Histogram>* tenant_queue_wait_ = nullptr;
  prometheus::Family<prometheus::Gauge>* tls_expiry_ = nullptr;  // one series once set

  DenoiseStepTimer step_timer_;
  // Last, so it is destroyed first: no scrape runs while the rest is torn down.
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace ovid::server
