// File: kernels/cpu/quantize.h
// Quantizers from f32 into every format ovid dequantizes, following ggml's reference
// algorithms (quantize_row_*_ref, no importance matrix; shared spec ggml.md §4.3), so ovid can
// make real K-quant files itself. Every fp32 operation happens in ggml's order (the library is
// built with -ffp-contract=off), so the bytes equal ggml's: 100% of blocks on the random data
// of tests/kernels/test_quantize.py and bench/ggml_compare.py. Inputs are expected finite;
// NaN/Inf input gives deterministic but meaningless blocks (never undefined behaviour).
#pragma once

#include <cstdint>

#include "kernels/ggml_types.h"

namespace ovid {

// One function per format: n_blocks * block_size floats -> n_blocks blocks.
void QuantizeQ4_0(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ4_1(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ5_0(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ5_1(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ8_0(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ2_K(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ3_K(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ4_K(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ5_K(const float* src, void* dst, int64_t n_blocks);
void QuantizeQ6_K(const float* src, void* dst, int64_t n_blocks);

// `n_elements` (a multiple of the block size) floats -> blocks of `type`; F32/F16/BF16 are
// plain conversions (round to nearest even). Returns false, writing nothing, if `type` is not
// quantizable or n_elements is negative or not a multiple of the block size.
bool QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n_elements);

// [n_rows, row_elements] split across threads (0 = hardware concurrency); same bytes as
// QuantizeRow on each row, whatever the thread count.
bool QuantizeTensor(GgmlType type, const float* src, void* dst, int64_t n_rows,
                    int64_t row_elements, int threads = 0);

}  // namespace ovid
