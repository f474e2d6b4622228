#include "engine/models/mmaudio_vae/mmaudio_vae_layout.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_key_table.h"

namespace ovid::mmaudio_vae {
namespace {

using Shape = std::vector<int64_t>;
using audio::Vars;

class LayoutBuilder {
 public:
  explicit LayoutBuilder(const audio::AudioKeyTable& table) : table_(table) {}

  // MPConv1D: weight only, no bias.
  absl::Status Conv(const std::string& logical, const std::string& pattern, const Vars& v,
                    Shape weight) {
    return Add(logical, pattern, v, "weight", {std::move(weight)});
  }
  absl::Status Res(const std::string& logical, const std::string& pattern, const Vars& v,
                   int64_t in, int64_t out) {
    OVID_RETURN_IF_ERROR(Add(logical + ".conv1", pattern, v, "conv1.weight", {{out, in, 3}}));
    OVID_RETURN_IF_ERROR(Add(logical + ".conv2", pattern, v, "conv2.weight", {{out, out, 3}}));
    if (in == out) return absl::OkStatus();
    return Add(logical + ".nin_shortcut", pattern, v, "nin_shortcut.weight", {{out, in, 1}});
  }
  absl::Status Attn(int64_t c) {
    OVID_RETURN_IF_ERROR(Add("mid.attn.qkv", "mid.attn", {}, "qkv.weight", {{3 * c, c, 1}}));
    return Add("mid.attn.proj_out", "mid.attn", {}, "proj_out.weight", {{c, c, 1}});
  }
  absl::Status Add(const std::string& logical, const std::string& pattern, const Vars& v,
                   absl::string_view param, std::vector<Shape> shapes) {
    OVID_ASSIGN_OR_RETURN(std::string file, audio::AudioFileKey(table_, pattern, v, param));
    out_.push_back({logical, {std::move(file), std::move(shapes), false}});
    return absl::OkStatus();
  }
  std::vector<MmAudioVaeTensor> Take() { return std::move(out_); }

 private:
  const audio::AudioKeyTable& table_;
  std::vector<MmAudioVaeTensor> out_;
};

const Shape* Find(const std::map<std::string, Shape>& shapes, const std::string& name) {
  auto it = shapes.find(name);
  return it == shapes.end() ? nullptr : &it->second;
}

absl::StatusOr<MmAudioVaeConfig> InferConfig(const audio::AudioKeyTable& table,
                                             const std::map<std::string, Shape>& shapes,
                                             absl::string_view source) {
  MmAudioVaeConfig c;
  OVID_ASSIGN_OR_RETURN(const std::string conv_in, audio::AudioFileKey(table, "conv_in", {}, "weight"));
  OVID_ASSIGN_OR_RETURN(const std::string conv_out, audio::AudioFileKey(table, "conv_out", {}, "weight"));
  const Shape* in = Find(shapes, conv_in);
  const Shape* out = Find(shapes, conv_out);
  if (in == nullptr || out == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not an MMAudio VAE decoder file: ", in == nullptr ? conv_in : conv_out,
        " is absent (", shapes.size(), " tensors)"));
  }
  if (in->size() != 3 || out->size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", conv_in, " is ",
                                                   audio::ShapeString(*in), " and ", conv_out, " ",
                                                   audio::ShapeString(*out),
                                                   ", expected [C, embed, 3] and [mels, C, 3]"));
  }
  c.embed_dim = (*in)[1];
  c.data_dim = (*out)[0];
  c.hidden = (*out)[1];
  if (c.hidden <= 0) return absl::InvalidArgumentError(absl::StrCat(source, ": ", conv_out, " has no channels"));
  c.ch_mult.clear();
  c.upsample.clear();
  for (int64_t l = 0;; ++l) {
    OVID_ASSIGN_OR_RETURN(const std::string key,
                          audio::AudioFileKey(table, "up.{l}.block.{b}", {{'l', l}, {'b', 0}}, "conv1.weight"));
    const Shape* s = Find(shapes, key);
    if (s == nullptr) break;
    if (s->empty() || (*s)[0] % c.hidden != 0) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " is ", audio::ShapeString(*s),
                                                     ": its width is not a multiple of ", c.hidden,
                                                     " (", conv_out, "'s input channels)"));
    }
    c.ch_mult.push_back((*s)[0] / c.hidden);
    OVID_ASSIGN_OR_RETURN(const std::string up,
                          audio::AudioFileKey(table, "up.{l}.upsample", {{'l', l}}, "weight"));
    c.upsample.push_back(Find(shapes, up) != nullptr);
  }
  if (c.ch_mult.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not an MMAudio VAE decoder file: no decoder level (up.0.block.0) found"));
  }
  c.blocks_per_level = 0;
  for (int64_t b = 0;; ++b) {
    OVID_ASSIGN_OR_RETURN(const std::string key,
                          audio::AudioFileKey(table, "up.{l}.block.{b}", {{'l', 0}, {'b', b}}, "conv1.weight"));
    if (Find(shapes, key) == nullptr) break;
    ++c.blocks_per_level;
  }
  return c;
}

}  // namespace

