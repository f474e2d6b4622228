// File: engine/include/ovid/ovi_pipeline.h
// Loading the Ovi pipeline behind the torch-free engine API: what the daemon (server/) and the
// tools ask the engine for beyond Pipeline::Run — the model's description for GetModel, a cheap
// VRAM snapshot for /metrics, device health for readiness, and the test-only fault hooks.
// std + absl only, like engine.h (server/ never sees LibTorch).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ovid/engine.h"

namespace ovid {

// How quantized Linear weights are expanded (engine/tensor/quantized_linear.h).
enum class WeightMode { kLazy, kEager, kCache };
const char* WeightModeName(WeightMode mode);  // "lazy", "eager", "cache"

// Test-only faults, compiled in and off unless set (0 = off). They go through the real code
// paths: the OOM is raised where a device allocation would fail and is mapped like a real one.
struct FaultHooks {
  uint32_t oom_at_step = 0;           // denoising step (1-based) that fails with device OOM
  uint32_t device_error_at_step = 0;  // step that hits a sticky device error (healthy() -> false)
  uint32_t step_delay_ms = 0;         // sleep this long in every denoising step
  uint64_t vram_estimate_bytes = 0;   // EstimateVram reports this instead of the model's figure
};

struct PipelineOptions {
  std::string model_path;        // the Ovi GGUF
  std::string device = "auto";   // "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:N"
  WeightMode weights = WeightMode::kLazy;
  uint64_t cache_budget_bytes = 0;  // kCache: bf16 copies kept within this many bytes
  uint32_t workers = 1;             // concurrent Run calls; one stream + workspace each
  std::string fallback_variant;     // when the file has no ovi.variant; empty = "720x720_5s"
  FaultHooks faults;
};

struct QuantTypeCount {
  std::string type;  // ggml type name: "q4_K", "bf16", ...
  uint32_t tensors = 0;
  uint64_t bytes = 0;
};

// Device memory now, by category. Cheap (no device sync): /metrics reads it on every scrape.
struct VramSnapshot {
  uint64_t weights_resident_bytes = 0;
  uint64_t weights_bf16_equivalent_bytes = 0;
  uint64_t dequant_workspace_bytes = 0;
  uint64_t cache_bytes = 0;
  uint64_t torch_allocated_bytes = 0;
  uint64_t torch_reserved_bytes = 0;
  uint64_t torch_peak_bytes = 0;
  uint64_t device_total_bytes = 0;  // 0 on the CPU
  uint64_t device_used_bytes = 0;
  std::vector<QuantTypeCount> resident_by_type;
};

struct StageDescription {
  std::string name;  // "denoiser", "text_encoder", "video_vae", "audio_vae", "vocoder"
  bool loaded = false;
  bool offloaded = false;
  std::string file;  // base name only, never a server path
};

struct ModelDescription {
  std::string variant;  // "720x720_5s", ...
  uint32_t dim = 0, ffn_dim = 0, heads = 0, head_dim = 0, layers = 0;
  uint32_t text_len = 0, text_dim = 0;
  float audio_rope_scale = 0;
  uint64_t parameters = 0;
  std::string weight_mode;  // "lazy", "eager", "cache"
  std::string device;       // "cpu", "cuda:0"
  uint32_t tensors_total = 0;
  uint32_t tensors_quantized = 0;
  std::vector<QuantTypeCount> quantization;  // tensors and file bytes per ggml type
  std::vector<StageDescription> stages;
  std::vector<OutputFormat> output_formats;  // what Run can produce now
};

class LoadedPipeline : public Pipeline {
 public:
  virtual ModelDescription Describe() const = 0;
  virtual VramSnapshot Vram() const = 0;
  // False once a sticky device error was seen: the process must drain and exit non-zero.
  virtual bool healthy() const = 0;
  // One small denoiser pass on every worker slot, so readiness means "a request will run".
  virtual absl::Status Warmup() = 0;
};

// Loads the model and everything the workers need. Errors name the file and what is wrong.
absl::StatusOr<std::unique_ptr<LoadedPipeline>> LoadOviPipeline(const PipelineOptions& options);

}  // namespace ovid
