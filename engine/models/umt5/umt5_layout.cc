// File: engine/models/umt5/umt5_layout.cc
#include "engine/models/umt5/umt5_layout.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/status_macros.h"

namespace ovid::umt5 {
namespace {

using Shape = std::vector<int64_t>;

// Long lists (a whole XXL file in the wrong layout) are cut: the first few say enough.
constexpr size_t kMaxListed = 12;

std::string List(const std::vector<std::string>& items) {
  std::vector<std::string> shown(items.begin(), items.begin() + std::min(items.size(), kMaxListed));
  std::string out = absl::StrJoin(shown, ", ");
  if (items.size() > kMaxListed)
    absl::StrAppend(&out, ", ... (", items.size() - kMaxListed, " more)");
  return out;
}

}  // namespace

std::string Umt5ShapeString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<Umt5Layout> DetectUmt5Layout(const std::vector<NamedShape>& tensors,
                                            std::string_view source) {
  Umt5Layout best = Umt5Layout::kGguf;
  size_t best_count = 0;
  for (Umt5Layout layout : kAllUmt5Layouts) {
    const size_t count = std::count_if(tensors.begin(), tensors.end(), [&](const NamedShape& t) {
      return MatchUmt5Key(layout, t.name).has_value();
    });
    if (count > best_count) {
      best = layout;
      best_count = count;
    }
  }
  if (best_count == 0) {
    std::vector<std::string> names;
    for (const NamedShape& t : tensors) names.push_back(t.name);
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source),
                     ": not a UMT5 encoder in any known key layout (pth: token_embedding.weight, "
                     "hf: shared.weight, gguf: token_embd.weight); its ",
                     tensors.size(), " tensors: ", tensors.empty() ? "none" : List(names)));
  }
  return best;
}

namespace {

// UMT5-XXL has 24 blocks and the layout ~10 entries a block: one stray key such as
// "enc.blk.999999.attn_norm.weight" must not size it (it once took gigabytes to report). Checked
// before anything is inferred or built, naming the key.
absl::Status CheckBlockIndices(const std::vector<NamedShape>& tensors, Umt5Layout layout,
                               std::string_view source) {
  constexpr int kMaxUmt5Layers = 256;
  for (const NamedShape& t : tensors) {
    std::optional<Umt5KeyMatch> m = MatchUmt5Key(layout, t.name);
    if (m && m->layer >= kMaxUmt5Layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(source), ": block index ", m->layer, " in '", t.name,
          "' is past the most blocks a UMT5 encoder may have (", kMaxUmt5Layers, ")"));
    }
  }
  return absl::OkStatus();
}

