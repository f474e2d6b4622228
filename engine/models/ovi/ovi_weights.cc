#include "engine/models/ovi/ovi_weights.h"

#include <cmath>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"

namespace ovid::ovi {
namespace {

using Shape = std::vector<int64_t>;

constexpr char kVideoPatch[] = "video_model.patch_embedding.weight";

// The torch shape of every tensor with the known layout variants folded back to the release
// layout, so InferOviConfig and CheckOviTensors see one form.
std::map<std::string, Shape> CanonicalShapes(const gguf::GgufFile& file) {
  std::map<std::string, Shape> shapes;
  for (const gguf::TensorInfo& t : file.tensors()) shapes[t.name] = t.TorchShape();
  for (auto& [name, shape] : shapes) {
    const bool modulation =
        absl::EndsWith(name, ".modulation.modulation") || absl::EndsWith(name, ".head.modulation");
    if (modulation && shape.size() == 2) shape.insert(shape.begin(), 1);
  }
  auto it = shapes.find(kVideoPatch);
  auto bias = shapes.find("video_model.patch_embedding.bias");
  if (it != shapes.end() && it->second.size() == 4 && bias != shapes.end() &&
      bias->second.size() == 1 && bias->second[0] > 0 && it->second[0] % bias->second[0] == 0) {
    // Folded [in*D, kt, kh, kw]: ggml ne[3] = in + ne3 * out, i.e. out-major like torch.
    const Shape& s = it->second;
    it->second = {bias->second[0], s[0] / bias->second[0], s[1], s[2], s[3]};
  }
  return shapes;
}

template <typename T>
absl::StatusOr<std::optional<T>> OptionalMeta(
    const gguf::GgufFile& file, const char* key,
    absl::StatusOr<T> (gguf::GgufFile::*get)(std::string_view) const) {
  if (file.FindMetadata(key) == nullptr) return std::optional<T>();
  OVID_ASSIGN_OR_RETURN(T value, (file.*get)(key));
  return std::optional<T>(value);
}

// Binds the tensors of one tower; `p` is the tower prefix ("video_model.").
class Binder {
 public:
  Binder(const WeightStore& store, const OviConfig& c, std::string prefix)
      : store_(store), c_(c), p_(std::move(prefix)) {}

  absl::StatusOr<at::Tensor> Plain(const std::string& suffix, const Shape& shape) {
    OVID_ASSIGN_OR_RETURN(at::Tensor t, store_.Tensor(p_ + suffix));
    return ops::GuardTorch("reshaping a parameter", [&] { return t.reshape(shape); });
  }
  absl::StatusOr<QuantizedLinear> Linear(const std::string& name, int64_t out, int64_t in) {
    return store_.Linear(p_ + name + ".weight", p_ + name + ".bias", out, in);
  }

