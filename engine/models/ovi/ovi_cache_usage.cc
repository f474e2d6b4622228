// File: engine/models/ovi/ovi_cache_usage.cc
#include "engine/models/ovi/ovi_cache_usage.h"

#include "engine/models/ovi/ovi_layout.h"

namespace ovid::ovi {
namespace {

constexpr double kPassesPerStep = 2;  // the conditional and the unconditional pass
constexpr double kDefaultSteps = 50;  // Ovi's inference_fusion.yaml
// Text inputs per request: the prompt and one negative (their k/v serve every step).
constexpr double kTextInputsPerRequest = 2;

bool Has(std::string_view name, std::string_view part) {
  return name.find(part) != std::string_view::npos;
}

}  // namespace

LayerUsage OviLayerUsage(const OviModelSpec& spec, std::string_view name, bool guidance_batched) {
  const OviVariant* variant = FindOviVariant(spec.variant);
  // Unknown variant (not one the checkpoint was made for): the 5 s, 720x720 one's sizes.
  const int64_t frames = variant ? variant->video_latent_frames : 31;
  const int64_t area = variant ? variant->area : 720 * 720;
  const int64_t audio_tokens = variant ? variant->audio_latents : 157;
  // Latent frames x (H/16/2) x (W/16/2): one token per 32x32 pixels of each latent frame.
  const int64_t video_tokens = frames * (area / (32 * 32));

  const bool video = name.starts_with("video_model.");
  const bool audio = name.starts_with("audio_model.");
  if (!video && !audio) return LayerUsage{};  // not the denoiser's: the planner's default
  const int64_t own = video ? video_tokens : audio_tokens;
  const int64_t other = video ? audio_tokens : video_tokens;
  const LayerUsage per_request{spec.text_len,
                               kTextInputsPerRequest / kDefaultSteps};  // per step, amortised
  if (Has(name, ".text_embedding.")) return per_request;
  if (Has(name, ".cross_attn.k.") || Has(name, ".cross_attn.v.")) {
    return per_request;
  }
  // Every other layer runs once per guidance pass: as one batch-2 forward when they are batched.
  LayerUsage per_pass{own, kPassesPerStep};
  per_pass.passes_in_one_call = guidance_batched;
  if (Has(name, ".time_embedding.") || Has(name, ".time_projection.")) {
    per_pass.tokens = 1;
  } else if (Has(name, ".cross_attn.k_fusion.") || Has(name, ".cross_attn.v_fusion.")) {
    per_pass.tokens = other;
  } else {
    // Self-attention, cross_attn.q/o, ffn, head; ffn.0 feeds the tanh-GELU (OviBlock).
    per_pass.gelu = Has(name, ".ffn.0.");
  }
  return per_pass;
}

}  // namespace ovid::ovi
