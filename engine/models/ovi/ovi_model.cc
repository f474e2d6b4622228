#include "engine/models/ovi/ovi_model.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/silu.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/ovi/ovi_cache_usage.h"
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
  OVID_ASSIGN_OR_RETURN(OviModelSpec spec, ReadOviModelSpec(*file, options.fallback_variant));
  const at::ScalarType dtype = options.dtype.value_or(ComputeDtype(options.device));
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf) {
    return absl::InvalidArgumentError("Ovi activations must be f32, bf16 or f16");
  }
  if (!options.load.plain_dtype) options.load.plain_dtype = dtype;
  // f32 asked for on CUDA is a reference run: f32 GEMMs too, not the bf16 ones of the
  // production path (bench/original measured 6e-3 against the original's CUDA f32 without it).
  if (dtype == at::kFloat && options.device.is_cuda()) options.load.linear.exact_f32 = true;
  if (!options.load.layer_usage) {
    options.load.layer_usage = [spec, batched = options.guidance_batched](std::string_view name) {
      return OviLayerUsage(spec, name, batched);
    };
  }
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
  OwnOrBoundWorkspace bind(workspace_.get(), workspace_mu_);
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

absl::Status OviModel::CheckForward(const OviForwardInputs& inputs,
                                    std::initializer_list<const OviContextCache*> contexts) const {
  OVID_RETURN_IF_ERROR(CheckRank(inputs.video_latent, "video_latent", 4, "[C, F, H, W]"));
  OVID_RETURN_IF_ERROR(CheckRank(inputs.audio_latent, "audio_latent", 2, "[L, C]"));
  if (!std::isfinite(inputs.timestep)) {
    return absl::InvalidArgumentError("timestep must be finite");
  }
  const size_t layers = static_cast<size_t>(spec_.config.num_layers);
  for (const OviContextCache* context : contexts) {
    if (context->video.size() != layers || context->audio.size() != layers) {
      return absl::InvalidArgumentError(
          "the context cache was not prepared by this model (PrepareContext)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OviForwardOutputs> OviModel::Forward(const OviForwardInputs& inputs,
                                                    const OviContextCache& context,
                                                    const OviForwardOptions& options) const {
  OVID_RETURN_IF_ERROR(CheckForward(inputs, {&context}));
  OwnOrBoundWorkspace bind(workspace_.get(), workspace_mu_);
  return ops::GuardTorch("Ovi forward", [&] {
    return ForwardImpl(inputs, {{&context, options.slg_layer}}, options.first_frame_clean)[0];
  });
}

absl::StatusOr<OviGuidedOutputs> OviModel::ForwardGuided(const OviForwardInputs& inputs,
                                                         const OviContextCache& positive,
                                                         const OviContextCache& negative,
                                                         const OviForwardOptions& options) const {
  OVID_RETURN_IF_ERROR(CheckForward(inputs, {&positive, &negative}));
  OwnOrBoundWorkspace bind(workspace_.get(), workspace_mu_);
  return ops::GuardTorch("Ovi guided forward", [&] {
    std::vector<OviForwardOutputs> out = ForwardImpl(
        inputs, {{&positive, -1}, {&negative, options.slg_layer}}, options.first_frame_clean);
    return OviGuidedOutputs{std::move(out[0]), std::move(out[1])};
  });
}

namespace {

// Samples [lo, lo + n) of a tower's state (views: dim 0 of contiguous tensors).
TowerStream Samples(const TowerStream& s, int64_t lo, int64_t n) {
  return {s.x.narrow(0, lo, n),
          Modulation{s.e0.rows.narrow(0, lo, n),
                     s.e0.clean.defined() ? s.e0.clean.narrow(0, lo, n) : at::Tensor(),
                     s.e0.clean_tokens},
          s.rope};
}

// Block i's text keys/values of samples [lo, lo + n) of the batch, stacked along dim 0.
TextKv StackTextKv(const std::vector<const std::vector<TextKv>*>& tower, size_t i, size_t lo,
                   size_t n) {
  if (n == 1) return (*tower[lo])[i];
  std::vector<at::Tensor> k, v;
  for (size_t b = lo; b < lo + n; ++b) {
    k.push_back((*tower[b])[i].k);
    v.push_back((*tower[b])[i].v);
  }
  return {at::cat(k, 0), at::cat(v, 0)};  // [n, heads, text_len, hd]
}

}  // namespace

std::vector<OviForwardOutputs> OviModel::ForwardImpl(const OviForwardInputs& inputs,
                                                     const std::vector<BatchSample>& samples,
                                                     bool first_frame_clean) const {
  const OviConfig& c = spec_.config;
  const int64_t batch = static_cast<int64_t>(samples.size());
  // Two samples at most, so the ones that run a block are always one contiguous range.
  TORCH_CHECK(batch == 1 || batch == 2, "Ovi forward batches 1 or 2 samples, got ", batch);
  const at::Tensor video_latent = inputs.video_latent.to(device(), dtype_);  // [C, F, H, W]
  const at::Tensor audio_latent = inputs.audio_latent.to(device(), dtype_);  // [L, C]
  const int64_t gf = video_latent.size(1) / c.video_patch[0];
  const int64_t gh = video_latent.size(2) / c.video_patch[1];
  const int64_t gw = video_latent.size(3) / c.video_patch[2];
  const int64_t la = audio_latent.size(0);

  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble).device(device());
  const at::Tensor t = at::full({batch}, inputs.timestep, f64);  // [B]
  auto [ev, e0v] = TimeEmbedding(weights_.video, t);             // [B, D], [B, 6, D]
  auto [ea, e0a] = TimeEmbedding(weights_.audio, t);             // [B, D], [B, 6, D]
  at::Tensor ev_clean, e0v_clean;
  const int64_t clean_tokens = first_frame_clean ? gh * gw : 0;
  if (first_frame_clean) {
    std::tie(ev_clean, e0v_clean) = TimeEmbedding(weights_.video, at::full({batch}, 0.0, f64));
  }

  // Every sample starts from the same latents: one patch embedding, repeated.
  auto repeat = [batch](const at::Tensor& x) {  // [1, L, D] -> [B, L, D]
    return batch == 1 ? x : x.expand({batch, x.size(1), x.size(2)}).contiguous();
  };
  TowerStream video{repeat(VideoPatchEmbed(weights_.video, c, video_latent)),  // [B, Lv, D]
                    Modulation{e0v, e0v_clean, clean_tokens},
                    rope_.Video(gf, gh, gw, c.head_dim, kRopeDtype, device())};
  TowerStream audio{repeat(AudioPatchEmbed(weights_.audio, audio_latent)),  // [B, La, D]
                    Modulation{e0a, {}, 0},
                    rope_.Audio(la, c.head_dim, spec_.audio_rope_scale, kRopeDtype, device())};

  std::vector<const std::vector<TextKv>*> video_text, audio_text;
  for (const BatchSample& s : samples) {
    video_text.push_back(&s.context->video);
    audio_text.push_back(&s.context->audio);
  }
  for (int i = 0; i < c.num_layers; ++i) {
    // Skip-layer guidance: the samples that skip block i keep their state.
    size_t lo = samples.size(), hi = 0;
    for (size_t b = 0; b < samples.size(); ++b) {
      if (samples[b].slg_layer > 0 && samples[b].slg_layer == i) continue;
      lo = std::min(lo, b);
      hi = b + 1;
    }
    if (lo >= hi) continue;
    const size_t n = hi - lo;
    const TextKv a_text = StackTextKv(audio_text, static_cast<size_t>(i), lo, n);
    const TextKv v_text = StackTextKv(video_text, static_cast<size_t>(i), lo, n);
    if (n == samples.size()) {
      FusedBlock(weights_.audio.blocks[i], weights_.video.blocks[i], a_text, v_text, exec_, &audio,
                 &video);
      continue;
    }
    TowerStream a = Samples(audio, static_cast<int64_t>(lo), static_cast<int64_t>(n));
    TowerStream v = Samples(video, static_cast<int64_t>(lo), static_cast<int64_t>(n));
    FusedBlock(weights_.audio.blocks[i], weights_.video.blocks[i], a_text, v_text, exec_, &a, &v);
    // Put the block's output back in place of its samples ([B, L, D], sample order kept).
    auto merge = [lo, n](const at::Tensor& all, const at::Tensor& part) {
      std::vector<at::Tensor> pieces;
      if (lo > 0) pieces.push_back(all.narrow(0, 0, static_cast<int64_t>(lo)));
      pieces.push_back(part);
      const int64_t rest = all.size(0) - static_cast<int64_t>(lo + n);
      if (rest > 0) pieces.push_back(all.narrow(0, static_cast<int64_t>(lo + n), rest));
      return at::cat(pieces, 0);
    };
    audio.x = merge(audio.x, a.x);
    video.x = merge(video.x, v.x);
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
  std::vector<OviForwardOutputs> out;
  for (int64_t b = 0; b < batch; ++b) {
    out.push_back({VideoUnpatchify(uv[b], c, gf, gh, gw),  // [C, F, H, W]
                   ua[b]});                                // [La, C_a]
  }
  return out;
}

}  // namespace ovid::ovi
