// File: server/config.h
// Every daemon setting, read and validated in one place: command-line flags, each with an
// environment twin OVID_<NAME> (--max-queue -> OVID_MAX_QUEUE); a flag wins over its twin.
//
// Hand-rolled rather than absl flags: Debian 12's absl flags are process-global and registered at
// static initialisation, so an environment twin would need a second pass over every flag, and
// tests could not parse two configurations in one process. Here one table holds each flag's
// name, default, help and parser, so --help, the twins and the error messages cannot drift apart.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ovid/ovi_pipeline.h"
#include "server/job_schedule.h"

namespace ovid::server {

enum class LogFormat { kText, kJson };

struct Config {
  std::string model;                            // --model: GGUF path (required)
  ComponentFiles components;  // --text-encoder, --tokenizer, --vae, --audio-vae, --vocoder
  OffloadOptions offload;     // --offload text,vae,audio
  DecodeSettings decode;      // --vae-dtype, --audio-dtype, --vae-chunk-frames, --mp4-*
  std::string listen = "0.0.0.0:50051";         // gRPC API
  std::string metrics_listen = "0.0.0.0:9464";  // Prometheus /metrics
  std::string health_address;                   // plaintext gRPC health; empty = on --listen
  WeightMode dequant = WeightMode::kLazy;       // --dequant: the engine's own enum
  std::string device = "auto";                  // auto|cpu|cuda|cuda:N
  uint64_t cache_budget_bytes = 0;              // --dequant cache: bf16 copies kept within this
  bool measure_dispatch = true;                 // --fused-dispatch measured|fixed
  uint64_t vram_budget_bytes = 0;  // 0 = no budget: admission does not check the estimate
  uint32_t max_queue = 16;
  uint32_t max_queue_per_tenant = 0;                     // 0 = only max_queue
  int32_t max_tenant_priority = 100;                     // kMaxPriority: no limit
  TenantScheduling tenant_scheduling = TenantScheduling::kFair;
  absl::Duration max_queue_wait = absl::ZeroDuration();  // 0 = jobs may wait indefinitely
  uint32_t workers = 1;
  BatchGuidance batch_guidance = BatchGuidance::kAuto;  // --batch-guidance off|on|auto
  absl::Duration drain_timeout = absl::Seconds(30);
  bool drain_runs_queued = true;  // --drain-queued run|refuse
  absl::Duration job_ttl = absl::Minutes(10);
  uint32_t max_jobs_kept = 256;
  uint64_t max_kept_bytes = uint64_t{4} << 30;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // given: clients must present a certificate it signed (mTLS)
  // How often the TLS files and the token file are checked for changes; 0: read once.
  absl::Duration reload_interval = absl::Minutes(1);
  absl::Duration stream_stall_timeout = absl::Minutes(2);  // 0 = never
  // The API port sends GOAWAY to a connection this old (calls in progress keep it until they
  // end), so clients reconnect and spread over replicas; 0 = never.
  absl::Duration max_connection_age = absl::Minutes(1);
  // A running job silent this long (no step, no stage) stops the daemon (exit 1); 0 = never.
  absl::Duration job_stall_timeout = absl::Minutes(15);
  std::string auth_token_file;
  bool core_dumps = false;  // --core-dumps on|off: off keeps secrets out of core files
  LogFormat log_format = LogFormat::kText;
  uint64_t max_receive_bytes = 16ull << 20;
  // Test-only fault hooks (0 = off): make a job fail with CUDA-style OOM at this denoising step,
  // sleep this long per step, report this VRAM estimate instead of the model's.
  uint32_t fault_oom_at_step = 0;
  uint32_t fault_step_delay_ms = 0;
  uint64_t fault_vram_bytes = 0;
  uint32_t fault_device_error_at_step = 0;  // a sticky device error at this step
  uint32_t fault_load_delay_ms = 0;         // sleep this long before loading the model

  bool help = false;  // --help was given: print HelpText() and exit 0 (nothing else validated)
  bool tls() const { return !tls_cert.empty(); }
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(absl::string_view name)>;

// The process environment (the only getenv in server/).
EnvLookup ProcessEnvironment();

// Parses flags (argv without the program name) over the environment twins over the defaults.
// Errors are INVALID_ARGUMENT naming the flag (and the variable, when the value came from it)
// and the allowed values or range.
absl::StatusOr<Config> ParseConfig(const std::vector<std::string>& args, const EnvLookup& env);

// --help: every flag, its twin, default and meaning.
std::string HelpText();

// True if a gRPC listen address (host:port, [v6]:port, unix:PATH) only takes connections from
// this machine: 127.0.0.0/8, ::1, localhost, a unix socket. 0.0.0.0, [::] and any other host
// are reachable from the network.
bool IsLoopbackListen(absl::string_view address);

// "512M" / "16G" / "1048576" -> bytes (K, M, G, T are powers of 1024; an optional trailing
// "iB" or "B" is accepted).
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

}  // namespace ovid::server
