// File: engine/models/mmaudio_vae/mmaudio_vae.h
// The MMAudio 16 kHz VAE decoder (spec encoders.md §4): Ovi's audio latents [L, 20] -> a log-mel
// spectrogram [80, 2L], un-normalised with the file's data_mean/data_std, ready for the vocoder
// (engine/models/bigvgan). Decoder only: a checkpoint's encoder.* tensors are accepted and
// ignored.
//
// Loads safetensors or GGUF (f32/f16/bf16 tensors) in v1-16.pth's names; the config comes from
// the shapes. MPConv1D weight normalisation is folded at load in f32. Compute is f32, or bf16
// (Ovi's regime: the module cast to bf16 and run under bf16 autocast): bf16 weights and
// activations, with every pixel norm's sum of squares taken in f32 (as edm2's normalize does)
// and the final un-normalisation in f32. On CUDA, f32 convs may use TF32, as PyTorch's default
// does (measured 2.6e-4 relative on the mel at full size; 9e-7 with TF32 off).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/audio/audio_options.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_layout.h"

namespace ovid::mmaudio_vae {

struct MmAudioVaeWeights;

class MmAudioVae {
 public:
  static absl::StatusOr<std::unique_ptr<MmAudioVae>> Load(
      const std::string& path, const audio::AudioModelOptions& options = {});
  ~MmAudioVae();

  const MmAudioVaeConfig& config() const;
  int64_t parameter_bytes() const;                   // resident weights
  const std::vector<std::string>& ignored() const;   // the file's unused (encoder) tensors

  // latents [L, embed] as the denoiser gives them (any float dtype, any device) -> mel
  // [mels, L * LengthFactor()] (80 x 2L), f32, on the model's device (the vocoder's input
  // there; call .cpu() to keep it).
  absl::StatusOr<at::Tensor> Decode(const at::Tensor& latents) const;

 private:
  explicit MmAudioVae(std::unique_ptr<MmAudioVaeWeights> w);
  std::unique_ptr<MmAudioVaeWeights> w_;
};

}  // namespace ovid::mmaudio_vae
