// File: engine/pipeline/request_plan.h
// What a GenerationRequest means for the loaded model, decided before anything touches the
// device: validation (every refusal names the proto field, e.g. "conditioning.embedding.dim",
// and the allowed range), the defaults (Ovi's inference_fusion.yaml), the size snapping and the
// latent shapes. Torch-free (std + absl + the Ovi variant table), so it compiles fast and the
// server may call it too; EstimateVram and Run share it, so both refuse the same requests with
// the same messages.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "engine/models/ovi/ovi_layout.h"
#include "ovid/engine.h"

namespace ovid::pipeline {

// Ovi's sampling defaults (spec ovi.md §4).
inline constexpr uint32_t kDefaultSteps = 50;
inline constexpr float kDefaultShift = 5.0f;
inline constexpr float kDefaultVideoGuidance = 4.0f;
inline constexpr float kDefaultAudioGuidance = 3.0f;
inline constexpr int32_t kDefaultSlgLayer = 11;

// What the loaded model can take and produce.
struct ModelLimits {
  int64_t text_dim = 4096;
  int64_t text_len = 512;
  int64_t layers = 30;
  ovi::OviVariant variant;
  // Stages that are not loaded yet; the flags make the refusals data-driven for when they are.
  bool text_encoder = false;
  bool video_vae_encoder = false;
  bool decoders = false;
};

// A request with defaults resolved and sizes snapped: everything Run needs except the seed
// (random ones are drawn at run time) and the embeddings (pointers into the request).
struct JobPlan {
  EffectiveParameters parameters;
  std::optional<uint64_t> seed;
  int64_t latent_frames = 0;  // F
  int64_t latent_height = 0;  // h = height / 16
  int64_t latent_width = 0;   // w = width / 16
  int64_t audio_latents = 0;  // L
  const TextEmbedding* positive = nullptr;
  // Null when not given; allowed only where that tower's guidance is 1 (the pipeline then
  // feeds the positive embedding to that tower's negative pass, whose guided result ignores it).
  const TextEmbedding* video_negative = nullptr;
  const TextEmbedding* audio_negative = nullptr;
  bool slg_defaulted = false;  // slg_layer came from the default (min(11, layers - 1))

  // Video tokens per pass: F * (h/2) * (w/2).
  int64_t VideoTokens() const { return latent_frames * (latent_height / 2) * (latent_width / 2); }
  // Both guidance scales 1: no negative pass at all.
  bool Unguided() const {
    return parameters.video_guidance == 1.0f && parameters.audio_guidance == 1.0f;
  }
};

// Ovi's size rule: scale (width, height) to `area` keeping the aspect, then round each side to
// a multiple of 32 with Python's round (half to even: 720x720 at 720² -> 704x704), at least 32.
std::pair<uint32_t, uint32_t> SnapToArea(uint32_t width, uint32_t height, int64_t area);

// Validates `request` against `limits` and resolves it. INVALID_ARGUMENT for values out of range,
// FAILED_PRECONDITION for what needs a stage that is not loaded (prompts, default negatives,
// first_frame, decoded outputs).
absl::StatusOr<JobPlan> PlanJob(const GenerationRequest& request, const ModelLimits& limits);

}  // namespace ovid::pipeline
