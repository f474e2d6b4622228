#include "engine/models/ovi/ovi_layout.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ovid::ovi {
namespace {

using Shape = std::vector<int64_t>;
using ShapeFn = Shape (*)(const OviConfig&);

// One row of a layout table: the key suffix after the tower (and block) prefix.
struct Entry {
  const char* suffix;
  OviRole role;
  OviPart part;
  ShapeFn shape;
};

Shape Dim(const OviConfig& c) { return {c.dim}; }
Shape DimDim(const OviConfig& c) { return {c.dim, c.dim}; }

// The 34 tensors of one fused block (Wan block + the four fusion modules), spec ovi.md §2.
// norm1/norm2 (no affine) and ffn.1 (GELU) have no parameters, hence no rows.
constexpr OviPart kB = OviPart::kBlock;
const Entry kBlockTable[] = {
    {"modulation.modulation", OviRole::kModulation, kB,
     [](const OviConfig& c) -> Shape {
       return {1, 6, c.dim};
     }},
    {"self_attn.q.weight", OviRole::kLinearWeight, kB, DimDim},
    {"self_attn.q.bias", OviRole::kLinearBias, kB, Dim},
    {"self_attn.k.weight", OviRole::kLinearWeight, kB, DimDim},
    {"self_attn.k.bias", OviRole::kLinearBias, kB, Dim},
    {"self_attn.v.weight", OviRole::kLinearWeight, kB, DimDim},
    {"self_attn.v.bias", OviRole::kLinearBias, kB, Dim},
    {"self_attn.o.weight", OviRole::kLinearWeight, kB, DimDim},
    {"self_attn.o.bias", OviRole::kLinearBias, kB, Dim},
    {"self_attn.norm_q.weight", OviRole::kNormWeight, kB, Dim},
    {"self_attn.norm_k.weight", OviRole::kNormWeight, kB, Dim},
    {"norm3.weight", OviRole::kNormWeight, kB, Dim},
    {"norm3.bias", OviRole::kNormBias, kB, Dim},
    {"cross_attn.q.weight", OviRole::kLinearWeight, kB, DimDim},
    {"cross_attn.q.bias", OviRole::kLinearBias, kB, Dim},
    {"cross_attn.k.weight", OviRole::kLinearWeight, kB, DimDim},
    {"cross_attn.k.bias", OviRole::kLinearBias, kB, Dim},
    {"cross_attn.v.weight", OviRole::kLinearWeight, kB, DimDim},
    {"cross_attn.v.bias", OviRole::kLinearBias, kB, Dim},
    {"cross_attn.o.weight", OviRole::kLinearWeight, kB, DimDim},
    {"cross_attn.o.bias", OviRole::kLinearBias, kB, Dim},
    {"cross_attn.norm_q.weight", OviRole::kNormWeight, kB, Dim},
    {"cross_attn.norm_k.weight", OviRole::kNormWeight, kB, Dim},
    {"cross_attn.k_fusion.weight", OviRole::kLinearWeight, kB, DimDim},
    {"cross_attn.k_fusion.bias", OviRole::kLinearBias, kB, Dim},
    {"cross_attn.v_fusion.weight", OviRole::kLinearWeight, kB, DimDim},
    {"cross_attn.v_fusion.bias", OviRole::kLinearBias, kB, Dim},
    {"cross_attn.pre_attn_norm_fusion.weight", OviRole::kNormWeight, kB, Dim},
    {"cross_attn.pre_attn_norm_fusion.bias", OviRole::kNormBias, kB, Dim},
    {"cross_attn.norm_k_fusion.weight", OviRole::kNormWeight, kB, Dim},
    {"ffn.0.weight", OviRole::kLinearWeight, kB,
     [](const OviConfig& c) -> Shape {
       return {c.ffn_dim, c.dim};
     }},
    {"ffn.0.bias", OviRole::kLinearBias, kB,
     [](const OviConfig& c) -> Shape { return {c.ffn_dim}; }},
    {"ffn.2.weight", OviRole::kLinearWeight, kB,
     [](const OviConfig& c) -> Shape {
       return {c.dim, c.ffn_dim};
     }},
    {"ffn.2.bias", OviRole::kLinearBias, kB, Dim},
};

// Outside the blocks, identical in both towers (text/time embeddings, head).
const Entry kTowerTable[] = {
    {"text_embedding.0.weight", OviRole::kLinearWeight, OviPart::kTextEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.dim, c.text_dim};
     }},
    {"text_embedding.0.bias", OviRole::kLinearBias, OviPart::kTextEmbedding, Dim},
    {"text_embedding.2.weight", OviRole::kLinearWeight, OviPart::kTextEmbedding, DimDim},
    {"text_embedding.2.bias", OviRole::kLinearBias, OviPart::kTextEmbedding, Dim},
    {"time_embedding.0.weight", OviRole::kLinearWeight, OviPart::kTimeEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.dim, c.freq_dim};
     }},
    {"time_embedding.0.bias", OviRole::kLinearBias, OviPart::kTimeEmbedding, Dim},
    {"time_embedding.2.weight", OviRole::kLinearWeight, OviPart::kTimeEmbedding, DimDim},
    {"time_embedding.2.bias", OviRole::kLinearBias, OviPart::kTimeEmbedding, Dim},
    {"time_projection.1.weight", OviRole::kLinearWeight, OviPart::kTimeProjection,
     [](const OviConfig& c) -> Shape {
       return {6 * c.dim, c.dim};
     }},
    {"time_projection.1.bias", OviRole::kLinearBias, OviPart::kTimeProjection,
     [](const OviConfig& c) -> Shape { return {6 * c.dim}; }},
    {"head.modulation", OviRole::kModulation, OviPart::kHead,
     [](const OviConfig& c) -> Shape {
       return {1, 2, c.dim};
     }},
};

