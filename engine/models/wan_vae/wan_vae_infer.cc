#include "engine/models/wan_vae/wan_vae_infer.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"

namespace ovid::wan_vae {
namespace {

using Shape = std::vector<int64_t>;
constexpr int kMaxStages = 8;  // probing bound; Wan2.2 has 4
constexpr int kMaxBlocks = 16;

class Prober {
 public:
  Prober(const KeyTable& table, const std::map<std::string, Shape>& shapes)
      : table_(table), shapes_(shapes) {}

  // The shape of a module parameter, nullopt if the file lacks it.
  absl::StatusOr<std::optional<Shape>> Get(absl::string_view pattern, ModuleVars v, ModuleKind kind,
                                           absl::string_view param) const {
    OVID_ASSIGN_OR_RETURN(std::string key, FileKey(table_, pattern, v, kind, param));
    auto it = shapes_.find(key);
    if (it == shapes_.end()) return std::optional<Shape>();
    last_key_ = key;
    return std::optional<Shape>(it->second);
  }
  // Dimension `axis` of a rank-`rank` parameter; an error names the key when the shape is off.
  absl::StatusOr<std::optional<int64_t>> Dim(absl::string_view pattern, ModuleVars v,
                                             ModuleKind kind, absl::string_view param, size_t rank,
                                             size_t axis) const {
    OVID_ASSIGN_OR_RETURN(std::optional<Shape> s, Get(pattern, v, kind, param));
    if (!s) return std::optional<int64_t>();
    if (s->size() != rank || (*s)[axis] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(last_key_, " has rank ", s->size(),
                                                     ", expected a ", rank, "-D weight"));
    }
    return std::optional<int64_t>((*s)[axis]);
  }
  // The output width of residual block (s, j), from either conv's weight.
  absl::StatusOr<std::optional<int64_t>> ResWidth(absl::string_view pattern, int s, int j) const {
    for (absl::string_view p : {"conv1.weight", "conv2.weight"}) {
      OVID_ASSIGN_OR_RETURN(std::optional<int64_t> d,
                            Dim(pattern, {s, j, -1}, ModuleKind::kRes, p, 5, 0));
      if (d) return d;
    }
    return std::optional<int64_t>();
  }

 private:
  const KeyTable& table_;
  const std::map<std::string, Shape>& shapes_;
  mutable std::string last_key_;
};

// Widths of stages 0.. of `pattern` until a stage has neither block 0 nor block 1.
absl::StatusOr<std::vector<int64_t>> StageWidths(const Prober& p, absl::string_view pattern) {
  std::vector<int64_t> widths;
  for (int s = 0; s < kMaxStages; ++s) {
    std::optional<int64_t> w;
    for (int j = 0; j < 2 && !w; ++j) {
      OVID_ASSIGN_OR_RETURN(w, p.ResWidth(pattern, s, j));
    }
    if (!w) break;
    widths.push_back(*w);
  }
  return widths;
}

}  // namespace

absl::StatusOr<WanVaeConfig> InferWanVaeConfig(const KeyTable& table,
                                               const std::map<std::string, Shape>& shapes,
                                               absl::string_view source) {
  const Prober p(table, shapes);
  auto fail = [&](const absl::Status& s) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot read the Wan VAE config (", table.name, "): ", s.message()));
  };
  WanVaeConfig c;
  absl::StatusOr<std::optional<Shape>> conv_in = p.Get("dec.conv_in", {}, ModuleKind::kConv, "weight");
  if (!conv_in.ok()) return conv_in.status();
  if (!*conv_in || (*conv_in)->size() != 5) {
    return fail(absl::InvalidArgumentError("the decoder's conv_in weight is not 5-D"));
  }
  c.dec_in_dim = (**conv_in)[0];
  c.z_dim = (**conv_in)[1];

  absl::StatusOr<std::vector<int64_t>> dec = StageWidths(p, "dec.up.{s}.res.{j}");
  if (!dec.ok()) return fail(dec.status());
  if (dec->empty()) return fail(absl::InvalidArgumentError("no decoder up stages"));
  c.dec_stage_dims = *dec;

  int blocks = 0;
  for (int j = 0; j < kMaxBlocks; ++j) {
    absl::StatusOr<std::optional<int64_t>> w = p.ResWidth("dec.up.{s}.res.{j}", 0, j);
    if (!w.ok()) return fail(w.status());
    if (!*w) break;
    blocks = j + 1;
  }
  if (blocks == 0) return fail(absl::InvalidArgumentError("no residual blocks in up stage 0"));
  c.num_res_blocks = blocks - 1;

  c.dec_temporal.clear();
  for (size_t s = 0; s + 1 < c.dec_stage_dims.size(); ++s) {
    const ModuleVars v{static_cast<int>(s), -1, static_cast<int>(c.num_res_blocks) + 1};
    absl::StatusOr<std::optional<Shape>> tc = p.Get("dec.up.{s}.time_conv", v, ModuleKind::kConv, "weight");
    if (!tc.ok()) return fail(tc.status());
    c.dec_temporal.push_back(tc->has_value());
  }

  absl::StatusOr<std::optional<int64_t>> head =
      p.Dim("dec.head.conv", {}, ModuleKind::kConv, "weight", 5, 0);
  if (!head.ok()) return fail(head.status());
  if (*head) {
    const int64_t patch = std::llround(std::sqrt(static_cast<double>(**head) / 3.0));
    if (patch <= 0 || 3 * patch * patch != **head) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "the decoder head has ", **head, " output channels, not 3 * patch² (12 for Wan2.2)")));
    }
    c.patch = patch;
  }

  absl::StatusOr<std::optional<int64_t>> enc_in =
      p.Dim("enc.conv_in", {}, ModuleKind::kConv, "weight", 5, 0);
  if (!enc_in.ok()) return fail(enc_in.status());
  c.has_encoder = enc_in->has_value();
  if (c.has_encoder) {
    c.enc_in_dim = **enc_in;
    absl::StatusOr<std::vector<int64_t>> enc = StageWidths(p, "enc.down.{s}.res.{j}");
    if (!enc.ok()) return fail(enc.status());
    if (enc->empty()) return fail(absl::InvalidArgumentError("no encoder down stages"));
    c.enc_stage_dims = *enc;
    c.enc_temporal.clear();
    for (size_t s = 0; s + 1 < c.enc_stage_dims.size(); ++s) {
      const ModuleVars v{static_cast<int>(s), -1, static_cast<int>(c.num_res_blocks)};
      absl::StatusOr<std::optional<Shape>> tc =
          p.Get("enc.down.{s}.time_conv", v, ModuleKind::kConv, "weight");
      if (!tc.ok()) return fail(tc.status());
      c.enc_temporal.push_back(tc->has_value());
    }
  } else {
    c.enc_stage_dims.clear();
    c.enc_temporal.clear();
  }
  absl::Status valid = c.Validate();
  if (!valid.ok()) return fail(valid);
  return c;
}

}  // namespace ovid::wan_vae
