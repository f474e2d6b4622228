// File: kernels/cpu/dequantize.h
// CPU reference dequantization of every format ovid supports (F32, F16, BF16, Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) into f32, f16 or bf16.
//
// Bit-exact with ggml's dequantize_row_*: all arithmetic in fp32 with the formula order of
// shared spec ggml.md §3 (every product there is exact, so the only rounding is the final
// add/sub), then one round-to-nearest-even to the 16-bit output type. NaN/Inf scales propagate.
// The CUDA kernels are checked against these functions.
//
// `src` points at raw blocks as stored in a GGUF file; it must be aligned to 2 bytes (every
// block size is even and GGUF tensor data is 32-aligned). f16/bf16 output is bit patterns.
#pragma once

#include <cstdint>

#include "kernels/ggml_types.h"

namespace ovid {

enum class FloatFormat : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2 };
inline constexpr int FloatFormatBytes(FloatFormat f) { return f == FloatFormat::kF32 ? 4 : 2; }
const char* FloatFormatName(FloatFormat f);

// One function per format: `n_blocks` consecutive blocks -> n_blocks * block_size floats.
void DequantizeF16(const void* src, float* dst, int64_t n_blocks);
void DequantizeBF16(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ4_0(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ4_1(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ5_0(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ5_1(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ8_0(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ2_K(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ3_K(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ4_K(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ5_K(const void* src, float* dst, int64_t n_blocks);
void DequantizeQ6_K(const void* src, float* dst, int64_t n_blocks);

// Dequantizes `n_elements` contiguous elements (a multiple of the block size) of `type` into
// `dst` in format `out`. Returns false, touching nothing, if `type` is not dequantizable or
// n_elements is negative or not a multiple of the block size.
bool DequantizeRow(GgmlType type, const void* src, void* dst, FloatFormat out, int64_t n_elements);

// Whole 2-D view [n_rows, row_elements] (rows contiguous), split across `threads` threads
// (0 = hardware concurrency; small tensors use fewer, down to the calling thread alone).
// The split is by contiguous block ranges, i.e. by rows when there are many rows, yet still
// parallel for one huge row. Same results as DequantizeRow on each row.
bool DequantizeTensor(GgmlType type, const void* src, void* dst, FloatFormat out, int64_t n_rows,
                      int64_t row_elements, int threads = 0);

// Selected rows only (quantized embedding tables): row_ids[i] of the [n_rows, row_elements]
// source goes to output row i. Returns false on an unsupported type or a row id out of range.
bool DequantizeRows(GgmlType type, const void* src, int64_t n_rows, int64_t row_elements,
                    const int64_t* row_ids, int64_t n_ids, void* dst, FloatFormat out);

}  // namespace ovid
