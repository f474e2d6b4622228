#include "engine/models/wan_vae/wan_vae_keys.h"

#include <cmath>
#include <mutex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/key_table_rows.h"
#include "engine/models/layout_messages.h"
#include "engine/models/wan_vae/wan_vae_infer.h"
#include "engine/models/wan_vae/wan_vae_key_tables.h"

namespace ovid::wan_vae {
namespace {

using Shape = std::vector<int64_t>;

std::string Substitute(absl::string_view pattern, const ModuleVars& v) {
  return absl::StrReplaceAll(pattern, {{"{s}", absl::StrCat(v.s)},
                                       {"{j}", absl::StrCat(v.j)},
                                       {"{k}", absl::StrCat(v.k)}});
}

// Collects the tensors of one module instance.
class LayoutBuilder {
 public:
  explicit LayoutBuilder(const KeyTable& table) : table_(table) {}

  absl::Status Conv(absl::string_view pattern, ModuleVars v, Shape weight) {
    const int64_t out = weight[0];
    OVID_RETURN_IF_ERROR(Add(pattern, v, ModuleKind::kConv, "weight", std::move(weight)));
    return Add(pattern, v, ModuleKind::kConv, "bias", {out});
  }
  absl::Status Res(absl::string_view pattern, ModuleVars v, int64_t in, int64_t out) {
    const ModuleKind k = ModuleKind::kRes;
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "norm1.gamma", {in, 1, 1, 1}));
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "conv1.weight", {out, in, 3, 3, 3}));
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "conv1.bias", {out}));
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "norm2.gamma", {out, 1, 1, 1}));
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "conv2.weight", {out, out, 3, 3, 3}));
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "conv2.bias", {out}));
    if (in == out) return absl::OkStatus();
    OVID_RETURN_IF_ERROR(Add(pattern, v, k, "shortcut.weight", {out, in, 1, 1, 1}));
    return Add(pattern, v, k, "shortcut.bias", {out});
  }
  absl::Status Attn(absl::string_view pattern, int64_t c) {
    const ModuleKind k = ModuleKind::kAttn;
    OVID_RETURN_IF_ERROR(Add(pattern, {}, k, "norm.gamma", {c, 1, 1}));
    OVID_RETURN_IF_ERROR(Add(pattern, {}, k, "to_qkv.weight", {3 * c, c, 1, 1}));
    OVID_RETURN_IF_ERROR(Add(pattern, {}, k, "to_qkv.bias", {3 * c}));
    OVID_RETURN_IF_ERROR(Add(pattern, {}, k, "proj.weight", {c, c, 1, 1}));
    return Add(pattern, {}, k, "proj.bias", {c});
  }
  absl::Status Norm(absl::string_view pattern, int64_t c) {
    return Add(pattern, {}, ModuleKind::kNorm, "gamma", {c, 1, 1, 1});
  }
  std::vector<WanVaeTensor> Take() { return std::move(out_); }

 private:
  absl::Status Add(absl::string_view pattern, const ModuleVars& v, ModuleKind kind,
                   absl::string_view param, Shape shape) {
    OVID_ASSIGN_OR_RETURN(std::string file, FileKey(table_, pattern, v, kind, param));
    out_.push_back({absl::StrCat(Substitute(pattern, v), ".", param), std::move(file),
                    std::move(shape)});
    return absl::OkStatus();
  }
  const KeyTable& table_;
  std::vector<WanVaeTensor> out_;
};

absl::Status AddDecoder(const WanVaeConfig& c, LayoutBuilder& b) {
  const int64_t d0 = c.dec_in_dim;
  OVID_RETURN_IF_ERROR(b.Conv("post_quant_conv", {}, {c.z_dim, c.z_dim, 1, 1, 1}));
  OVID_RETURN_IF_ERROR(b.Conv("dec.conv_in", {}, {d0, c.z_dim, 3, 3, 3}));
  OVID_RETURN_IF_ERROR(b.Res("dec.mid.res.0", {}, d0, d0));
  OVID_RETURN_IF_ERROR(b.Attn("dec.mid.attn", d0));
  OVID_RETURN_IF_ERROR(b.Res("dec.mid.res.1", {}, d0, d0));
  int64_t in = d0;
  const int stages = static_cast<int>(c.dec_stage_dims.size());
  for (int s = 0; s < stages; ++s) {
    const int64_t out = c.dec_stage_dims[s];
    // Decoder stages hold num_res_blocks + 1 residual blocks, then the resampler.
    const int k = static_cast<int>(c.num_res_blocks) + 1;
    for (int j = 0; j < k; ++j) {
      OVID_RETURN_IF_ERROR(b.Res("dec.up.{s}.res.{j}", {s, j, k}, j == 0 ? in : out, out));
    }
    if (s + 1 < stages) {
      OVID_RETURN_IF_ERROR(b.Conv("dec.up.{s}.resample", {s, -1, k}, {out, out, 3, 3}));
      if (c.dec_temporal[s]) {
        OVID_RETURN_IF_ERROR(b.Conv("dec.up.{s}.time_conv", {s, -1, k}, {2 * out, out, 3, 1, 1}));
      }
    }
    in = out;
  }
  OVID_RETURN_IF_ERROR(b.Norm("dec.head.norm", in));
  return b.Conv("dec.head.conv", {}, {c.PatchedChannels(), in, 3, 3, 3});
}

