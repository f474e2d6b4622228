// File: engine/pipeline/audio_stage.h
// The "audio_decode" stage: the denoiser's audio latent [L, 20] through the MMAudio 16 kHz VAE
// decoder (mel [80, 2L]) and the BigVGAN vocoder (16 kHz samples, 2L * 256 of them), as Ovi's
// generate() step 5 does.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::mmaudio_vae {
class MmAudioVae;
}  // namespace ovid::mmaudio_vae
namespace ovid::bigvgan {
class BigVgan;
}  // namespace ovid::bigvgan

namespace ovid::pipeline {

// The two audio models, loaded and offloaded together (one is useless without the other).
struct AudioDecoders {
  std::unique_ptr<mmaudio_vae::MmAudioVae> vae;
  std::unique_ptr<bigvgan::BigVgan> vocoder;

  AudioDecoders();
  ~AudioDecoders();
  int64_t latent_channels() const;
  uint64_t parameter_bytes() const;
};

// 16 kHz samples per audio latent (OviVariant::AudioSamples): the VAE's mel frames per latent
// times the vocoder's hop.
inline constexpr int64_t kAudioSamplesPerLatent = 512;

// Errors name the file (and the tensor, for layout problems).
absl::StatusOr<std::unique_ptr<AudioDecoders>> LoadAudioDecoders(const ComponentFiles& files,
                                                                  c10::Device device, bool bf16);

// latents [L, C] (any float dtype, on the models' device) -> mono samples in [-1, 1], f32, on
// the host.
absl::StatusOr<at::Tensor> DecodeAudio(const AudioDecoders& audio, const at::Tensor& latents);

}  // namespace ovid::pipeline
