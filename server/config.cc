// File: server/config.cc
#include "server/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/decimal.h"
#include "server/job_schedule.h"

namespace ovid::server {
namespace {

// Parses a value into the config; the message names only the allowed values, the caller adds
// which flag or variable it came from.
using Setter = std::function<absl::Status(absl::string_view value, Config& config)>;

struct Flag {
  std::string name;   // without the leading "--"
  std::string value;  // placeholder in --help
  std::string def;    // default as shown in --help
  std::string help;
  Setter set;
};

std::string EnvName(absl::string_view flag) {
  std::string env = "OVID_";
  for (char c : flag) env += c == '-' ? '_' : absl::ascii_toupper(static_cast<unsigned char>(c));
  return env;
}

Setter String(std::string Config::*field) {
  return [field](absl::string_view v, Config& c) {
    c.*field = std::string(v);
    return absl::OkStatus();
  };
}

// A gRPC listening address. gRPC reads a port past 65535 modulo 65536 (127.0.0.1:99999 served on
// 34463, a health port of 115587 on the API's 50051), so HOST:PORT and [IPV6]:PORT must have a
// port in 0..65535; unix:, unix-abstract: and vsock: addresses carry no TCP port and go to gRPC
// as they are. `empty_ok`: an empty value keeps the field's meaning of "none".
Setter GrpcAddress(std::string Config::*field, bool empty_ok = false) {
  return [field, empty_ok](absl::string_view v, Config& c) {
    if (v.empty() && empty_ok) {
      c.*field = "";
      return absl::OkStatus();
    }
    for (const absl::string_view scheme : {"unix:", "unix-abstract:", "vsock:"}) {
      if (absl::StartsWith(v, scheme)) {
        c.*field = std::string(v);
        return absl::OkStatus();
      }
    }
    const std::string_view address(v.data(), v.size());
    const size_t colon = address.rfind(':');
    const std::string_view host = colon == std::string_view::npos ? "" : address.substr(0, colon);
    const std::optional<uint32_t> port =
        colon == std::string_view::npos ? std::nullopt : PlainDecimal(address.substr(colon + 1), 5);
    if (host.empty() || !port.has_value() || *port > 65535 ||
        (host.find(':') != std::string_view::npos &&
         !(host.front() == '[' && host.back() == ']'))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", v, "\" is not HOST:PORT or [IPV6]:PORT with a port in 0..65535 (or unix:PATH)"));
    }
    c.*field = std::string(v);
    return absl::OkStatus();
  };
}

// A security file: an explicitly empty value (an unfilled template, an empty variable) would
// silently start the daemon in plaintext or without auth, so it is refused.
Setter SecurityFile(std::string Config::*field) {
  return [field](absl::string_view v, Config& c) {
    if (v.empty()) {
      return absl::InvalidArgumentError(
          "is empty, which would turn this security setting off; to leave it off, do not set it");
    }
    c.*field = std::string(v);
    return absl::OkStatus();
  };
}

// An integer flag in [min, max]: int32_t or uint32_t fields (both fit an int64_t).
template <typename T>
Setter Integer(T Config::*field, T min, T max) {
  return [=](absl::string_view v, Config& c) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < static_cast<int64_t>(min) ||
        n > static_cast<int64_t>(max)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\" is not an integer in [%d, %d]", v, min, max));
    }
    c.*field = static_cast<T>(n);
    return absl::OkStatus();
  };
}

Setter Uint32(uint32_t Config::*field, uint32_t min, uint32_t max) {
  return Integer(field, min, max);
}

Setter Int32(int32_t Config::*field, int32_t min, int32_t max) { return Integer(field, min, max); }

Setter Bytes(uint64_t Config::*field, uint64_t min, uint64_t max) {
  return [=](absl::string_view v, Config& c) {
    absl::StatusOr<uint64_t> n = ParseByteSize(v);
    if (!n.ok() || *n < min || *n > max) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\" is not a byte size in [%d, %d] (digits with an optional K, M, G or T suffix)", v,
          min, max));
    }
    c.*field = *n;
    return absl::OkStatus();
  };
}

