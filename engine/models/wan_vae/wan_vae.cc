#include "engine/models/wan_vae/wan_vae.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/wan_vae/wan_vae_decoder.h"
#include "engine/models/wan_vae/wan_vae_encoder.h"
#include "engine/models/wan_vae/wan_vae_weights.h"
#include "engine/ops/torch_status.h"

namespace ovid::wan_vae {
namespace {

// The mean/std tables as [z, 1, 1, 1] fp32 on `device`; only z = 48 (Wan2.2) has them.
absl::StatusOr<std::pair<at::Tensor, at::Tensor>> LatentStats(const WanVaeWeights& w,
                                                             c10::Device device) {
  const std::span<const float> mean = WanVae22LatentMean(), std = WanVae22LatentStd();
  if (w.config.z_dim != static_cast<int64_t>(mean.size())) {
    return absl::FailedPreconditionError(absl::StrCat(
        w.path, ": z_dim ", w.config.z_dim, " has no latent mean/std table (Wan2.2 has ",
        mean.size(), "; a Wan2.1 VAE has 16 and is not Ovi's)"));
  }
  return ops::GuardTorch("building the latent mean/std", [&] {
    const int64_t z = w.config.z_dim;
    auto opts = at::TensorOptions().dtype(at::kFloat);
    // from_blob does not own the constant tables: clone before anything else touches them.
    at::Tensor m = at::from_blob(const_cast<float*>(mean.data()), {z, 1, 1, 1}, opts).clone();
    at::Tensor s = at::from_blob(const_cast<float*>(std.data()), {z, 1, 1, 1}, opts).clone();
    return std::pair(m.to(device), s.to(device));
  });
}

}  // namespace

WanVae::WanVae(std::unique_ptr<WanVaeWeights> w) : w_(std::move(w)) {}
WanVae::~WanVae() = default;

absl::StatusOr<std::unique_ptr<WanVae>> WanVae::Load(const std::string& path,
                                                     const WanVaeOptions& options) {
  WeightOptions wo;
  wo.device = options.device;
  wo.dtype = options.dtype;
  wo.round_through_bf16 = options.round_through_bf16;
  wo.load_encoder = options.load_encoder;
  OVID_ASSIGN_OR_RETURN(WanVaeWeights w, LoadWanVaeWeights(path, wo));
  // Decoding is useless without the statistics, so a file without a table fails at load.
  OVID_RETURN_IF_ERROR(LatentStats(w, c10::Device(c10::kCPU)).status());
  return std::unique_ptr<WanVae>(new WanVae(std::make_unique<WanVaeWeights>(std::move(w))));
}

const WanVaeConfig& WanVae::config() const { return w_->config; }
WanVaeLayout WanVae::layout() const { return w_->layout; }
int64_t WanVae::parameter_bytes() const { return w_->bytes; }
bool WanVae::has_encoder() const { return w_->enc.has_value(); }

c10::Device WanVae::device() const { return w_->device; }

absl::StatusOr<at::Tensor> WanVae::Decode(const at::Tensor& latents,
                                          const DecodeOptions& options) const {
  const WanVaeConfig& c = w_->config;
  if (!latents.defined() || latents.dim() != 4 || latents.size(0) != c.z_dim ||
      latents.size(1) < 1 || latents.size(2) < 1 || latents.size(3) < 1 ||
      !at::isFloatingType(latents.scalar_type())) {
    return absl::InvalidArgumentError(
        absl::StrCat("Wan VAE decode: latents must be float [", c.z_dim,
                     ", F, h, w] with F, h, w >= 1, got ",
                     latents.defined() ? c10::str(latents.sizes()) : "nothing"));
  }
  if (options.chunk_frames < 1 || options.stage_frames < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Wan VAE decode: chunk_frames must be >= 1 and stage_frames >= 0, got ",
                     options.chunk_frames, " and ", options.stage_frames));
  }
  const c10::Device out_device = options.output_device.value_or(c10::Device(c10::kCPU));
  OVID_ASSIGN_OR_RETURN(auto stats, LatentStats(*w_, w_->device));
  const int64_t frames = latents.size(1);
  const int64_t t_out = c.TemporalFactor() * (frames - 1) + 1;
  const int64_t h_out = latents.size(2) * c.SpatialFactor();
  const int64_t w_out = latents.size(3) * c.SpatialFactor();

  return ops::GuardTorch("Wan VAE decode", [&]() -> absl::StatusOr<at::Tensor> {
    // z / (1/std) + mean in fp32, in the original's order.
    const at::Tensor inv_std = stats.second.reciprocal();
    at::Tensor z = latents.to(w_->device, at::kFloat).div(inv_std).add(stats.first);
    const at::Tensor x = PointConv3d(z.unsqueeze(0).to(w_->dtype), w_->dec.post_quant);
    at::Tensor video = at::empty({3, t_out, h_out, w_out},
                                 at::TensorOptions().dtype(at::kFloat).device(out_device));
    DecoderStream stream(w_->dec, options.stage_frames);
    int64_t done = 0;
    for (int64_t f = 0; f < frames; f += options.chunk_frames) {
      const int64_t n = std::min(options.chunk_frames, frames - f);
      at::Tensor y = Unpatchify(stream.Forward(x.narrow(2, f, n)), c.patch);
      y = y.to(at::kFloat).clamp(-1.0, 1.0)[0];
      if (done + y.size(1) > t_out || y.size(2) != h_out || y.size(3) != w_out) {
        return absl::InternalError(absl::StrCat("Wan VAE decode: chunk at latent frame ", f,
                                                " gave ", c10::str(y.sizes()), " (expected ",
                                                t_out, " frames of ", h_out, "x", w_out, ")"));
      }
      video.narrow(1, done, y.size(1)).copy_(y);
      done += y.size(1);
      if (options.on_chunk) OVID_RETURN_IF_ERROR(options.on_chunk(f + n, frames));
    }
    if (done != t_out) {
      return absl::InternalError(
          absl::StrCat("Wan VAE decode produced ", done, " frames, expected ", t_out));
    }
    return video;
  });
}