const Entry kVideoTable[] = {
    {"patch_embedding.weight", OviRole::kConvWeight, OviPart::kPatchEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.dim, c.video_in_dim, c.video_patch[0], c.video_patch[1], c.video_patch[2]};
     }},
    {"patch_embedding.bias", OviRole::kLinearBias, OviPart::kPatchEmbedding, Dim},
    {"head.head.weight", OviRole::kLinearWeight, OviPart::kHead,
     [](const OviConfig& c) -> Shape {
       return {c.video_out_dim * c.VideoPatchVolume(), c.dim};
     }},
    {"head.head.bias", OviRole::kLinearBias, OviPart::kHead,
     [](const OviConfig& c) -> Shape { return {c.video_out_dim * c.VideoPatchVolume()}; }},
};

// MMAudio-style patch embedding: Conv1d(in -> dim), SiLU, ConvMLP w2(silu(w1 x) * w3 x).
const Entry kAudioTable[] = {
    {"patch_embedding.0.weight", OviRole::kConvWeight, OviPart::kPatchEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.dim, c.audio_in_dim, c.audio_conv_kernel};
     }},
    {"patch_embedding.0.bias", OviRole::kLinearBias, OviPart::kPatchEmbedding, Dim},
    {"patch_embedding.2.w1.weight", OviRole::kConvWeight, OviPart::kPatchEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.audio_convmlp_hidden, c.dim, c.audio_conv_kernel};
     }},
    {"patch_embedding.2.w2.weight", OviRole::kConvWeight, OviPart::kPatchEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.dim, c.audio_convmlp_hidden, c.audio_conv_kernel};
     }},
    {"patch_embedding.2.w3.weight", OviRole::kConvWeight, OviPart::kPatchEmbedding,
     [](const OviConfig& c) -> Shape {
       return {c.audio_convmlp_hidden, c.dim, c.audio_conv_kernel};
     }},
    {"head.head.weight", OviRole::kLinearWeight, OviPart::kHead,
     [](const OviConfig& c) -> Shape {
       return {c.audio_out_dim * c.audio_patch, c.dim};
     }},
    {"head.head.bias", OviRole::kLinearBias, OviPart::kHead,
     [](const OviConfig& c) -> Shape { return {c.audio_out_dim * c.audio_patch}; }},
};

constexpr OviTower kTowers[] = {OviTower::kVideo, OviTower::kAudio};

template <size_t N>
const Entry* FindEntry(const Entry (&table)[N], std::string_view suffix) {
  for (const Entry& e : table) {
    if (suffix == e.suffix) return &e;
  }
  return nullptr;
}

void AppendTable(const Entry* begin, const Entry* end, const OviConfig& config, OviTower tower,
                 int layer, std::vector<OviTensor>* out) {
  const std::string prefix = layer < 0 ? absl::StrCat(OviTowerName(tower), ".")
                                       : absl::StrCat(OviTowerName(tower), ".blocks.", layer, ".");
  for (const Entry* e = begin; e != end; ++e) {
    out->push_back({prefix + e->suffix, e->shape(config), e->role, e->part, tower, layer});
  }
}

// The dimension `axis` of the first candidate key present with rank `rank`.
struct Probe {
  std::string key;
  size_t rank;
  size_t axis;
};

