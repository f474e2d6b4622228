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

// Whether a guided job runs both guidance passes of a step as one batch of two
// (OviModel::ForwardGuided): each weight is expanded and read once per step instead of twice,
// and the forward pass's token-sized activations take about 1.5 times the memory.
enum class BatchGuidance {
  kOff,   // two forward passes per step
  kOn,    // one batch-2 pass per step for every guided job
  kAuto,  // batched when the job's batched VRAM estimate fits LoadedPipeline::SetJobVramShare
};
const char* BatchGuidanceName(BatchGuidance mode);  // "off", "on", "auto"

// Test-only faults, compiled in and off unless set (0 = off). They go through the real code
// paths: the OOM is raised where a device allocation would fail and is mapped like a real one.
struct FaultHooks {
  uint32_t oom_at_step = 0;           // denoising step (1-based) that fails with device OOM
  uint32_t device_error_at_step = 0;  // step that hits a sticky device error (healthy() -> false)
  uint32_t step_delay_ms = 0;         // sleep this long in every denoising step
  uint32_t nan_at_step = 0;           // the model's velocities at this step are NaN
  uint64_t vram_estimate_bytes = 0;   // EstimateVram reports this instead of the model's figure
  // CheckContents sleeps this long inside its decode slot before decoding, so a test can hold
  // the slots and see the next caller skip the check.
  uint32_t admission_decode_delay_ms = 0;
};

// The files of the stages around the denoiser. Each one left empty is not loaded, and the
// pipeline then serves what it can without it (see ModelDescription::stages and output_formats).
struct ComponentFiles {
  std::string text_encoder;  // UMT5-XXL encoder: GGUF (city96 / llama.cpp names or .pth names)
  std::string tokenizer;     // spiece.model; empty: the vocabulary in text_encoder's GGUF, if any
  std::string video_vae;     // Wan2.2 VAE, safetensors (original or diffusers names)
  std::string audio_vae;     // MMAudio 16 kHz VAE (v1-16), safetensors or GGUF
  std::string vocoder;       // BigVGAN 16 kHz (best_netG.pt's generator), safetensors or GGUF
};

// Stages kept off the GPU between uses (--offload): loaded from their (page-cached, mapped) files
// when a job needs them and released as soon as it is done with them. Trades load time per job
// for device memory. The denoiser too: its quantized blocks then live on the device only during
// the denoise stage, so the decoders get the whole card (small GPUs, f32 decoding).
struct OffloadOptions {
  bool text_encoder = false;
  bool video_vae = false;
  bool audio = false;     // the MMAudio VAE and the vocoder together
  bool denoiser = false;  // the Ovi model (its worker workspaces stay resident)
};

// Numerics and sizes of the decode and output stages.
struct DecodeSettings {
  // false: as the original (fp32 compute on bf16-rounded weights); true: bf16 (about half the
  // memory)
  bool video_vae_bf16 = false;
  bool audio_bf16 = false;        // MMAudio VAE + BigVGAN in bf16 (Ovi runs them under bf16 autocast)
  uint32_t vae_chunk_frames = 1;  // latent frames per VAE decode chunk (1 = the original's loop)
  uint32_t mp4_crf = 23;          // x264 CRF; 23 is what Ovi's moviepy call leaves at its default
  std::string mp4_preset = "medium";
};

// Benchmark-only behaviour (bench/pipeline_bench.cc), off unless set.
struct BenchOptions {
  // A job that asks only for LATENTS still runs the audio and video decode stages (timed, then
  // discarded): per-stage figures on a machine whose build has no MP4/WAV/PNG encoder.
  bool decode_latents_jobs = false;
};

struct PipelineOptions {
  std::string model_path;        // the Ovi GGUF
  ComponentFiles components;
  OffloadOptions offload;
  DecodeSettings decode;
  std::string device = "auto";   // "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:N"
  WeightMode weights = WeightMode::kLazy;
  uint64_t cache_budget_bytes = 0;  // kCache: bf16 copies kept within this many bytes
  // CUDA: time the fused kernel against dequantize + cuBLAS per layer shape at load and
  // dispatch by that; false: the fixed per-type token limits (the same on every card).
  bool measure_dispatch = true;
  uint32_t workers = 1;             // concurrent Run calls; one stream + workspace each
  // Both guidance passes of a step in one batch-2 forward; the VRAM estimate counts the extra
  // activations. kAuto decides per job (same request, same server settings: same choice).
  BatchGuidance batch_guidance = BatchGuidance::kOff;
  std::string fallback_variant;  // when the file has no ovi.variant; empty = "720x720_5s"
  FaultHooks faults;
  BenchOptions bench;
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
  std::string batch_guidance;  // "off", "on", "auto"
  // "measured": the fused-kernel limits were timed on this card at load; "fixed": the fixed
  // per-type limits (off, on the CPU, in eager mode, or where the measurement failed).
  std::string fused_dispatch;
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
  // Device memory one job may count on: the daemon's VRAM budget over its workers. With
  // BatchGuidance::kAuto a guided job batches its two passes only when its whole batched
  // estimate fits in this share, so batching never takes a job past its worker's share; 0
  // (the default) batches none. It depends on settings only, not on the jobs running, so the same
  // request takes the same path however busy the server is.
  virtual void SetJobVramShare(uint64_t bytes) = 0;
};

// Loads the model and everything the workers need. Errors name the file and what is wrong.
absl::StatusOr<std::unique_ptr<LoadedPipeline>> LoadOviPipeline(const PipelineOptions& options);

}  // namespace ovid