absl::StatusOr<at::Tensor> WanVae::EncodeImage(const at::Tensor& image) const {
  if (!image.defined() || image.dim() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("Wan VAE encode: image must be [3, H, W], got ",
                     image.defined() ? c10::str(image.sizes()) : "nothing"));
  }
  return EncodeVideo(image.unsqueeze(1));
}

absl::StatusOr<at::Tensor> WanVae::EncodeVideo(const at::Tensor& video) const {
  if (!w_->enc) {
    return absl::FailedPreconditionError(
        absl::StrCat(w_->path, ": the Wan VAE encoder is not loaded (file without encoder "
                               "tensors, or load_encoder=false)"));
  }
  const WanVaeConfig& c = w_->config;
  const int64_t stride = c.SpatialFactor();
  const int64_t tf = c.TemporalFactor();
  if (!video.defined() || video.dim() != 4 || video.size(0) != 3 || video.size(1) < 1 ||
      (video.size(1) - 1) % tf != 0 || video.size(2) < stride || video.size(3) < stride ||
      video.size(2) % stride != 0 || video.size(3) % stride != 0 ||
      !at::isFloatingType(video.scalar_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Wan VAE encode: video must be float [3, 1+", tf, "k, H, W] with H and W positive "
        "multiples of ", stride, ", got ", video.defined() ? c10::str(video.sizes()) : "nothing"));
  }
  OVID_ASSIGN_OR_RETURN(auto stats, LatentStats(*w_, w_->device));
  return ops::GuardTorch("Wan VAE encode", [&] {
    const at::Tensor x = video.to(w_->device, w_->dtype).unsqueeze(0);
    const at::Tensor moments = EncodeFrames(*w_->enc, Patchify(x, c.patch));
    const at::Tensor mu = moments.narrow(1, 0, c.z_dim)[0].to(at::kFloat);
    // (mu - mean) * (1/std), the original's order.
    return mu.sub(stats.first).mul(stats.second.reciprocal()).contiguous();
  });
}

}  // namespace ovid::wan_vae
