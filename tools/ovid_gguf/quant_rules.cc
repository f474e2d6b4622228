#include "tools/ovid_gguf/quant_rules.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/models/ovi/ovi_layout.h"

namespace ovid::tools {

absl::StatusOr<QuantRules> ParseQuantRules(const std::optional<std::string>& rules) {
  if (!rules || *rules == "none") return QuantRules::kNone;
  if (*rules == "ovi") return QuantRules::kOvi;
  return absl::InvalidArgumentError(
      absl::StrCat("--rules: unknown rule set '", *rules, "' (valid: ovi, none)"));
}

const std::vector<QuantMix>& QuantMixes() {
  using T = GgmlType;
  // file_type values are llama.cpp's: plain K types without a mix suffix take the _S number,
  // the closest llama.cpp has (it names no pure-Q4_K file type).
  // clang-format off
  static const std::vector<QuantMix> kMixes = {
      // name      base        sensitive   file_type
      {"F32",     T::kF32,    T::kF32,    0},
      {"F16",     T::kF16,    T::kF16,    1},
      {"BF16",    T::kBF16,   T::kBF16,   32},
      {"Q8_0",    T::kQ8_0,   T::kQ8_0,   7},
      {"Q6_K",    T::kQ6_K,   T::kQ6_K,   18},
      {"Q5_K_M",  T::kQ5_K,   T::kQ6_K,   17},
      {"Q5_K_S",  T::kQ5_K,   T::kQ5_K,   16},
      {"Q5_K",    T::kQ5_K,   T::kQ5_K,   16},
      {"Q5_1",    T::kQ5_1,   T::kQ5_1,   9},
      {"Q5_0",    T::kQ5_0,   T::kQ5_0,   8},
      {"Q4_K_M",  T::kQ4_K,   T::kQ6_K,   15},
      {"Q4_K_S",  T::kQ4_K,   T::kQ5_K,   14},
      {"Q4_K",    T::kQ4_K,   T::kQ4_K,   14},
      {"Q4_1",    T::kQ4_1,   T::kQ4_1,   3},
      {"Q4_0",    T::kQ4_0,   T::kQ4_0,   2},
      {"Q3_K_L",  T::kQ3_K,   T::kQ5_K,   13},
      {"Q3_K_M",  T::kQ3_K,   T::kQ4_K,   12},
      {"Q3_K_S",  T::kQ3_K,   T::kQ3_K,   11},
      {"Q3_K",    T::kQ3_K,   T::kQ3_K,   11},
      {"Q2_K",    T::kQ2_K,   T::kQ3_K,   10},
  };
  // clang-format on
  return kMixes;
}

absl::StatusOr<QuantMix> FindQuantMix(std::string_view name) {
  std::vector<std::string> names;
  for (const QuantMix& mix : QuantMixes()) {
    // Debian's abseil has its own string_view type, hence the explicit views.
    if (absl::EqualsIgnoreCase(absl::string_view(mix.name.data(), mix.name.size()),
                               absl::string_view(name.data(), name.size()))) {
      return mix;
    }
    names.emplace_back(mix.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown quantization type or mix '",
                                                 std::string(name),
                                                 "' (valid: ", absl::StrJoin(names, ", "), ")"));
}

bool IsFloatSource(GgmlType type) {
  return type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16;
}

bool IsSensitiveWeight(std::string_view name) {
  return name.ends_with(".v.weight") || name.ends_with(".ffn.2.weight");
}

GgmlType ChooseTensorType(const QuantMix& mix, QuantRules rules, std::string_view name,
                          GgmlType source, const std::vector<int64_t>& ne) {
  if (!IsFloatSource(source) || ne.size() != 2) return source;
  GgmlType target = mix.base;
  if (rules == QuantRules::kOvi) {
    const std::optional<ovi::OviKeyInfo> key = ovi::ClassifyOviKey(name);
    const bool block_linear =
        key && key->part == ovi::OviPart::kBlock && key->role == ovi::OviRole::kLinearWeight;
    if (!block_linear) return source;
    if (IsSensitiveWeight(name)) target = mix.sensitive;
  }
  if (ne[0] % GgmlInfo(target).block_size != 0) return source;
  return target;
}

}  // namespace ovid::tools
