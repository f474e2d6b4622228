// File: tests/umt5/umt5_test_util.h
// Tiny UMT5 GGUFs for the tests: the tensor set of a layout (Umt5TinyConfig) with values that
// depend only on the canonical name, so the same model written in the pth, hf and gguf layouts
// must give the same outputs.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/umt5/umt5_keys.h"
#include "kernels/ggml_types.h"
#include "tests/engine/test_gguf.h"

namespace ovid::umt5::testing {

// Linear weights get `linear_type`, the token table `embedding_type`, the rest F32. Scales keep
// activations near unit size: linear 1/sqrt(fan_in), norms 1 +- 0.1, bias tables 0.5,
// embeddings 1.
std::vector<ovid::testing::TestTensor> TinyUmt5Tensors(Umt5Layout layout,
                                                       GgmlType linear_type = GgmlType::kF32,
                                                       GgmlType embedding_type = GgmlType::kF32);

// Writes `tensors` under the test temp dir.
absl::StatusOr<std::string> WriteUmt5Gguf(const std::string& file_name,
                                          std::vector<ovid::testing::TestTensor> tensors);

}  // namespace ovid::umt5::testing
