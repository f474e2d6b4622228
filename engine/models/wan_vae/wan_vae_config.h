// File: engine/models/wan_vae/wan_vae_config.h
// The shape-visible hyper-parameters of a Wan2.2 VAE (spec encoders.md §3) and the 48-channel
// latent mean/std tables. Torch-free: the key check and the format tool can use it without
// LibTorch. Everything here is inferred from a file's tensor shapes (wan_vae_keys.h), so a
// smaller test model with the same structure loads through the same code.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace ovid::wan_vae {

struct WanVaeConfig {
  int64_t z_dim = 48;
  int64_t patch = 2;          // patchify factor: decoder head channels = 3 * patch²
  int64_t num_res_blocks = 2; // encoder stages hold this many, decoder stages one more
  // Decoder: conv_in/middle width, then each up stage's output width (Wan2.2: 1024 | 1024, 1024,
  // 512, 256). Every stage but the last doubles h and w; dec_temporal[s] also doubles time.
  int64_t dec_in_dim = 1024;
  std::vector<int64_t> dec_stage_dims = {1024, 1024, 512, 256};
  std::vector<bool> dec_temporal = {true, true, false};
  // Encoder (absent from decoder-only files): conv_in width, each down stage's output width,
  // and which of the downsampling stages (all but the last) halve time.
  bool has_encoder = true;
  int64_t enc_in_dim = 160;
  std::vector<int64_t> enc_stage_dims = {160, 320, 640, 640};
  std::vector<bool> enc_temporal = {false, true, true};

  int64_t ImageChannels() const { return 3; }
  int64_t PatchedChannels() const { return 3 * patch * patch; }  // 12
  int64_t TemporalFactor() const;  // 4: 2 per temporal up stage
  int64_t SpatialFactor() const;   // 16: patch * 2 per spatial up stage
  // OK when the widths are positive and every DupUp3D/AvgDown3D shortcut divides evenly.
  absl::Status Validate() const;
};

// The released Wan2.2 VAE (z 48, encoder 160, decoder 256, dim_mult [1,2,4,4], 2 res blocks).
WanVaeConfig WanVae22Config();

// The per-channel latent statistics hard-coded in Wan2_2_VAE.__init__ (spec §3.3); 48 entries.
// Decode un-normalises with z / (1/std) + mean, exactly in that order.
std::span<const float> WanVae22LatentMean();
std::span<const float> WanVae22LatentStd();

}  // namespace ovid::wan_vae
