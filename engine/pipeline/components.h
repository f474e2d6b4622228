// File: engine/pipeline/components.h
// The stages around the denoiser, as the pipeline holds them: the UMT5 text encoder and its
// tokenizer, the Wan2.2 VAE (decoder, and encoder for image to video), the MMAudio VAE with the
// BigVGAN vocoder. Each is optional (its file not given: not loaded) and each may be offloaded
// (OnDemand). Loading checks each file against the denoiser it must feed: widths and latent
// channels must agree, and every error names the file.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/pipeline/on_demand.h"
#include "engine/text/audio_tags.h"
#include "engine/text/tokenizer.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::umt5 {
class Umt5Encoder;
}  // namespace ovid::umt5
namespace ovid::wan_vae {
class WanVae;
}  // namespace ovid::wan_vae

namespace ovid::pipeline {

// The video VAE's numerics for the decode settings: bf16 throughout, or Ovi's own (spec
// encoders.md §3.5): the fp32 checkpoint rounded to bf16, then computed in fp32. Plain fp32
// weights gave videos up to ~1.6 levels off Ovi's.
struct VideoVaeNumerics {
  at::ScalarType dtype = at::kFloat;
  bool round_through_bf16 = true;
};
VideoVaeNumerics VideoVaeNumericsFor(const DecodeSettings& decode);

struct AudioDecoders;  // audio_stage.h

// What the components must agree with: the denoiser's widths.
struct DenoiserShape {
  std::string variant;              // picks the audio-tag style of prompts
  int64_t text_dim = 4096;          // UMT5 d_model
  int64_t text_len = 512;           // tokens per prompt, </s> included
  int64_t video_latent_channels = 48;
  int64_t audio_latent_channels = 20;
};

struct Components {
  std::unique_ptr<text::Tokenizer> tokenizer;
  text::AudioTagStyle tag_style = text::AudioTagStyle::kAudcap;
  OnDemand<umt5::Umt5Encoder> text_encoder;
  OnDemand<wan_vae::WanVae> video_vae;
  bool video_vae_has_encoder = false;
  OnDemand<AudioDecoders> audio;
  bool media = false;  // this build links engine/media (MP4/WAV/PNG, PNG/JPEG input)

  bool has_text() const { return tokenizer != nullptr && text_encoder.configured(); }
  bool has_video_decoder() const { return video_vae.configured(); }
  bool has_video_encoder() const { return video_vae.configured() && video_vae_has_encoder; }
  bool has_audio_decoder() const { return audio.configured(); }
  // Device bytes the offloaded stages take while loaded (0 for resident ones, which are already
  // in the device's used memory). Measured at start-up.
  uint64_t text_encoder_transient_bytes = 0;
  // The dequant workspace the text encoder's lazy layers need in a worker slot (0: none).
  int64_t text_encoder_workspace_bytes = 0;
  uint64_t video_vae_transient_bytes = 0;
  uint64_t audio_transient_bytes = 0;
};

// Loads (or, for offloaded stages, checks by loading once) every component `options` names.
absl::StatusOr<std::unique_ptr<Components>> LoadComponents(const PipelineOptions& options,
                                                           c10::Device device,
                                                           const DenoiserShape& denoiser);

// The stage descriptions for GetModel (names as in ModelDescription::stages).
void DescribeComponents(const PipelineOptions& options, const Components& components,
                        std::vector<StageDescription>* stages);

}  // namespace ovid::pipeline
