#include "engine/models/ovi/ovi_model.h"

#include <ATen/ops/full.h>
#include <ATen/ops/silu.h>

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"

namespace ovid::ovi {
namespace {

// RoPE tables stay f32 even for bf16 activations: Ovi rotates in fp64 and rounds only the
// rotated q/k, so bf16 cos/sin would add an error the original does not have.
constexpr at::ScalarType kRopeDtype = at::kFloat;

absl::Status CheckRank(const at::Tensor& t, const char* name, int64_t rank, const char* layout) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat(name, " is missing"));
  if (t.dim() != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be ", layout, ", got ", t.dim(), " dims"));
  }
  if (!t.is_floating_point()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be a float tensor"));
  }
  for (int64_t i = 0; i < rank; ++i) {
    if (t.size(i) <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has an empty dimension ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OviModel>> OviModel::Load(const std::string& path,
                                                         OviModelOptions options) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(path));
  return FromFile(std::move(file), std::move(options));
}

absl::StatusOr<std::unique_ptr<OviModel>> OviModel::FromFile(std::unique_ptr<gguf::GgufFile> file,
                                                             OviModelOptions options) {
  // The tensor set is checked before a byte moves to the device.
  OVID_RETURN_IF_ERROR(ReadOviModelSpec(*file, options.fallback_variant).status());
  const at::ScalarType dtype = options.dtype.value_or(ComputeDtype(options.device));
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf) {
    return absl::InvalidArgumentError("Ovi activations must be f32, bf16 or f16");
  }
  if (!options.load.plain_dtype) options.load.plain_dtype = dtype;
  // f32 asked for on CUDA is a reference run: f32 GEMMs too, not the bf16 ones of the
  // production path (bench/original measured 6e-3 against the original's CUDA f32 without it).
  if (dtype == at::kFloat && options.device.is_cuda()) options.load.linear.exact_f32 = true;
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<WeightStore> store,
                        WeightStore::FromFile(std::move(file), options.device, options.load));
  return Build(std::move(store), dtype, options);
}

absl::StatusOr<std::unique_ptr<OviModel>> OviModel::Build(std::unique_ptr<WeightStore> store,
                                                          at::ScalarType dtype,
                                                          const OviModelOptions& options) {
  std::unique_ptr<OviModel> model(new OviModel());
  OVID_ASSIGN_OR_RETURN(model->spec_, ReadOviModelSpec(store->file(), options.fallback_variant));
  OVID_ASSIGN_OR_RETURN(model->weights_, BindOviWeights(*store, model->spec_));
  if (options.default_workspace) {
    OVID_ASSIGN_OR_RETURN(model->workspace_, store->NewWorkspace());
  }
  model->dtype_ = dtype;
  model->exec_ =
      BlockExec{model->spec_.config.num_heads, options.attention, options.fused_elementwise};
  model->store_ = std::move(store);
  return model;
}

absl::StatusOr<OviContextCache> OviModel::PrepareContext(const at::Tensor& video_context,
                                                         const at::Tensor& audio_context) const {
  OVID_RETURN_IF_ERROR(CheckRank(video_context, "video_context", 2, "[Lt, text_dim]"));
  OVID_RETURN_IF_ERROR(CheckRank(audio_context, "audio_context", 2, "[Lt, text_dim]"));
  ScopedWorkspace bind(DequantWorkspace::Current() ? DequantWorkspace::Current()
                                                   : workspace_.get());
  return ops::GuardTorch("Ovi PrepareContext", [&] {
    OviContextCache cache;
    const at::Tensor ctx_v = TextEmbed(weights_.video, video_context.to(device()), spec_.text_len,
                                       dtype_);  // [1, text_len, D]
    const at::Tensor ctx_a = TextEmbed(weights_.audio, audio_context.to(device()), spec_.text_len,
                                       dtype_);  // [1, text_len, D]
    for (const OviBlockWeights& b : weights_.video.blocks) {
      cache.video.push_back(PrepareTextKv(b.cross_attn, ctx_v, exec_));
    }
    for (const OviBlockWeights& b : weights_.audio.blocks) {
      cache.audio.push_back(PrepareTextKv(b.cross_attn, ctx_a, exec_));
    }
    return cache;
  });
}

std::pair<at::Tensor, at::Tensor> OviModel::TimeEmbedding(const OviTowerWeights& w,
                                                          const at::Tensor& t) const {
  const int64_t d = spec_.config.dim;
  const at::Tensor sin_t = SinusoidalEmbedding(t, spec_.config.freq_dim, dtype_);  // [B, freq]
  const at::Tensor e = w.time2.forward(at::silu(w.time0.forward(sin_t)));          // [B, D]
  const at::Tensor e0 = w.time_proj.forward(at::silu(e)).view({t.size(0), 6, d});  // [B, 6, D]
  return {e, e0};
}

