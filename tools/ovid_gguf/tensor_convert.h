// File: tools/ovid_gguf/tensor_convert.h
// Re-encodes one tensor's data from one ggml type to another (through f32, a slice of rows at
// a time, the rows of a slice split across threads), so converting a multi-gigabyte tensor
// needs only a bounded f32 scratch buffer on top of its output.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "kernels/ggml_types.h"

namespace ovid::tools {

// f32 elements converted per slice (64 MiB of scratch).
inline constexpr int64_t kSliceElements = int64_t{16} << 20;

// `src` holds n_rows x row_elements elements of `from`; `out` receives the same elements as
// `to`. Equal types copy. Errors name `tensor` and the unsupported type.
// `overflowed`, if given, receives how many finite values became +-inf in an F16 output
// (|x| >= 65520 rounds past F16's largest, 65504, as ggml rounds them).
absl::Status ConvertTensor(std::string_view tensor, GgmlType from, std::span<const uint8_t> src,
                           GgmlType to, int64_t n_rows, int64_t row_elements, int threads,
                           std::vector<uint8_t>* out, int64_t* overflowed = nullptr);

}  // namespace ovid::tools
