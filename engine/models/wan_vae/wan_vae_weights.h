// File: engine/models/wan_vae/wan_vae_weights.h
// A Wan2.2 VAE's parameters read from a safetensors file (original or diffusers names, see
// wan_vae_keys.h), converted to the compute dtype on the compute device, one struct per module.
// RMS_norm gammas are stored pre-multiplied by sqrt(C) (the norm's fixed scale), so the forward
// pass does one multiply. GGUF is not read: it cannot hold the 5-D conv weights, and no Wan VAE
// GGUF is in common use (spec §7); convert to safetensors instead.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/wan_vae/wan_vae_config.h"
#include "engine/models/wan_vae/wan_vae_keys.h"

namespace ovid::wan_vae {

struct ConvW {
  at::Tensor w;  // [O, I, kt, kh, kw] (Conv3d) or [O, I, kh, kw] (Conv2d)
  at::Tensor b;  // [O]
  bool defined() const { return w.defined(); }
};

struct ResW {
  at::Tensor norm1, norm2;  // [C, 1, 1, 1], times sqrt(C)
  ConvW conv1, conv2;       // 3x3x3 causal
  ConvW shortcut;           // 1x1x1; undefined when in == out (identity)
};

struct AttnW {
  at::Tensor norm;  // [C, 1, 1], times sqrt(C)
  ConvW qkv, proj;  // 1x1 Conv2d
};

// One resolution stage: residual blocks, then (all but the last stage) a resampler: the Conv2d
// `resample` (decoder: after a 2x nearest upsample; encoder: stride 2 after padding right and
// bottom) and, where the stage also resamples time, the causal `time_conv`.
struct StageW {
  int64_t in_dim = 0, out_dim = 0;
  bool resamples = false;  // spatial x2 (up or down)
  bool temporal = false;   // also x2 in time
  std::vector<ResW> res;
  ConvW resample, time_conv;
};

struct DecoderW {
  ConvW post_quant;  // 1x1x1, applied to the whole latent first
  ConvW conv_in;
  ResW mid0, mid1;
  AttnW attn;
  std::vector<StageW> stages;
  at::Tensor head_norm;
  ConvW head_conv;
};

struct EncoderW {
  ConvW conv_in;
  std::vector<StageW> stages;
  ResW mid0, mid1;
  AttnW attn;
  at::Tensor head_norm;
  ConvW head_conv;
  ConvW quant;  // 1x1x1 to [mu | log_var]
};

struct WeightOptions {
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;  // compute dtype: f32 (the original's) or bf16
  // Ovi casts the fp32 checkpoint to bf16 and then computes in fp32 (spec §3.5): with this set,
  // weights are rounded through bf16 first, to reproduce Ovi's numbers rather than the file's.
  bool round_through_bf16 = false;
  bool load_encoder = true;  // false: skip the encoder's tensors (decode-only use)
};

struct WanVaeWeights {
  std::string path;
  WanVaeLayout layout = WanVaeLayout::kOriginal;
  WanVaeConfig config;
  c10::Device device{c10::kCPU};
  at::ScalarType dtype = at::kFloat;
  DecoderW dec;
  std::optional<EncoderW> enc;  // when the file has one and load_encoder
  int64_t bytes = 0;            // resident parameter bytes
};

// Opens `path`, detects its layout, infers and checks the config (one error naming the file and
// every bad tensor), then uploads every tensor.
absl::StatusOr<WanVaeWeights> LoadWanVaeWeights(const std::string& path,
                                                const WeightOptions& options);

}  // namespace ovid::wan_vae