absl::StatusOr<OviForwardOutputs> OviModel::Forward(const OviForwardInputs& inputs,
                                                    const OviContextCache& context,
                                                    const OviForwardOptions& options) const {
  OVID_RETURN_IF_ERROR(CheckRank(inputs.video_latent, "video_latent", 4, "[C, F, H, W]"));
  OVID_RETURN_IF_ERROR(CheckRank(inputs.audio_latent, "audio_latent", 2, "[L, C]"));
  if (!std::isfinite(inputs.timestep)) {
    return absl::InvalidArgumentError("timestep must be finite");
  }
  const size_t layers = static_cast<size_t>(spec_.config.num_layers);
  if (context.video.size() != layers || context.audio.size() != layers) {
    return absl::InvalidArgumentError(
        "the context cache was not prepared by this model (PrepareContext)");
  }
  ScopedWorkspace bind(DequantWorkspace::Current() ? DequantWorkspace::Current()
                                                   : workspace_.get());
  return ops::GuardTorch("Ovi forward", [&] { return ForwardImpl(inputs, context, options); });
}

OviForwardOutputs OviModel::ForwardImpl(const OviForwardInputs& inputs,
                                        const OviContextCache& context,
                                        const OviForwardOptions& options) const {
  const OviConfig& c = spec_.config;
  const at::Tensor video_latent = inputs.video_latent.to(device(), dtype_);  // [C, F, H, W]
  const at::Tensor audio_latent = inputs.audio_latent.to(device(), dtype_);  // [L, C]
  const int64_t gf = video_latent.size(1) / c.video_patch[0];
  const int64_t gh = video_latent.size(2) / c.video_patch[1];
  const int64_t gw = video_latent.size(3) / c.video_patch[2];
  const int64_t la = audio_latent.size(0);

  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble).device(device());
  const at::Tensor t = at::full({1}, inputs.timestep, f64);  // [B]
  auto [ev, e0v] = TimeEmbedding(weights_.video, t);         // [B, D], [B, 6, D]
  auto [ea, e0a] = TimeEmbedding(weights_.audio, t);         // [B, D], [B, 6, D]
  at::Tensor ev_clean, e0v_clean;
  const int64_t clean_tokens = options.first_frame_clean ? gh * gw : 0;
  if (options.first_frame_clean) {
    std::tie(ev_clean, e0v_clean) = TimeEmbedding(weights_.video, at::full({1}, 0.0, f64));
  }

  TowerStream video{VideoPatchEmbed(weights_.video, c, video_latent),  // [B, Lv, D]
                    Modulation{e0v, e0v_clean, clean_tokens},
                    rope_.Video(gf, gh, gw, c.head_dim, kRopeDtype, device())};
  TowerStream audio{AudioPatchEmbed(weights_.audio, audio_latent),  // [B, La, D]
                    Modulation{e0a, {}, 0},
                    rope_.Audio(la, c.head_dim, spec_.audio_rope_scale, kRopeDtype, device())};

  for (int i = 0; i < c.num_layers; ++i) {
    if (options.slg_layer > 0 && i == options.slg_layer) continue;
    FusedBlock(weights_.audio.blocks[i], weights_.video.blocks[i], context.audio[i],
               context.video[i], exec_, &audio, &video);
  }

  // Head: head.modulation + e (not e0), rows 0 shift, 1 scale.
  const Modulation hv =
      Modulation{ev.unsqueeze(1), ev_clean.defined() ? ev_clean.unsqueeze(1) : at::Tensor(),
                 clean_tokens}
          .Plus(weights_.video.head_modulation);  // [B, 2, D]
  const Modulation ha = Modulation{ea.unsqueeze(1), {}, 0}.Plus(weights_.audio.head_modulation);
  const at::Tensor uv = weights_.video.head.forward(
      hv.NormAffine(video.x, 0, 1, exec_.fused));  // [B, Lv, C*pt*ph*pw]
  const at::Tensor ua =
      weights_.audio.head.forward(ha.NormAffine(audio.x, 0, 1, exec_.fused));  // [B, La, C_a]
  return {VideoUnpatchify(uv[0], c, gf, gh, gw),                               // [C, F, H, W]
          ua[0]};                                                              // [La, C_a]
}

}  // namespace ovid::ovi
