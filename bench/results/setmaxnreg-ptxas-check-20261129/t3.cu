// As t.cu with the role taken from a warp-uniform warpgroup index (__shfl_sync, as CUTLASS
// does), in case ptxas needs a uniform branch to see the setmaxnreg regions: same C7602.
#include <cstdint>
#include "kernels/cuda/wgmma_ss.cuh"
using namespace ovid::cuda_detail;
__global__ void __launch_bounds__(640, 1) K(float* out, const uint64_t* descs, int n, const uint4* src) {
  const int tid = threadIdx.x;
  const int wg = __shfl_sync(0xffffffffu, tid / 128, 0);  // warp-uniform, as CUTLASS does
  if (wg < 3) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n");
    uint4 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = src[tid + i * 1024];
    for (int s = 0; s < n; ++s) {
      for (int i = 0; i < 8; ++i) { acc[i].x = __byte_perm(acc[i].x, acc[i].y, 0x5410 + s); acc[i].y ^= acc[i].z; }
    }
    for (int i = 0; i < 8; ++i) reinterpret_cast<uint4*>(out)[tid + 8192 * i] = acc[i];
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n");
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