  absl::Status Block(int layer, OviBlockWeights* b) {
    const std::string s = absl::StrCat("blocks.", layer, ".");
    const int64_t d = c_.dim;
    OVID_ASSIGN_OR_RETURN(b->modulation, Plain(s + "modulation.modulation", {6, d}));
    OviSelfAttentionWeights& sa = b->self_attn;
    OVID_ASSIGN_OR_RETURN(sa.q, Linear(s + "self_attn.q", d, d));
    OVID_ASSIGN_OR_RETURN(sa.k, Linear(s + "self_attn.k", d, d));
    OVID_ASSIGN_OR_RETURN(sa.v, Linear(s + "self_attn.v", d, d));
    OVID_ASSIGN_OR_RETURN(sa.o, Linear(s + "self_attn.o", d, d));
    OVID_ASSIGN_OR_RETURN(sa.norm_q, Plain(s + "self_attn.norm_q.weight", {d}));
    OVID_ASSIGN_OR_RETURN(sa.norm_k, Plain(s + "self_attn.norm_k.weight", {d}));
    OVID_ASSIGN_OR_RETURN(b->norm3_w, Plain(s + "norm3.weight", {d}));
    OVID_ASSIGN_OR_RETURN(b->norm3_b, Plain(s + "norm3.bias", {d}));
    OviCrossAttentionWeights& ca = b->cross_attn;
    OVID_ASSIGN_OR_RETURN(ca.q, Linear(s + "cross_attn.q", d, d));
    OVID_ASSIGN_OR_RETURN(ca.k, Linear(s + "cross_attn.k", d, d));
    OVID_ASSIGN_OR_RETURN(ca.v, Linear(s + "cross_attn.v", d, d));
    OVID_ASSIGN_OR_RETURN(ca.o, Linear(s + "cross_attn.o", d, d));
    OVID_ASSIGN_OR_RETURN(ca.k_fusion, Linear(s + "cross_attn.k_fusion", d, d));
    OVID_ASSIGN_OR_RETURN(ca.v_fusion, Linear(s + "cross_attn.v_fusion", d, d));
    OVID_ASSIGN_OR_RETURN(ca.norm_q, Plain(s + "cross_attn.norm_q.weight", {d}));
    OVID_ASSIGN_OR_RETURN(ca.norm_k, Plain(s + "cross_attn.norm_k.weight", {d}));
    OVID_ASSIGN_OR_RETURN(ca.norm_k_fusion, Plain(s + "cross_attn.norm_k_fusion.weight", {d}));
    OVID_ASSIGN_OR_RETURN(ca.pre_attn_norm_fusion_w,
                          Plain(s + "cross_attn.pre_attn_norm_fusion.weight", {d}));
    OVID_ASSIGN_OR_RETURN(ca.pre_attn_norm_fusion_b,
                          Plain(s + "cross_attn.pre_attn_norm_fusion.bias", {d}));
    OVID_ASSIGN_OR_RETURN(b->ffn0, Linear(s + "ffn.0", c_.ffn_dim, d));
    OVID_ASSIGN_OR_RETURN(b->ffn2, Linear(s + "ffn.2", d, c_.ffn_dim));
    return absl::OkStatus();
  }

  absl::Status Tower(OviTower tower, OviTowerWeights* w) {
    const int64_t d = c_.dim;
    w->tower = tower;
    if (tower == OviTower::kVideo) {
      const int64_t patch_in = c_.video_in_dim * c_.VideoPatchVolume();
      OVID_ASSIGN_OR_RETURN(w->video_patch_w, Plain("patch_embedding.weight", {d, patch_in}));
      OVID_ASSIGN_OR_RETURN(w->video_patch_b, Plain("patch_embedding.bias", {d}));
      OVID_ASSIGN_OR_RETURN(w->head,
                            Linear("head.head", c_.video_out_dim * c_.VideoPatchVolume(), d));
    } else {
      const int64_t k = c_.audio_conv_kernel, h = c_.audio_convmlp_hidden;
      OVID_ASSIGN_OR_RETURN(w->audio_conv_w,
                            Plain("patch_embedding.0.weight", {d, c_.audio_in_dim, k}));
      OVID_ASSIGN_OR_RETURN(w->audio_conv_b, Plain("patch_embedding.0.bias", {d}));
      OVID_ASSIGN_OR_RETURN(w->audio_w1, Plain("patch_embedding.2.w1.weight", {h, d, k}));
      OVID_ASSIGN_OR_RETURN(w->audio_w2, Plain("patch_embedding.2.w2.weight", {d, h, k}));
      OVID_ASSIGN_OR_RETURN(w->audio_w3, Plain("patch_embedding.2.w3.weight", {h, d, k}));
      OVID_ASSIGN_OR_RETURN(w->head, Linear("head.head", c_.audio_out_dim * c_.audio_patch, d));
    }
    OVID_ASSIGN_OR_RETURN(w->text0, Linear("text_embedding.0", d, c_.text_dim));
    OVID_ASSIGN_OR_RETURN(w->text2, Linear("text_embedding.2", d, d));
    OVID_ASSIGN_OR_RETURN(w->time0, Linear("time_embedding.0", d, c_.freq_dim));
    OVID_ASSIGN_OR_RETURN(w->time2, Linear("time_embedding.2", d, d));
    OVID_ASSIGN_OR_RETURN(w->time_proj, Linear("time_projection.1", 6 * d, d));
    OVID_ASSIGN_OR_RETURN(w->head_modulation, Plain("head.modulation", {2, d}));
    w->blocks.resize(c_.num_layers);
    for (int i = 0; i < c_.num_layers; ++i) OVID_RETURN_IF_ERROR(Block(i, &w->blocks[i]));
    return absl::OkStatus();
  }