absl::Status AddEncoder(const WanVaeConfig& c, LayoutBuilder& b) {
  OVID_RETURN_IF_ERROR(b.Conv("enc.conv_in", {}, {c.enc_in_dim, c.PatchedChannels(), 3, 3, 3}));
  int64_t in = c.enc_in_dim;
  const int stages = static_cast<int>(c.enc_stage_dims.size());
  for (int s = 0; s < stages; ++s) {
    const int64_t out = c.enc_stage_dims[s];
    const int k = static_cast<int>(c.num_res_blocks);
    for (int j = 0; j < k; ++j) {
      OVID_RETURN_IF_ERROR(b.Res("enc.down.{s}.res.{j}", {s, j, k}, j == 0 ? in : out, out));
    }
    if (s + 1 < stages) {
      OVID_RETURN_IF_ERROR(b.Conv("enc.down.{s}.resample", {s, -1, k}, {out, out, 3, 3}));
      if (c.enc_temporal[s]) {
        OVID_RETURN_IF_ERROR(b.Conv("enc.down.{s}.time_conv", {s, -1, k}, {out, out, 3, 1, 1}));
      }
    }
    in = out;
  }
  OVID_RETURN_IF_ERROR(b.Res("enc.mid.res.0", {}, in, in));
  OVID_RETURN_IF_ERROR(b.Attn("enc.mid.attn", in));
  OVID_RETURN_IF_ERROR(b.Res("enc.mid.res.1", {}, in, in));
  OVID_RETURN_IF_ERROR(b.Norm("enc.head.norm", in));
  OVID_RETURN_IF_ERROR(b.Conv("enc.head.conv", {}, {2 * c.z_dim, in, 3, 3, 3}));
  return b.Conv("quant_conv", {}, {2 * c.z_dim, 2 * c.z_dim, 1, 1, 1});
}

using models::AppendCapped;
using models::ShapeString;

}  // namespace

const char* WanVaeLayoutName(WanVaeLayout layout) {
  return layout == WanVaeLayout::kOriginal ? "original" : "diffusers";
}

const char* ModuleKindName(ModuleKind kind) {
  switch (kind) {
    case ModuleKind::kConv:
      return "conv";
    case ModuleKind::kRes:
      return "res";
    case ModuleKind::kAttn:
      return "attn";
    case ModuleKind::kNorm:
      break;
  }
  return "norm";
}

absl::StatusOr<KeyTable> ParseKeyTable(absl::string_view name, absl::string_view text) {
  KeyTable table;
  table.name = std::string(name);
  const absl::Status parsed = models::ForEachKeyTableRow(
      name, text, [&](const std::vector<absl::string_view>& f, const models::RowError& bad) {
        if (f[0] == "module" && f.size() == 3) {
          if (!table.modules.emplace(std::string(f[1]), std::string(f[2])).second) {
            return bad("duplicate module");
          }
        } else if (f[0] == "param" && f.size() == 4) {
          if (f[1] != "conv" && f[1] != "res" && f[1] != "attn" && f[1] != "norm") {
            return bad("unknown module kind");
          }
          if (!table.params
                   .emplace(std::pair(std::string(f[1]), std::string(f[2])), std::string(f[3]))
                   .second) {
            return bad("duplicate param");
          }
        } else {
          return bad("expected 'module LOGICAL FILE' or 'param KIND LOGICAL FILE'");
        }
        return absl::OkStatus();
      });
  if (!parsed.ok()) return parsed;
  return table;
}

