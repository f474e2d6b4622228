// File: tools/ovid_gguf/quant_rules.h
// Quantization mixes (`--type Q4_K_M`, ...) and the rule that picks each tensor's output type.
// Shared by `quantize` and `synth` so a synthesized model is quantized exactly like a real one.
// README.md, "Quantization types and mixes" documents the table below; keep the two in step.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ggml_types.h"

namespace ovid::tools {

// kNone: every 2-D F32/F16/BF16 tensor is a candidate. kOvi: spec ovi.md §6, only the 2-D
// Linear weights inside the blocks; modulation, patch/text/time embeddings, time projection and
// the heads keep their precision, and mixes may bump the sensitive weights (see below).
enum class QuantRules : uint8_t { kNone, kOvi };

// "--rules" value: absent or "none" -> kNone, "ovi" -> kOvi; anything else InvalidArgument.
absl::StatusOr<QuantRules> ParseQuantRules(const std::optional<std::string>& rules);

struct QuantMix {
  std::string_view name;  // as typed on the command line, canonical case ("Q4_K_M")
  GgmlType base;          // type of every quantized tensor...
  GgmlType sensitive;     // ...except `.v.weight` and `.ffn.2.weight` under kOvi
  uint32_t file_type;     // general.file_type (llama.cpp's LLAMA_FTYPE numbering)
};

// Every accepted --type value, in documentation order.
const std::vector<QuantMix>& QuantMixes();

// Case-insensitive lookup; InvalidArgument naming the value and listing the valid ones.
absl::StatusOr<QuantMix> FindQuantMix(std::string_view name);

// True for the source types a tensor can be quantized from.
bool IsFloatSource(GgmlType type);

// The self/cross-attention value projections and the FFN down projection: the weights llama.cpp's
// K_M/K_L mixes keep at higher precision (spec ovi.md §6: ".v.weight" and ".ffn.2.weight").
bool IsSensitiveWeight(std::string_view name);

// The output type of one tensor (`ne` in ggml order, `source` its type in the input). A tensor
// that is not a candidate, or whose row length (ne[0]) is not a multiple of the chosen type's
// block, keeps its source type.
GgmlType ChooseTensorType(const QuantMix& mix, QuantRules rules, std::string_view name,
                          GgmlType source, const std::vector<int64_t>& ne);

}  // namespace ovid::tools
