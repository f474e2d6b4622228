#include "engine/models/wan_vae/wan_vae_config.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace ovid::wan_vae {
namespace {

// Spec encoders.md §3.3 (Wan2_2_VAE.__init__, also stable-diffusion.cpp get_latents_mean_std).
constexpr float kMean[48] = {
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174,  0.1838,  0.1557,  -0.1382, 0.0542,
    0.2813,  0.0891,  0.1570,  -0.0098, 0.0375,  -0.1825, -0.2246, -0.1207, -0.0698, 0.5109,
    0.2665,  -0.2108, -0.2158, 0.2502,  -0.2055, -0.0322, 0.1109,  0.1567,  -0.0729, 0.0899,
    -0.2799, -0.1230, -0.0313, -0.1649, 0.0117,  0.0723,  -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152,  0.1957,  0.1433,  -0.2944, 0.3573,  -0.0548, -0.1681, -0.0667};
constexpr float kStd[48] = {
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344,
    0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804,
    0.5833, 1.4146, 0.8986, 0.5659, 0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999,
    0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
    0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744};

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("invalid Wan VAE config: ", what));
}

}  // namespace

int64_t WanVaeConfig::TemporalFactor() const {
  int64_t f = 1;
  for (bool t : dec_temporal) f *= t ? 2 : 1;
  return f;
}

int64_t WanVaeConfig::SpatialFactor() const {
  return patch * (int64_t{1} << (dec_stage_dims.size() - 1));
}

absl::Status WanVaeConfig::Validate() const {
  if (z_dim <= 0 || patch <= 0 || num_res_blocks < 0 || dec_in_dim <= 0) {
    return Bad("z_dim, patch, dec_in_dim must be positive and num_res_blocks >= 0");
  }
  if (dec_stage_dims.empty() || dec_temporal.size() + 1 != dec_stage_dims.size()) {
    return Bad(absl::StrCat(dec_stage_dims.size(), " decoder stages need ",
                            dec_stage_dims.size() - 1, " temporal flags, got ",
                            dec_temporal.size()));
  }
  int64_t in = dec_in_dim;
  for (size_t s = 0; s < dec_stage_dims.size(); ++s) {
    const int64_t out = dec_stage_dims[s];
    if (out <= 0) return Bad(absl::StrCat("decoder stage ", s, " width ", out));
    if (s + 1 < dec_stage_dims.size()) {
      // DupUp3D repeats each input channel out*ft*4/in times: that must be a whole number.
      const int64_t factor = (dec_temporal[s] ? 2 : 1) * 4;
      if ((out * factor) % in != 0) {
        return Bad(absl::StrCat("decoder stage ", s, ": ", out, "*", factor,
                                " is not a multiple of its input width ", in));
      }
    }
    in = out;
  }
  if (!has_encoder) return absl::OkStatus();
  if (enc_in_dim <= 0 || enc_stage_dims.empty() ||
      enc_temporal.size() + 1 != enc_stage_dims.size()) {
    return Bad("encoder widths or temporal flags");
  }
  in = enc_in_dim;
  for (size_t s = 0; s + 1 < enc_stage_dims.size(); ++s) {
    const int64_t out = enc_stage_dims[s];
    const int64_t factor = (enc_temporal[s] ? 2 : 1) * 4;
    if (out <= 0 || (in * factor) % out != 0) {
      return Bad(absl::StrCat("encoder stage ", s, ": ", in, "*", factor,
                              " is not a multiple of its output width ", out));
    }
    in = out;
  }
  // The encoder must undo the decoder: the I2V first frame is encoded, and its latent must have
  // the size the decoder's factors give the video's (checked against the decoder's alone).
  const auto flags = [](auto begin, auto end) {
    std::string out;
    for (auto it = begin; it != end; ++it)
      absl::StrAppend(&out, out.empty() ? "" : ",", *it ? 1 : 0);
    return out;
  };
  if (enc_stage_dims.size() != dec_stage_dims.size() ||
      !std::equal(enc_temporal.rbegin(), enc_temporal.rend(), dec_temporal.begin())) {
    return Bad(absl::StrCat(
        "the encoder's ", enc_stage_dims.size(), " stages (temporal downsampling ",
        flags(enc_temporal.begin(), enc_temporal.end()), ") do not mirror the decoder's ",
        dec_stage_dims.size(), " (temporal upsampling ",
        flags(dec_temporal.begin(), dec_temporal.end()), ")"));
  }
  return absl::OkStatus();
}

WanVaeConfig WanVae22Config() { return WanVaeConfig{}; }

std::span<const float> WanVae22LatentMean() { return kMean; }
std::span<const float> WanVae22LatentStd() { return kStd; }

}  // namespace ovid::wan_vae