int64_t MmAudioVaeConfig::LengthFactor() const {
  int64_t f = 1;
  for (bool u : upsample) f *= u ? 2 : 1;
  return f;
}

MmAudioVaeConfig MmAudioVae16kConfig() { return MmAudioVaeConfig{}; }

MmAudioVaeConfig MmAudioVaeTinyConfig() {
  MmAudioVaeConfig c;
  c.hidden = 16;
  return c;
}

absl::StatusOr<const audio::AudioKeyTable*> MmAudioVaeKeyTable() {
  static const audio::BuiltinAudioKeyTable table("keys.txt", kMmAudioVaeKeysText);
  return table.Get();
}

absl::StatusOr<std::vector<MmAudioVaeTensor>> BuildMmAudioVaeLayout(const MmAudioVaeConfig& c) {
  OVID_ASSIGN_OR_RETURN(const audio::AudioKeyTable* table, MmAudioVaeKeyTable());
  LayoutBuilder b(*table);
  const int64_t top = c.TopWidth();
  OVID_RETURN_IF_ERROR(b.Conv("conv_in", "conv_in", {}, {top, c.embed_dim, 3}));
  OVID_RETURN_IF_ERROR(b.Res("mid.block_1", "mid.block_{b}", {{'b', 1}}, top, top));
  OVID_RETURN_IF_ERROR(b.Attn(top));
  OVID_RETURN_IF_ERROR(b.Res("mid.block_2", "mid.block_{b}", {{'b', 2}}, top, top));
  int64_t in = top;
  for (int64_t l = static_cast<int64_t>(c.ch_mult.size()) - 1; l >= 0; --l) {
    const int64_t out = c.Width(l);
    for (int64_t j = 0; j < c.blocks_per_level; ++j) {
      OVID_RETURN_IF_ERROR(b.Res(absl::StrCat("up.", l, ".block.", j), "up.{l}.block.{b}",
                                 {{'l', l}, {'b', j}}, j == 0 ? in : out, out));
    }
    if (c.upsample[l]) {
      OVID_RETURN_IF_ERROR(b.Conv(absl::StrCat("up.", l, ".upsample"), "up.{l}.upsample",
                                  {{'l', l}}, {out, out, 3}));
    }
    in = out;
  }
  OVID_RETURN_IF_ERROR(b.Conv("conv_out", "conv_out", {}, {c.data_dim, in, 3}));
  // A scalar in the .pth; a converter writing GGUF (no 0-d tensors) stores it as [1].
  OVID_RETURN_IF_ERROR(b.Add("gain", "gain", {}, "", {{}, {1}}));
  // Buffers [1, 80, 1] in VAE_16k; [80] is accepted from converters that squeeze them.
  OVID_RETURN_IF_ERROR(b.Add("data_mean", "data_mean", {}, "", {{1, c.data_dim, 1}, {c.data_dim}}));
  OVID_RETURN_IF_ERROR(b.Add("data_std", "data_std", {}, "", {{1, c.data_dim, 1}, {c.data_dim}}));
  return b.Take();
}

absl::StatusOr<ResolvedMmAudioVae> ResolveMmAudioVaeLayout(
    const std::vector<audio::NamedShape>& tensors, absl::string_view source) {
  OVID_ASSIGN_OR_RETURN(const audio::AudioKeyTable* table, MmAudioVaeKeyTable());
  std::map<std::string, Shape> shapes;
  for (const audio::NamedShape& t : tensors) shapes[t.name] = t.shape;
  ResolvedMmAudioVae out;
  OVID_ASSIGN_OR_RETURN(out.config, InferConfig(*table, shapes, source));
  OVID_ASSIGN_OR_RETURN(out.tensors, BuildMmAudioVaeLayout(out.config));
  std::vector<audio::ExpectedTensor> expected;
  for (const MmAudioVaeTensor& t : out.tensors) expected.push_back(t.expected);
  OVID_RETURN_IF_ERROR(audio::CheckTensorSet(tensors, expected, table->ignored, source,
                                             "MMAudio VAE decoder", &out.ignored));
  return out;
}

}  // namespace ovid::mmaudio_vae
