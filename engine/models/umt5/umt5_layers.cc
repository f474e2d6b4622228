// File: engine/models/umt5/umt5_layers.cc
#include "engine/models/umt5/umt5_layers.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/clamp_max.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/log.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/where.h>

#include <cmath>

namespace ovid::umt5 {

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);                                                // [..., D]
  const at::Tensor inv = at::rsqrt(xf.pow(2).mean(at::IntArrayRef{-1}, true).add(eps));  // [..., 1]
  return xf.mul(inv).to(x.scalar_type()).mul(weight.to(x.scalar_type()));                // [..., D]
}

at::Tensor RelativeBuckets(int64_t len, const Umt5Config& config, c10::Device device) {
  const at::TensorOptions i64 = at::TensorOptions().dtype(at::kLong);
  const at::Tensor pos = at::arange(len, i64);                    // [S]
  const at::Tensor rel = pos.unsqueeze(0).sub(pos.unsqueeze(1));  // [S, S] key - query
  const int64_t half = config.buckets / 2;                        // per direction
  const int64_t exact = half / 2;                                 // distances kept as is
  const at::Tensor dist = at::abs(rel);                           // [S, S]
  // Original: exact + (log(d.float() / exact) / math.log(max_distance / exact) * (half - exact))
  // .long(), in f32 with the divisor a double scalar. d < exact never uses it (clamped so the
  // unused entries stay finite).
  const at::Tensor large =
      at::log(dist.clamp_min(1).to(at::kFloat).div(static_cast<double>(exact)))
          .div(std::log(static_cast<double>(config.max_distance) / static_cast<double>(exact)))
          .mul(static_cast<double>(half - exact))
          .to(at::kLong)
          .add(exact);                                    // [S, S]
  const at::Tensor far = at::clamp_max(large, half - 1);  // [S, S]
  const at::Tensor bucket =
      at::where(dist.lt(exact), dist, far).add(rel.gt(0).to(at::kLong).mul(half));  // [S, S]
  return bucket.to(device);
}

at::Tensor PositionBias(const at::Tensor& table, const at::Tensor& buckets) {
  return at::embedding(table, buckets)  // [S, S, heads]
      .permute({2, 0, 1})               // [heads, S, S]
      .unsqueeze(0);                    // [1, heads, S, S]
}

at::Tensor Umt5Block(const Umt5BlockWeights& w, const Umt5Config& c, const at::Tensor& x,
                     const at::Tensor& mask, const at::Tensor& buckets) {
  const int64_t b = x.size(0), s = x.size(1);
  auto heads = [&](const at::Tensor& t) {  // [B, S, inner] -> [B, heads, S, d_kv]
    return t.view({b, s, c.heads, c.d_kv}).transpose(1, 2);
  };
  const at::Tensor h = RmsNorm(x, w.norm1, c.eps);  // [B, S, D]
  const at::Tensor q = heads(w.q.forward(h));       // [B, H, S, dk]
  const at::Tensor k = heads(w.k.forward(h));       // [B, H, S, dk]
  const at::Tensor v = heads(w.v.forward(h));       // [B, H, S, dk]
  // T5 folds the 1/sqrt(d_kv) into its initialization, so scores are not scaled: scale 1.
  const at::Tensor bias = PositionBias(w.rel_bias.to(x.scalar_type()), buckets).add(mask);
  const at::Tensor attn =
      at::scaled_dot_product_attention(q, k, v, bias, 0.0, false, 1.0);       // [B, H, S, dk]
  const at::Tensor merged = attn.transpose(1, 2).reshape({b, s, c.Inner()});  // [B, S, inner]
  const at::Tensor x1 = x.add(w.o.forward(merged));                           // [B, S, D]

  const at::Tensor g = RmsNorm(x1, w.norm2, c.eps);                                 // [B, S, D]
  const at::Tensor act = at::gelu(w.gate.forward(g), "tanh").mul(w.up.forward(g));  // [B, S, d_ff]
  return x1.add(w.down.forward(act));                                               // [B, S, D]
}

}  // namespace ovid::umt5
