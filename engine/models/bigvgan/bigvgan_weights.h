// File: engine/models/bigvgan/bigvgan_weights.h
// BigVGAN's parameters read from safetensors or GGUF (bigvgan_layout.h), prepared for the
// forward pass at load time, in f32:
//   - weight norm folded: w = g * v / ||v||, the norm over all dims but 0 (for ConvTranspose1d's
//     [Cin, Cout, k] weight that is one norm per input channel), whichever of the three forms
//     the file stores;
//   - SnakeBeta's log-scale parameters exponentiated: a = exp(alpha) and 1 / (exp(beta) + 1e-9);
//   - the anti-aliasing filters taken from the file's buffers, or computed (kaiser_sinc, cutoff
//     0.25, half width 0.3) where the file has none, and expanded to one row per channel.
// Convs and filters are then cast to the compute dtype; the Snake parameters stay f32.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/audio/audio_options.h"
#include "engine/models/bigvgan/bigvgan_layout.h"

namespace ovid::bigvgan {

struct ConvW {
  at::Tensor w, b;
  bool transposed = false;
  int64_t stride = 1, dilation = 1, padding = 0;
};

struct ActW {
  at::Tensor a, inv_b;           // [1, C, 1] f32: exp(alpha), 1 / (exp(beta) + 1e-9)
  at::Tensor up, down;           // [C, 1, taps] in the compute dtype
};

struct ResBlockW {
  std::vector<ConvW> convs1, convs2;  // 3 each
  std::vector<ActW> acts;             // 6: before convs1[m] (2m) and convs2[m] (2m+1)
};

struct BigVganWeights {
  std::string path;
  BigVganConfig config;
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  ConvW conv_pre;
  std::vector<ConvW> ups;
  std::vector<ResBlockW> blocks;  // stage i uses blocks [i*K, (i+1)*K)
  ActW act_post;
  ConvW conv_post;
  int64_t bytes = 0;
};

absl::StatusOr<BigVganWeights> LoadBigVganWeights(const std::string& path,
                                                  const audio::AudioModelOptions& options);

}  // namespace ovid::bigvgan
