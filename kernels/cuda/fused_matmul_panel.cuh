// File: kernels/cuda/fused_matmul_panel.cuh
// The fused quantized matmul's Hopper path for tens to hundreds of tokens: Y[M,N] = X[M,K] ·
// W[N,K]^T (+ bias), W in its GGUF blocks, X/Y/bias bf16, fp32 accumulation. Each weight
// element is decoded once per token tile (up to 160 tokens) into a shared-memory tile that wgmma
// multiplies with the whole token panel; K is split over a thread-block cluster when N alone
// does not fill the GPU (see fused_matmul_panel_kernel.cuh). FusedMatmul (fused_matmul.cuh)
// calls it where it applies; this header exists for the tests and the benchmark, which force
// its tile and split choices. It is launched with programmatic dependent launch (the previous
// kernel in the stream may still be finishing while its blocks set up; it waits for that
// kernel's results before reading x or writing y). It reads w before that wait: w must not be
// the previous kernel's output (weights never are).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/ggml_types.h"

namespace ovid {

// Q4_K, Q5_K, Q6_K and Q8_0 with K a multiple of 256, on a device of compute capability 9.x
// (wgmma and clusters); false otherwise.
bool FusedPanelSupports(GgmlType type, int64_t k);

// Same arguments and errors as FusedMatmul. token_tile: 64, 128 or 160 (0 = choose);
// splits: K split across a cluster, 1..8 (0 = choose). cudaErrorInvalidValue when
// FusedPanelSupports is false or a forced choice is not one of those values.
cudaError_t FusedPanelMatmul(GgmlType type, const void* w, const void* x, void* y, int64_t m,
                             int64_t n, int64_t k, const void* bias, int token_tile, int splits,
                             cudaStream_t stream);

}  // namespace ovid