// Fills `c` (starting from the defaults) with every size the tensors show; the first size none
// of them shows is the returned error, its field left at the default. ReadUmt5Spec checks the
// tensor set against this partial config, so a missing tensor does not make all others look
// misshaped.
absl::Status InferInto(const std::vector<NamedShape>& tensors, Umt5Layout layout,
                       std::string_view source, Umt5Config* c) {
  // The first shape seen per table entry (any block), so one missing or odd tensor does not
  // hide the sizes the others show.
  std::map<std::string, Shape> by_entry;
  int max_layer = -1;
  for (const NamedShape& t : tensors) {
    std::optional<Umt5KeyMatch> m = MatchUmt5Key(layout, t.name);
    if (!m) continue;
    by_entry.emplace(m->tmpl, t.shape);
    max_layer = std::max(max_layer, m->layer);
  }
  struct Source {  // a size is dimension `dim` of entry `entry` when it has rank `rank`
    const char* entry;
    size_t rank;
    size_t dim;
  };
  absl::Status first_error;
  auto size = [&](int64_t* field, const char* what, std::initializer_list<Source> sources) {
    for (const Source& s : sources) {
      auto it = by_entry.find(s.entry);
      if (it != by_entry.end() && it->second.size() == s.rank) {
        *field = it->second[s.dim];
        return;
      }
    }
    if (first_error.ok()) {
      first_error = absl::InvalidArgumentError(absl::StrCat(
          std::string(source), ": cannot infer the UMT5 ", what, ": no tensor shows it (layout ",
          Umt5LayoutName(layout), ", looked for '", sources.begin()->entry, "' first)"));
    }
  };
  int64_t inner = c->Inner();
  size(&c->vocab, "vocabulary size", {{"token_embedding", 2, 0}});
  size(&c->d_model, "model width",
       {{"token_embedding", 2, 1},
        {"final_norm", 1, 0},
        {"blocks.{N}.norm1", 1, 0},
        {"blocks.{N}.norm2", 1, 0}});
  size(&c->buckets, "bucket count", {{"blocks.{N}.rel_bias", 2, 0}});
  size(&c->heads, "head count", {{"blocks.{N}.rel_bias", 2, 1}});
  size(&inner, "attention width",
       {{"blocks.{N}.attn.q", 2, 0},
        {"blocks.{N}.attn.k", 2, 0},
        {"blocks.{N}.attn.v", 2, 0},
        {"blocks.{N}.attn.o", 2, 1}});
  size(&c->d_ff, "FFN width",
       {{"blocks.{N}.ffn.gate", 2, 0}, {"blocks.{N}.ffn.up", 2, 0}, {"blocks.{N}.ffn.down", 2, 1}});
  if (max_layer >= 0) c->layers = max_layer + 1;
  if (c->heads <= 0 || inner % c->heads != 0) {
    c->d_kv = 0;  // no set to check against: this error is the report
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": the attention width ", inner, " does not split into ",
                     c->heads, " heads (the relative bias table has ", c->heads, " columns)"));
  }
  c->d_kv = inner / c->heads;
  return first_error;
}

}  // namespace

absl::StatusOr<Umt5Config> InferUmt5Config(const std::vector<NamedShape>& tensors,
                                           Umt5Layout layout, std::string_view source,
                                           const Umt5Config& defaults) {
  Umt5Config c = defaults;
  OVID_RETURN_IF_ERROR(CheckBlockIndices(tensors, layout, source));
  OVID_RETURN_IF_ERROR(InferInto(tensors, layout, source, &c));
  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", s.message()));
  }
  return c;
}

