#include "engine/models/bigvgan/bigvgan.h"

#include <ATen/ops/conv1d.h>
#include <ATen/ops/conv_transpose1d.h>
#include <ATen/ops/pad.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/tanh.h>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/bigvgan/bigvgan_weights.h"
#include "engine/ops/torch_status.h"

namespace ovid::bigvgan {
namespace {

at::Tensor Conv(const at::Tensor& x, const ConvW& c) {
  if (c.transposed) return at::conv_transpose1d(x, c.w, c.b, c.stride, c.padding);
  return at::conv1d(x, c.w, c.b, c.stride, c.padding, c.dilation);
}

// SnakeBeta with log-scale parameters (already exponentiated at load):
// x + 1/(exp(beta) + 1e-9) * sin(exp(alpha) * x)^2, in f32.
at::Tensor Snake(const at::Tensor& x, const ActW& a) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor s = at::sin(xf.mul(a.a));
  return xf.add(a.inv_b.mul(s.mul(s)));
}

// Activation1d: x2 upsample, Snake, x2 downsample, with the same low-pass filter of `taps` taps
// (even). UpSample1d pads taps/2 - 1 replicated frames each side, zero-stuffs via a stride-2
// transposed conv (times 2, the zero-stuffing's gain) and crops the filter's transient, so T
// frames become 2T; DownSample1d pads (taps/2 - 1, taps/2) replicated and filters with stride 2.
at::Tensor Activation(const at::Tensor& x, const ActW& a) {
  const int64_t c = x.size(1), taps = a.up.size(2), pad = taps / 2 - 1;
  const int64_t crop_left = 2 * pad + (taps - 2) / 2, crop_right = 2 * pad + (taps - 1) / 2;
  at::Tensor y = at::pad(x, {pad, pad}, "replicate");
  y = at::conv_transpose1d(y, a.up, {}, 2, 0, 0, c).mul(2);
  y = y.narrow(2, crop_left, y.size(2) - crop_left - crop_right);
  y = Snake(y, a).to(x.scalar_type());
  y = at::pad(y, {taps / 2 - 1, taps / 2}, "replicate");
  return at::conv1d(y, a.down, {}, at::IntArrayRef{2}, at::IntArrayRef{0}, at::IntArrayRef{1}, c);
}

// AMPBlock1: for each dilation m, x += convs2[m](A(convs1[m](A(x)))).
at::Tensor ResBlock(at::Tensor x, const ResBlockW& rb) {
  for (size_t m = 0; m < rb.convs1.size(); ++m) {
    at::Tensor h = Conv(Activation(x, rb.acts[2 * m]), rb.convs1[m]);
    h = Conv(Activation(h, rb.acts[2 * m + 1]), rb.convs2[m]);
    x = h.add(x);
  }
  return x;
}

at::Tensor Forward(const BigVganWeights& w, const at::Tensor& mel) {
  at::Tensor x = Conv(mel, w.conv_pre);
  const size_t k = w.config.rb_kernels.size();
  for (size_t i = 0; i < w.ups.size(); ++i) {
    x = Conv(x, w.ups[i]);  // v1 has no leaky ReLU before the upsampling conv
    at::Tensor sum = ResBlock(x, w.blocks[i * k]);
    for (size_t j = 1; j < k; ++j) sum = sum.add(ResBlock(x, w.blocks[i * k + j]));
    x = sum.div(static_cast<double>(k));
  }
  x = Conv(Activation(x, w.act_post), w.conv_post);
  return at::tanh(x).to(at::kFloat);
}

}  // namespace

BigVgan::BigVgan(std::unique_ptr<BigVganWeights> w) : w_(std::move(w)) {}
BigVgan::~BigVgan() = default;

absl::StatusOr<std::unique_ptr<BigVgan>> BigVgan::Load(const std::string& path,
                                                       const audio::AudioModelOptions& options) {
  OVID_ASSIGN_OR_RETURN(BigVganWeights w, LoadBigVganWeights(path, options));
  return std::unique_ptr<BigVgan>(new BigVgan(std::make_unique<BigVganWeights>(std::move(w))));
}

const BigVganConfig& BigVgan::config() const { return w_->config; }
int64_t BigVgan::parameter_bytes() const { return w_->bytes; }

absl::StatusOr<at::Tensor> BigVgan::Vocode(const at::Tensor& mel) const {
  const BigVganConfig& c = w_->config;
  if (!mel.defined() || mel.dim() != 2 || mel.size(0) != c.num_mels || mel.size(1) < 1 ||
      !c10::isFloatingType(mel.scalar_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BigVGAN: mel must be float [", c.num_mels, ", T] with T >= 1, got ",
        mel.defined() ? absl::StrCat(c10::toString(mel.scalar_type()), " ", c10::str(mel.sizes()))
                      : std::string("an undefined tensor")));
  }
  return ops::GuardTorch("BigVGAN vocode", [&] {
    const at::Tensor x = mel.to(w_->device, w_->dtype).unsqueeze(0).contiguous();
    return Forward(*w_, x).reshape({-1});
  });
}

}  // namespace ovid::bigvgan
