#include "engine/models/ovi/ovi_layers.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/conv1d.h>
#include <ATen/ops/cos.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/zeros.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/ops/dit_ops.h"
#include "engine/ops/torch_status.h"

namespace ovid::ovi {
namespace {

// Runs `fn(segment, rows)` on the clean and the regular token ranges of x [B, L, D].
template <typename Fn>
at::Tensor PerSegment(const Modulation& m, const at::Tensor& x, Fn fn) {
  const int64_t n0 = std::min(m.clean_tokens, x.size(1));
  if (n0 <= 0 || !m.clean.defined()) return fn(x, m.rows);              // [B, L, D]
  if (n0 == x.size(1)) return fn(x, m.clean);                           // [B, L, D]
  const at::Tensor first = fn(x.narrow(1, 0, n0), m.clean);             // [B, n0, D]
  const at::Tensor rest = fn(x.narrow(1, n0, x.size(1) - n0), m.rows);  // [B, L-n0, D]
  return at::cat({first, rest}, 1);                                     // [B, L, D]
}

// The fused kernels take the modulation rows as they are: same dtype and device as x,
// contiguous [B, n, D].
bool FusedTakes(const Modulation& m, const at::Tensor& x) {
  auto ok = [&](const at::Tensor& r) {
    return r.scalar_type() == x.scalar_type() && r.device() == x.device() && r.is_contiguous() &&
           r.dim() == 3 && r.size(0) == x.size(0) && r.size(2) == x.size(2);
  };
  return x.dim() == 3 && ops::DitFusedAvailable(x) && ok(m.rows) &&
         (!m.clean.defined() || ok(m.clean));
}

void Require(bool ok, const std::string& message) {
  if (!ok) ops::ThrowStatus(absl::InvalidArgumentError(message));
}

}  // namespace

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight) {
  const at::Tensor xf = x.to(at::kFloat);  // [..., D]
  const at::Tensor inv =
      at::rsqrt(xf.pow(2).mean(at::IntArrayRef{-1}, true).add(kOviEps));   // [..., 1]
  return xf.mul(inv).to(x.scalar_type()).mul(weight.to(x.scalar_type()));  // [..., D]
}

at::Tensor LayerNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                     bool fused) {
  if (fused && x.dim() == 3 && ops::DitFusedAvailable(x)) {
    return ops::ValueOrThrow(ops::LayerNormModulate(x, weight, bias, nullptr, -1, -1, kOviEps));
  }
  const at::Tensor w = weight.defined() ? weight.to(at::kFloat) : at::Tensor();  // [D]
  const at::Tensor b = bias.defined() ? bias.to(at::kFloat) : at::Tensor();      // [D]
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w, b, kOviEps)
      .to(x.scalar_type());  // [..., D]
}

at::Tensor AttentionHeads(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          ops::AttentionBackend backend) {
  const at::Tensor out = ops::ScaledDotProductAttention(q, k, v, backend);  // [B, heads, Lq, hd]
  const int64_t b = q.size(0), lq = q.size(2);
  return out.transpose(1, 2).reshape({b, lq, q.size(1) * q.size(3)});  // [B, Lq, D]
}

at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  auto split = [heads](const at::Tensor& t) {  // [B, L, D] -> [B, heads, L, hd]
    return t.view({t.size(0), t.size(1), heads, t.size(2) / heads}).transpose(1, 2);
  };
  return AttentionHeads(split(q), split(k), split(v));  // [B, Lq, D]
}

Modulation Modulation::Plus(const at::Tensor& param) const {
  const at::Tensor p = param.to(rows.scalar_type()).unsqueeze(0);  // [1, n, D]
  return {rows.add(p), clean.defined() ? clean.add(p) : at::Tensor(), clean_tokens};
}

at::Tensor Modulation::Affine(const at::Tensor& x, int64_t shift, int64_t scale) const {
  return PerSegment(*this, x, [&](const at::Tensor& xs, const at::Tensor& r) {
    // xs [B, l, D]; r.narrow(1, i, 1) [B, 1, D] broadcast over tokens
    return xs.mul(r.narrow(1, scale, 1).add(1)).add(r.narrow(1, shift, 1));  // [B, l, D]
  });
}

at::Tensor Modulation::Gate(const at::Tensor& y, int64_t gate) const {
  return PerSegment(*this, y, [&](const at::Tensor& ys, const at::Tensor& r) {
    return ys.mul(r.narrow(1, gate, 1));  // [B, l, D]
  });
}

at::Tensor Modulation::NormAffine(const at::Tensor& x, int64_t shift, int64_t scale,
                                  bool fused) const {
  if (fused && FusedTakes(*this, x)) {
    const ops::DitModulation m{&rows, &clean, clean_tokens};
    return ops::ValueOrThrow(ops::LayerNormModulate(x, {}, {}, &m, shift, scale, kOviEps));
  }
  return Affine(LayerNorm(x), shift, scale);  // [B, L, D]
}