absl::StatusOr<const KeyTable*> BuiltinKeyTable(WanVaeLayout layout) {
  static std::once_flag once;
  static absl::StatusOr<KeyTable> tables[2] = {absl::UnknownError(""), absl::UnknownError("")};
  std::call_once(once, [] {
    tables[0] = ParseKeyTable("keys_original.txt", kKeysOriginalText);
    tables[1] = ParseKeyTable("keys_diffusers.txt", kKeysDiffusersText);
  });
  const absl::StatusOr<KeyTable>& t = tables[layout == WanVaeLayout::kOriginal ? 0 : 1];
  if (!t.ok()) return absl::InternalError(t.status().message());
  return &*t;
}

absl::StatusOr<std::string> FileKey(const KeyTable& table, absl::string_view pattern,
                                    const ModuleVars& vars, ModuleKind kind,
                                    absl::string_view param) {
  auto m = table.modules.find(std::string(pattern));
  if (m == table.modules.end()) {
    return absl::InternalError(
        absl::StrCat("key table ", table.name, " has no row 'module ", pattern, "'"));
  }
  auto p = table.params.find({ModuleKindName(kind), std::string(param)});
  if (p == table.params.end()) {
    return absl::InternalError(absl::StrCat("key table ", table.name, " has no row 'param ",
                                            ModuleKindName(kind), " ", param, "'"));
  }
  return absl::StrCat(Substitute(m->second, vars), ".", p->second);
}

absl::StatusOr<std::vector<WanVaeTensor>> BuildWanVaeLayout(const WanVaeConfig& config,
                                                            const KeyTable& table) {
  LayoutBuilder b(table);
  OVID_RETURN_IF_ERROR(AddDecoder(config, b));
  if (config.has_encoder) OVID_RETURN_IF_ERROR(AddEncoder(config, b));
  return b.Take();
}

absl::StatusOr<ResolvedLayout> ExpectWanVaeLayout(const std::vector<NamedShape>& tensors,
                                                  absl::string_view source) {
  std::map<std::string, Shape> shapes;
  for (const NamedShape& t : tensors) shapes[t.name] = t.shape;
  ResolvedLayout out;
  const KeyTable* table = nullptr;
  std::vector<std::string> anchors;
  for (WanVaeLayout layout : {WanVaeLayout::kOriginal, WanVaeLayout::kDiffusers}) {
    OVID_ASSIGN_OR_RETURN(const KeyTable* t, BuiltinKeyTable(layout));
    OVID_ASSIGN_OR_RETURN(std::string anchor,
                          FileKey(*t, "dec.conv_in", {}, ModuleKind::kConv, "weight"));
    if (shapes.count(anchor)) {
      table = t;
      out.layout = layout;
      break;
    }
    anchors.push_back(absl::StrCat(anchor, " (", WanVaeLayoutName(layout), ")"));
  }
  if (table == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a Wan2.2 VAE file: none of ", absl::StrJoin(anchors, ", "),
                     " is present (", tensors.size(), " tensors)"));
  }
  OVID_ASSIGN_OR_RETURN(out.config, InferWanVaeConfig(*table, shapes, source));
  OVID_ASSIGN_OR_RETURN(out.tensors, BuildWanVaeLayout(out.config, *table));
  return out;
}

absl::StatusOr<ResolvedLayout> ResolveWanVaeLayout(const std::vector<NamedShape>& tensors,
                                                   absl::string_view source) {
  OVID_ASSIGN_OR_RETURN(ResolvedLayout out, ExpectWanVaeLayout(tensors, source));
  std::set<std::string> seen;
  std::vector<std::string> missing, unexpected, misshaped;
  std::map<std::string, const WanVaeTensor*> expected;
  for (const WanVaeTensor& t : out.tensors) expected[t.file] = &t;
  for (const NamedShape& a : tensors) {
    auto it = expected.find(a.name);
    if (it == expected.end()) {
      unexpected.push_back(a.name);
      continue;
    }
    seen.insert(a.name);
    if (it->second->shape != a.shape) {
      misshaped.push_back(absl::StrCat(a.name, " is ", ShapeString(a.shape), ", expected ",
                                       ShapeString(it->second->shape)));
    }
  }
  for (const WanVaeTensor& t : out.tensors) {
    if (!seen.count(t.file)) missing.push_back(absl::StrCat(t.file, " ", ShapeString(t.shape)));
  }
  if (missing.empty() && unexpected.empty() && misshaped.empty()) return out;
  std::vector<std::string> parts;
  AppendCapped(missing, "missing", &parts);
  AppendCapped(unexpected, "unexpected", &parts);
  AppendCapped(misshaped, "misshaped", &parts);
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": tensors do not match the Wan2.2 VAE (", WanVaeLayoutName(out.layout),
                   " layout): ", absl::StrJoin(parts, "; ")));
}

}  // namespace ovid::wan_vae
