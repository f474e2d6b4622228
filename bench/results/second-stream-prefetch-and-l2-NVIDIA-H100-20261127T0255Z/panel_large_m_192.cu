// EXPERIMENT (not in the tree): the fused panel kernel (token tiles 160 and 192, no split) at large M vs
// cuBLAS bf16 and dequantize+cuBLAS, per Ovi shape; weights rotate over copies > 256 MB.
// The first run (panel-large-m.txt) used this program before random activations and the 192
// column were added: x was cudaMemset to zero and only token tile 160 was timed.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include <cstring>
#include <cmath>
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/fused_matmul_panel.cuh"
#include "kernels/ggml_types.h"
using namespace ovid;
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); std::exit(1);} } while (0)
cublasHandle_t blas;
void Gemm(const void* w, const void* x, void* y, int64_t m, int64_t n, int64_t k) {
  const float a = 1, b = 0;
  cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &a, w, CUDA_R_16BF, int(k), x,
               CUDA_R_16BF, int(k), &b, y, CUDA_R_16BF, int(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
template <class F> float Time(F f, int reps) {
  cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
  std::vector<float> t;
  for (int r = 0; r < 7; ++r) {
    cudaEventRecord(a); for (int i = 0; i < reps; ++i) f(i); cudaEventRecord(b); cudaEventSynchronize(b);
    float ms; cudaEventElapsedTime(&ms, a, b); if (r >= 2) t.push_back(ms * 1000 / reps);
  }
  std::sort(t.begin(), t.end()); return t[t.size() / 2];
}
int main() {
  cublasCreate(&blas);
  std::mt19937 rng(1);
  struct S { int64_t n, k; } shapes[] = {{3072, 3072}, {14336, 3072}, {3072, 14336}};
  const int64_t ms_[] = {2048, 15004};
  void *x, *y; CK(cudaMalloc(&x, size_t(15004) * 14336 * 2)); CK(cudaMalloc(&y, size_t(15004) * 14336 * 2));
  {
    std::vector<uint16_t> hx(size_t(15004) * 14336);
    std::uniform_real_distribution<float> uni(-1.f, 1.f);
    for (auto& v : hx) { float f = uni(rng); uint32_t b; memcpy(&b, &f, 4); v = uint16_t(b >> 16); }
    CK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
  }
  cudaDeviceProp p; cudaGetDeviceProperties(&p, 0);
  std::printf("%s (random activations)\nshape         M      cublas us  dq+cublas us  panel160 us  panel192 us  p160/cublas  p192/cublas  p192 TFLOP/s  relerr192\n", p.name);
  for (auto s : shapes) {
    const size_t qb = size_t(s.n) * (s.k / 256) * 144;
    const int copies = int(std::max<size_t>(2, (size_t(256) << 20) / qb + 1));
    std::vector<void*> q(copies), bf(2);
    std::vector<uint8_t> h(qb);
    for (auto& b : h) b = uint8_t(rng());
    for (size_t o = 0; o < qb; o += 144) { h[o] = 0x1F; h[o + 1] = 0x21; h[o + 2] = 0x1F; h[o + 3] = 0x21; }
    for (auto& c : q) { CK(cudaMalloc(&c, qb)); CK(cudaMemcpy(c, h.data(), qb, cudaMemcpyHostToDevice)); }
    for (auto& c : bf) { CK(cudaMalloc(&c, size_t(s.n * s.k * 2))); CK(DequantizeCuda(GgmlType::kQ4_K, q[0], c, FloatFormat::kBF16, s.n, s.k, 0)); }
    void* ws; CK(cudaMalloc(&ws, size_t(s.n * s.k * 2)));
    for (int64_t m : ms_) {
      const int reps = m > 4096 ? 4 : 16;
      float tb = Time([&](int i) { Gemm(bf[i & 1], x, y, m, s.n, s.k); }, reps);
      float td = Time([&](int i) { DequantizeCuda(GgmlType::kQ4_K, q[i % copies], ws, FloatFormat::kBF16, s.n, s.k, 0, DequantCaching::kKeepInL2); Gemm(ws, x, y, m, s.n, s.k); }, reps);
      float tp = Time([&](int i) { CK(FusedPanelMatmul(GgmlType::kQ4_K, q[i % copies], x, y, m, s.n, s.k, nullptr, 160, 1, 0)); }, reps);
      float tq = Time([&](int i) { CK(FusedPanelMatmul(GgmlType::kQ4_K, q[i % copies], x, y, m, s.n, s.k, nullptr, 192, 1, 0)); }, reps);
      // correctness: panel192 vs cuBLAS on the dequantized weight q[0]
      double e2 = 0, r2 = 0;
      {
        const size_t cnt = size_t(m) * s.n;
        void* y2; CK(cudaMalloc(&y2, cnt * 2));
        CK(DequantizeCuda(GgmlType::kQ4_K, q[0], ws, FloatFormat::kBF16, s.n, s.k, 0));
        Gemm(ws, x, y2, m, s.n, s.k);
        CK(FusedPanelMatmul(GgmlType::kQ4_K, q[0], x, y, m, s.n, s.k, nullptr, 192, 1, 0));
        CK(cudaDeviceSynchronize());
        std::vector<uint16_t> a(cnt), b(cnt);
        CK(cudaMemcpy(a.data(), y, cnt * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(b.data(), y2, cnt * 2, cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < cnt; i += 7) {
          uint32_t ua = uint32_t(a[i]) << 16, ub = uint32_t(b[i]) << 16; float fa, fb; memcpy(&fa, &ua, 4); memcpy(&fb, &ub, 4);
          e2 += double(fa - fb) * (fa - fb); r2 += double(fb) * fb;
        }
        cudaFree(y2);
      }
      std::printf("%5lldx%-6lld %6lld %12.1f %13.1f %12.1f %12.1f %12.3f %12.3f %13.0f %10.2e\n", (long long)s.n, (long long)s.k, (long long)m, tb, td, tp, tq, tp / tb, tq / tb, 2.0 * m * s.n * s.k / tq / 1e6, std::sqrt(e2 / (r2 + 1e-300)));
    }
    for (auto c : q) cudaFree(c); for (auto c : bf) cudaFree(c); cudaFree(ws);
  }
  return 0;
}
