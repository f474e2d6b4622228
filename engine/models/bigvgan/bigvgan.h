// File: engine/models/bigvgan/bigvgan.h
// The BigVGAN v1 vocoder at 16 kHz (spec encoders.md §5; MMAudio's best_netG.pt): log-mel
// [80, T] -> waveform [T * 256] in [-1, 1].
//
// Loads safetensors or GGUF (f32/f16/bf16 tensors) in the generator's names, with or without a
// "generator." prefix, each conv's weight as weight_g/weight_v, parametrizations
// original0/original1 or already folded; the config comes from the shapes (bigvgan_layout.h
// lists what is assumed). Weight norm is folded at load in f32.
//
// Compute is f32, or bf16 as Ovi runs it under bf16 autocast: convs, transposed convs and the
// filters' up/down convs in bf16, while each SnakeBeta runs in f32 (autocast keeps exp/pow in
// f32, so Ovi's Snake output is f32) on the bf16 upsampled signal and is rounded to bf16 for the
// down conv; residual sums and tanh in bf16. The waveform comes back f32 either way. On CUDA, f32
// convs may use TF32, as PyTorch's default does (measured 6e-3 relative on the waveform at full
// size; 2.5e-5 with TF32 off).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/models/audio/audio_options.h"
#include "engine/models/bigvgan/bigvgan_layout.h"

namespace ovid::bigvgan {

struct BigVganWeights;

class BigVgan {
 public:
  static absl::StatusOr<std::unique_ptr<BigVgan>> Load(
      const std::string& path, const audio::AudioModelOptions& options = {});
  ~BigVgan();

  const BigVganConfig& config() const;
  int64_t parameter_bytes() const;  // resident weights (the filter copies not counted)

  // mel [num_mels, T] (any float dtype, any device) -> waveform [T * HopLength()] f32 on the
  // model's device, in [-1, 1] (tanh).
  absl::StatusOr<at::Tensor> Vocode(const at::Tensor& mel) const;

 private:
  explicit BigVgan(std::unique_ptr<BigVganWeights> w);
  std::unique_ptr<BigVganWeights> w_;
};

}  // namespace ovid::bigvgan
