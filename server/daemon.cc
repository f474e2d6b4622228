// File: server/daemon.cc
#include "server/daemon.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ovid/engine_log.h"
#include "ovid/ovi_pipeline.h"
#include "server/auth.h"
#include "server/auth_at_headers.h"
#include "server/config.h"
#include "server/core_dumps.h"
#include "server/credentials_watch.h"
#include "server/generation_service.h"
#include "server/job_log.h"
#include "server/job_queue.h"
#include "server/job_stall_watch.h"
#include "server/job_store.h"
#include "server/library_log.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/model_info.h"
#include "server/stop_signal.h"
#include "server/tls.h"

#ifndef OVID_VERSION
#define OVID_VERSION "unknown"
#endif

namespace ovid::server {
namespace {

constexpr char kServiceName[] = "ovid.v1.Generation";

std::string Bytes(uint64_t bytes) { return absl::StrCat(bytes); }
std::string MiB(uint64_t bytes) { return absl::StrFormat("%.1f", bytes / 1048576.0); }

PipelineOptions ToPipelineOptions(const Config& config) {
  PipelineOptions options;
  options.model_path = config.model;
  options.components = config.components;
  options.offload = config.offload;
  options.decode = config.decode;
  options.device = config.device;
  options.weights = config.dequant;
  options.cache_budget_bytes = config.cache_budget_bytes;
  options.measure_dispatch = config.measure_dispatch;
  options.workers = config.workers;
  options.batch_guidance = config.batch_guidance;
  options.faults.oom_at_step = config.fault_oom_at_step;
  options.faults.device_error_at_step = config.fault_device_error_at_step;
  options.faults.step_delay_ms = config.fault_step_delay_ms;
  options.faults.vram_estimate_bytes = config.fault_vram_bytes;
  return options;
}

// Readiness of the API service on every server that serves health ("" stays SERVING while the
// process lives: liveness).
class Health {
 public:
  void Add(grpc::Server* server) {
    if (server == nullptr || server->GetHealthCheckService() == nullptr) return;
    server->GetHealthCheckService()->SetServingStatus("", true);
    server->GetHealthCheckService()->SetServingStatus(kServiceName, false);
    servers_.push_back(server);
  }
  void SetReady(bool ready) {
    for (grpc::Server* s : servers_)
      s->GetHealthCheckService()->SetServingStatus(kServiceName, ready);
  }

 private:
  std::vector<grpc::Server*> servers_;
};

// Turns a job that left the device unusable into a daemon stop (exit 1 after draining).
class DeviceWatch : public JobObserver {
 public:
  DeviceWatch(StopSignal& stop, Health& health) : stop_(stop), health_(health) {}
  void SetPipeline(const LoadedPipeline* pipeline) { pipeline_ = pipeline; }
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult*,
                  absl::Duration) override {
    if (status.ok() || pipeline_ == nullptr || pipeline_->healthy()) return;
    health_.SetReady(false);
    stop_.Fatal(absl::StrCat("device fault in job ", job.id(), ": ", status.message()));
  }

 private:
  StopSignal& stop_;
  Health& health_;
  const LoadedPipeline* pipeline_ = nullptr;
};

// Takes server reflection off one server. Linking grpc++_reflection registers its plugin for
// every server the process builds (a static initializer), the plaintext, unauthenticated health
// listener included, which then described the whole API to anyone who reached the probe port.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string reflection = grpc::reflection::ProtoServerReflectionPlugin().name();
    std::erase_if(*plugins, [&](const auto& p) { return p->name() == reflection; });
  }
};

// `service` null: the health listener (health only, no reflection).
// `max_connection_age` 0: connections may live for ever.
std::unique_ptr<grpc::Server> StartServer(const std::string& address,
                                          std::shared_ptr<grpc::ServerCredentials> credentials,
                                          grpc::Service* service, uint64_t max_receive,
                                          absl::Duration max_connection_age, int* port) {
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second daemon on a busy port would then start and take
  // half of the connections, and a health address on the API port would answer its calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive on open calls: the daemon pings a client every 60 s, so one that vanished without
  // closing (a node gone, a NAT entry dropped) is noticed within ~80 s and its job, unless kept,
  // cancelled; and it accepts the clients' own pings (ovidctl and the Python client send one a
  // minute) down to every 30 s, where gRPC's default of 5 minutes answered them with GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 30000);
  // A long-lived HTTP/2 connection pins a client to one replica: without GOAWAY it stayed on a
  // draining pod (refused work) or an old one after the HPA added new ones. The grace is
  // unbounded: a Generate stream of minutes keeps its connection to its end.
  if (max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(max_connection_age),
                                           std::numeric_limits<int>::max())));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               std::numeric_limits<int>::max());
  }
  builder.AddListeningPort(address, std::move(credentials), port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_receive));
  if (service != nullptr) {
    builder.RegisterService(service);  // reflection comes with it (the global plugin)
  } else {
    builder.SetOption(std::make_unique<WithoutReflection>());
    // Without any service of its own the server would have no callback method and gRPC would
    // leave the health service off and refuse to start. Calls to any other method meet this
    // generic service's default: UNIMPLEMENTED. One per process (there is one health listener).
    static grpc::CallbackGenericService others;
    builder.RegisterCallbackGenericService(&others);
  }
  return builder.BuildAndStart();
}

