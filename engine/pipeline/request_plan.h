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
#include <string>
#include <utility>
#include <vector>

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

// What the loaded pipeline can take and produce: the denoiser's sizes and which of the other
// stages are loaded, so refusals are data-driven.
struct ModelLimits {
  int64_t text_dim = 4096;
  int64_t text_len = 512;
  int64_t layers = 30;
  ovi::OviVariant variant;
  bool text_encoder = false;       // UMT5 + tokenizer: prompts and the default negatives
  bool video_vae_encoder = false;  // image to video (also needs `media` to read the image)
  bool video_decoder = false;      // PNG frames, MP4
  bool audio_decoder = false;      // MMAudio VAE + vocoder: WAV, MP4
  bool media = false;              // this build can encode MP4/WAV/PNG and read PNG/JPEG
};

// Ovi's default negative prompts (inference_fusion.yaml), used when a tower's negative is not
// given, the negative pass runs (either guidance scale is not 1) and the text encoder is loaded.
inline constexpr char kDefaultVideoNegative[] = "jitter, bad hands, blur, distortion";
inline constexpr char kDefaultAudioNegative[] = "robotic, muffled, echo, distorted";

// One text input of a job: an embedding from the request, or a prompt for the text encoder, or
// neither (a negative when both guidance scales are 1: there is no negative pass).
struct TextInput {
  const TextEmbedding* embedding = nullptr;
  std::optional<std::string> prompt;
  bool positive_prompt = false;  // the user's prompt: gets the variant's audio-tag style
  bool given() const { return embedding != nullptr || prompt.has_value(); }
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
  TextInput positive;
  TextInput video_negative;
  TextInput audio_negative;
  bool slg_defaulted = false;  // slg_layer came from the default (min(11, layers - 1))
  bool image_to_video = false;  // first_frame given: latent frame 0 is the encoded image

  // Video tokens per pass: F * (h/2) * (w/2).
  int64_t VideoTokens() const { return latent_frames * (latent_height / 2) * (latent_width / 2); }
  // Both guidance scales 1: no negative pass at all.
  bool Unguided() const {
    return parameters.video_guidance == 1.0f && parameters.audio_guidance == 1.0f;
  }
  bool NeedsTextEncoder() const {
    return positive.prompt.has_value() || video_negative.prompt.has_value() ||
           audio_negative.prompt.has_value();
  }
  bool Wants(OutputFormat f) const;
  bool NeedsVideoDecode() const { return Wants(OutputFormat::kMp4) || Wants(OutputFormat::kPngFrames); }
  bool NeedsAudioDecode() const { return Wants(OutputFormat::kMp4) || Wants(OutputFormat::kWav); }
};

// The size of a request's first frame (image to video), read by the caller from the image.
struct ImageSize {
  uint32_t width = 0;
  uint32_t height = 0;
};

// Ovi's text-to-video size rule (snap_hw_to_multiple_of_32): scale (width, height) to `area`
// keeping the aspect, round each side to a whole pixel, then to a multiple of 32 (at least 32),
// both with Python's round (half to even: 720x720 at 720² -> 704x704). Returns {width, height}.
std::pair<uint32_t, uint32_t> SnapToArea(uint32_t width, uint32_t height, int64_t area);

// Ovi's image-to-video size rule (_best_hw_for_area of its first-frame preprocessing): of the
// multiples of 32 near the image's aspect at `area` (seven heights around the ideal one, each
// with its nearest width, plus the image scaled and rounded per side), the one whose area is
// closest to `area`, then whose aspect is closest to the image's; the first such on a tie.
// Returns {width, height}.
std::pair<uint32_t, uint32_t> FitImageToArea(uint32_t width, uint32_t height, int64_t area);

// What a pipeline with `limits` can produce, LATENTS first.
std::vector<OutputFormat> AvailableOutputFormats(const ModelLimits& limits);

// Validates `request` against `limits` and resolves it. INVALID_ARGUMENT for values out of range,
// FAILED_PRECONDITION for what needs a stage that is not loaded (prompts, default negatives,
// first_frame, decoded outputs). `first_frame` is the size of the request's decoded first frame
// (required when it has one): without width/height in the request, the video takes the image's
// aspect at the model's area, as Ovi's image to video does.
absl::StatusOr<JobPlan> PlanJob(const GenerationRequest& request, const ModelLimits& limits,
                                std::optional<ImageSize> first_frame = std::nullopt);

}  // namespace ovid::pipeline
