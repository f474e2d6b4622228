// File: engine/ops/quant_ops.h
// Tensor <-> kernel glue for quantized weights: the only code that turns an at::Tensor into the
// raw pointers the kernels take. Each entry checks device, dtype, contiguity and sizes, runs on
// the tensor's device (CPU: kernels/cpu reference; CUDA: kernels/cuda on the current stream) and
// maps kernel errors to absl::Status. Nothing here throws.
//
// Raw GGUF blocks live in a contiguous uint8 tensor of rows * GgmlRowBytes(type, row_elements)
// bytes ("blocks" below), one row per output feature of a linear layer.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ggml_types.h"

namespace at {
class Tensor;
}  // namespace at

namespace ovid::ops {

// True if DequantizeInto handles `type` at all (CPU reference formats; on CUDA the same formats,
// through the host fallback where kernels/cuda lacks one).
bool CanDequantize(GgmlType type);

// True if a fused quantized matmul kernel exists for `type` (CUDA only).
bool HasFusedMatmul(GgmlType type);
// True if that kernel is the Hopper panel kernel for (type, in_features `k`) on the current
// CUDA device: the one that beats dequantize + cuBLAS up to hundreds of tokens.
bool HasPanelFusedMatmul(GgmlType type, int64_t k);

// OK unless `device` is a CUDA device this build's kernels have no code for (they are compiled
// for OVID_CUDA_ARCHS only): then FAILED_PRECONDITION naming the card, its compute capability and
// the build option, instead of a failure in every layer later.
absl::Status CheckKernelsRunOn(c10::Device device);

// What happens to a dequantized output next. On CUDA, kStored expands with streaming stores
// (fastest for a tensor kept for later); kReadNext keeps the output in L2 for the kernel that
// reads it right away (the lazy linear's GEMM on its workspace). No effect on the CPU.
enum class DequantUse { kStored, kReadNext };

// Expands `blocks` ([rows, row_elements] of `type`) into `out`: a contiguous f32/f16/bf16 tensor
// of at least rows * row_elements elements on the blocks' device; only the first
// rows * row_elements are written. On CUDA it is enqueued on the current stream.
absl::Status DequantizeInto(GgmlType type, const at::Tensor& blocks, int64_t rows,
                            int64_t row_elements, const at::Tensor& out,
                            DequantUse use = DequantUse::kStored);

// Y [m, n] (bf16) = X [m, k] (bf16) . W^T + bias, W = `blocks` ([n, k] of `type`) on the same
// CUDA device; `bias` is bf16 [n] or undefined. FailedPrecondition if HasFusedMatmul(type) is
// false. Enqueued on the current stream. `blocks` may be read while the stream's previous kernel
// still runs (kernels/cuda/fused_matmul.cuh), so it must be resident weights, never the output
// of the op just before.
absl::StatusOr<at::Tensor> FusedQuantMatmul(const at::Tensor& x, GgmlType type,
                                            const at::Tensor& blocks, int64_t n, int64_t k,
                                            const at::Tensor& bias);

}  // namespace ovid::ops
