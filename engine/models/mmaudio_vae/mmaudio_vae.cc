#include "engine/models/mmaudio_vae/mmaudio_vae.h"

#include <ATen/ops/conv1d.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/silu.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_weights.h"
#include "engine/ops/torch_status.h"

namespace ovid::mmaudio_vae {
namespace {

// VAE_16k's clip_act: activations are clamped to +-256 after the middle and every decoder block.
constexpr double kClip = 256.0;

// MPConv1D after remove_weight_norm: a bias-free conv with zero padding k/2.
at::Tensor Conv(const at::Tensor& x, const at::Tensor& w) {
  return at::conv1d(x, w, {}, 1, w.size(2) / 2);
}

// edm2's pixel norm over `dim`: x / (1e-4 + ||x|| * sqrt(1/C)), the norm taken in f32 and cast
// back, so bf16 keeps the same denominator as f32.
at::Tensor Normalize(const at::Tensor& x, int64_t dim) {
  const at::Tensor norm = at::linalg_vector_norm(x, 2, at::IntArrayRef{dim}, true, at::kFloat);
  const double alpha = std::sqrt(1.0 / static_cast<double>(x.size(dim)));
  return x.div(norm.mul(alpha).add(1e-4).to(x.scalar_type()));
}

// Magnitude-preserving SiLU and sum (edm2): unit-variance in, unit-variance out.
at::Tensor MpSilu(const at::Tensor& x) { return at::silu(x).div(0.596); }
at::Tensor MpSum(const at::Tensor& a, const at::Tensor& b, double t = 0.3) {
  return a.lerp(b, t).div(std::sqrt((1 - t) * (1 - t) + t * t));
}

at::Tensor Res(at::Tensor x, const ResW& r) {
  x = Normalize(x, 1);  // the shortcut takes the normalised input too
  const at::Tensor h = Conv(MpSilu(Conv(MpSilu(x), r.conv1)), r.conv2);
  if (r.shortcut.defined()) x = Conv(x, r.shortcut);
  return MpSum(x, h);
}

// One head over all C channels; the qkv conv's output channel 3c+s is channel c of q (s=0),
// k (1) or v (2), so [B, 3C, L] is viewed as [B, 1, C, 3, L]. q, k and v are pixel-normed over C
// (no pre-norm of the input); SDPA's default scale is 1/sqrt(C).
at::Tensor Attn(const at::Tensor& x, const at::Tensor& qkv_w, const at::Tensor& proj_w) {
  const int64_t b = x.size(0), c = x.size(1), l = x.size(2);
  const at::Tensor y = Normalize(Conv(x, qkv_w).reshape({b, 1, c, 3, l}), 2);
  auto part = [&](int64_t s) { return y.select(3, s).transpose(2, 3); };  // [B, 1, L, C]
  const at::Tensor h = at::scaled_dot_product_attention(part(0), part(1), part(2));
  return MpSum(x, Conv(h.transpose(2, 3).reshape({b, c, l}), proj_w));
}

at::Tensor Forward(const MmAudioVaeWeights& w, const at::Tensor& z) {
  at::Tensor h = Conv(z, w.conv_in);
  h = Res(h, w.mid1);
  h = Attn(h, w.qkv, w.proj_out);
  h = Res(h, w.mid2).clamp(-kClip, kClip);
  for (int64_t l = static_cast<int64_t>(w.levels.size()) - 1; l >= 0; --l) {
    const LevelW& level = w.levels[l];
    for (const ResW& r : level.blocks) h = Res(h, r).clamp(-kClip, kClip);
    if (level.upsample.defined()) {
      // Nearest x2 along time: every frame twice.
      const std::vector<int64_t> s = h.sizes().vec();
      h = Conv(h.unsqueeze(-1).expand({s[0], s[1], s[2], 2}).reshape({s[0], s[1], 2 * s[2]}),
               level.upsample);
    }
  }
  h = Conv(MpSilu(h), w.conv_out).to(at::kFloat);
  return h.mul(w.data_std).add(w.data_mean);
}

}  // namespace

MmAudioVae::MmAudioVae(std::unique_ptr<MmAudioVaeWeights> w) : w_(std::move(w)) {}
MmAudioVae::~MmAudioVae() = default;

absl::StatusOr<std::unique_ptr<MmAudioVae>> MmAudioVae::Load(
    const std::string& path, const audio::AudioModelOptions& options) {
  OVID_ASSIGN_OR_RETURN(MmAudioVaeWeights w, LoadMmAudioVaeWeights(path, options));
  return std::unique_ptr<MmAudioVae>(
      new MmAudioVae(std::make_unique<MmAudioVaeWeights>(std::move(w))));
}

const MmAudioVaeConfig& MmAudioVae::config() const { return w_->config; }
int64_t MmAudioVae::parameter_bytes() const { return w_->bytes; }
const std::vector<std::string>& MmAudioVae::ignored() const { return w_->ignored; }

absl::StatusOr<at::Tensor> MmAudioVae::Decode(const at::Tensor& latents) const {
  const MmAudioVaeConfig& c = w_->config;
  if (!latents.defined() || latents.dim() != 2 || latents.size(1) != c.embed_dim ||
      latents.size(0) < 1 || !c10::isFloatingType(latents.scalar_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MMAudio VAE: latents must be float [L, ", c.embed_dim, "] with L >= 1, got ",
        latents.defined() ? absl::StrCat(c10::toString(latents.scalar_type()), " ",
                                         c10::str(latents.sizes()))
                          : std::string("an undefined tensor")));
  }
  return ops::GuardTorch("MMAudio VAE decode", [&] {
    // [L, embed] -> [1, embed, L], as Ovi transposes the denoiser's audio latent.
    const at::Tensor z = latents.to(w_->device, w_->dtype).t().unsqueeze(0).contiguous();
    return Forward(*w_, z).squeeze(0);
  });
}

}  // namespace ovid::mmaudio_vae
