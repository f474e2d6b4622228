#include "engine/models/bigvgan/bigvgan_layout.h"

#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/bigvgan/bigvgan_key_table.h"

namespace ovid::bigvgan {
namespace {

using Shape = std::vector<int64_t>;
using audio::Vars;
using FormOf = std::function<WeightForm(const std::string& file_module)>;
using ShapeMap = std::map<std::string, Shape>;

constexpr char kG[] = "weight_g";
constexpr char kV[] = "weight_v";
constexpr char kP0[] = "parametrizations.weight.original0";
constexpr char kP1[] = "parametrizations.weight.original1";

class LayoutBuilder {
 public:
  LayoutBuilder(const audio::AudioKeyTable& table, std::string prefix, FormOf form_of,
                BigVganLayout* out)
      : table_(table), prefix_(std::move(prefix)), form_of_(std::move(form_of)), out_(out) {}

  absl::Status Conv(const std::string& logical, const std::string& pattern, const Vars& v,
                    Shape weight, bool transposed, int64_t stride, int64_t dilation,
                    int64_t padding) {
    OVID_ASSIGN_OR_RETURN(const std::string m, audio::AudioFileKey(table_, pattern, v, "", prefix_));
    BigVganConv c;
    c.logical = logical;
    c.form = form_of_(m);
    c.weight_shape = weight;
    c.transposed = transposed;
    c.stride = stride;
    c.dilation = dilation;
    c.padding = padding;
    const int64_t out_channels = transposed ? weight[1] : weight[0];
    const Shape g = {weight[0], 1, 1};  // weight_norm(dim=0): one gain per weight row
    switch (c.form) {
      case WeightForm::kFolded:
        c.weight = m + ".weight";
        break;
      case WeightForm::kWeightNorm:
        c.weight = absl::StrCat(m, ".", kV);
        c.gain = absl::StrCat(m, ".", kG);
        break;
      case WeightForm::kParametrized:
        c.weight = absl::StrCat(m, ".", kP1);
        c.gain = absl::StrCat(m, ".", kP0);
        break;
    }
    c.bias = m + ".bias";
    if (!c.gain.empty()) Expect(c.gain, g);
    Expect(c.weight, weight);
    Expect(c.bias, {out_channels});
    out_->convs.push_back(std::move(c));
    return absl::OkStatus();
  }

  absl::Status Act(const std::string& logical, const std::string& pattern, const Vars& v,
                   int64_t channels, int64_t taps) {
    OVID_ASSIGN_OR_RETURN(const std::string m, audio::AudioFileKey(table_, pattern, v, "", prefix_));
    BigVganAct a;
    a.logical = logical;
    a.channels = channels;
    a.alpha = m + ".act.alpha";
    a.beta = m + ".act.beta";
    a.up_filter = m + ".upsample.filter";
    a.down_filter = m + ".downsample.lowpass.filter";
    Expect(a.alpha, {channels});
    Expect(a.beta, {channels});
    Expect(a.up_filter, {1, 1, taps}, /*optional=*/true);
    Expect(a.down_filter, {1, 1, taps}, /*optional=*/true);
    out_->acts.push_back(std::move(a));
    return absl::OkStatus();
  }

