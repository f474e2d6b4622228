// File: engine/models/umt5/umt5_keys.h
// The UMT5 key layouts (keys/*.keys, compiled in): the canonical tensor set with its shapes, and
// per source layout the name each canonical tensor has in a file. Everything here reads the
// tables; no layout is spelled out in code. No LibTorch: std + absl only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/umt5/umt5_config.h"

namespace ovid::umt5 {

enum class Umt5Layout : uint8_t {
  kPth,   // Wan/Ovi original .pth names (token_embedding.weight, blocks.N.attn.q.weight)
  kHf,    // Hugging Face UMT5EncoderModel (shared.weight, encoder.block.N.layer.0...)
  kGguf,  // llama.cpp t5encoder GGUF (token_embd.weight, enc.blk.N.attn_q.weight)
};
inline constexpr Umt5Layout kAllUmt5Layouts[] = {Umt5Layout::kPth, Umt5Layout::kHf,
                                                 Umt5Layout::kGguf};
const char* Umt5LayoutName(Umt5Layout layout);  // "pth", "hf", "gguf"
std::optional<Umt5Layout> ParseUmt5Layout(std::string_view name);

// One tensor of a layout for a given config.
struct Umt5Tensor {
  std::string canonical;           // "blocks.3.attn.q"
  std::vector<std::string> names;  // its names in the layout: [0] preferred, then accepted aliases
  std::vector<int64_t> shape;      // torch order
  int layer = -1;                  // block index, -1 outside the blocks
};

// Every tensor of `layout` for `config`: non-block tensors and blocks 0..layers-1 in table
// order. INTERNAL if a compiled-in table is malformed (tests/umt5 parses them all).
absl::StatusOr<std::vector<Umt5Tensor>> BuildUmt5Layout(const Umt5Config& config,
                                                        Umt5Layout layout);

// The canonical name and block index of a file's tensor name in `layout`, or nullopt.
struct Umt5KeyMatch {
  std::string canonical;  // "blocks.3.attn.q"
  std::string tmpl;       // its table entry, "blocks.{N}.attn.q"
  int layer = -1;
};
std::optional<Umt5KeyMatch> MatchUmt5Key(Umt5Layout layout, std::string_view name);

}  // namespace ovid::umt5