// Stops the servers, giving open calls 5 s to finish. Shutdown() without a deadline waits for
// every call, and a client's health Watch stream never ends by itself: it held a daemon whose
// model did not load until the watch ended, or forever.
void StopServers(grpc::Server* server, grpc::Server* health_server) {
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  if (server != nullptr) server->Shutdown(deadline);
  if (health_server != nullptr) health_server->Shutdown(deadline);
}

}  // namespace

int RunDaemon(int argc, char** argv) {
  StopSignal::BlockSignals();
  absl::StatusOr<Config> parsed =
      ParseConfig(std::vector<std::string>(argv + 1, argv + argc), ProcessEnvironment());
  if (!parsed.ok()) {
    std::fprintf(stderr, "ovid: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  const Config& config = *parsed;
  if (config.help) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  const Logger log(config.log_format);
  // Before any secret is read.
  if (absl::Status dumps = SetCoreDumps(config.core_dumps); !dumps.ok()) {
    log.Error("cannot turn core dumps off", {{"error", std::string(dumps.message())},
                                             {"hint", "--core-dumps=on to start anyway"}});
    return 1;
  }
  RouteLibraryLogs(log);
  // The engine's own lines (load summaries, libav's codecs) in the daemon's format: with
  // --log-format=json they were plain text between the JSON objects.
  SetEngineLogSink([log](EngineLogLevel level, std::string_view text) {
    const absl::string_view message(text.data(), text.size());
    const LogFields fields = {{"source", "engine"}};
    switch (level) {
      case EngineLogLevel::kError:
        return log.Error(message, fields);
      case EngineLogLevel::kWarning:
        return log.Warn(message, fields);
      case EngineLogLevel::kInfo:
        return log.Info(message, fields);
    }
  });
  // The TEST ONLY hooks fail or slow real jobs: a variable leaked into production must be seen.
  {
    LogFields faults;
    if (config.fault_oom_at_step)
      faults.push_back({"oom_at_step", absl::StrCat(config.fault_oom_at_step)});
    if (config.fault_step_delay_ms)
      faults.push_back({"step_delay_ms", absl::StrCat(config.fault_step_delay_ms)});
    if (config.fault_vram_bytes)
      faults.push_back({"vram_bytes", absl::StrCat(config.fault_vram_bytes)});
    if (config.fault_device_error_at_step) {
      faults.push_back({"device_error_at_step", absl::StrCat(config.fault_device_error_at_step)});
    }
    if (config.fault_load_delay_ms)
      faults.push_back({"load_delay_ms", absl::StrCat(config.fault_load_delay_ms)});
    if (!faults.empty()) log.Warn("TEST ONLY fault hooks are on", faults);
  }
  BearerAuth auth;
  if (!config.auth_token_file.empty()) {
    absl::StatusOr<BearerAuth> loaded = BearerAuth::FromFile(config.auth_token_file);
    if (!loaded.ok()) {
      log.Error("bad configuration", {{"error", std::string(loaded.status().message())}});
      return 2;
    }
    auth = *std::move(loaded);
    if (!config.tls() && !IsLoopbackListen(config.listen)) {
      log.Warn("bearer tokens will cross the network in plaintext",
               {{"address", config.listen},
                {"hint",
                 "anyone on the path can read and replay them: set --tls-cert/--tls-key, or "
                 "keep the port behind a TLS-terminating proxy or mesh"}});
    }
  }
  if (config.max_queue_per_tenant >= config.max_queue) {
    log.Warn("--max-queue-per-tenant has no effect",
             {{"max_queue_per_tenant", absl::StrCat(config.max_queue_per_tenant)},
              {"max_queue", absl::StrCat(config.max_queue)},
              {"hint", "one tenant can still fill the whole queue: set it below --max-queue"}});
  }
  absl::StatusOr<ServerSecurity> security = ServerCredentialsFor(config);
  if (!security.ok()) {
    log.Error("bad configuration", {{"error", std::string(security.status().message())}});
    return 2;
  }

  const std::string version = OVID_VERSION;
  // Up before the model loads, so a scrape during a long load shows the process (and its
  // build), not a refused connection. The model's gauges join once it is loaded.
  MetricsSources build_only;
  build_only.version = version;
  absl::StatusOr<std::unique_ptr<ServerMetrics>> started_metrics =
      ServerMetrics::Start(config.metrics_listen, build_only);
  if (!started_metrics.ok()) {
    log.Error("cannot serve metrics", {{"error", std::string(started_metrics.status().message())}});
    return 2;
  }
  // Declared before everything that reports to it: destroyed last (it observes the queue).
  std::unique_ptr<ServerMetrics> metrics = *std::move(started_metrics);
  log.Info("metrics listening",
           {{"address", config.metrics_listen}, {"port", absl::StrCat(metrics->port())}});

  // The token file is re-read when it changes (every --reload-interval) and on SIGHUP: a
  // rotation adds the new token, moves the clients, drops the old one. gRPC re-reads the TLS
  // files; the watch logs what it will have loaded.
  CredentialsWatch credentials(
      config, auth, log, security->certificate,
      [sink = metrics.get()](const TlsCertificateInfo& certificate) {
        if (certificate.not_after) {
          sink->SetTlsCertificateExpiry(*certificate.not_after);
        }
      },
      [sink = metrics.get()](const std::vector<std::string>& tenants) {
        sink->AddTenants(tenants);
      });
  StopSignal stop([&credentials](const std::string& signal) { credentials.ReloadTokens(signal); });
  Health health;
  JobStore store(config.job_ttl, config.max_jobs_kept, absl::Now, config.max_kept_bytes);
  ObserverList observers;
  observers.Add(metrics.get());
  JobLog job_log(log);
  observers.Add(&job_log);
  DeviceWatch device_watch(stop, health);
  observers.Add(&device_watch);
  // A wedged worker (--job-stall-timeout without progress) stops the daemon like a device fault:
  // not ready, drain, exit 1. Such a worker never returns, and the drain joins the workers, so a
  // timer ends the process --drain-timeout + 15 s later whatever the drain is doing.
  std::unique_ptr<JobStallWatch> stall_watch;
  if (config.job_stall_timeout > absl::ZeroDuration()) {
    stall_watch = std::make_unique<JobStallWatch>(
        config.job_stall_timeout,
        [&log, &health, &stop,
         grace = config.drain_timeout + absl::Seconds(15)](const JobStallWatch::Stall& stall) {
          const std::string stage = stall.stage.empty() ? "(none reported)" : stall.stage;
          log.Error("job stalled",
                    {{"job", stall.job_id},
                     {"stage", stage},
                     {"step", absl::StrCat(stall.step, "/", stall.total)},
                     {"silent_s", absl::StrFormat("%.0f", absl::ToDoubleSeconds(stall.silent))},
                     {"hint",
                      "a wedged worker (--job-stall-timeout): the daemon drains and exits with "
                      "status 1 so that a fresh one starts"}});
          health.SetReady(false);
          stop.Fatal(absl::StrCat("job ", stall.job_id, " made no progress for ",
                                  absl::FormatDuration(stall.silent), " in stage ", stage,
                                  " (--job-stall-timeout)"));
          std::thread([log, grace] {
            absl::SleepFor(grace);
            log.Error("exiting without a clean shutdown",
                      {{"reason", "the stalled job's worker did not return"}});
            std::_Exit(1);
          }).detach();
        });
    observers.Add(stall_watch.get());
  }
  ServerMetrics* metrics_sink = metrics.get();
  // Before the service: every stream leaves it (OnDone) before the server is gone.
  std::unique_ptr<StreamWatchdog> watchdog;
  if (config.stream_stall_timeout > absl::ZeroDuration()) {
    watchdog = std::make_unique<StreamWatchdog>(config.stream_stall_timeout);
  }
  GenerationService service(
      store, auth, &observers,
      [metrics_sink](std::string_view method, absl::StatusCode code) {
        metrics_sink->OnRpc(method, code);
      },
      watchdog.get());

  // With TLS an unauthenticated call ends at its headers, before gRPC reads its request message
  // (server/auth_at_headers.h); gRPC has no such hook for plaintext listeners. The service
  // outlives the server, the only caller.
  if (config.tls() && auth.enabled()) {
    const std::string prefix = absl::StrCat("/", v1::Generation::service_full_name(), "/");
    std::vector<std::string> methods;
    const google::protobuf::ServiceDescriptor* described =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            v1::Generation::service_full_name());
    for (int i = 0; described != nullptr && i < described->method_count(); ++i) {
      methods.push_back(absl::StrCat(prefix, described->method(i)->name()));
    }
    security->credentials->SetAuthMetadataProcessor(std::make_shared<AuthAtHeaders>(
        auth, std::move(methods),
        [&service, prefix](std::string_view path, const absl::Status& status,
                           std::string_view client) {
          service.RefusedAtHeaders(path.substr(prefix.size()), status, client);
        }));
  }

  // Health and reflection are served from the start, so probes see "alive, not ready" while the
  // model loads.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();  // the API server's (see above)
  int port = 0;
  std::unique_ptr<grpc::Server> server =
      StartServer(config.listen, security->credentials, &service, config.max_receive_bytes,
                  config.max_connection_age, &port);
  if (server == nullptr || port == 0) {
    // gRPC says no more (the TLS files were checked before: a mismatched key or a CA that is no
    // certificate stopped the start there, naming the file).
    LogFields fields = {{"address", config.listen}, {"hint", "address in use or not this host's"}};
    log.Error("cannot listen", fields);
    return 2;
  }
  health.Add(server.get());
  log.Info("listening",
           {{"address", config.listen},
            {"port", absl::StrCat(port)},
            {"tls", config.tls() ? (config.tls_client_ca.empty() ? "tls" : "mtls") : "off"},
            {"auth", auth.enabled() ? "bearer" : "off"},
            {"core_dumps", CoreDumpsAllowed() ? "on" : "off"}});
  std::unique_ptr<grpc::Server> health_server;
  if (!config.health_address.empty()) {
    int health_port = 0;
    health_server = StartServer(config.health_address, grpc::InsecureServerCredentials(), nullptr,
                                4096, absl::ZeroDuration(), &health_port);
    if (health_server == nullptr || health_port == 0) {
      log.Error("cannot listen", {{"address", config.health_address}, {"what", "health"}});
      StopServers(server.get(), nullptr);
      return 2;
    }
    health.Add(health_server.get());
    log.Info("health listening",
             {{"address", config.health_address}, {"port", absl::StrCat(health_port)}});
  }

  // Until ready there is nothing to drain: a signal ends the process at once (a load of minutes
  // would otherwise outlast a pod's grace period and end in SIGKILL).
  stop.SetExitBeforeReady([&log](const std::string& signal) {
    log.Info("stopped before ready", {{"reason", signal}});
    std::_Exit(0);
  });
  if (config.fault_load_delay_ms != 0) absl::SleepFor(absl::Milliseconds(config.fault_load_delay_ms));
  const absl::Time load_start = absl::Now();
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> loaded =
      LoadOviPipeline(ToPipelineOptions(config));
  if (!loaded.ok()) {
    log.Error("cannot load the model",
              {{"model", config.model}, {"error", std::string(loaded.status().message())}});
    stop.SetExitBeforeReady(nullptr);  // a signal now must not turn this exit into a 0
    StopServers(server.get(), health_server.get());
    return 1;
  }
  std::unique_ptr<LoadedPipeline> pipeline = *std::move(loaded);
  const ModelDescription model = pipeline->Describe();
  log.Info("model loaded",
           {{"variant", model.variant},
            {"weights", model.weight_mode},
            {"batch_guidance", model.batch_guidance},
            {"fused_dispatch", model.fused_dispatch},
            {"device", model.device},
            {"tensors", absl::StrCat(model.tensors_total)},
            {"quantized", absl::StrCat(model.tensors_quantized)},
            {"seconds", absl::StrFormat("%.2f", absl::ToDoubleSeconds(absl::Now() - load_start))}});
  if (absl::Status warm = pipeline->Warmup(); !warm.ok()) {
    log.Error("warm-up failed", {{"error", std::string(warm.message())}});
    stop.SetExitBeforeReady(nullptr);
    StopServers(server.get(), health_server.get());
    return 1;
  }
  const VramSnapshot vram = pipeline->Vram();
  log.Info("vram", {{"weights_resident_mib", MiB(vram.weights_resident_bytes)},
                    {"weights_bf16_mib", MiB(vram.weights_bf16_equivalent_bytes)},
                    {"workspace_mib", MiB(vram.dequant_workspace_bytes)},
                    {"cache_mib", MiB(vram.cache_bytes)},
                    {"torch_reserved_mib", MiB(vram.torch_reserved_bytes)},
                    {"device_used_mib", MiB(vram.device_used_bytes)},
                    {"device_total_mib", MiB(vram.device_total_bytes)}});

  uint64_t budget = config.vram_budget_bytes;
  if (budget == 0 && vram.device_total_bytes > vram.device_used_bytes) {
    // Other processes and the allocator's fragmentation need some room: keep 5% back.
    budget = (vram.device_total_bytes - vram.device_used_bytes) / 20 * 19;
  }
  if (budget != 0) {
    log.Info("vram budget for jobs",
             {{"bytes", Bytes(budget)}, {"per_worker_bytes", Bytes(budget / config.workers)}});
  }
  // Each worker's share, for --batch-guidance auto (LoadedPipeline::SetJobVramShare).
  pipeline->SetJobVramShare(budget / config.workers);

  // From here a signal drains (the service takes jobs below). A signal that came while the
  // callback was being cleared is seen by stop.Wait.
  stop.SetExitBeforeReady(nullptr);
  device_watch.SetPipeline(pipeline.get());
  LoadedPipeline* model_source = pipeline.get();
  MetricsSources sources;
  sources.vram = [model_source] { return model_source->Vram(); };
  sources.model = model;
  sources.version = version;
  metrics->SetSources(sources);
  {
    const absl::Duration max_wait = config.max_queue_wait == absl::ZeroDuration()
                                        ? absl::InfiniteDuration()
                                        : config.max_queue_wait;
    JobQueue queue(*pipeline, store,
                   JobQueueOptions{.max_queue = config.max_queue,
                                   .max_queue_per_tenant = config.max_queue_per_tenant,
                                   .max_tenant_priority = config.max_tenant_priority,
                                   .tenant_scheduling = config.tenant_scheduling,
                                   .workers = config.workers,
                                   .vram_budget_bytes = budget,
                                   .max_queue_wait = max_wait,
                                   .drain_runs_queued = config.drain_runs_queued,
                                   .observer = &observers});
    MetricsSources with_queue = sources;
    with_queue.limits = {
        .max_queue = config.max_queue, .workers = config.workers, .vram_budget_bytes = budget};
    with_queue.queue_depth = [&queue] { return queue.queued(); };
    with_queue.running_jobs = [&queue] { return queue.running(); };
    with_queue.vram_reserved_bytes = [&queue] { return queue.vram_reserved_bytes(); };
    metrics->SetSources(with_queue);
    service.Attach(&queue, [model_source, version, limits = ToServingLimits(config, budget)] {
      v1::ModelInfo info = ToModelInfo(model_source->Describe(), model_source->Vram(), version);
      *info.mutable_limits() = limits;
      return info;
    });
    health.SetReady(true);
    log.Info("ready",
             {{"workers", absl::StrCat(config.workers)},
              {"max_queue", absl::StrCat(config.max_queue)},
              {"max_queue_wait_s", absl::StrCat(absl::ToDoubleSeconds(config.max_queue_wait))}});

    std::string why;
    const StopSignal::Reason reason = stop.Wait(&why);
    health.SetReady(false);
    log.Info("draining", {{"reason", why},
                          {"timeout_s", absl::StrCat(absl::ToInt64Seconds(config.drain_timeout))},
                          {"queued", absl::StrCat(queue.queued())},
                          {"running", absl::StrCat(queue.running())}});
    queue.Drain(config.drain_timeout);
    // Every job has its terminal event now; streams finish writing it, then the servers stop.
    StopServers(server.get(), health_server.get());
    server->Wait();
    // The queue goes next and the pipeline after it (it is declared after the metrics server,
    // which serves to the end): neither's gauges may be read after that. SetSources waits for a
    // scrape in progress.
    MetricsSources static_only = sources;
    static_only.vram = nullptr;
    metrics->SetSources(static_only);
    if (reason == StopSignal::Reason::kFatal) {
      log.Error("stopped after a fatal error", {{"error", why}});
      return 1;
    }
  }
  log.Info("stopped", {});
  return 0;
}

}  // namespace ovid::server
