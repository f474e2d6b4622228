// The dequantization timed on its own right after ~2 s of large GEMMs (the order ovid-bench-gpu
// measures in: a shape's dequantization follows the previous shape's 54,900-token GEMMs), and
// after 2 s idle. The per-warp kernel (new) and the block ring (old) alternate.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "bench/cuda/bench_timer.h"
#include "gemm_side.cuh"

using namespace ovid;

int main() {
  const int n = 14336, k = 3072, m = 54900;
  cudaStream_t s;
  cublasHandle_t h;
  StreamAndBlas(&s, &h);
  __nv_bfloat16 *x, *w, *y;
  cudaMalloc(&x, size_t(m) * k * 2);
  cudaMalloc(&w, size_t(n) * k * 2);
  cudaMalloc(&y, size_t(m) * n * 2);
  Fill<<<1024, 256, 0, s>>>(x, size_t(m) * k);
  Fill<<<1024, 256, 0, s>>>(w, size_t(n) * k);
  // Q4_K [3072, 14336] -> bf16, rotating over 11 sources and 3 outputs as ovid-bench-gpu does.
  const int64_t rows = 3072, cols = 14336, qbytes = rows * cols / 256 * 144, obytes = rows * cols * 2;
  uint8_t *q, *o;
  cudaMalloc(&q, qbytes * 11);
  cudaMalloc(&o, obytes * 3);
  cudaMemset(q, 0x11, qbytes * 11);
  const float one = 1, zero = 0;
  auto gemms = [&](int count) {
    for (int i = 0; i < count; ++i) {
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w, CUDA_R_16BF, k, x, CUDA_R_16BF,
                   k, &zero, y, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
  };
  auto dequant = [&](bool fresh) {
    return bench::MedianMicros(
        [&](int v) {
          auto* fn = fresh ? &DequantizeCuda : &DequantizeCudaOld;
          return fn(GgmlType::kQ4_K, q + (v % 11) * qbytes, o + (v % 3) * obytes,
                    FloatFormat::kBF16, rows, cols, s, DequantCaching::kStream);
        },
        33, s);
  };
  for (int rep = 0; rep < 3; ++rep) {
    for (const bool fresh : {true, false}) {
      gemms(300);  // ~2 s
      const double after = dequant(fresh);
      cudaStreamSynchronize(s);
      std::this_thread::sleep_for(std::chrono::seconds(2));
      const double idle = dequant(fresh);
      std::printf("%s Q4_K [3072,14336] -> bf16: %.2f us right after 300 GEMMs [14336,3072] x 54900, "
                  "%.2f us after 2 s idle (%.1f / %.1f%% of 3000 GB/s)\n",
                  fresh ? "per-warp (new)  " : "block ring (old)", after, idle,
                  100 * (qbytes + obytes) / after / 3e6, 100 * (qbytes + obytes) / idle / 3e6);
    }
  }
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("status: %s\n", cudaGetErrorString(e));
  return e == cudaSuccess ? 0 : 1;
}
