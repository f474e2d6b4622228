#include <cstdint>
template <int N>
__device__ __forceinline__ void Work(float* out, const float* in, int tid) {
  float acc[N];
#pragma unroll
  for (int i = 0; i < N; ++i) acc[i] = in[tid + i * 512];
  for (int it = 0; it < 64; ++it) {
    const float a = in[it * 7 + tid];
#pragma unroll
    for (int i = 0; i < N; ++i) acc[i] = fmaf(acc[i], a, acc[(i + 1) % N]);
  }
#pragma unroll
  for (int i = 0; i < N; ++i) out[tid + i * 512] = acc[i];
}
__global__ void __launch_bounds__(512, 1) K(float* out, const float* in) {
  const int tid = threadIdx.x;
  if (tid >= 256) {
#ifdef SMR
    asm volatile("setmaxnreg.inc.sync.aligned.u32 208;\n" ::: "memory");
#endif
    Work<176>(out, in, tid);
  } else {
#ifdef SMR
    asm volatile("setmaxnreg.dec.sync.aligned.u32 48;\n" ::: "memory");
#endif
    Work<8>(out + 1000000, in, tid);
  }
}
