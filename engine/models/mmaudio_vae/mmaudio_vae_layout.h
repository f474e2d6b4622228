// File: engine/models/mmaudio_vae/mmaudio_vae_layout.h
// Which tensors an MMAudio 16 kHz VAE decoder file holds (spec encoders.md §4), its config as
// the shapes imply it, and the whole-file check (ONE error naming the file and every missing,
// unexpected and misshaped tensor; the encoder's tensors are "ignored"). Names come from the
// compiled-in key table keys.txt. Torch-free: the format tool's synth uses it too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/models/audio/audio_key_table.h"
#include "engine/models/audio/audio_tensor_check.h"

namespace ovid::mmaudio_vae {

// The shape-visible hyper-parameters. Decoder level l has width hidden * ch_mult[l]; levels run
// from the last (widest, after the middle block) to 0, each with `blocks_per_level` residual
// blocks, then a x2 nearest upsample + conv where upsample[l] (VAE_16k: level 1 only).
struct MmAudioVaeConfig {
  int64_t embed_dim = 20;  // latent channels
  int64_t data_dim = 80;   // mel bins
  int64_t hidden = 384;
  std::vector<int64_t> ch_mult = {1, 2, 4};
  int64_t blocks_per_level = 3;  // num_res_blocks (2) + 1 in the decoder
  std::vector<bool> upsample = {false, true, false};

  int64_t Width(size_t level) const { return hidden * ch_mult[level]; }
  int64_t TopWidth() const { return Width(ch_mult.size() - 1); }  // middle block: 1536
  int64_t LengthFactor() const;                                   // 2: mel frames per latent
};

MmAudioVaeConfig MmAudioVae16kConfig();  // VAE_16k: 384, (1,2,4), embed 20, 80 mels
MmAudioVaeConfig MmAudioVaeTinyConfig(); // the same structure at hidden 16 (tests, demos)

struct MmAudioVaeTensor {
  std::string logical;  // what the model binds: "up.1.block.0.conv1", "gain", "data_mean"
  audio::ExpectedTensor expected;
};

// The compiled-in key table (parsed once; a broken built-in table is an INTERNAL error).
absl::StatusOr<const audio::AudioKeyTable*> MmAudioVaeKeyTable();

// Every tensor the decoder with `config` reads, in the checkpoint's order.
absl::StatusOr<std::vector<MmAudioVaeTensor>> BuildMmAudioVaeLayout(const MmAudioVaeConfig& config);

struct ResolvedMmAudioVae {
  MmAudioVaeConfig config;
  std::vector<MmAudioVaeTensor> tensors;
  std::vector<std::string> ignored;  // encoder.* names the file also holds
};

// Infers the config from the shapes and checks the whole set. `source` (the path) starts every
// error message.
absl::StatusOr<ResolvedMmAudioVae> ResolveMmAudioVaeLayout(
    const std::vector<audio::NamedShape>& tensors, absl::string_view source);

}  // namespace ovid::mmaudio_vae
