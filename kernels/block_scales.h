// File: kernels/block_scales.h
// Where each block format keeps its fp16 scale fields (d, and dmin/m where present). Test and
// benchmark generators write finite values there so random blocks decode to finite floats; the
// offsets come from the block structs themselves, so they cannot drift from the layouts.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/ggml_types.h"

namespace ovid {

// Byte offsets of the fp16 scale fields within one block; empty for float types.
inline std::vector<int> HalfScaleOffsets(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0: return {offsetof(BlockQ4_0, d)};
    case GgmlType::kQ5_0: return {offsetof(BlockQ5_0, d)};
    case GgmlType::kQ8_0: return {offsetof(BlockQ8_0, d)};
    case GgmlType::kQ4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case GgmlType::kQ5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case GgmlType::kQ2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case GgmlType::kQ3_K: return {offsetof(BlockQ3_K, d)};
    case GgmlType::kQ4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case GgmlType::kQ5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case GgmlType::kQ6_K: return {offsetof(BlockQ6_K, d)};
    default: return {};
  }
}

}  // namespace ovid