 private:
  const WeightStore& store_;
  const OviConfig& c_;
  std::string p_;
};

}  // namespace

absl::StatusOr<OviModelSpec> ReadOviModelSpec(const gguf::GgufFile& file,
                                              const std::string& fallback_variant) {
  OviModelSpec spec;
  OVID_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim,
                        OptionalMeta<int64_t>(file, "ovi.head_dim", &gguf::GgufFile::GetInt));
  OVID_ASSIGN_OR_RETURN(std::optional<std::string> variant,
                        OptionalMeta<std::string>(file, "ovi.variant", &gguf::GgufFile::GetString));
  OVID_ASSIGN_OR_RETURN(
      std::optional<double> scale,
      OptionalMeta<double>(file, "ovi.audio_rope_scale", &gguf::GgufFile::GetFloat));
  OVID_ASSIGN_OR_RETURN(std::optional<int64_t> text_len,
                        OptionalMeta<int64_t>(file, "ovi.text_len", &gguf::GgufFile::GetInt));
  spec.variant = variant.value_or(fallback_variant);
  spec.audio_rope_scale = scale.value_or(0.19676);
  // It scales the audio tower's rotary positions: NaN, Inf or <= 0 would run and give garbage.
  if (!std::isfinite(spec.audio_rope_scale) || spec.audio_rope_scale <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": ovi.audio_rope_scale ", spec.audio_rope_scale, " must be finite and > 0"));
  }
  // Every Ovi parameter is real-valued: an integer tensor would load and then truncate the
  // activations it meets (or fail inside a forward pass without a name).
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (GgmlTypeIsInteger(t.type) && ClassifyOviKey(t.name).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor '", t.name, "' is ",
                                                     GgmlTypeName(t.type),
                                                     "; Ovi's parameters are floating point"));
    }
  }
  spec.text_len = text_len.value_or(512);
  if (spec.text_len <= 0 || spec.text_len > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": ovi.text_len ", spec.text_len, " is out of range"));
  }

  const std::map<std::string, Shape> shapes = CanonicalShapes(file);
  std::vector<std::string> names;
  std::vector<NamedShape> actual;
  for (const auto& [name, shape] : shapes) {
    names.push_back(name);
    actual.push_back({name, shape});
  }
  const ShapeLookup lookup = [&](const std::string& key) -> std::optional<Shape> {
    auto it = shapes.find(key);
    if (it == shapes.end()) return std::nullopt;
    return it->second;
  };
  absl::StatusOr<OviConfig> config = InferOviConfig(lookup, names, head_dim.value_or(128));
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": not an Ovi model: ", config.status().message()));
  }
  OVID_RETURN_IF_ERROR(CheckOviTensors(BuildOviLayout(*config), actual, file.path()));
  if (absl::Status s = config->Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": ", s.message()));
  }
  if (config->head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": head_dim ", config->head_dim, " is odd"));
  }
  spec.config = *config;
  return spec;
}

absl::StatusOr<OviWeights> BindOviWeights(const WeightStore& store, const OviModelSpec& spec) {
  OviWeights w;
  Binder video(store, spec.config, "video_model.");
  OVID_RETURN_IF_ERROR(video.Tower(OviTower::kVideo, &w.video));
  Binder audio(store, spec.config, "audio_model.");
  OVID_RETURN_IF_ERROR(audio.Tower(OviTower::kAudio, &w.audio));
  return w;
}

}  // namespace ovid::ovi
