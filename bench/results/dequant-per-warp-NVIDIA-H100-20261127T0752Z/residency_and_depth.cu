// The per-warp dequantization with 2, 3 or 4 resident blocks (8 warps each) per SM and rings of 3
// or 4 chunks, all in one process, 3 rounds. run.sh tune builds each variant from the tree's
// kernels/cuda/dequantize.cu with the two constants replaced and its entry points renamed.
#include <cuda_runtime.h>

#include <cstdio>

#include "bench/cuda/bench_timer.h"
#include "kernels/cuda/dequantize.cuh"

namespace ovid {
#define DECL(name)                                                                              \
  cudaError_t name(GgmlType type, const void* src, void* dst, FloatFormat out, int64_t n_rows, \
                   int64_t row_elements, cudaStream_t stream, DequantCaching caching);
DECL(DqB2D3)
DECL(DqB3D3)
DECL(DqB4D3)
DECL(DqB2D4)
DECL(DqB3D4)
}  // namespace ovid
using namespace ovid;

int main() {
  cudaStream_t s;
  cudaStreamCreate(&s);
  const int64_t kGiB = int64_t{1} << 30;
  uint8_t *a, *b, *in, *out;
  cudaMalloc(&a, kGiB);
  cudaMalloc(&b, kGiB);
  cudaMalloc(&in, int64_t{400} << 20);
  cudaMalloc(&out, int64_t{720} << 20);
  cudaMemset(a, 1, kGiB);
  cudaMemset(in, 0x11, int64_t{400} << 20);
  struct Case { const char* name; GgmlType t; int64_t r, c; double in_per_elem; };
  const Case cases[] = {{"q4_K 14336x3072", GgmlType::kQ4_K, 14336, 3072, 144.0 / 256},
                        {"q6_K 14336x3072", GgmlType::kQ6_K, 14336, 3072, 210.0 / 256},
                        {"q8_0 14336x3072", GgmlType::kQ8_0, 14336, 3072, 34.0 / 32},
                        {"q4_K 3072x3072", GgmlType::kQ4_K, 3072, 3072, 144.0 / 256},
                        {"q6_K 3072x3072", GgmlType::kQ6_K, 3072, 3072, 210.0 / 256},
                        {"q8_0 3072x3072", GgmlType::kQ8_0, 3072, 3072, 34.0 / 32}};
  struct Var { const char* name; decltype(&DqB3D3) fn; };
  const Var vars[] = {{"2 blocks/SM, depth 3", DqB2D3}, {"3 blocks/SM, depth 3 (committed)", DqB3D3},
                      {"4 blocks/SM, depth 3", DqB4D3}, {"2 blocks/SM, depth 4", DqB2D4},
                      {"3 blocks/SM, depth 4", DqB3D4}};
  for (int round = 0; round < 3; ++round) {
    const double copy_us = bench::MedianMicros(
        [&](int) { return cudaMemcpyAsync(b, a, kGiB, cudaMemcpyDeviceToDevice, s); }, 1, s, 5, 9);
    const double copy = 2.0 * kGiB / copy_us / 1e3;
    std::printf("round %d: copy 1 GiB %.1f GB/s\n", round + 1, copy);
    for (const Case& c : cases) {
      const int64_t n = c.r * c.c;
      const int64_t in_b = static_cast<int64_t>(n * c.in_per_elem), out_b = 2 * n;
      const int64_t in_s = (in_b + 4095) / 4096 * 4096, out_s = (out_b + 4095) / 4096 * 4096;
      int variants = static_cast<int>(std::min((int64_t{720} << 20) / out_s, (int64_t{400} << 20) / in_s));
      if (variants > 16) variants = 16;
      for (const Var& v : vars) {
        const double us = bench::MedianMicros(
            [&](int k) {
              return v.fn(c.t, in + k * in_s, out + k * out_s, FloatFormat::kBF16, c.r, c.c, s,
                          DequantCaching::kStream);
            },
            variants, s);
        const double gbps = (in_b + out_b) / us / 1e3;
        std::printf("%-16s %-34s %8.2f us %6.1f%% of copy\n", c.name, v.name, us, 100 * gbps / copy);
      }
    }
  }
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("status: %s\n", cudaGetErrorString(e));
  return e == cudaSuccess ? 0 : 1;
}