absl::Status CheckUmt5Tensors(const std::vector<Umt5Tensor>& expected,
                              const std::vector<NamedShape>& actual, std::string_view source,
                              Umt5Layout layout) {
  std::map<std::string, const Shape*> present;
  for (const NamedShape& t : actual) present.emplace(t.name, &t.shape);
  std::set<std::string> known;
  std::vector<std::string> missing, misshaped, unexpected;
  for (const Umt5Tensor& t : expected) {
    known.insert(t.names.begin(), t.names.end());
    const std::string* found = nullptr;
    for (const std::string& n : t.names) {
      if (present.count(n)) {
        found = &n;
        break;
      }
    }
    if (found == nullptr) {
      missing.push_back(t.names.size() == 1
                            ? t.names[0]
                            : absl::StrCat(t.names[0], " (or ",
                                           absl::StrJoin(t.names.begin() + 1, t.names.end(), ", "),
                                           ")"));
    } else if (*present[*found] != t.shape) {
      misshaped.push_back(absl::StrCat(*found, " ", Umt5ShapeString(*present[*found]),
                                       " (expected ", Umt5ShapeString(t.shape), ")"));
    }
  }
  for (const NamedShape& t : actual) {
    if (!known.count(t.name)) unexpected.push_back(t.name);
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back(absl::StrCat(missing.size(), " missing: ", List(missing)));
  if (!unexpected.empty()) {
    parts.push_back(absl::StrCat(unexpected.size(), " unexpected: ", List(unexpected)));
  }
  if (!misshaped.empty()) {
    parts.push_back(absl::StrCat(misshaped.size(), " misshaped: ", List(misshaped)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(source), ": UMT5 encoder tensors (layout ", Umt5LayoutName(layout),
                   ") do not match: ", absl::StrJoin(parts, "; ")));
}

absl::StatusOr<Umt5FileSpec> ReadUmt5Spec(const std::vector<NamedShape>& tensors,
                                          std::string_view source, const Umt5Config& defaults) {
  Umt5FileSpec spec;
  OVID_ASSIGN_OR_RETURN(spec.layout, DetectUmt5Layout(tensors, source));
  OVID_RETURN_IF_ERROR(CheckBlockIndices(tensors, spec.layout, source));
  Umt5Config config = defaults;
  const absl::Status inferred = InferInto(tensors, spec.layout, source, &config);
  // The set is checked first: its report lists every problem, where the inference error names
  // only the first size it could not see.
  if (config.layers > 0 && config.heads > 0 && config.d_kv > 0) {
    OVID_ASSIGN_OR_RETURN(spec.tensors, BuildUmt5Layout(config, spec.layout));
    OVID_RETURN_IF_ERROR(CheckUmt5Tensors(spec.tensors, tensors, source, spec.layout));
  }
  OVID_RETURN_IF_ERROR(inferred);
  if (absl::Status s = config.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", s.message()));
  }
  spec.config = config;
  std::set<std::string> present;
  for (const NamedShape& t : tensors) present.insert(t.name);
  for (Umt5Tensor& t : spec.tensors) {
    auto it = std::find_if(t.names.begin(), t.names.end(),
                           [&](const std::string& n) { return present.count(n) > 0; });
    if (it != t.names.end() && it != t.names.begin()) std::iter_swap(t.names.begin(), it);
  }
  return spec;
}

absl::StatusOr<Umt5FileSpec> ExpectUmt5Tensors(const std::vector<NamedShape>& tensors,
                                               std::string_view source,
                                               const Umt5Config& defaults) {
  Umt5FileSpec spec;
  OVID_ASSIGN_OR_RETURN(spec.layout, DetectUmt5Layout(tensors, source));
  OVID_RETURN_IF_ERROR(CheckBlockIndices(tensors, spec.layout, source));
  spec.config = defaults;
  const absl::Status inferred = InferInto(tensors, spec.layout, source, &spec.config);
  if (spec.config.layers <= 0 || spec.config.heads <= 0 || spec.config.d_kv <= 0) {
    return inferred.ok() ? absl::InvalidArgumentError(absl::StrCat(
                               std::string(source), ": the UMT5 shapes give no usable config"))
                         : inferred;
  }
  OVID_ASSIGN_OR_RETURN(spec.tensors, BuildUmt5Layout(spec.config, spec.layout));
  return spec;
}

absl::StatusOr<Umt5FileSpec> ReadUmt5Spec(const gguf::GgufFile& file) {
  Umt5Config defaults;
  if (file.FindMetadata("general.architecture") != nullptr) {
    OVID_ASSIGN_OR_RETURN(const std::string arch, file.GetString("general.architecture"));
    const std::string eps_key = absl::StrCat(arch, ".attention.layer_norm_rms_epsilon");
    if (file.FindMetadata(eps_key) != nullptr) {
      OVID_ASSIGN_OR_RETURN(defaults.eps, file.GetFloat(eps_key));
    }
  }
  constexpr char kMaxDistance[] = "umt5.relative_attention_max_distance";
  if (file.FindMetadata(kMaxDistance) != nullptr) {
    OVID_ASSIGN_OR_RETURN(defaults.max_distance, file.GetInt(kMaxDistance));
  }
  std::vector<NamedShape> tensors;
  for (const gguf::TensorInfo& t : file.tensors()) tensors.push_back({t.name, t.TorchShape()});
  OVID_ASSIGN_OR_RETURN(Umt5FileSpec spec, ReadUmt5Spec(tensors, file.path(), defaults));
  // Every UMT5 parameter is real-valued: an integer tensor would load and silently truncate
  // (the layers cast weights to the activations' type).
  std::set<std::string> expected;
  for (const Umt5Tensor& t : spec.tensors) expected.insert(t.names.begin(), t.names.end());
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (GgmlTypeIsInteger(t.type) && expected.count(t.name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor '", t.name, "' is ",
                                                     GgmlTypeName(t.type),
                                                     "; UMT5's parameters are floating point"));
    }
  }
  return spec;
}

}  // namespace ovid::umt5