absl::StatusOr<int64_t> ProbeDim(const ShapeLookup& shape_of, const char* field,
                                 const std::vector<Probe>& probes) {
  std::vector<std::string> tried;
  for (const Probe& p : probes) {
    const std::optional<Shape> shape = shape_of(p.key);
    if (shape && shape->size() == p.rank && (*shape)[p.axis] > 0) return (*shape)[p.axis];
    tried.push_back(
        shape ? absl::StrCat(p.key, " (shape ", ShapeString(*shape), ", want rank ", p.rank, ")")
              : absl::StrCat(p.key, " (absent)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "cannot infer Ovi ", field, " from the tensor shapes: tried ", absl::StrJoin(tried, ", ")));
}

// Largest block index + 1 among "<tower>.blocks.N." keys (0 if there are none), and the key
// that has it.
std::pair<int64_t, std::string> CountLayers(const std::vector<std::string>& names) {
  int64_t layers = 0;
  std::string from;
  for (const std::string& name : names) {
    const std::optional<OviKeyInfo> info = ClassifyOviKey(name);
    if (info && info->part == OviPart::kBlock && int64_t{info->layer} + 1 > layers) {
      layers = int64_t{info->layer} + 1;
      from = name;
    }
  }
  return {layers, from};
}

// Ovi has 30 blocks a tower. The layout has ~70 entries a block, so one stray key such as
// "video_model.blocks.2147483646.norm3.weight" must not size it: that took hundreds of MB per
// 10,000 blocks before the missing tensors were reported.
constexpr int64_t kMaxOviLayers = 1024;

void AppendCapped(const std::vector<std::string>& items, const char* what,
                  std::vector<std::string>* parts) {
  constexpr size_t kMaxListed = 25;  // a wrong file could otherwise print 2000 names
  if (items.empty()) return;
  std::vector<std::string> shown(items.begin(), items.begin() + std::min(items.size(), kMaxListed));
  std::string text = absl::StrCat(items.size(), " ", what, ": ", absl::StrJoin(shown, ", "));
  if (items.size() > kMaxListed)
    absl::StrAppend(&text, ", ... and ", items.size() - kMaxListed, " more");
  parts->push_back(std::move(text));
}

}  // namespace

absl::Status OviConfig::Validate() const {
  const std::pair<const char*, int64_t> fields[] = {
      {"dim", dim},
      {"ffn_dim", ffn_dim},
      {"num_heads", num_heads},
      {"head_dim", head_dim},
      {"num_layers", num_layers},
      {"text_dim", text_dim},
      {"freq_dim", freq_dim},
      {"video_in_dim", video_in_dim},
      {"video_out_dim", video_out_dim},
      {"video_patch[0]", video_patch[0]},
      {"video_patch[1]", video_patch[1]},
      {"video_patch[2]", video_patch[2]},
      {"audio_in_dim", audio_in_dim},
      {"audio_out_dim", audio_out_dim},
      {"audio_patch", audio_patch},
      {"audio_conv_kernel", audio_conv_kernel},
      {"audio_convmlp_hidden", audio_convmlp_hidden},
  };
  for (const auto& [name, value] : fields) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Ovi config: ", name, " must be positive, got ", value));
    }
  }
  if (num_heads * head_dim != dim) {
    return absl::InvalidArgumentError(absl::StrCat("Ovi config: dim ", dim, " is not num_heads ",
                                                   num_heads, " x head_dim ", head_dim));
  }
  // The audio patch embedding's convolutions pad by kernel / 2 to keep the length; an even
  // kernel adds a token per convolution and every forward pass would fail on the shapes.
  if (audio_conv_kernel % 2 == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ovi config: the audio conv kernel (audio_model.patch_embedding.0.weight's "
                     "last dim) must be odd, got ",
                     audio_conv_kernel));
  }
  return absl::OkStatus();
}

const std::vector<OviVariant>& OviVariants() {
  static const std::vector<OviVariant> kVariants = {
      {"720x720_5s", 720, 720 * 720, 5.0f, 31, 157, false},
      {"960x960_5s", 960, 960 * 960, 5.0f, 31, 157, false},
      {"960x960_10s", 960, 960 * 960, 10.0f, 61, 314, false},
      {"128x128_5s", 128, 128 * 128, 5.0f, 31, 157, true},
  };
  return kVariants;
}

const OviVariant* FindOviVariant(std::string_view name) {
  for (const OviVariant& v : OviVariants()) {
    if (name == v.name) return &v;
  }
  return nullptr;
}

OviConfig OviFullConfig() { return OviConfig{}; }

OviConfig OviTinyConfig() {
  OviConfig c;
  c.dim = 256;
  c.ffn_dim = 512;
  c.num_heads = 2;
  c.head_dim = 128;
  c.num_layers = 3;  // skip-layer guidance needs a layer 1 or 2 to skip
  c.text_dim = 256;
  c.freq_dim = 256;
  c.audio_convmlp_hidden = 512;
  return c;
}

