#include "engine/models/wan_vae/wan_vae_layers.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/conv3d.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/silu.h>

namespace ovid::wan_vae {

at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& gamma) {
  // F.normalize divides by the norm clamped at 1e-12. In bf16 the sum of squares over up to
  // 1024 channels would lose too much, so it is taken in fp32 (as diffusers does).
  const at::Tensor xf = x.scalar_type() == at::kFloat ? x : x.to(at::kFloat);
  const at::Tensor norm = at::linalg_vector_norm(xf, 2, at::IntArrayRef{1}, true).clamp_min(1e-12);
  at::Tensor y = xf.div(norm);
  if (x.scalar_type() != at::kFloat) y = y.to(x.scalar_type());
  return y.mul(gamma);
}

at::Tensor PointConv3d(const at::Tensor& x, const ConvW& c) { return at::conv3d(x, c.w, c.b); }

CausalConv3d::CausalConv3d(const ConvW& w) : w_(&w), context_(w.w.size(2) - 1) {}

at::Tensor CausalConv3d::Forward(const at::Tensor& x) {
  const int64_t ph = (w_->w.size(3) - 1) / 2;
  const int64_t pw = (w_->w.size(4) - 1) / 2;
  // On CUDA the spatial padding goes through the conv itself (cuDNN pads for free), which saves
  // the F.pad copy the original makes. The CPU's conv3d with padding takes a path that measured
  // up to 20x slower on small inputs, so there the padding stays explicit, as in the original.
  const bool fuse_pad = x.is_cuda() || (ph == 0 && pw == 0);
  const std::vector<int64_t> conv_pad = {0, fuse_pad ? ph : 0, fuse_pad ? pw : 0};
  auto conv = [&](const at::Tensor& in) {
    const at::Tensor padded = fuse_pad ? in : at::constant_pad_nd(in, {pw, pw, ph, ph, 0, 0});
    return at::conv3d(padded, w_->w, w_->b, {1, 1, 1}, conv_pad);
  };
  if (context_ == 0) return conv(x);
  // The stream so far ends in cache_; before the first chunk it is the causal zero padding.
  const at::Tensor in = cache_.defined() ? at::cat({cache_, x}, 2)
                                         : at::constant_pad_nd(x, {0, 0, 0, 0, context_, 0});
  at::Tensor y = conv(in);
  cache_ = in.narrow(2, in.size(2) - context_, context_).clone();
  return y;
}

ResBlock::ResBlock(const ResW& w) : w_(&w), conv1_(w.conv1), conv2_(w.conv2) {}

at::Tensor ResBlock::Forward(const at::Tensor& x) {
  const at::Tensor h = w_->shortcut.defined() ? PointConv3d(x, w_->shortcut) : x;
  at::Tensor y = conv1_.Forward(at::silu(RmsNorm(x, w_->norm1)));
  y = conv2_.Forward(at::silu(RmsNorm(y, w_->norm2)));
  return y.add(h);
}

at::Tensor AttentionBlock(const at::Tensor& x, const AttnW& w) {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3), wd = x.size(4);
  const at::Tensor frames = x.permute({0, 2, 1, 3, 4}).reshape({b * t, c, h, wd});
  at::Tensor qkv = at::conv2d(RmsNorm(frames, w.norm), w.qkv.w, w.qkv.b);
  // [BT, 3C, HW] -> [BT, 1, HW, 3C]; q|k|v are consecutive channel thirds (one head).
  qkv = qkv.reshape({b * t, 1, 3 * c, h * wd}).permute({0, 1, 3, 2}).contiguous();
  const std::vector<at::Tensor> parts = qkv.chunk(3, -1);
  at::Tensor o = at::scaled_dot_product_attention(parts[0], parts[1], parts[2]);
  o = o.squeeze(1).permute({0, 2, 1}).reshape({b * t, c, h, wd});
  o = at::conv2d(o, w.proj.w, w.proj.b);
  return o.view({b, t, c, h, wd}).permute({0, 2, 1, 3, 4}).add(x);
}

at::Tensor PerFrameConv2d(const at::Tensor& x, const ConvW& c, int64_t pad, int64_t stride) {
  const int64_t b = x.size(0), ch = x.size(1), t = x.size(2);
  const at::Tensor frames = x.permute({0, 2, 1, 3, 4}).reshape({b * t, ch, x.size(3), x.size(4)});
  const at::Tensor y = at::conv2d(frames, c.w, c.b, stride, pad);
  return y.view({b, t, y.size(1), y.size(2), y.size(3)}).permute({0, 2, 1, 3, 4});
}

}  // namespace ovid::wan_vae