 private:
  void Expect(const std::string& name, Shape shape, bool optional = false) {
    out_->tensors.push_back({name, {std::move(shape)}, optional});
  }
  const audio::AudioKeyTable& table_;
  std::string prefix_;
  FormOf form_of_;
  BigVganLayout* out_;
};

absl::StatusOr<BigVganLayout> Build(const BigVganConfig& c, const std::string& prefix,
                                    FormOf form_of) {
  OVID_ASSIGN_OR_RETURN(const audio::AudioKeyTable* table, BigVganKeyTable());
  BigVganLayout out;
  out.config = c;
  out.prefix = prefix;
  LayoutBuilder b(*table, prefix, std::move(form_of), &out);
  OVID_RETURN_IF_ERROR(b.Conv("conv_pre", "conv_pre", {}, {c.initial_channel, c.num_mels, 7},
                              false, 1, 1, 3));
  const int64_t nk = static_cast<int64_t>(c.rb_kernels.size());
  const int64_t nd = static_cast<int64_t>(c.dilations.size());
  for (int64_t i = 0; i < c.Stages(); ++i) {
    const int64_t k = c.up_kernels[i], u = k / 2;
    const int64_t cin = c.initial_channel >> i, ch = c.StageChannels(i);
    OVID_RETURN_IF_ERROR(b.Conv(absl::StrCat("ups.", i), "ups.{i}", {{'i', i}}, {cin, ch, k}, true,
                                u, 1, (k - u) / 2));
    for (int64_t j = 0; j < nk; ++j) {
      const int64_t r = i * nk + j, rk = c.rb_kernels[j];
      for (int64_t m = 0; m < nd; ++m) {
        const int64_t d = c.dilations[m];
        const Vars v = {{'r', r}, {'m', m}};
        OVID_RETURN_IF_ERROR(b.Conv(absl::StrCat("rb.", r, ".convs1.", m), "rb.{r}.convs1.{m}", v,
                                    {ch, ch, rk}, false, 1, d, (rk * d - d) / 2));
        OVID_RETURN_IF_ERROR(b.Conv(absl::StrCat("rb.", r, ".convs2.", m), "rb.{r}.convs2.{m}", v,
                                    {ch, ch, rk}, false, 1, 1, (rk - 1) / 2));
      }
      for (int64_t n = 0; n < 2 * nd; ++n) {
        OVID_RETURN_IF_ERROR(b.Act(absl::StrCat("rb.", r, ".act.", n), "rb.{r}.act.{n}",
                                   {{'r', r}, {'n', n}}, ch, c.filter_taps));
      }
    }
  }
  const int64_t last = c.StageChannels(c.Stages() - 1);
  OVID_RETURN_IF_ERROR(b.Act("act_post", "act_post", {}, last, c.filter_taps));
  OVID_RETURN_IF_ERROR(b.Conv("conv_post", "conv_post", {}, {1, last, 7}, false, 1, 1, 3));
  return out;
}

// The direction (or folded) weight's shape of conv module `m`, whichever form the file uses.
const Shape* WeightShape(const ShapeMap& shapes, const std::string& m) {
  for (const char* suffix : {kV, kP1, "weight"}) {
    auto it = shapes.find(absl::StrCat(m, ".", suffix));
    if (it != shapes.end()) return &it->second;
  }
  return nullptr;
}

WeightForm DetectForm(const ShapeMap& shapes, const std::string& m) {
  auto has = [&](const char* suffix) { return shapes.count(absl::StrCat(m, ".", suffix)) > 0; };
  if (has(kG) || has(kV)) return WeightForm::kWeightNorm;
  if (has(kP0) || has(kP1)) return WeightForm::kParametrized;
  return WeightForm::kFolded;
}

// More than any BigVGAN has (v1 16 kHz: 6, v2 44 kHz: 6 or 7); caps the shift and the hop length.
constexpr int64_t kMaxStages = 16;

absl::StatusOr<BigVganConfig> InferConfig(const audio::AudioKeyTable& table, const ShapeMap& shapes,
                                          const std::string& prefix, absl::string_view source) {
  auto key = [&](const char* pattern, const Vars& v) {
    return audio::AudioFileKey(table, pattern, v, "", prefix);
  };
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", why));
  };
  BigVganConfig c;
  OVID_ASSIGN_OR_RETURN(const std::string pre, key("conv_pre", {}));
  const Shape* s = WeightShape(shapes, pre);
  if (s == nullptr || s->size() != 3) {
    return bad(absl::StrCat("conv_pre's weight is ", s ? audio::ShapeString(*s) : "absent",
                            ", expected [C, mels, 7]"));
  }
  c.initial_channel = (*s)[0];
  c.num_mels = (*s)[1];
  c.up_kernels.clear();
  for (int64_t i = 0;; ++i) {
    OVID_ASSIGN_OR_RETURN(const std::string m, key("ups.{i}", {{'i', i}}));
    const Shape* w = WeightShape(shapes, m);
    if (w == nullptr) break;
    if (w->size() != 3 || (*w)[2] <= 0 || (*w)[2] % 4 != 0) {
      return bad(absl::StrCat(
          m, " weight is ", audio::ShapeString(*w),
          ": ovid reads the upsampling stride as kernel/2 (BigVGAN v1 16 kHz: kernels 8,8,4,4,4,4, "
          "rates 4,4,2,2,2,2) and needs a kernel that is a multiple of 4; this file's stride "
          "cannot be inferred"));
    }
    c.up_kernels.push_back((*w)[2]);
    // Each stage halves the channels (initial_channel >> stages must stay >= 1) and multiplies
    // the hop length: a file listing dozens of stages shifted past 63 bits.
    if (static_cast<int64_t>(c.up_kernels.size()) > kMaxStages) {
      return bad(absl::StrCat("more than ", kMaxStages,
                              " upsampling stages (ups.N); BigVGAN v1 16 kHz has 6"));
    }
  }
  if (c.up_kernels.empty()) return bad("no upsampling stage (ups.0.0) found");
  if (c.StageChannels(c.Stages() - 1) < 1) {
    return bad(absl::StrCat("conv_pre's ", c.initial_channel, " channels cannot be halved ",
                            c.Stages(), " times, once per upsampling stage"));
  }
  int64_t blocks = 0;
  for (;; ++blocks) {
    OVID_ASSIGN_OR_RETURN(const std::string m, key("rb.{r}.convs1.{m}", {{'r', blocks}, {'m', 0}}));
    if (WeightShape(shapes, m) == nullptr) break;
  }
  if (blocks == 0 || blocks % c.Stages() != 0) {
    return bad(absl::StrCat(blocks, " residual blocks (resblocks.N.convs1.0) for ", c.Stages(),
                            " upsampling stages: expected a positive multiple"));
  }
  c.rb_kernels.clear();
  for (int64_t j = 0; j < blocks / c.Stages(); ++j) {
    OVID_ASSIGN_OR_RETURN(const std::string m, key("rb.{r}.convs1.{m}", {{'r', j}, {'m', 0}}));
    const Shape* w = WeightShape(shapes, m);
    if (w->size() != 3) return bad(absl::StrCat(m, " weight is ", audio::ShapeString(*w)));
    // The dilated convs pad by (kernel * d - d) / 2 to keep the length, which only an odd kernel
    // does: an even one loaded and then failed every vocode on the residual add.
    if ((*w)[2] <= 0 || (*w)[2] % 2 == 0) {
      return bad(
          absl::StrCat(m, " weight is ", audio::ShapeString(*w),
                       ": the residual blocks' kernels must be odd (BigVGAN's are 3, 7, 11)"));
    }
    c.rb_kernels.push_back((*w)[2]);
  }
  int64_t convs = 0;
  for (;; ++convs) {
    OVID_ASSIGN_OR_RETURN(const std::string m, key("rb.{r}.convs1.{m}", {{'r', 0}, {'m', convs}}));
    if (WeightShape(shapes, m) == nullptr) break;
  }
  if (convs != 3) {
    return bad(absl::StrCat("resblocks.0 has ", convs,
                            " dilated convs; ovid supports AMPBlock1 with 3 (dilations 1, 3, 5, "
                            "which shapes do not show)"));
  }
  OVID_ASSIGN_OR_RETURN(const std::string act, key("rb.{r}.act.{n}", {{'r', 0}, {'n', 0}}));
  auto filter = shapes.find(act + ".upsample.filter");
  if (filter != shapes.end() && filter->second.size() == 3) {
    // Every anti-aliasing filter the file leaves out is built with this many taps, and the
    // resampling pads by taps/2 - 1: BigVGAN's is 12. A tiny or huge count loads and then fails
    // (or fills gigabytes) far from this tensor.
    const int64_t taps = filter->second[2];
    if (taps < 4 || taps > 64 || taps % 2 != 0) {
      return bad(absl::StrCat(act, ".upsample.filter has ", taps,
                              " taps; ovid takes an even count of 4..64 (BigVGAN's is 12)"));
    }
    c.filter_taps = taps;
  }
  return c;
}

}  // namespace

