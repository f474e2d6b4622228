// File: kernels/cuda/fused_matmul.cuh
// Fused quantized matmul: Y[M,N] = X[M,K] · W[N,K]^T (+ bias[N]) where W stays in its GGUF
// blocks (rows of K elements along in_features, as stored in the file) and X, Y and bias are
// bf16. Tiles of W are expanded to bf16 in shared memory right before the tensor-core products
// (mma.sync m16n8k16, fp32 accumulation); no bf16 copy of W ever reaches global memory.
// Activations are not quantized, so the result matches dequantize-then-matmul up to fp32
// summation order and the final bf16 rounding.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/ggml_types.h"

namespace ovid {

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, on the current device: the
// portable kernel takes 181-227 KB of shared memory per block, which Hopper gives (227 KB) but
// an A100 (163 KB) or an sm_86/sm_89 card (99 KB) does not; there the answer is false and
// callers dequantize and GEMM instead (no kernel that cannot launch is ever tried).
bool FusedMatmulSupports(GgmlType type);

// The same for a device that lets a block opt into `smem_optin_bytes` of shared memory
// (cudaDevAttrMaxSharedMemoryPerBlockOptin), for tests and tools that ask about other cards.
bool FusedMatmulSupportsWithin(GgmlType type, int smem_optin_bytes);

// w: N rows of K elements of `type` (K a multiple of the block size), 16-byte aligned. On Hopper
// the kernel may read w while the previous kernel in the stream is still running (programmatic
// dependent launch, see fused_matmul_panel.cuh), so w must not be that kernel's output: it is
// meant for resident weights, which nothing writes after the load.
// x: [M, K] bf16 row-major, 16-byte aligned. y: [M, N] bf16 row-major. bias: [N] bf16 or null.
// Errors (nothing is launched): cudaErrorInvalidValue for an unsupported type, K not a
// multiple of the block size, negative sizes or null pointers; cudaErrorMisalignedAddress.
cudaError_t FusedMatmul(GgmlType type, const void* w, const void* x, void* y, int64_t m, int64_t n,
                        int64_t k, const void* bias, cudaStream_t stream);

// FusedMatmul runs the Hopper panel kernel (fused_matmul_panel.cuh) where it applies, else the
// portable kernel. FusedMatmulTiled always runs the portable kernel, with its token tile forced
// (64 or 128; 0 = the launcher's choice), for tuning that choice in bench/cuda. Q8_0 has no 128
// build (shared memory) and always uses 64.
cudaError_t FusedMatmulTiled(GgmlType type, const void* w, const void* x, void* y, int64_t m,
                             int64_t n, int64_t k, const void* bias, int token_tile,
                             cudaStream_t stream);

}  // namespace ovid