// "30s", "5m", "1h30m", "250ms", or a plain number of seconds ("1.5" too, as the proto's
// max_queue_seconds takes fractions).
// `min_set`: the shortest value other than 0 that makes sense (0 itself stays allowed).
Setter Duration(absl::Duration Config::*field, absl::Duration max,
                absl::Duration min_set = absl::ZeroDuration()) {
  return [=](absl::string_view v, Config& c) {
    absl::Duration d;
    double seconds = 0;
    bool ok = absl::SimpleAtod(v, &seconds)
                  ? std::isfinite(seconds) && (d = absl::Seconds(seconds), true)
                  : absl::ParseDuration(v, &d);
    if (!ok || d < absl::ZeroDuration() || d > max) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\" is not a duration in [0s, %s] (e.g. 30s, 5m, 1h; a plain number is seconds)", v,
          absl::FormatDuration(max)));
    }
    if (d > absl::ZeroDuration() && d < min_set) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\" is shorter than %s (0 turns it off)", v, absl::FormatDuration(min_set)));
    }
    c.*field = d;
    return absl::OkStatus();
  };
}

template <typename E>
Setter Enum(E Config::*field, std::map<std::string, E> values) {
  return [=](absl::string_view v, Config& c) {
    auto it = values.find(std::string(v));
    if (it == values.end()) {
      std::vector<std::string> names;
      for (const auto& [name, value] : values) names.push_back(name);
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\" is not one of %s", v, absl::StrJoin(names, "|")));
    }
    c.*field = it->second;
    return absl::OkStatus();
  };
}

// A string field inside a nested struct of the config.
Setter StringAt(std::function<std::string&(Config&)> field) {
  return [field](absl::string_view v, Config& c) {
    field(c) = std::string(v);
    return absl::OkStatus();
  };
}

Setter Precision(std::function<bool&(Config&)> bf16) {
  return [bf16](absl::string_view v, Config& c) {
    if (v != "f32" && v != "bf16") {
      return absl::InvalidArgumentError(absl::StrFormat("\"%s\" is not one of f32|bf16", v));
    }
    bf16(c) = v == "bf16";
    return absl::OkStatus();
  };
}

Setter UintAt(std::function<uint32_t&(Config&)> field, uint32_t min, uint32_t max) {
  return [=](absl::string_view v, Config& c) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < min || n > max) {
      return absl::InvalidArgumentError(
          absl::StrFormat("\"%s\" is not an integer in [%d, %d]", v, min, max));
    }
    field(c) = static_cast<uint32_t>(n);
    return absl::OkStatus();
  };
}

// "--offload text,vae,audio": a comma-separated subset; "none" or empty for none.
absl::Status SetOffload(absl::string_view v, Config& c) {
  c.offload = OffloadOptions();
  for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    if (part == "text") {
      c.offload.text_encoder = true;
    } else if (part == "vae") {
      c.offload.video_vae = true;
    } else if (part == "audio") {
      c.offload.audio = true;
    } else if (part == "denoiser") {
      c.offload.denoiser = true;
    } else if (part == "none") {
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\" is not a stage that can be offloaded (text, vae, audio, denoiser)", part));
    }
  }
  return absl::OkStatus();
}

