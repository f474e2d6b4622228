// File: tests/umt5/umt5_test_util.cc
#include "tests/umt5/umt5_test_util.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/match.h"

namespace ovid::umt5::testing {
namespace {

// FNV-1a: a seed that depends on the canonical name only (std::hash promises no stability).
uint32_t NameSeed(const std::string& name) {
  uint32_t h = 2166136261u;
  for (char ch : name) h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
  return h;
}

}  // namespace

std::vector<ovid::testing::TestTensor> TinyUmt5Tensors(Umt5Layout layout, GgmlType linear_type,
                                                       GgmlType embedding_type) {
  absl::StatusOr<std::vector<Umt5Tensor>> tensors = BuildUmt5Layout(Umt5TinyConfig(), layout);
  std::vector<ovid::testing::TestTensor> out;
  if (!tensors.ok()) return out;
  for (const Umt5Tensor& t : *tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    const bool norm = absl::StrContains(t.canonical, "norm");
    const bool bias = absl::StrContains(t.canonical, "rel_bias");
    const bool embedding = t.canonical == "token_embedding";
    const float scale = norm        ? 0.1f
                        : bias      ? 0.5f
                        : embedding ? 1.0f
                                    : 1.0f / std::sqrt(static_cast<float>(t.shape[1]));
    std::vector<float> values = ovid::testing::RandomValues(n, NameSeed(t.canonical), scale);
    if (norm) {
      for (float& v : values) v += 1.0f;
    }
    const GgmlType type = embedding        ? embedding_type
                          : (norm || bias) ? GgmlType::kF32
                                           : linear_type;
    out.push_back({t.names[0], type, t.shape, std::move(values)});
  }
  return out;
}

absl::StatusOr<std::string> WriteUmt5Gguf(const std::string& file_name,
                                          std::vector<ovid::testing::TestTensor> tensors) {
  return ovid::testing::WriteTestGguf(file_name, std::move(tensors));
}

}  // namespace ovid::umt5::testing
