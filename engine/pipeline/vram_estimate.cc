// File: engine/pipeline/vram_estimate.cc
// The numbers are explained in vram_estimate.h; keep the two in step.
#include "engine/pipeline/vram_estimate.h"

#include <algorithm>

namespace ovid::pipeline {
namespace {

constexpr uint64_t kFixedBytes = uint64_t{384} << 20;
constexpr double kMargin = 1.05;

uint64_t ContextBytes(const VramEstimateInputs& in) {
  return static_cast<uint64_t>(2 * in.layers * 2 * in.text_len * in.dim * in.element_bytes);
}

}  // namespace

uint64_t EstimateForwardBytes(const VramEstimateInputs& in) {
  // Batched guidance: the second sample adds half the token terms (counted in halves).
  const int64_t halves = in.batch_guidance && in.negative_pass ? 3 : 2;
  const int64_t tokens = in.video_tokens + in.audio_tokens;
  // 31/4 model-width tensors + 2 FFN-width ones per token, in elements times 4.
  const int64_t per_token_x4 = (31 * in.dim + 8 * in.ffn_dim) * in.element_bytes;
  const int64_t activations = tokens * per_token_x4 / 4;
  const int64_t convmlp = in.audio_tokens * 3 * in.audio_convmlp_hidden * in.element_bytes;
  const int64_t attention = in.heads * tokens * 8;
  return ContextBytes(in) + kFixedBytes +
         static_cast<uint64_t>((activations + convmlp + attention) * halves / 2);
}

uint64_t EstimateJobBytes(const VramEstimateInputs& in) {
  const int64_t latent = in.video_latent_elements + in.audio_latent_elements;
  const uint64_t sampler = static_cast<uint64_t>(latent * (6 * in.element_bytes + 3 * 4));
  const uint64_t total =
      EstimateForwardBytes(in) + (in.negative_pass ? ContextBytes(in) : 0) + sampler;
  return static_cast<uint64_t>(static_cast<double>(total) * kMargin);
}

namespace {
constexpr uint64_t kTextStageBytes = uint64_t{512} << 20;
constexpr uint64_t kAudioStageBytes = uint64_t{512} << 20;
// Calibrated on an H200 (bench/NOTES.md, "The pipeline stage by stage"): the f32 decode added
// 11.0 GiB at 704x704 and 20.5 GiB at 960x960 over the resident weights, 23.8k and 23.9k
// elements per last-stage pixel; split between caches and per-frame transients as the spec's
// derivation splits them (0.45 : 0.55).
constexpr int64_t kVaeCacheElementsPerPixel = 10800;
constexpr int64_t kVaeChunkElementsPerPixelFrame = 3300;
}  // namespace

uint64_t EstimateVideoDecodeBytes(const StageEstimateInputs& in) {
  const int64_t pixels = (in.width / 2) * (in.height / 2);
  const int64_t frames = 4 * (in.vae_chunk_frames < 1 ? 1 : in.vae_chunk_frames);
  const int64_t elements =
      pixels * (kVaeCacheElementsPerPixel + kVaeChunkElementsPerPixelFrame * frames);
  return static_cast<uint64_t>(static_cast<double>(elements * in.vae_element_bytes) * kMargin);
}

uint64_t EstimatePipelineBytes(uint64_t denoise_job_bytes, const StageEstimateInputs& in) {
  uint64_t need = denoise_job_bytes;
  if (in.text) need = std::max(need, kTextStageBytes + in.text_weights);
  if (in.video) need = std::max(need, EstimateVideoDecodeBytes(in) + in.video_weights);
  if (in.audio) need = std::max(need, kAudioStageBytes + in.audio_weights);
  return need;
}

}  // namespace ovid::pipeline
