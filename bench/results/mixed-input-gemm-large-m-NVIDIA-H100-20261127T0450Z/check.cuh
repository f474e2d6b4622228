// Shared by every program in this folder and by ../second-stream-prefetch-and-l2-*/overlap_bench.cu
// (experiments, not in the tree): the CUDA error check, random bf16 data, the cuBLAS baseline.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#define CK(x)                                                                         \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      std::printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

// n bf16 values uniform in [-scale, scale), as raw bits.
inline std::vector<uint16_t> RandomBf16Host(size_t n, float scale, std::mt19937& rng) {
  std::vector<uint16_t> h(n);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (auto& v : h) {
    float f = u(rng);
    uint32_t b;
    std::memcpy(&b, &f, 4);
    v = uint16_t(b >> 16);
  }
  return h;
}

// The bf16 baseline: y[M, N] (leading dimension ldy, 0 = N) = x[M, K] w[N, K]^T, fp32 compute,
// on stream s. The handle is created on first use.
inline cublasHandle_t blas = nullptr;
inline void Cublas(cudaStream_t s, const void* w, const void* x, void* y, int64_t m, int64_t n,
                   int64_t k, int64_t ldy = 0) {
  if (blas == nullptr && cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) {
    std::printf("cublasCreate failed\n");
    std::exit(1);
  }
  const float a = 1, b = 0;
  cublasSetStream(blas, s);
  if (cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &a, w, CUDA_R_16BF,
                   int(k), x, CUDA_R_16BF, int(k), &b, y, CUDA_R_16BF, int(ldy ? ldy : n),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) {
    std::printf("gemm failed\n");
    std::exit(1);
  }
}
