// Shared by dequant_between_gemms.cu and after_gemms.cu: the kernel before the per-warp path
// (dequantize_before.cu, linked with renamed entry points), a fill for GEMM operands and the
// stream and cuBLAS handle set-up.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/dequantize.cuh"

namespace ovid {
cudaError_t DequantizeCudaOld(GgmlType type, const void* src, void* dst, FloatFormat out,
                              int64_t n_rows, int64_t row_elements, cudaStream_t stream,
                              DequantCaching caching);
}  // namespace ovid

// Random-looking bf16 values in [-1, 1): zeros would keep the GEMM far below the power cap.
__global__ void Fill(__nv_bfloat16* p, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u;
    h ^= h >> 13;
    h *= 2246822519u;
    p[i] = __float2bfloat16(float(h >> 8) / 8388608.0f - 1.0f);
  }
}

// A new stream and a cuBLAS handle that runs on it.
inline void StreamAndBlas(cudaStream_t* s, cublasHandle_t* h) {
  cudaStreamCreate(s);
  cublasCreate(h);
  cublasSetStream(*h, *s);
}
