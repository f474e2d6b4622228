// Does setmaxnreg let a 20-warp panel kernel (3 decoder + 2 MMA warpgroups) keep the
// 160-token wgmma (80 fp32 accumulators)? Compile only: see ptxas.txt. Build from the
// repository root: nvcc -gencode arch=compute_90a,code=sm_90a -I. -Xptxas=-v -c THIS.cu
#include <cstdint>
#include "kernels/cuda/wgmma_ss.cuh"
using namespace ovid::cuda_detail;
template <int kThreads, bool kSetMax>
__global__ void __launch_bounds__(kThreads, 1) K(float* out, const uint64_t* descs, int n, const uint4* src) {
  const int tid = threadIdx.x;
  if (tid < kThreads - 256) {
    if constexpr (kSetMax) asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n");
    // decoder-like work: 32 live uint4
    uint4 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = src[tid + i * 1024];
    for (int s = 0; s < n; ++s) {
      for (int i = 0; i < 8; ++i) { acc[i].x = __byte_perm(acc[i].x, acc[i].y, 0x5410 + s); acc[i].y ^= acc[i].z; }
    }
    for (int i = 0; i < 8; ++i) reinterpret_cast<uint4*>(out)[tid + 8192 * i] = acc[i];
  } else {
    if constexpr (kSetMax) asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n");
    float acc[80];
    for (int i = 0; i < 80; ++i) acc[i] = 0.f;
    for (int s = 0; s < n; ++s) {
      uint64_t a = descs[2 * s], b = descs[2 * s + 1];
      WgmmaFence();
      for (int i = 0; i < 4; ++i) WgmmaSS<160>::Run(acc, a + 2 * i, b + 2 * i);
      WgmmaCommit();
      WgmmaWait<1>();
    }
    WgmmaWait<0>();
    for (int i = 0; i < 80; ++i) out[tid * 80 + i] = acc[i];
  }
}
template __global__ void K<512, false>(float*, const uint64_t*, int, const uint4*);
template __global__ void K<640, false>(float*, const uint64_t*, int, const uint4*);
template __global__ void K<640, true>(float*, const uint64_t*, int, const uint4*);
