// File: engine/models/umt5/umt5_layers.h
// The stateless pieces of the UMT5 encoder forward (shared spec encoders.md §2): T5 RMSNorm,
// relative position buckets and bias, unscaled self-attention with a key padding mask, the
// gated GELU-tanh FFN, and one block. Functions here throw (c10::Error, ops::StatusException);
// Umt5Encoder catches at its boundary.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "engine/models/umt5/umt5_config.h"
#include "engine/models/umt5/umt5_weights.h"

namespace ovid::umt5 {

// T5 RMSNorm: no mean subtraction, no bias. The mean of squares is taken in f32 whatever x's
// dtype (bf16 squares would lose the small components), the normalized x is rounded back to x's
// dtype and then scaled by `weight`, in that order as the original does.
at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Bucket of every (query i, key j) pair for `len` tokens: [len, len] int64 on `device`, T5's
// bidirectional function of j - i. Computed with the same f32 operations as the original so the
// log-spaced boundaries fall where its float rounding puts them.
at::Tensor RelativeBuckets(int64_t len, const Umt5Config& config, c10::Device device);

// One block's bias [1, heads, len, len] from its table [buckets, heads].
at::Tensor PositionBias(const at::Tensor& table, const at::Tensor& buckets);

// x [B, S, d_model] -> x + attention + FFN, both pre-norm residual. `mask` [B, 1, 1, S] is 0 on
// real keys and the dtype's lowest value on padding; `buckets` from RelativeBuckets(S).
at::Tensor Umt5Block(const Umt5BlockWeights& w, const Umt5Config& config, const at::Tensor& x,
                     const at::Tensor& mask, const at::Tensor& buckets);

}  // namespace ovid::umt5