int64_t BigVganConfig::HopLength() const {
  int64_t hop = 1;
  for (int64_t k : up_kernels) hop *= k / 2;
  return hop;
}

BigVganConfig BigVgan16kConfig() { return BigVganConfig{}; }

BigVganConfig BigVganTinyConfig() {
  BigVganConfig c;
  c.initial_channel = 64;  // stages 32, 16, 8, 4, 2, 1 channels
  return c;
}

const char* WeightFormName(WeightForm form) {
  switch (form) {
    case WeightForm::kWeightNorm:
      return "weight_g/weight_v";
    case WeightForm::kParametrized:
      return "parametrizations";
    case WeightForm::kFolded:
      break;
  }
  return "folded";
}

absl::StatusOr<const audio::AudioKeyTable*> BigVganKeyTable() {
  static const audio::BuiltinAudioKeyTable table("keys.txt", kBigVganKeysText);
  return table.Get();
}

absl::StatusOr<BigVganLayout> BuildBigVganLayout(const BigVganConfig& config, WeightForm form,
                                                 absl::string_view prefix) {
  return Build(config, std::string(prefix), [form](const std::string&) { return form; });
}

absl::StatusOr<BigVganLayout> ResolveBigVganLayout(const std::vector<audio::NamedShape>& tensors,
                                                   absl::string_view source) {
  OVID_ASSIGN_OR_RETURN(const audio::AudioKeyTable* table, BigVganKeyTable());
  ShapeMap shapes;
  for (const audio::NamedShape& t : tensors) shapes[t.name] = t.shape;
  std::vector<std::string> candidates = {""};
  candidates.insert(candidates.end(), table->prefixes.begin(), table->prefixes.end());
  std::vector<std::string> anchors;
  for (const std::string& prefix : candidates) {
    OVID_ASSIGN_OR_RETURN(const std::string pre, audio::AudioFileKey(*table, "conv_pre", {}, "", prefix));
    if (WeightShape(shapes, pre) == nullptr) {
      anchors.push_back(pre + ".weight[_v]");
      continue;
    }
    OVID_ASSIGN_OR_RETURN(BigVganConfig config, InferConfig(*table, shapes, prefix, source));
    OVID_ASSIGN_OR_RETURN(BigVganLayout layout,
                          Build(config, prefix, [&](const std::string& m) { return DetectForm(shapes, m); }));
    OVID_RETURN_IF_ERROR(audio::CheckTensorSet(tensors, layout.tensors, {}, source, "BigVGAN generator"));
    return layout;
  }
  return absl::InvalidArgumentError(absl::StrCat(source, ": not a BigVGAN generator file: none of ",
                                                 absl::StrJoin(anchors, ", "), " is present (",
                                                 tensors.size(), " tensors)"));
}

}  // namespace ovid::bigvgan
