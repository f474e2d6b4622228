"""Writes the minimal wgmma kernels of this experiment (one generator instead of four near-copies).

usage: python3 make_wgmma_kernels.py   -> n192_t512.cu n256_t384.cu n256_t512.cu
                                          wgmma_n256_t512_setmaxnreg.cu (use -DSMR)
Each kernel: the last 256 threads run two m64nNk16 wgmma (fp32 accumulators, N/2 per thread) per
iteration; the others do a trivial loop. Launch bound THREADS, one block per SM.
"""

TEMPLATE = r'''#include <cstdint>
__device__ __forceinline__ void Wg(float (&d)[NR], uint64_t a, uint64_t b) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
    "wgmma.mma_async.sync.aligned.m64nNNk16.f32.bf16.bf16 {REGS}, %NR, %NR1, p, 1, 1, 0, 0;\n}\n"
    : CONS : "l"(a), "l"(b));
}
__global__ void __launch_bounds__(THREADS, 1) K(float* out, const uint64_t* descs, int iters) {
  const int tid = threadIdx.x;
  if (tid >= THREADS - 256) {
#ifdef SMR
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
#endif
    float d[NR];
#pragma unroll
    for (int i = 0; i < NR; ++i) d[i] = 0.f;
    for (int it = 0; it < iters; ++it) {
      asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
      Wg(d, descs[2 * it], descs[2 * it + 1]);
      Wg(d, descs[2 * it] + 2, descs[2 * it + 1] + 2);
      asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
      asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    }
#pragma unroll
    for (int i = 0; i < NR; ++i) out[tid * NR + i] = d[i];
  } else {
#ifdef SMR
    asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n" ::: "memory");
#endif
    float s = 0;
    for (int i = 0; i < iters; ++i) s += __int_as_float((int)descs[i]);
    out[tid] = s;
  }
}
'''


def kernel(n, threads):
    nr = n // 2
    regs = ",".join(f"%{i}" for i in range(nr))
    cons = ", ".join(f'"+f"(d[{i}])' for i in range(nr))
    return (TEMPLATE.replace("{REGS}", "{" + regs + "}").replace("CONS", cons)
            .replace("NR1", str(nr + 1)).replace("NR", str(nr)).replace("NN", str(n))
            .replace("THREADS", str(threads)))


if __name__ == "__main__":
    for name, n, threads in [("n192_t512", 192, 512), ("n256_t384", 256, 384),
                             ("n256_t512", 256, 512), ("wgmma_n256_t512_setmaxnreg", 256, 512)]:
        with open(f"{name}.cu", "w") as f:
            f.write(kernel(n, threads))
