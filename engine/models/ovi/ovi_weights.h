// File: engine/models/ovi/ovi_weights.h
// Ovi's parameters bound from a WeightStore (spec ovi.md §2), one struct per module. Linear
// weights stay as the store gives them (quantized ones as lazy QuantizedLinear); everything else
// is a dense tensor in the store's plain dtype. Layout variants that real files use are folded
// back here, so the model code sees one shape per tensor:
//   - modulation [6, D] / head.modulation [2, D] (llama-quantize drops the leading 1) -> [6, D]
//     and [2, D] (the leading 1 of [1, n, D] is dropped for every file);
//   - the video patch embedding as 5-D [D, in, kt, kh, kw] or folded to 4 GGUF dims
//     (stable-diffusion.cpp: torch [in*D, kt, kh, kw], same bytes) -> [D, in*kt*kh*kw].
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/ovi/ovi_layout.h"
#include "engine/tensor/quantized_linear.h"
#include "engine/tensor/weight_store.h"

namespace ovid::ovi {

// The run-time description of a loaded file: shape-visible config plus the `ovi.*` metadata.
struct OviModelSpec {
  OviConfig config;
  std::string variant = "720x720_5s";
  double audio_rope_scale = 0.19676;
  int64_t text_len = 512;
};

// Reads the spec from the file: config from the tensor shapes (after the folds above), head_dim,
// variant, audio RoPE scale and text length from ovi.head_dim / ovi.variant /
// ovi.audio_rope_scale / ovi.text_len (defaults 128, `fallback_variant`, 0.19676, 512), then
// checks the whole tensor set against the layout: ONE error naming every missing, unexpected and
// misshaped tensor.
absl::StatusOr<OviModelSpec> ReadOviModelSpec(const gguf::GgufFile& file,
                                              const std::string& fallback_variant);

struct OviSelfAttentionWeights {
  QuantizedLinear q, k, v, o;
  at::Tensor norm_q;  // [D]
  at::Tensor norm_k;  // [D]
};

struct OviCrossAttentionWeights {
  QuantizedLinear q, k, v, o, k_fusion, v_fusion;
  at::Tensor norm_q;                  // [D]
  at::Tensor norm_k;                  // [D]
  at::Tensor norm_k_fusion;           // [D]
  at::Tensor pre_attn_norm_fusion_w;  // [D]
  at::Tensor pre_attn_norm_fusion_b;  // [D]
};

struct OviBlockWeights {
  at::Tensor modulation;  // [6, D]
  OviSelfAttentionWeights self_attn;
  at::Tensor norm3_w;  // [D]
  at::Tensor norm3_b;  // [D]
  OviCrossAttentionWeights cross_attn;
  QuantizedLinear ffn0;  // D -> ffn_dim
  QuantizedLinear ffn2;  // ffn_dim -> D
};

struct OviTowerWeights {
  OviTower tower = OviTower::kVideo;
  // Video: the Conv3d as a linear map over one patch's values (c, kt, kh, kw order).
  at::Tensor video_patch_w;  // [D, in*kt*kh*kw]
  at::Tensor video_patch_b;  // [D]
  // Audio: Conv1d(in -> D, k, pad k/2), SiLU, ConvMLP w2(silu(w1 x) * w3 x), no biases in it.
  at::Tensor audio_conv_w;       // [D, in, k]
  at::Tensor audio_conv_b;       // [D]
  at::Tensor audio_w1;           // [hidden, D, k]
  at::Tensor audio_w2;           // [D, hidden, k]
  at::Tensor audio_w3;           // [hidden, D, k]
  QuantizedLinear text0, text2;  // text_dim -> D -> D
  QuantizedLinear time0, time2;  // freq_dim -> D -> D
  QuantizedLinear time_proj;     // D -> 6D
  at::Tensor head_modulation;    // [2, D]
  QuantizedLinear head;          // D -> out * patch volume
  std::vector<OviBlockWeights> blocks;
};

struct OviWeights {
  OviTowerWeights video;
  OviTowerWeights audio;
};

// Binds every parameter (the spec must come from the same file).
absl::StatusOr<OviWeights> BindOviWeights(const WeightStore& store, const OviModelSpec& spec);

}  // namespace ovid::ovi
