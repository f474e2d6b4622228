// File: tests/engine/test_gguf.h
// Small GGUF files for the engine tests: random weights quantized with the project's CPU
// quantizers (kernels/cpu/quantize.h) and written with GgufWriter. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/metadata.h"
#include "kernels/ggml_types.h"

namespace ovid::testing {

struct TestTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // torch order ([out, in] for a linear weight)
  // f32 source values (random if empty); quantized / converted to `type` when written.
  std::vector<float> values = {};
  // For types ovid cannot quantize (an "unsupported" tensor): write zero bytes instead.
  bool zero_bytes = false;
};

// Deterministic N(0, scale^2)-ish values.
std::vector<float> RandomValues(int64_t n, uint32_t seed, float scale = 0.05f);

// Writes `tensors` (and `metadata`, in order) to a fresh file under the test temp dir; returns
// its path.
absl::StatusOr<std::string> WriteTestGguf(
    const std::string& file_name, std::vector<TestTensor> tensors,
    std::vector<std::pair<std::string, gguf::Value>> metadata = {});

// The bytes a tensor of `type` and `shape` occupies in the file.
int64_t TensorBytes(GgmlType type, const std::vector<int64_t>& shape);

}  // namespace ovid::testing