at::Tensor Modulation::AddGated(const at::Tensor& x, const at::Tensor& y, int64_t gate,
                                bool fused) const {
  if (fused && FusedTakes(*this, x) && ops::DitFusedAvailable(y) && y.sizes().equals(x.sizes())) {
    const ops::DitModulation m{&rows, &clean, clean_tokens};
    return ops::ValueOrThrow(ops::GateResidual(x, y, m, gate));
  }
  return x.add(Gate(y, gate));  // [B, L, D]
}

at::Tensor SinusoidalEmbedding(const at::Tensor& t, int64_t dim, at::ScalarType dtype) {
  const int64_t half = dim / 2;
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble).device(t.device());
  const at::Tensor w =
      at::pow(10000.0, at::arange(half, f64).div(-static_cast<double>(half)));  // [half]
  const at::Tensor arg = t.to(at::kDouble).unsqueeze(1).mul(w.unsqueeze(0));    // [B, half]
  return at::cat({at::cos(arg), at::sin(arg)}, 1).to(dtype);                    // [B, dim]
}

at::Tensor VideoPatchEmbed(const OviTowerWeights& w, const OviConfig& c, const at::Tensor& latent) {
  const int64_t ch = latent.size(0), f = latent.size(1), h = latent.size(2), wd = latent.size(3);
  const int64_t pt = c.video_patch[0], ph = c.video_patch[1], pw = c.video_patch[2];
  Require(ch == c.video_in_dim,
          absl::StrCat("video_latent has ", ch, " channels, the model ", c.video_in_dim));
  Require(f % pt == 0 && h % ph == 0 && wd % pw == 0,
          absl::StrCat("video_latent [", ch, ", ", f, ", ", h, ", ", wd,
                       "] is not divisible by the patch size [", pt, ", ", ph, ", ", pw, "]"));
  const int64_t gf = f / pt, gh = h / ph, gw = wd / pw;
  const at::Tensor patches =
      latent.to(w.video_patch_w.scalar_type())
          .view({ch, gf, pt, gh, ph, gw, pw})                    // [C, F', pt, H', ph, W', pw]
          .permute({1, 3, 5, 0, 2, 4, 6})                        // [F', H', W', C, pt, ph, pw]
          .reshape({1, gf * gh * gw, ch * pt * ph * pw});        // [1, L, C*pt*ph*pw]
  return at::linear(patches, w.video_patch_w, w.video_patch_b);  // [1, L, D]
}

at::Tensor AudioPatchEmbed(const OviTowerWeights& w, const at::Tensor& latent) {
  const int64_t pad = w.audio_conv_w.size(2) / 2;
  Require(latent.size(1) == w.audio_conv_w.size(1),
          absl::StrCat("audio_latent has ", latent.size(1), " channels, the model ",
                       w.audio_conv_w.size(1)));
  const at::Tensor x = latent.to(w.audio_conv_w.scalar_type()).t().unsqueeze(0);  // [1, C, L]
  const at::Tensor h = at::silu(at::conv1d(x, w.audio_conv_w, w.audio_conv_b, 1, pad));  // [1,D,L]
  const at::Tensor g = at::silu(at::conv1d(h, w.audio_w1, {}, 1, pad))
                           .mul(at::conv1d(h, w.audio_w3, {}, 1, pad));       // [1, hidden, L]
  return at::conv1d(g, w.audio_w2, {}, 1, pad).transpose(1, 2).contiguous();  // [1, L, D]
}

at::Tensor VideoUnpatchify(const at::Tensor& u, const OviConfig& c, int64_t f, int64_t h,
                           int64_t w) {
  const int64_t pt = c.video_patch[0], ph = c.video_patch[1], pw = c.video_patch[2];
  const int64_t co = c.video_out_dim;
  return u
      .reshape({f, h, w, pt, ph, pw, co})      // [F', H', W', pt, ph, pw, C]
      .permute({6, 0, 3, 1, 4, 2, 5})          // [C, F', pt, H', ph, W', pw]
      .reshape({co, f * pt, h * ph, w * pw});  // [C, F, H, W]
}

at::Tensor TextEmbed(const OviTowerWeights& w, const at::Tensor& context, int64_t text_len,
                     at::ScalarType dtype) {
  const int64_t lt = context.size(0);
  Require(lt <= text_len, absl::StrCat("text context has ", lt, " rows, more than the model's ",
                                       "text_len ", text_len));
  Require(context.size(1) == w.text0.in_features(),
          absl::StrCat("text context has width ", context.size(1), ", the model ",
                       w.text0.in_features()));
  at::Tensor padded = at::zeros({1, text_len, context.size(1)},
                                context.options().dtype(dtype));  // [1, text_len, text_dim]
  padded.narrow(1, 0, lt).copy_(context.unsqueeze(0));
  const at::Tensor h = at::gelu(w.text0.forward(padded), "tanh");  // [1, text_len, D]
  return w.text2.forward(h);                                       // [1, text_len, D]
}

}  // namespace ovid::ovi
