// The dequantization's time when it runs between large GEMMs, as in the lazy linear path at 15,004
// tokens: GEMM, dequantize, GEMM, dequantize, ... on one stream, events around each
// dequantization only, the GPU warmed by 200 GEMMs first. The per-warp kernel (DequantizeCuda) and the block-ring kernel before it
// (DequantizeCudaOld) alternate in blocks of 40 pairs, 6 blocks each.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "gemm_side.cuh"

using namespace ovid;

int main() {
  const int n = 3072, k = 14336, m = 15004;  // ffn.2-like: [3072, 14336] weight, 15,004 tokens
  cudaStream_t s;
  cublasHandle_t h;
  StreamAndBlas(&s, &h);
  __nv_bfloat16 *x, *w, *y;
  cudaMalloc(&x, size_t(m) * k * 2);
  cudaMalloc(&w, size_t(n) * k * 2 * 4);  // four workspaces
  cudaMalloc(&y, size_t(m) * n * 2);
  Fill<<<1024, 256, 0, s>>>(x, size_t(m) * k);
  const size_t qbytes = size_t(n) * k / 256 * 144;
  uint8_t* q;
  cudaMalloc(&q, qbytes * 8);
  cudaMemset(q, 0x11, qbytes * 8);
  cudaEvent_t ev[2][64];
  for (auto& row : ev)
    for (auto& e : row) cudaEventCreate(&e);
  const float one = 1, zero = 0;
  auto gemm = [&](int v) {
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w + size_t(v % 4) * n * k, CUDA_R_16BF,
                 k, x, CUDA_R_16BF, k, &zero, y, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                 CUBLAS_GEMM_DEFAULT);
  };
  for (int v = 0; v < 4; ++v) {
    DequantizeCuda(GgmlType::kQ4_K, q, w + size_t(v) * n * k, FloatFormat::kBF16, n, k, s);
  }
  for (int i = 0; i < 200; ++i) gemm(i);  // into the power cap
  cudaStreamSynchronize(s);
  for (const GgmlType t : {GgmlType::kQ4_K}) {
    std::vector<double> per[2];
    for (int block = 0; block < 12; ++block) {
      const int which = block % 2;  // 0 new, 1 old
      for (int i = 0; i < 40; ++i) {
        gemm(i);
        cudaEventRecord(ev[0][i], s);
        const int v = i % 8;
        if (which == 0) {
          DequantizeCuda(t, q + v * qbytes, w + size_t(i % 4) * n * k, FloatFormat::kBF16, n, k, s,
                         DequantCaching::kKeepInL2);
        } else {
          DequantizeCudaOld(t, q + v * qbytes, w + size_t(i % 4) * n * k, FloatFormat::kBF16, n,
                            k, s, DequantCaching::kKeepInL2);
        }
        cudaEventRecord(ev[1][i], s);
      }
      cudaStreamSynchronize(s);
      for (int i = 0; i < 40; ++i) {
        float ms = 0;
        cudaEventElapsedTime(&ms, ev[0][i], ev[1][i]);
        per[which].push_back(ms * 1000);
      }
    }
    for (int which = 0; which < 2; ++which) {
      auto v = per[which];
      std::sort(v.begin(), v.end());
      std::printf("%s [3072,14336] q4_K keep-L2, between GEMMs at 15004 tokens: median %.2f us, "
                  "p10 %.2f, p90 %.2f (%zu calls)\n",
                  which == 0 ? "per-warp (new)   " : "block ring (old)", v[v.size() / 2],
                  v[v.size() / 10], v[v.size() * 9 / 10], v.size());
    }
  }
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("status: %s\n", cudaGetErrorString(e));
  return e == cudaSuccess ? 0 : 1;
}