const std::vector<Flag>& Flags() {
  static const auto* flags = new std::vector<Flag>{
      {"model", "PATH", "(required)", "Ovi GGUF file to load.", String(&Config::model)},
      {"text-encoder", "PATH", "(none)",
       "UMT5-XXL encoder GGUF: lets requests send prompts instead of "
       "embeddings.",
       StringAt([](Config& c) -> std::string& { return c.components.text_encoder; })},
      {"tokenizer", "PATH", "(the encoder's)",
       "google/umt5-xxl's spiece.model (SentencePiece); default: the vocabulary the encoder's "
       "GGUF carries (tokenizer.ggml.*), if any.",
       StringAt([](Config& c) -> std::string& { return c.components.tokenizer; })},
      {"vae", "PATH", "(none)",
       "Wan2.2 VAE safetensors: video decoding (MP4, PNG frames) and image-to-video.",
       StringAt([](Config& c) -> std::string& { return c.components.video_vae; })},
      {"audio-vae", "PATH", "(none)",
       "MMAudio 16 kHz VAE (safetensors/GGUF; with --vocoder): audio decoding (MP4, WAV).",
       StringAt([](Config& c) -> std::string& { return c.components.audio_vae; })},
      {"vocoder", "PATH", "(none)", "BigVGAN 16 kHz vocoder (safetensors/GGUF).",
       StringAt([](Config& c) -> std::string& { return c.components.vocoder; })},
      {"offload", "STAGES", "(none)",
       "Comma-separated stages kept off the GPU between uses and loaded per job: text, vae, "
       "audio, denoiser.",
       SetOffload},
      {"vae-dtype", "DTYPE", "f32",
       "f32|bf16: the video VAE's compute (f32 on bf16-rounded weights, as Ovi; bf16 halves its "
       "memory).",
       Precision([](Config& c) -> bool& { return c.decode.video_vae_bf16; })},
      {"audio-dtype", "DTYPE", "f32", "f32|bf16: the audio VAE's and the vocoder's compute.",
       Precision([](Config& c) -> bool& { return c.decode.audio_bf16; })},
      {"vae-chunk-frames", "N", "1",
       "Latent frames per video-decode chunk (more: fewer launches, more memory).",
       UintAt([](Config& c) -> uint32_t& { return c.decode.vae_chunk_frames; }, 1, 64)},
      {"mp4-crf", "N", "23", "x264 quality of the MP4 output: 0 (lossless) .. 51; lower is better.",
       UintAt([](Config& c) -> uint32_t& { return c.decode.mp4_crf; }, 0, 51)},
      {"mp4-preset", "PRESET", "medium",
       "x264 speed/size preset: ultrafast, superfast, veryfast, faster, fast, medium, slow, "
       "slower, veryslow.",
       [](absl::string_view v, Config& c) {
         static const char* kPresets[] = {"ultrafast", "superfast", "veryfast", "faster",  "fast",
                                          "medium",    "slow",      "slower",   "veryslow"};
         for (const char* p : kPresets) {
           if (v == p) {
             c.decode.mp4_preset = std::string(v);
             return absl::OkStatus();
           }
         }
         return absl::InvalidArgumentError(
             absl::StrFormat("\"%s\" is not an x264 preset (ultrafast .. veryslow)", v));
       }},
      {"listen", "HOST:PORT", "0.0.0.0:50051", "Address of the gRPC API.",
       GrpcAddress(&Config::listen)},
      {"metrics-listen", "HOST:PORT", "0.0.0.0:9464", "Address of the Prometheus /metrics page.",
       String(&Config::metrics_listen)},
      {"health-address", "HOST:PORT", "(on --listen)",
       "Extra plaintext listener serving only grpc.health.v1 (for kubelet probes under mTLS).",
       GrpcAddress(&Config::health_address, /*empty_ok=*/true)},
      {"dequant", "MODE", "lazy",
       "lazy|eager|cache: dequantize per matmul, keep bf16 copies of everything, or cache them "
       "as memory allows.",
       Enum(&Config::dequant, std::map<std::string, WeightMode>{{"lazy", WeightMode::kLazy},
                                                                {"eager", WeightMode::kEager},
                                                                {"cache", WeightMode::kCache}})},
      {"fused-dispatch", "MODE", "measured",
       "measured|fixed: on a GPU, time the fused quantized matmul against dequantize + cuBLAS "
       "per layer shape at load and take the faster (under a second), or use fixed per-type "
       "token limits (the same choice on every card).",
       Enum(&Config::measure_dispatch,
            std::map<std::string, bool>{{"measured", true}, {"fixed", false}})},
      {"device", "DEVICE", "auto",
       "auto|cpu|cuda|cuda:N: where the model runs (auto: the first GPU if there is one).",
       String(&Config::device)},
      {"cache-budget", "BYTES", "0",
       "With --dequant cache: device memory for bf16 copies of the layers that gain most.",
       Bytes(&Config::cache_budget_bytes, 0, std::numeric_limits<uint64_t>::max())},
      {"vram-budget", "BYTES", "0 (auto)",
       "Device memory jobs may reserve at once (K/M/G/T suffixes); a job whose estimate exceeds "
       "it is refused with RESOURCE_EXHAUSTED. 0: the GPU's free memory after loading and "
       "warm-up, less 5%; no limit on the CPU.",
       Bytes(&Config::vram_budget_bytes, 0, std::numeric_limits<uint64_t>::max())},
      {"max-queue", "N", "16", "Jobs that may wait for a worker; more get RESOURCE_EXHAUSTED.",
       Uint32(&Config::max_queue, 1, 100000)},
      {"max-queue-per-tenant", "N", "0 (none)",
       "Jobs one tenant (a token file line \"TOKEN tenant=NAME\") may have waiting; more get "
       "RESOURCE_EXHAUSTED, so one tenant cannot fill the queue for the others. Tokens without "
       "a tenant count against --max-queue alone. 0: --max-queue alone.",
       Uint32(&Config::max_queue_per_tenant, 0, 100000)},
      {"max-tenant-priority", "N", "100 (none)",
       "The highest GenerateRequest.priority a tenant's token may ask for (-100..100); above it "
       "the request is refused with INVALID_ARGUMENT, so a tenant cannot move its jobs ahead of "
       "everyone's. Tokens without a tenant may ask for any.",
       Int32(&Config::max_tenant_priority, kMinPriority, kMaxPriority)},
      {"tenant-scheduling", "MODE", "fair",
       "fair|share|fifo: which queued job of one priority starts next. fair: the tenants (token "
       "file lines \"TOKEN tenant=NAME\"; tokens without one count as one more) take turns: the "
       "one with the fewest jobs running, then the one whose last job started longest ago, so "
       "one tenant's burst does not hold back another's job. share: the tenant that has used the "
       "least worker time at that priority goes first, so a tenant of long jobs gets no more of "
       "the GPU than one of short jobs (time away is not saved up). fifo: arrival order. Priority "
       "comes first "
       "whatever the mode; without tenants all three are arrival order.",
       Enum(&Config::tenant_scheduling,
            std::map<std::string, TenantScheduling>{
                {TenantSchedulingName(TenantScheduling::kFair), TenantScheduling::kFair},
                {TenantSchedulingName(TenantScheduling::kShare), TenantScheduling::kShare},
                {TenantSchedulingName(TenantScheduling::kFifo), TenantScheduling::kFifo}})},
      {"max-queue-wait", "DURATION", "0 (none)",
       "Longest a job may wait in the queue; one still queued after this ends with "
       "DEADLINE_EXCEEDED (reason queue_timeout). A request's max_queue_seconds may shorten it.",
       Duration(&Config::max_queue_wait, absl::Hours(24), absl::Seconds(kMinQueueSecondsLimit))},
      {"workers", "N", "1", "Jobs run at once (one per GPU slot).",
       Uint32(&Config::workers, 1, 64)},
      {"batch-guidance", "MODE", "auto",
       "off|on|auto: both guidance passes of a denoising step in one batch (each weight read "
       "once per step; about 1.5x the denoiser's activation memory, which the VRAM estimate "
       "counts). auto: a job batches when its batched estimate fits the VRAM budget over "
       "--workers (with no budget, as on the CPU by default: never).",
       Enum(&Config::batch_guidance,
            std::map<std::string, BatchGuidance>{{"off", BatchGuidance::kOff},
                                                 {"on", BatchGuidance::kOn},
                                                 {"auto", BatchGuidance::kAuto}})},
      {"core-dumps", "MODE", "off",
       "off|on: off sets the core file size limit to 0 and makes the process not dumpable at "
       "start, so a crash leaves no core (nor one for a pipe handler such as systemd-coredump) "
       "holding the bearer tokens, the TLS key and the jobs' prompts and outputs; same-user "
       "debuggers cannot attach either. on leaves the node's settings, to debug a crash.",
       Enum(&Config::core_dumps, std::map<std::string, bool>{{"off", false}, {"on", true}})},
      {"drain-timeout", "DURATION", "30s",
       "On SIGTERM: how long running and queued jobs may finish before they are cancelled.",
       Duration(&Config::drain_timeout, absl::Hours(24))},
      {"drain-queued", "MODE", "run",
       "run|refuse: what a drain does with the jobs still queued. run: they may start while "
       "--drain-timeout lasts (and are cancelled at its end if unfinished). refuse: they end "
       "at once with UNAVAILABLE, so their clients retry on another replica (several "
       "replicas, long jobs).",
       Enum(&Config::drain_runs_queued,
            std::map<std::string, bool>{{"run", true}, {"refuse", false}})},
      {"job-ttl", "DURATION", "10m", "How long a finished job stays visible to WatchJob/GetJob.",
       Duration(&Config::job_ttl, absl::Hours(24 * 7))},
      {"max-jobs-kept", "N", "256",
       "Finished jobs kept at most (bounds memory); the oldest finished go first (with "
       "tenants: the oldest of the tenant keeping the most).",
       Uint32(&Config::max_jobs_kept, 1, 100000)},
      {"max-kept-bytes", "BYTES", "4G",
       "Bytes of finished jobs' events (their outputs, mostly) kept for WatchJob at most; the "
       "oldest finished go first (with tenants: the oldest of the tenant keeping the most "
       "bytes). A job still streaming to its client keeps what it sends.",
       Bytes(&Config::max_kept_bytes, 0, std::numeric_limits<uint64_t>::max())},
      {"stream-stall-timeout", "DURATION", "2m",
       "A Generate or WatchJob stream whose client reads nothing for this long (one write "
       "pending all that time) is cancelled, and a Generate stream's job with it unless "
       "kept on disconnect: a client that keeps its connection alive but stops reading would "
       "otherwise hold the events still to be sent (outputs included) in memory for as long as "
       "it likes. 0: never.",
       Duration(&Config::stream_stall_timeout, absl::Hours(24))},
      {"max-connection-age", "DURATION", "1m",
       "The API port asks a client connection this old to reconnect (HTTP/2 GOAWAY, with "
       "gRPC's 10% jitter); calls in progress keep their connection until they end. Clients "
       "behind one Service address thus spread over new replicas, and leave a draining one, "
       "within this time. 0: never.",
       Duration(&Config::max_connection_age, absl::Hours(24 * 7))},
      {"job-stall-timeout", "DURATION", "15m",
       "A running job with no progress (no denoising step, no stage) for this long means a "
       "wedged worker (a kernel that never returns, a deadlock), which nothing in the process "
       "can stop: the daemon logs the job and its stage, turns not ready, drains, and exits "
       "with status 1 (at the latest --drain-timeout + 15 s later) so that its supervisor "
       "starts a fresh one. The longest stage without steps, decoding a 10 s 960x960 video, "
       "takes a few minutes on a GPU. 0: never.",
       Duration(&Config::job_stall_timeout, absl::Hours(24))},
      {"tls-cert", "PEM", "(plaintext)", "Server certificate chain; needs --tls-key.",
       SecurityFile(&Config::tls_cert)},
      {"tls-key", "PEM", "", "Server private key; needs --tls-cert.",
       SecurityFile(&Config::tls_key)},
      {"tls-client-ca", "PEM", "",
       "CA bundle; when given, clients must present a certificate it signed (mTLS).",
       SecurityFile(&Config::tls_client_ca)},
      {"reload-interval", "DURATION", "1m",
       "How often the TLS files and --auth-token-file are checked for changes (a renewed "
       "certificate, a rotated token) and re-read, without a restart. Replace a certificate and "
       "its key together (as a Kubernetes Secret volume does). 0: read once at start (SIGHUP "
       "still re-reads the token file).",
       Duration(&Config::reload_interval, absl::Hours(24), absl::Seconds(1))},
      {"auth-token-file", "PATH", "(no auth)",
       "Bearer tokens clients must send (authorization: Bearer ...), one per line; a line "
       "\"TOKEN tenant=NAME\" limits that token to the jobs of its tenant. Re-read when it changes "
       "(--reload-interval) and on SIGHUP. With TLS a call without a valid token ends at its "
       "headers, before its request message is read.",
       SecurityFile(&Config::auth_token_file)},
      {"log-format", "FORMAT", "text", "text|json.",
       Enum(&Config::log_format, std::map<std::string, LogFormat>{{"text", LogFormat::kText},
                                                                  {"json", LogFormat::kJson}})},
      {"max-receive-bytes", "BYTES", "16M",
       "Largest request message accepted (embeddings and first frames are inline).",
       Bytes(&Config::max_receive_bytes, 4096, std::numeric_limits<int32_t>::max())},
      {"fault-oom-at-step", "N", "0 (off)",
       "TEST ONLY: fail every job with a CUDA-style out-of-memory error at this denoising step.",
       Uint32(&Config::fault_oom_at_step, 0, 100000)},
      {"fault-step-delay-ms", "MS", "0 (off)", "TEST ONLY: sleep this long in every step.",
       Uint32(&Config::fault_step_delay_ms, 0, 600000)},
      {"fault-vram-bytes", "BYTES", "0 (off)",
       "TEST ONLY: report this VRAM estimate for every job instead of the model's.",
       Bytes(&Config::fault_vram_bytes, 0, std::numeric_limits<uint64_t>::max())},
      {"fault-device-error-at-step", "N", "0 (off)",
       "TEST ONLY: hit a sticky device error at this denoising step (the daemon then drains "
       "and exits non-zero).",
       Uint32(&Config::fault_device_error_at_step, 0, 100000)},
      {"fault-load-delay-ms", "MS", "0 (off)",
       "TEST ONLY: sleep this long before loading the model (a slow load).",
       Uint32(&Config::fault_load_delay_ms, 0, 600000)},
  };
  return *flags;
}

