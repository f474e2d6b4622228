// File: engine/models/mmaudio_vae/mmaudio_vae_weights.h
// The MMAudio VAE decoder's parameters, read from safetensors or GGUF (mmaudio_vae_layout.h),
// with MPConv1D's weight normalisation folded in f32 (spec §4, what remove_weight_norm() does
// at load in the original):
//   w_o <- w_o / (1e-4 + ||w_o|| / sqrt(in*k)) / sqrt(in*k)     per output channel o
// and conv_out's gain (learnable_gain + 1) multiplied in, then cast to the compute dtype.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/audio/audio_options.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_layout.h"

namespace ovid::mmaudio_vae {

struct ResW {
  at::Tensor conv1, conv2;  // [out, in, 3], [out, out, 3]
  at::Tensor shortcut;      // [out, in, 1]; undefined when in == out
};

struct LevelW {
  std::vector<ResW> blocks;
  at::Tensor upsample;  // [C, C, 3] after a x2 nearest upsample; undefined: no upsample
};

struct MmAudioVaeWeights {
  std::string path;
  MmAudioVaeConfig config;
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  at::Tensor conv_in;
  ResW mid1, mid2;
  at::Tensor qkv, proj_out;  // [3C, C, 1] (q/k/v interleaved: channel 3c+s), [C, C, 1]
  std::vector<LevelW> levels;  // index = level (0 = the output side)
  at::Tensor conv_out;         // gain folded in
  at::Tensor data_mean, data_std;  // [1, mels, 1] f32 on the device
  std::vector<std::string> ignored;  // the file's encoder tensors
  int64_t bytes = 0;
};

absl::StatusOr<MmAudioVaeWeights> LoadMmAudioVaeWeights(const std::string& path,
                                                        const audio::AudioModelOptions& options);

}  // namespace ovid::mmaudio_vae
