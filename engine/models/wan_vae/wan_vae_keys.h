// File: engine/models/wan_vae/wan_vae_keys.h
// Which tensors a Wan2.2 VAE file holds, under which names. The names are data: one key table
// per source layout (keys_original.txt, keys_diffusers.txt, compiled in), mapping ovid's logical
// module names ("dec.up.{s}.res.{j}") to file prefixes and each module kind's parameters to file
// suffixes. A file's layout is detected from its names, its config inferred from its shapes, and
// the whole tensor set checked at once: ONE error naming the file and every missing,
// unexpected and misshaped tensor. Torch-free (std + absl).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/wan_vae/wan_vae_config.h"

namespace ovid::wan_vae {

enum class WanVaeLayout : uint8_t { kOriginal, kDiffusers };
const char* WanVaeLayoutName(WanVaeLayout layout);  // "original", "diffusers"

enum class ModuleKind : uint8_t { kConv, kRes, kAttn, kNorm };
const char* ModuleKindName(ModuleKind kind);  // "conv", "res", "attn", "norm"

// One parsed key table.
struct KeyTable {
  std::string name;
  std::map<std::string, std::string> modules;                        // logical pattern -> file
  std::map<std::pair<std::string, std::string>, std::string> params;  // (kind, logical) -> file
};

// Parses the text format described at the top of keys_original.txt. Errors name `name` and the
// line.
absl::StatusOr<KeyTable> ParseKeyTable(absl::string_view name, absl::string_view text);
// The compiled-in table of a layout (parsed once; a broken built-in table is an INTERNAL error).
absl::StatusOr<const KeyTable*> BuiltinKeyTable(WanVaeLayout layout);

// Placeholder values of one module instance: {s} stage, {j} block, {k} resampler index.
struct ModuleVars {
  int s = -1;
  int j = -1;
  int k = -1;
};

// The file name of parameter `param` of module `pattern` (with `vars`), or an error naming the
// table row that is missing.
absl::StatusOr<std::string> FileKey(const KeyTable& table, absl::string_view pattern,
                                    const ModuleVars& vars, ModuleKind kind,
                                    absl::string_view param);

struct WanVaeTensor {
  std::string logical;  // "dec.up.2.res.0.shortcut.weight": what the model binds
  std::string file;     // the name in the file
  std::vector<int64_t> shape;
};

// Every tensor a model with `config` has (the encoder only if config.has_encoder), named by
// `table`.
absl::StatusOr<std::vector<WanVaeTensor>> BuildWanVaeLayout(const WanVaeConfig& config,
                                                            const KeyTable& table);

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;
};

struct ResolvedLayout {
  WanVaeLayout layout = WanVaeLayout::kOriginal;
  WanVaeConfig config;
  std::vector<WanVaeTensor> tensors;
};

// Detects the layout from the names and infers the config from the shapes, WITHOUT checking the
// set (ovid-gguf keys compares it itself, to list the problems one by one).
absl::StatusOr<ResolvedLayout> ExpectWanVaeLayout(const std::vector<NamedShape>& tensors,
                                                  absl::string_view source);

// Detects the layout from the names, infers the config from the shapes and checks the whole set.
// `source` (the file path) starts every error message.
absl::StatusOr<ResolvedLayout> ResolveWanVaeLayout(const std::vector<NamedShape>& tensors,
                                                   absl::string_view source);

}  // namespace ovid::wan_vae