const Flag* FindFlag(absl::string_view name) {
  for (const Flag& flag : Flags()) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

absl::Status Named(const absl::Status& status, absl::string_view source) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", status.message()));
}

// Rules that span flags, checked once everything is read.
absl::Status CheckTogether(const Config& c) {
  if (c.model.empty()) {
    return absl::InvalidArgumentError("--model (OVID_MODEL) is required: the GGUF file to load");
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  {
    absl::string_view device = c.device;
    uint32_t index = 0;
    const bool cuda_n = absl::ConsumePrefix(&device, "cuda:") && absl::SimpleAtoi(device, &index);
    if (c.device != "auto" && c.device != "cpu" && c.device != "cuda" && !cuda_n) {
      return absl::InvalidArgumentError(
          absl::StrCat("--device: \"", c.device, "\" is not one of auto, cpu, cuda, cuda:N"));
    }
  }
  if (c.cache_budget_bytes != 0 && c.dequant != WeightMode::kCache) {
    return absl::InvalidArgumentError("--cache-budget applies only to --dequant=cache");
  }
  // Equal addresses collide unless the port is 0 (each listener then gets its own free port).
  if (!c.health_address.empty() && c.health_address == c.listen &&
      !absl::EndsWith(c.listen, ":0")) {
    return absl::InvalidArgumentError("--health-address must differ from --listen");
  }
  return absl::OkStatus();
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  absl::string_view v = absl::StripAsciiWhitespace(text);
  if (!absl::ConsumeSuffix(&v, "iB")) absl::ConsumeSuffix(&v, "B");
  int shift = 0;
  if (!v.empty()) {
    switch (absl::ascii_toupper(static_cast<unsigned char>(v.back()))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        break;
    }
    if (shift != 0) v.remove_suffix(1);
  }
  uint64_t n = 0;
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(v, &n) || (shift != 0 && n > (~uint64_t{0} >> shift))) {
    return absl::InvalidArgumentError(absl::StrCat("not a byte size: \"", text, "\""));
  }
  return n << shift;
}

