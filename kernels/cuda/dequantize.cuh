// File: kernels/cuda/dequantize.cuh
// GPU dequantization of GGML tensors into f32, f16 or bf16, bit-identical to the CPU reference
// (kernels/cpu/dequantize.h) for every finite result; NaN results are NaN on both sides, but the
// GPU's canonical NaN has other payload bits than x86 propagation gives.
//
// Launchers take device pointers and a stream, enqueue asynchronously and return the launch
// status; nothing here synchronises or aborts.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cpu/dequantize.h"  // FloatFormat
#include "kernels/ggml_types.h"

namespace ovid {

// Where the output should stay once written. kStream (the default): streaming stores, first in
// line for L2 eviction: the fastest expansion of a tensor that is stored for later (eager load,
// the bf16 cache). kKeepInL2: plain stores, for a workspace that a GEMM reads right away and can
// then partly find in L2 (the lazy linear path).
enum class DequantCaching : uint8_t { kStream, kKeepInL2 };

// Types the CUDA dequantization kernels expand: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (the same set as the CPU reference).
bool DequantizeCudaSupports(GgmlType type);

// Whole 2-D tensor [n_rows, row_elements] (rows contiguous) -> dst, n_rows * row_elements
// outputs of format `out`. row_elements must be a multiple of the block size (any count for
// F32/F16/BF16). `src` needs 2-byte alignment, `dst` 16-byte alignment (cudaMalloc gives 256).
// Errors: cudaErrorInvalidValue (unsupported type, bad sizes, null pointer),
// cudaErrorMisalignedAddress, or the launch error.
cudaError_t DequantizeCuda(GgmlType type, const void* src, void* dst, FloatFormat out,
                           int64_t n_rows, int64_t row_elements, cudaStream_t stream,
                           DequantCaching caching = DequantCaching::kStream);

// Selected rows (embedding lookups): output row i = source row row_ids[i] of the
// [n_rows, row_elements] source. `row_ids` lives on the device (n_ids int64). A kernel cannot
// report a bad id, so an id outside [0, n_rows) produces a row of zeros; callers validate ids
// that come from requests before they reach the device.
cudaError_t DequantizeRowsCuda(GgmlType type, const void* src, int64_t n_rows, int64_t row_elements,
                               const int64_t* row_ids, int64_t n_ids, void* dst, FloatFormat out,
                               cudaStream_t stream);

}  // namespace ovid