const char* OviTowerName(OviTower t) {
  return t == OviTower::kVideo ? "video_model" : "audio_model";
}

const char* OviPartName(OviPart p) {
  switch (p) {
    case OviPart::kBlock:
      return "block";
    case OviPart::kPatchEmbedding:
      return "patch_embedding";
    case OviPart::kTextEmbedding:
      return "text_embedding";
    case OviPart::kTimeEmbedding:
      return "time_embedding";
    case OviPart::kTimeProjection:
      return "time_projection";
    case OviPart::kHead:
      return "head";
  }
  return "?";
}

const char* OviRoleName(OviRole r) {
  switch (r) {
    case OviRole::kLinearWeight:
      return "linear_weight";
    case OviRole::kLinearBias:
      return "bias";
    case OviRole::kConvWeight:
      return "conv_weight";
    case OviRole::kNormWeight:
      return "norm_weight";
    case OviRole::kNormBias:
      return "norm_bias";
    case OviRole::kModulation:
      return "modulation";
  }
  return "?";
}

int64_t OviTensor::Elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t OviTensor::FanIn() const {
  if (role != OviRole::kLinearWeight && role != OviRole::kConvWeight) return 0;
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

std::vector<OviTensor> BuildOviLayout(const OviConfig& config) {
  std::vector<OviTensor> out;
  for (OviTower tower : kTowers) {
    if (tower == OviTower::kVideo) {
      AppendTable(std::begin(kVideoTable), std::end(kVideoTable), config, tower, -1, &out);
    } else {
      AppendTable(std::begin(kAudioTable), std::end(kAudioTable), config, tower, -1, &out);
    }
    AppendTable(std::begin(kTowerTable), std::end(kTowerTable), config, tower, -1, &out);
    for (int layer = 0; layer < config.num_layers; ++layer) {
      AppendTable(std::begin(kBlockTable), std::end(kBlockTable), config, tower, layer, &out);
    }
  }
  return out;
}

std::optional<OviKeyInfo> ClassifyOviKey(std::string_view name) {
  OviTower tower;
  if (name.starts_with("video_model.")) {
    tower = OviTower::kVideo;
  } else if (name.starts_with("audio_model.")) {
    tower = OviTower::kAudio;
  } else {
    return std::nullopt;
  }
  std::string_view rest = name.substr(sizeof("video_model.") - 1);
  constexpr std::string_view kBlocks = "blocks.";
  if (rest.starts_with(kBlocks)) {
    rest.remove_prefix(kBlocks.size());
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0 || (dot > 1 && rest[0] == '0')) {
      return std::nullopt;  // no index, or a non-canonical one such as "01"
    }
    int layer = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
    if (ec != std::errc() || ptr != rest.data() + dot) return std::nullopt;
    const Entry* e = FindEntry(kBlockTable, rest.substr(dot + 1));
    if (e == nullptr) return std::nullopt;
    return OviKeyInfo{e->role, e->part, tower, layer};
  }
  const Entry* e = FindEntry(kTowerTable, rest);
  if (e == nullptr) {
    e = tower == OviTower::kVideo ? FindEntry(kVideoTable, rest) : FindEntry(kAudioTable, rest);
  }
  if (e == nullptr) return std::nullopt;
  return OviKeyInfo{e->role, e->part, tower, -1};
}

