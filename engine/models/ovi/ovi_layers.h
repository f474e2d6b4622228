// File: engine/models/ovi/ovi_layers.h
// The stateless pieces of Ovi's forward pass (spec ovi.md §3): norms (computed in f32, cast
// back, as autocast does), attention, the per-sample modulation with an optional first-frame
// segment, the sinusoidal time embedding and the patch (un)embeddings. Functions here throw
// (c10::Error, ops::StatusException); OviModel catches at its boundary.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "engine/models/ovi/ovi_weights.h"
#include "engine/ops/attention.h"

namespace ovid::ovi {

inline constexpr double kOviEps = 1e-6;

// WanRMSNorm: x * rsqrt(mean(x^2) + eps) in f32, cast back, times `weight` [D].
at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight);
// WanLayerNorm over the last dim in f32, cast back; `weight`/`bias` may be undefined (no affine).
// `fused`: one kernel (engine/ops/dit_ops.h) where it takes x, else the plain chain.
at::Tensor LayerNorm(const at::Tensor& x, const at::Tensor& weight = {},
                     const at::Tensor& bias = {}, bool fused = false);

// Non-causal attention: q [B, Lq, D], k and v [B, Lk, D] -> [B, Lq, D] over `heads` heads, scale
// 1/sqrt(head_dim).
at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads);
// The same with q/k/v already split: [B, heads, L, head_dim] -> [B, Lq, D].
at::Tensor AttentionHeads(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          ops::AttentionBackend backend = ops::AttentionBackend::kDefault);

// Per-sample modulation rows, e.g. e0 [B, 6, D]. When `clean_tokens` > 0 (first-frame
// conditioning) the first clean_tokens tokens use `clean` (the rows for t = 0) instead: two rows
// and a split, never a per-token [B, L, 6, D] tensor.
struct Modulation {
  at::Tensor rows;   // [B, n, D]
  at::Tensor clean;  // [B, n, D] or undefined
  int64_t clean_tokens = 0;

  // The same plus a parameter [n, D] (a block's or the head's modulation).
  Modulation Plus(const at::Tensor& param) const;
  // x * (1 + rows[scale]) + rows[shift] per segment; x [B, L, D].
  at::Tensor Affine(const at::Tensor& x, int64_t shift, int64_t scale) const;
  // y * rows[gate] per segment; y [B, L, D].
  at::Tensor Gate(const at::Tensor& y, int64_t gate) const;

  // Affine(LayerNorm(x), shift, scale) and x + Gate(y, gate); with `fused`, one kernel each
  // where it takes x (engine/ops/dit_ops.h), else the plain chains above.
  at::Tensor NormAffine(const at::Tensor& x, int64_t shift, int64_t scale, bool fused) const;
  at::Tensor AddGated(const at::Tensor& x, const at::Tensor& y, int64_t gate, bool fused) const;
};

// Sinusoidal embedding of t [B] (fp64): cat(cos(t*w), sin(t*w)), w_k = 10000^(-k/(dim/2)),
// computed in fp64 then cast to `dtype` -> [B, dim].
at::Tensor SinusoidalEmbedding(const at::Tensor& t, int64_t dim, at::ScalarType dtype);

// Video latent [C, F, H, W] -> tokens [1, L, D], L = F/pt * H/ph * W/pw in (f, h, w) order.
at::Tensor VideoPatchEmbed(const OviTowerWeights& w, const OviConfig& c, const at::Tensor& latent);
// Audio latent [L, C] -> tokens [1, L, D] (Conv1d, SiLU, ConvMLP).
at::Tensor AudioPatchEmbed(const OviTowerWeights& w, const at::Tensor& latent);
// Head output [1, L, out*pt*ph*pw] -> video [out, F, H, W] ('fhwpqrc->cfphqwr').
at::Tensor VideoUnpatchify(const at::Tensor& u, const OviConfig& c, int64_t f, int64_t h,
                           int64_t w);

// text_embedding: context [Lt, text_dim] zero-padded to text_len rows -> [1, text_len, D].
at::Tensor TextEmbed(const OviTowerWeights& w, const at::Tensor& context, int64_t text_len,
                     at::ScalarType dtype);

}  // namespace ovid::ovi
