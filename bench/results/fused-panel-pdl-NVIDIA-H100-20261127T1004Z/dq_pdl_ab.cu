// dq_pdl_ab.cu: DequantizeCuda with programmatic dependent launch ("new", the tree) against the
// kernel before (bdf68a0, compiled as DequantizeCudaOld), in one process: back to back, and each
// call after an elementwise kernel that lets the next kernel start early (as the engine's norm
// kernels do). Rotating weight copies (> 256 MB). Outputs compared bit for bit.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "bench/cuda/bench_timer.h"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/ggml_types.h"

namespace ovid {
cudaError_t DequantizeCudaOld(GgmlType type, const void* src, void* dst, FloatFormat out,
                              int64_t n_rows, int64_t row_elements, cudaStream_t stream,
                              DequantCaching caching);
}
using namespace ovid;
using ovid::bench::Failed;
using ovid::bench::MedianMicros;

__global__ void TouchKernel(__nv_bfloat16* dst, int64_t n, float f) {
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    dst[i] = __float2bfloat16(f);
  }
}

int main() {
  cudaStream_t stream;
  cudaStreamCreate(&stream);
  struct Case {
    GgmlType type;
    int64_t rows, cols;
  };
  const Case cases[] = {{GgmlType::kQ4_K, 3072, 3072},
                        {GgmlType::kQ6_K, 3072, 3072},
                        {GgmlType::kQ4_K, 14336, 3072},
                        {GgmlType::kQ6_K, 3072, 14336}};
  void* act = nullptr;  // the "norm" output: 157 x 3072 bf16
  const int64_t act_n = 157 * 3072;
  cudaMalloc(&act, act_n * 2);
  std::printf("%-5s %-11s | %8s %8s | %8s %8s | %s\n", "type", "shape", "b2b new", "b2b old",
              "chn new", "chn old", "new vs old");
  for (const Case c : cases) {
    const GgmlTypeInfo& info = GgmlInfo(c.type);
    const size_t bytes = static_cast<size_t>(c.rows * c.cols / info.block_size * info.type_size);
    std::vector<uint8_t> host(bytes);
    std::mt19937_64 rng(5);
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
      const uint64_t r = rng() & 0x03ff03ff03ff03ffull;  // small halves: finite scales
      memcpy(&host[i], &r, 8);
    }
    const int copies = static_cast<int>(std::max<int64_t>(2, (int64_t{256} << 20) / bytes + 1));
    std::vector<void*> w(copies);
    for (auto& p : w) {
      cudaMalloc(&p, bytes);
      cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice);
    }
    void *out_new = nullptr, *out_old = nullptr;
    cudaMalloc(&out_new, c.rows * c.cols * 2);
    cudaMalloc(&out_old, c.rows * c.cols * 2);
    auto dq = [&](bool fresh, bool chain, int v, void* out) {
      if (chain) {
        TouchKernel<<<132, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(act), act_n, v * 0.5f);
      }
      return fresh ? DequantizeCuda(c.type, w[v], out, FloatFormat::kBF16, c.rows, c.cols, stream,
                                    DequantCaching::kKeepInL2)
                   : DequantizeCudaOld(c.type, w[v], out, FloatFormat::kBF16, c.rows, c.cols,
                                       stream, DequantCaching::kKeepInL2);
    };
    if (Failed(dq(true, true, 0, out_new), "new") || Failed(dq(false, true, 0, out_old), "old") ||
        Failed(cudaStreamSynchronize(stream), "sync")) {
      return 1;
    }
    std::vector<uint16_t> a(c.rows * c.cols), b(a.size());
    cudaMemcpy(a.data(), out_new, a.size() * 2, cudaMemcpyDeviceToHost);
    cudaMemcpy(b.data(), out_old, b.size() * 2, cudaMemcpyDeviceToHost);
    const bool same = a == b;
    for (int r = 0; r < 3; ++r) {
      double t[4];
      int i = 0;
      for (const bool chain : {false, true}) {
        for (const bool fresh : {true, false}) {
          t[i++] =
              MedianMicros([&](int v) { return dq(fresh, chain, v, fresh ? out_new : out_old); },
                           copies, stream);
        }
      }
      std::printf("%-5s %5lldx%-5lld | %8.2f %8.2f | %8.2f %8.2f | %s\n", GgmlTypeName(c.type),
                  static_cast<long long>(c.rows), static_cast<long long>(c.cols), t[0], t[1], t[2],
                  t[3], same ? "bit-identical" : "DIFFERENT");
    }
    for (void* p : w) cudaFree(p);
    cudaFree(out_new);
    cudaFree(out_old);
  }
  return 0;
}