absl::StatusOr<OviConfig> InferOviConfig(const ShapeLookup& shape_of,
                                         const std::vector<std::string>& names, int64_t head_dim) {
  OviConfig c;
  const auto [layers, deepest] = CountLayers(names);
  c.num_layers = layers;
  if (c.num_layers == 0) {
    return absl::InvalidArgumentError(
        "cannot infer Ovi num_layers: no video_model.blocks.N.* or audio_model.blocks.N.* keys");
  }
  if (c.num_layers > kMaxOviLayers) {
    return absl::InvalidArgumentError(
        absl::StrCat("block index ", c.num_layers - 1, " in '", deepest,
                     "' is past the most blocks a model may have (", kMaxOviLayers, ")"));
  }
  // Each field is read from the first key that has it, so one missing tensor is reported by
  // the layout check instead of making the inference fail.
  auto both = [](const std::string& suffix, size_t rank, size_t axis) {
    return std::vector<Probe>{{"video_model." + suffix, rank, axis},
                              {"audio_model." + suffix, rank, axis}};
  };
  auto assign = [&](int64_t* field, const char* what, std::vector<Probe> probes) -> absl::Status {
    absl::StatusOr<int64_t> v = ProbeDim(shape_of, what, probes);
    if (!v.ok()) return v.status();
    *field = *v;
    return absl::OkStatus();
  };
  std::vector<Probe> dim_probes = both("text_embedding.2.weight", 2, 0);
  for (Probe p : both("blocks.0.self_attn.q.weight", 2, 0)) dim_probes.push_back(p);
  for (Probe p : both("head.modulation", 3, 2)) dim_probes.push_back(p);
  std::vector<Probe> ffn_probes = both("blocks.0.ffn.0.weight", 2, 0);
  for (Probe p : both("blocks.0.ffn.2.weight", 2, 1)) ffn_probes.push_back(p);
  const std::vector<Probe> hidden_probes = {{"audio_model.patch_embedding.2.w1.weight", 3, 0},
                                            {"audio_model.patch_embedding.2.w3.weight", 3, 0},
                                            {"audio_model.patch_embedding.2.w2.weight", 3, 1}};
  const absl::Status steps[] = {
      assign(&c.dim, "dim", dim_probes),
      assign(&c.ffn_dim, "ffn_dim", ffn_probes),
      assign(&c.text_dim, "text_dim", both("text_embedding.0.weight", 2, 1)),
      assign(&c.freq_dim, "freq_dim", both("time_embedding.0.weight", 2, 1)),
      assign(&c.video_in_dim, "video in_dim", {{"video_model.patch_embedding.weight", 5, 1}}),
      assign(&c.video_patch[0], "video patch_size[0]",
             {{"video_model.patch_embedding.weight", 5, 2}}),
      assign(&c.video_patch[1], "video patch_size[1]",
             {{"video_model.patch_embedding.weight", 5, 3}}),
      assign(&c.video_patch[2], "video patch_size[2]",
             {{"video_model.patch_embedding.weight", 5, 4}}),
      assign(&c.audio_in_dim, "audio in_dim", {{"audio_model.patch_embedding.0.weight", 3, 1}}),
      assign(&c.audio_conv_kernel, "audio conv kernel",
             {{"audio_model.patch_embedding.0.weight", 3, 2}}),
      assign(&c.audio_convmlp_hidden, "audio ConvMLP hidden", hidden_probes),
  };
  for (const absl::Status& s : steps) {
    if (!s.ok()) return s;
  }
  int64_t video_head_rows = 0;
  int64_t audio_head_rows = 0;
  const absl::Status heads[] = {
      assign(&video_head_rows, "video out_dim", {{"video_model.head.head.weight", 2, 0}}),
      assign(&audio_head_rows, "audio out_dim", {{"audio_model.head.head.weight", 2, 0}}),
  };
  for (const absl::Status& s : heads) {
    if (!s.ok()) return s;
  }
  if (video_head_rows % c.VideoPatchVolume() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot infer Ovi video out_dim: video_model.head.head.weight has ", video_head_rows,
        " rows, not a multiple of the patch volume ", c.VideoPatchVolume()));
  }
  c.video_out_dim = video_head_rows / c.VideoPatchVolume();
  c.audio_out_dim = audio_head_rows / c.audio_patch;
  c.head_dim = head_dim;
  if (head_dim <= 0 || c.dim % head_dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_dim ", head_dim, " does not divide the model dim ", c.dim));
  }
  c.num_heads = c.dim / head_dim;
  return c;
}

absl::Status CheckOviTensors(const std::vector<OviTensor>& layout,
                             const std::vector<NamedShape>& actual, std::string_view source) {
  std::map<std::string_view, const OviTensor*> expected;
  for (const OviTensor& t : layout) expected[t.name] = &t;
  std::set<std::string_view> seen;
  std::vector<std::string> unexpected, misshaped, missing;
  for (const NamedShape& a : actual) {
    auto it = expected.find(a.name);
    if (it == expected.end()) {
      unexpected.push_back(a.name);
      continue;
    }
    seen.insert(it->first);
    if (it->second->shape != a.shape) {
      misshaped.push_back(absl::StrCat(a.name, " is ", ShapeString(a.shape), ", expected ",
                                       ShapeString(it->second->shape)));
    }
  }
  for (const OviTensor& t : layout) {
    if (!seen.count(t.name)) missing.push_back(t.name);
  }
  if (unexpected.empty() && misshaped.empty() && missing.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  AppendCapped(missing, "missing", &parts);
  AppendCapped(unexpected, "unexpected", &parts);
  AppendCapped(misshaped, "misshaped", &parts);
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(source), ": tensors do not match the Ovi layout: ", absl::StrJoin(parts, "; ")));
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace ovid::ovi