absl::StatusOr<Config> ParseConfig(const std::vector<std::string>& args, const EnvLookup& env) {
  Config config;
  // --help validates nothing, not even a bad OVID_* variable or an earlier flag: it is how one
  // finds out what a value should be.
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      config.help = true;
      return config;
    }
  }
  // Twins first, so that flags read afterwards overwrite them.
  for (const Flag& flag : Flags()) {
    std::string name = EnvName(flag.name);
    if (std::optional<std::string> value = env(name)) {
      absl::Status status = flag.set(*value, config);
      if (!status.ok()) return Named(status, absl::StrCat(name, " (--", flag.name, ")"));
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\" (flags look like --name=value)"));
    }
    absl::string_view name = arg;
    std::optional<absl::string_view> value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Flag* flag = FindFlag(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    absl::Status status = flag->set(*value, config);
    if (!status.ok()) return Named(status, absl::StrCat("--", name));
  }
  if (absl::Status status = CheckTogether(config); !status.ok()) return status;
  return config;
}

bool IsLoopbackListen(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  absl::string_view host = address;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  return absl::EqualsIgnoreCase(host, "localhost") || host == "::1" ||
         absl::StartsWith(host, "127.");
}

std::string HelpText() {
  std::string text =
      "usage: ovid --model=PATH [flags]\n\n"
      "Serves Ovi video+audio generation over gRPC (ovid.v1.Generation).\n"
      "Every flag can also be set in the environment as OVID_<NAME> (--max-queue ->\n"
      "OVID_MAX_QUEUE); a flag given on the command line wins over its variable.\n\n";
  for (const Flag& flag : Flags()) {
    absl::StrAppendFormat(&text, "  --%s=%s  [%s]  (default: %s)\n      %s\n", flag.name,
                          flag.value, EnvName(flag.name), flag.def.empty() ? "none" : flag.def,
                          flag.help);
  }
  text +=
      "\nFlags marked TEST ONLY inject faults for the test suite; never set them in "
      "production.\n";
  return text;
}

}  // namespace ovid::server
