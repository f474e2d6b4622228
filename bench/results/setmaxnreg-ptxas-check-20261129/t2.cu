// The same with a 128-token tile and no setmaxnreg: fits 640 threads (ptxas.txt).
// 128-token tile (64 accumulators) under a 640-thread launch bound (96 registers).
#include <cstdint>
#include "kernels/cuda/wgmma_ss.cuh"
using namespace ovid::cuda_detail;
__global__ void __launch_bounds__(640, 1) K128(float* out, const uint64_t* descs, int n) {
  const int tid = threadIdx.x;
  if (tid < 384) return;
  float acc[64];
  for (int i = 0; i < 64; ++i) acc[i] = 0.f;
  for (int s = 0; s < n; ++s) {
    uint64_t a = descs[2 * s], b = descs[2 * s + 1];
    WgmmaFence();
    for (int i = 0; i < 4; ++i) WgmmaSS<128>::Run(acc, a + 2 * i, b + 2 * i);
    WgmmaCommit();
    WgmmaWait<1>();
  }
  WgmmaWait<0>();
  for (int i = 0; i < 64; ++i) out[tid * 64 + i] = acc[i];
}
