// A whole fused Q4_K matmul built on rs_decode_mma.cu's loop, to see what it gives against cuBLAS
// at 157 tokens (an experiment, not in the engine): Y[M, N] = X[M, K] W[N, K]^T, W in Q4_K rows,
// X and Y bf16.
//  - One CTA per 64 weight rows x 80 tokens over the whole K (cuBLAS's tiling at 157 tokens,
//    no split-K): [3072, 3072] x 157 is 48 x 2 = 96 CTAs.
//  - Warp 0 copies, by TMA, one superblock (256 k) per stage: the 64 rows' raw Q4_K units (64 x
//    144 B) and the 80 tokens' activations as four 128B-swizzled boxes of 64 k, through a ring
//    of full / empty mbarriers. (A first version loaded the activations as a 3-D box with a
//    16-byte inner dimension, for a no-swizzle layout: 3x slower than cuBLAS, all of it copies.)
//  - Warps 1-2 decode each landed stage's scale table, one row per thread (bf16x2 of s * 2^117
//    or 2^113 and of -m * 2^-16), and release it to the MMA warps through a third mbarrier.
//  - kW consumer warpgroups take the stages in turn (stage s -> warpgroup s % kW) or share each
//    stage (kShare), each with its own accumulators, and per 64-k chunk decode their A fragments
//    (one bf16x2 FMA per two weights on the subnormal nibbles, see rs_decode_mma.cu) while the
//    previous chunk's wgmma m64n80k16 runs.
//  - kCluster > 1: the activations of a stage are copied once per cluster (TMA multicast).
//  - Launched with programmatic dependent launch: the first stages' weight copies go out before
//    the wait for the previous kernel.
//  - The warpgroups add their tiles through shared memory; the result times 2^16 goes out as
//    bf16 through a staged, coalesced store.
//
// nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I<repo root> rs_fused_q4k.cu -lcublas -o f
#include <cublas_v2.h>
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/hopper_sync.cuh"
#include "kernels/cuda/pdl.cuh"
#include "rs_common.cuh"

namespace cd = ovid::cuda_detail;

constexpr int kRows = 64, kTokens = 80, kUnit = 144;
constexpr int kStages = 4;
constexpr int kXStage = kTokens * 256 * 2;             // 40,960, first (1024-B aligned)
constexpr int kRawStage = kRows * kUnit;               // 9,216
constexpr int kStageBytes = kRawStage + kXStage;       // 50,176 (a multiple of 128)
constexpr int kChunkBytes = kTokens * 128;             // 10,240: one 64-k chunk of activations
constexpr int kScaleTable = kRows * 8 * 8;             // per slot: row x sub-block x 8 B
constexpr int kScaleOff = kStages * kStageBytes;
constexpr int kScaleThreads = kRows;                   // warps 1-2 of the copy warpgroup
__host__ __device__ constexpr int BarOff(int) { return kScaleOff + kStages * kScaleTable; }
// full, scaled and empty mbarriers per slot, + alignment slack
__host__ __device__ constexpr int Smem(int w) { return BarOff(w) + 3 * kStages * 8 + 1024; }

__device__ __forceinline__ void MbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Arrives on the mbarrier at the same shared-memory offset in cluster block `rank`.
__device__ __forceinline__ void MbarArriveRemote(uint32_t bar, uint32_t rank) {
  asm volatile(
      "{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [remote];\n}\n" ::"r"(bar),
      "r"(rank)
      : "memory");
}
// The box at (c0, c1) into the same offset of every block in `mask`, completing on each one's
// mbarrier at bar's offset.
__device__ __forceinline__ void TmaLoad2dMulticast(uint32_t dst, const CUtensorMap* map, int c0,
                                                   int c1, uint32_t bar, uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar), "h"(mask)
      : "memory");
}
// For the copy and scale warps: a failed test sleeps before the next, so that their waiting
// takes no issue slots from the MMA warps on the same schedulers.
__device__ __forceinline__ void MbarWaitSleeping(uint32_t bar, uint32_t parity, bool cluster) {
  for (;;) {
    uint32_t done;
    if (cluster) {
      asm volatile(
          "{\n.reg .pred p;\nmbarrier.test_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], %2;\n"
          "selp.u32 %0, 1, 0, p;\n}\n"
          : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    } else {
      asm volatile(
          "{\n.reg .pred p;\nmbarrier.test_wait.parity.shared::cta.b64 p, [%1], %2;\n"
          "selp.u32 %0, 1, 0, p;\n}\n"
          : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    }
    if (done) return;
    __nanosleep(64);
  }
}
__device__ __forceinline__ uint32_t ClusterRank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ void ClusterSync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::
                   : "memory");
}
// kCluster blocks along the rows share each activation stage: each copies one 64-k chunk of it
// into all of them (TMA multicast). 1: every block copies its own.
__device__ __forceinline__ uint64_t DescB(uint32_t addr) {  // K-major, 128B swizzle
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) |
         (uint64_t{1024 >> 4} << 32) | (uint64_t{1} << 62);
}

__device__ __forceinline__ uint32_t Fma2(uint32_t p, uint32_t s, uint32_t c) {
  const __nv_bfloat162 r = __hfma2(*reinterpret_cast<const __nv_bfloat162*>(&p),
                                   *reinterpret_cast<const __nv_bfloat162*>(&s),
                                   *reinterpret_cast<const __nv_bfloat162*>(&c));
  return *reinterpret_cast<const uint32_t*>(&r);
}

struct Frag {
  uint32_t a[4][4];  // k-step, register
};

// Chunk j (64 k) of a stage for rows r0, r0 + 8. k-step a (k 16 a .. 16 a + 15) wants k
// 16 a + 2 tq + {0, 1} in register 0 and + 8 in register 2. Below k 32 those are the low nibbles
// of bytes 32 j + 16 a + 2 tq (+ 8), and the high nibbles of the same bytes are k-step a + 2's:
// one 16-bit load gives a row four weights.
__device__ __forceinline__ void DecodeChunk(const uint8_t* raw, const uint8_t* table, int j,
                                            int r0, int tq, Frag& f) {
  const uint8_t* q0 = raw + r0 * kUnit + 16 + 32 * j + 2 * tq;
  const uint8_t* q1 = q0 + 8 * kUnit;
  const uint4 s0 = *reinterpret_cast<const uint4*>(table + (r0 * 8 + 2 * j) * 8);
  const uint4 s1 = *reinterpret_cast<const uint4*>(table + ((r0 + 8) * 8 + 2 * j) * 8);
#pragma unroll
  for (int a = 0; a < 2; ++a) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // register 0 / 2: k + 0 / k + 8
      const int off = 16 * a + 8 * h;
      const uint32_t x0 = __byte_perm(*reinterpret_cast<const uint16_t*>(q0 + off), 0, 0x4140);
      const uint32_t x1 = __byte_perm(*reinterpret_cast<const uint16_t*>(q1 + off), 0, 0x4140);
      f.a[a][2 * h] = Fma2(x0 & 0x000F000Fu, s0.x, s0.y);
      f.a[a + 2][2 * h] = Fma2(x0 & 0x00F000F0u, s0.z, s0.w);
      f.a[a][2 * h + 1] = Fma2(x1 & 0x000F000Fu, s1.x, s1.y);
      f.a[a + 2][2 * h + 1] = Fma2(x1 & 0x00F000F0u, s1.z, s1.w);
    }
  }
}

// Warps 1-2 of the copy warpgroup fill a stage's scale table once its copies land, one row per
// thread: the unit's first 16 bytes (d, dmin, the 12 packed scale bytes) in one load, then the
// eight sub-blocks' (scale, min) pairs. (A first version spread the 512 entries of a stage over
// 96 threads, one entry each: it could not keep up with the MMA warps.)
__device__ __forceinline__ uint32_t Dup(float v) {
  const __nv_bfloat162 b = __floats2bfloat162_rn(v, v);
  return *reinterpret_cast<const uint32_t*>(&b);
}
__device__ __forceinline__ void DecodeScalesRow(const uint8_t* unit, uint8_t* entries) {
  const uint4 v = *reinterpret_cast<const uint4*>(unit);
  const float d = __half2float(__ushort_as_half(static_cast<unsigned short>(v.x & 0xFFFFu)));
  const float dmin = __half2float(__ushort_as_half(static_cast<unsigned short>(v.x >> 16)));
  uint32_t out[16];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int i = 8 * (j & 3);
    uint32_t sc, m;
    if (j < 4) {  // compile-time branch (unrolled)
      sc = (v.y >> i) & 63;
      m = (v.z >> i) & 63;
    } else {
      sc = ((v.w >> i) & 0xF) | (((v.y >> i) >> 6 & 3) << 4);
      m = ((v.w >> i) >> 4 & 0xF) | (((v.z >> i) >> 6 & 3) << 4);
    }
    // bf16(d sc) and bf16(-dmin m), scaled by powers of two (exact): the products with the
    // subnormal nibbles come out as (q s - m) 2^-16.
    out[2 * j] = Dup(d * static_cast<float>(sc) * ((j & 1) ? 0x1p113f : 0x1p117f));
    out[2 * j + 1] = Dup(-(dmin * static_cast<float>(m)) * 0x1p-16f);
  }
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    reinterpret_cast<uint4*>(entries)[c] =
        make_uint4(out[4 * c], out[4 * c + 1], out[4 * c + 2], out[4 * c + 3]);
  }
}

struct Problem {
  __nv_bfloat16* y;
  int m, n, k;
  // Timing only: 1 no MMA-warp work (copies and scale decode), 2 no copies, 4 no scale decode;
  // 1 | 4: the copies alone; 8 no weight copies, 16 no activation copies (with 1 | 4 only).
  int ablate;
  int w_elem;  // bytes per element of the weight map (1: uint8, 4: uint32); the box is one unit
};

// kShare: the kW warpgroups share every stage (warpgroup w takes its 4 / kW chunks), so each
// sees the whole ring of kStages ahead; otherwise they take whole stages in turn (stage s ->
// warpgroup s % kW), and each sees only kStages / kW of the ring.
template <int kW, int kCluster, bool kShare>
__global__ void __launch_bounds__(128 * (kW + 1), 1)
    FusedRs(const __grid_constant__ CUtensorMap wmap, const __grid_constant__ CUtensorMap xmap,
            Problem p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - (cd::SmemAddr(smem_raw) & 1023)) & 1023);
  constexpr int kThreads = 128 * (kW + 1);
  const uint32_t bars = cd::SmemAddr(smem + BarOff(kW));  // full[s] at 8 s, empty[s] at 8 (kStages + s)
  const int n0 = blockIdx.x * kRows, m0 = blockIdx.y * kTokens;
  const int stages = p.k / 256;
  const uint32_t rank = ClusterRank();
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      cd::MbarInit(bars + 8 * s, 1);
      // The consuming warpgroup's 4 warps in each block of the cluster: every block's copy
      // writes into every block's slot.
      cd::MbarInit(bars + 8 * (kStages + s), 4 * kCluster * (kShare ? kW : 1));
      cd::MbarInit(bars + 8 * (2 * kStages + s), kScaleThreads);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  ClusterSync();  // every block's barriers exist before any copy or arrival reaches them
  cd::LaunchDependents();
  const int wg = threadIdx.x / 128 - 1;
  float acc[40];
#pragma unroll
  for (int i = 0; i < 40; ++i) acc[i] = 0.0f;
  if (wg < 0) {
    if (threadIdx.x == 0) {
      // The weights of the first stages before waiting for the previous kernel (nothing writes
      // them); this block's activation chunk of each stage goes to all blocks of the cluster.
      const int ahead = stages < kStages ? stages : kStages;
      const bool copy_w = !(p.ablate & 8), copy_x = !(p.ablate & 16);
      const uint32_t tx = (copy_w ? kRawStage : 0) + (copy_x ? kXStage : 0);
      for (int s = 0; s < ahead && !(p.ablate & 2); ++s) {
        cd::MbarExpectTx(bars + 8 * s, tx);
        if (copy_w) {
          cd::TmaLoad2d(cd::SmemAddr(smem + s * kStageBytes + kXStage), &wmap, s * kUnit / p.w_elem, n0,
                        bars + 8 * s);
        }
      }
      cd::GridDependencyWait();
      for (int s = 0; s < stages; ++s) {
        const int slot = s % kStages;
        const uint32_t full = bars + 8 * slot;
        const uint32_t dst = cd::SmemAddr(smem + slot * kStageBytes);
        if (s >= kStages) MbarWaitSleeping(bars + 8 * (kStages + slot), ((s / kStages) - 1) & 1, true);
        if (p.ablate & 2) {
          MbarArrive(full);
          continue;
        }
        if (s >= kStages) {
          cd::MbarExpectTx(full, tx);
          if (copy_w) cd::TmaLoad2d(dst + kXStage, &wmap, s * kUnit / p.w_elem, n0, full);
        }
        if (!copy_x) continue;
        if (kCluster == 1) {
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            cd::TmaLoad2d(dst + c * kChunkBytes, &xmap, 256 * s + 64 * c, m0, full);
          }
        } else {
#pragma unroll
          for (int c = 0; c < 4 / kCluster; ++c) {
            const int chunk = rank * (4 / kCluster) + c;
            TmaLoad2dMulticast(dst + chunk * kChunkBytes, &xmap, 256 * s + 64 * chunk, m0, full,
                               static_cast<uint16_t>((1u << kCluster) - 1));
          }
        }
      }
    } else if (threadIdx.x >= 32 && threadIdx.x < 32 + kScaleThreads) {
      const int r = threadIdx.x - 32;
      for (int s = 0; s < stages; ++s) {
        const int slot = s % kStages;
        MbarWaitSleeping(bars + 8 * slot, (s / kStages) & 1, false);
        if (!(p.ablate & 4)) {
          DecodeScalesRow(smem + slot * kStageBytes + kXStage + r * kUnit,
                          smem + kScaleOff + slot * kScaleTable + r * 64);
        }
        MbarArrive(bars + 8 * (2 * kStages + slot));
      }
    }
  } else {
    const int w = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3, r0 = 16 * w + g;
    const uint32_t xbase = cd::SmemAddr(smem);
    // Items: kShare: (stage i / cpw, chunk wg cpw + i % cpw); otherwise (stage wg + kW i / 4,
    // chunk i % 4). Item i's wgmmas read register set i % 2.
    constexpr int cpw = kShare ? 4 / kW : 4;
    const int my_stages = kShare ? stages : (stages - wg + kW - 1) / kW;
    const bool no_mma = p.ablate & 1;
    const int items = no_mma ? 0 : cpw * my_stages;
    Frag f[2];
    auto stage_of = [&](int i) { return kShare ? i / cpw : wg + kW * (i >> 2); };
    auto chunk_of = [&](int i) { return kShare ? wg * cpw + i % cpw : i & 3; };
    auto begin_stage = [&](int s) {  // copies landed and scales decoded
      cd::MbarWait(bars + 8 * (2 * kStages + s % kStages), (s / kStages) & 1);
    };
    if (no_mma) {
      for (int s = kShare ? 0 : wg; s < stages; s += kShare ? 1 : kW) {
        begin_stage(s);
        if (lane < kCluster) MbarArriveRemote(bars + 8 * (kStages + s % kStages), lane);
      }
    }
    auto decode = [&](int i, Frag& fr) {
      const int s = stage_of(i);
      if (i % cpw == 0) begin_stage(s);
      DecodeChunk(smem + (s % kStages) * kStageBytes + kXStage,
                  smem + kScaleOff + (s % kStages) * kScaleTable, chunk_of(i), r0, tq, fr);
    };
    auto mma = [&](int i, const Frag& fr) {
      const uint32_t b = xbase + (stage_of(i) % kStages) * kStageBytes + chunk_of(i) * kChunkBytes;
      Fence();
#pragma unroll
      for (int a = 0; a < 4; ++a) Mma(acc, fr.a[a], DescB(b) + 2 * a);  // +32 B per k-step
      Commit();
    };
    auto retire = [&](int i) {  // item i's group is complete: free its stage after its last chunk
      if (i % cpw == cpw - 1 && lane < kCluster) {
        MbarArriveRemote(bars + 8 * (kStages + stage_of(i) % kStages), lane);
      }
    };
    if (items > 0) decode(0, f[0]);
    for (int i = 0; i < items; i += 2) {
      mma(i, f[0]);
      Wait<1>();
      if (i >= 1) retire(i - 1);
      if (i + 1 >= items) break;
      decode(i + 1, f[1]);
      mma(i + 1, f[1]);
      Wait<1>();
      retire(i);
      if (i + 2 < items) decode(i + 2, f[0]);
    }
    Wait<0>();
  }
  // Every copy has landed and been read (each stage was waited on by its consumer), so the stage
  // ring is free: warpgroups 1.. hand their tiles to warpgroup 0 through it.
  __syncthreads();
  float* red = reinterpret_cast<float*>(smem);
  const int t = threadIdx.x & 127;
  if (wg >= 1) {
#pragma unroll
    for (int i = 0; i < 40; ++i) red[((wg - 1) * 40 + i) * 128 + t] = acc[i];
  }
  __syncthreads();
  __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(smem + kW * 40 * 128 * 4);  // [token][row]
  if (wg == 0) {
    for (int src = 0; src < kW - 1; ++src) {
#pragma unroll
      for (int i = 0; i < 40; ++i) acc[i] += red[(src * 40 + i) * 128 + t];
    }
    const int w = t >> 5, lane = t & 31, g = lane >> 2, tq = lane & 3, r0 = 16 * w + g;
#pragma unroll
    for (int jn = 0; jn < 10; ++jn) {
      const int n = 8 * jn + 2 * tq;
      out[n * kRows + r0] = __float2bfloat16_rn(acc[4 * jn] * 0x1p16f);
      out[(n + 1) * kRows + r0] = __float2bfloat16_rn(acc[4 * jn + 1] * 0x1p16f);
      out[n * kRows + r0 + 8] = __float2bfloat16_rn(acc[4 * jn + 2] * 0x1p16f);
      out[(n + 1) * kRows + r0 + 8] = __float2bfloat16_rn(acc[4 * jn + 3] * 0x1p16f);
    }
  }
  __syncthreads();
  // 80 tokens x 128 B, as 16-byte vectors; tokens past M are not written.
  for (int v = threadIdx.x; v < kTokens * 8; v += kThreads) {
    const int n = v >> 3, c = v & 7;
    if (m0 + n < p.m) {
      *reinterpret_cast<uint4*>(p.y + static_cast<size_t>(m0 + n) * p.n + n0 + 8 * c) =
          reinterpret_cast<const uint4*>(out + n * kRows)[c];
    }
  }
  ClusterSync();  // no block exits while another may still arrive on its barriers
}

// ---- host ----
template <int kW, int kCluster, bool kShare>
static cudaError_t Launch(dim3 grid, const CUtensorMap& wm, const CUtensorMap& xm, const Problem& p) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(128 * (kW + 1));
  cfg.dynamicSmemBytes = Smem(kW);
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 2;
  return cudaLaunchKernelEx(&cfg, FusedRs<kW, kCluster, kShare>, wm, xm, p);
}
static int g_w_elem = 1;  // the weight map's element size, see Problem::w_elem
static PFN_cuTensorMapEncodeTiled_v12000 Encoder() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult status{};
  cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &status);
  return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
}
static bool MakeMaps(const uint8_t* w, const __nv_bfloat16* x, int m, int n, int k, CUtensorMap* wm,
                     CUtensorMap* xm) {
  static auto encode = Encoder();
  const cuuint64_t row_bytes = static_cast<cuuint64_t>(k / 256) * kUnit;
  const cuuint64_t wd[2] = {row_bytes / g_w_elem, static_cast<cuuint64_t>(n)};
  const cuuint64_t ws[1] = {row_bytes};
  const cuuint32_t wb[2] = {static_cast<cuuint32_t>(kUnit / g_w_elem), kRows};
  const cuuint32_t one[3] = {1, 1, 1};
  CUresult r1 = encode(wm, g_w_elem == 4 ? CU_TENSOR_MAP_DATA_TYPE_UINT32 : CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(w), wd, ws, wb, one,
                       CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                       CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  const cuuint64_t xd[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(m)};
  const cuuint64_t xs[1] = {static_cast<cuuint64_t>(k) * 2};
  const cuuint32_t xb[2] = {64, kTokens};
  CUresult r2 = encode(xm, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<__nv_bfloat16*>(x), xd, xs,
                       xb, one, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                       CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r1 != CUDA_SUCCESS || r2 != CUDA_SUCCESS) {
    std::printf("tensor map encode failed: %d %d\n", r1, r2);
    return false;
  }
  return true;
}


template <int kW, int kCluster, bool kShare = true>
static void RunShape(int n, int k, int m, uint32_t& seed) {
  constexpr int kSmem = Smem(kW);
  auto rnd = [&] {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
  };
  const size_t row_bytes = static_cast<size_t>(k / 256) * kUnit, wbytes = row_bytes * n;
  std::vector<uint8_t> w(wbytes);
  std::vector<float> wf(static_cast<size_t>(n) * k);  // ggml's dequantization, fp32
  for (int r = 0; r < n; ++r) {
    for (int b = 0; b < k / 256; ++b) {
      uint8_t* blk = w.data() + r * row_bytes + b * kUnit;
      for (int i = 4; i < kUnit; ++i) blk[i] = static_cast<uint8_t>(rnd());
      const uint16_t dh = static_cast<uint16_t>(0x1418 + (rnd() & 0x3FF));  // ~0.001-0.004
      const uint16_t mh = static_cast<uint16_t>(0x1018 + (rnd() & 0x3FF));
      std::memcpy(blk, &dh, 2);
      std::memcpy(blk + 2, &mh, 2);
      const float d = HalfToF(dh), dmin = HalfToF(mh);
      const uint8_t* q = blk + 4;
      for (int j = 0; j < 8; ++j) {
        int sc, mm;
        if (j < 4) {
          sc = q[j] & 63;
          mm = q[j + 4] & 63;
        } else {
          sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
          mm = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
        const float s = d * sc, mn = dmin * mm;
        for (int l = 0; l < 32; ++l) {
          const uint8_t byte = blk[16 + 32 * (j / 2) + l];
          const int qq = (j & 1) ? byte >> 4 : byte & 15;
          wf[static_cast<size_t>(r) * k + 256 * b + 32 * j + l] = s * qq - mn;
        }
      }
    }
  }
  std::vector<uint16_t> x(static_cast<size_t>(m) * k);
  for (auto& v : x) v = FToBf16((static_cast<int>(rnd() % 2001) - 1000) / 1000.0f);

  // Copies of the weights totalling > 256 MB, so that L2 (60 MB) does not keep them.
  const int copies = static_cast<int>(256e6 / wbytes) + 1;
  const int bcopies = static_cast<int>(256e6 / (2.0 * n * k)) + 1;
  uint8_t* dw = nullptr;
  __nv_bfloat16 *dx = nullptr, *dy = nullptr, *dwb = nullptr;
  cudaMalloc(&dw, wbytes * copies);
  cudaMalloc(&dx, x.size() * 2);
  cudaMalloc(&dy, static_cast<size_t>(m) * n * 2);
  cudaMalloc(&dwb, static_cast<size_t>(n) * k * 2 * bcopies);
  for (int c = 0; c < copies; ++c) cudaMemcpy(dw + c * wbytes, w.data(), wbytes, cudaMemcpyHostToDevice);
  cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice);
  {
    std::vector<uint16_t> wb(wf.size());
    for (size_t i = 0; i < wf.size(); ++i) wb[i] = FToBf16(wf[i]);
    for (int c = 0; c < bcopies; ++c) {
      cudaMemcpy(dwb + static_cast<size_t>(c) * n * k, wb.data(), wb.size() * 2, cudaMemcpyHostToDevice);
    }
  }
  std::vector<CUtensorMap> wmaps(copies), xmaps(copies);
  for (int c = 0; c < copies; ++c) {
    if (!MakeMaps(dw + c * wbytes, dx, m, n, k, &wmaps[c], &xmaps[c])) return;
  }
  cudaFuncSetAttribute(FusedRs<kW, kCluster, kShare>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  std::printf("kW %d consumer warpgroups, %d stages, %d B shared memory, clusters of %d sharing the "
              "activations (TMA multicast), PDL on, %s\n", kW, kStages, kSmem, kCluster,
              kShare ? "warpgroups share each stage" : "warpgroups take stages in turn");
  const dim3 grid(n / kRows, (m + kTokens - 1) / kTokens);
  const Problem prob{dy, m, n, k, 0, g_w_elem};
  std::printf("weight map elements of %d B\n", g_w_elem);

  // Correctness: against fp32 math on ggml's dequantized weights (a sample of rows).
  cudaMemset(dy, 0, static_cast<size_t>(m) * n * 2);
  cudaError_t err = Launch<kW, kCluster, kShare>(grid, wmaps[0], xmaps[0], prob);
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  if (err != cudaSuccess) {
    std::printf("kernel failed: %s\n", cudaGetErrorString(err));
    return;
  }
  std::vector<uint16_t> y(static_cast<size_t>(m) * n);
  cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost);
  // The engine's fused-matmul test bound (tests/cuda/fused_matmul_cuda_test.cc): per element
  // |got - ref| <= 2 (2^-9 sum_k |x_k w_k| + 2^-9 |ref|), and the relative Frobenius error.
  double err2 = 0, ref2 = 0, worst = 0;
  size_t count = 0, bad = 0;
  for (int r = 0; r < n; r += (n > 4096 ? 7 : 3)) {
    for (int t = 0; t < m; ++t) {
      double ref = 0, mag = 0;
      for (int kk = 0; kk < k; ++kk) {
        const double pr = static_cast<double>(wf[static_cast<size_t>(r) * k + kk]) *
                          Bf16ToF(x[static_cast<size_t>(t) * k + kk]);
        ref += pr;
        mag += std::fabs(pr);
      }
      const double got = Bf16ToF(y[static_cast<size_t>(t) * n + r]);
      const double tol = 2.0 * (std::ldexp(mag, -9) + std::ldexp(std::fabs(ref), -9));
      worst = std::fmax(worst, std::fabs(got - ref) / tol);
      if (!(std::fabs(got - ref) <= tol)) ++bad;
      err2 += (got - ref) * (got - ref);
      ref2 += ref * ref;
      ++count;
    }
  }
  std::printf("[%d, %d] x %d: %zu outputs checked, %zu outside the fused test's bound (worst at "
              "%.2f of it), relative Frobenius error %.3g\n",
              n, k, m, count, bad, worst, std::sqrt(err2 / ref2));

  cublasHandle_t h;
  cublasCreate(&h);
  const float one = 1.0f, zero = 0.0f;
  cudaEvent_t ea, eb;
  cudaEventCreate(&ea);
  cudaEventCreate(&eb);
  auto timed = [&](auto&& call) {
    call(0);
    Spin<<<1, 1>>>(600000);
    cudaEventRecord(ea);
    for (int i = 0; i < 20; ++i) call(i + 1);
    cudaEventRecord(eb);
    cudaEventSynchronize(eb);
    float ms = 0;
    cudaEventElapsedTime(&ms, ea, eb);
    return ms * 1000.0 / 20;
  };
  auto ours = [&](int i) {
    Launch<kW, kCluster, kShare>(grid, wmaps[i % copies], xmaps[i % copies], prob);
  };
  auto cublas = [&](int i) {
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, dwb + static_cast<size_t>(i % bcopies) * n * k,
                 CUDA_R_16BF, k, dx, CUDA_R_16BF, k, &zero, dy, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                 CUBLAS_GEMM_DEFAULT);
  };
  Problem ab = prob;
  auto ablated = [&](int i) {
    Launch<kW, kCluster, kShare>(grid, wmaps[i % copies], xmaps[i % copies], ab);
  };
  ab.ablate = 1;
  const double copies_scales = timed(ablated);
  ab.ablate = 5;
  const double copies_only = timed(ablated);
  ab.ablate = 2;
  const double no_copies = timed(ablated);
  ab.ablate = 6;
  const double no_copies_scales = timed(ablated);
  ab.ablate = 4;
  const double no_scales = timed(ablated);
  ab.ablate = 5 | 8;
  const double copies_x = timed(ablated);
  ab.ablate = 5 | 16;
  const double copies_w = timed(ablated);
  std::printf("  ablations: copies only %.2f us (activations alone %.2f, weights alone %.2f), copies "
              "and scale decode only %.2f us, no copies %.2f us, no copies or scale decode %.2f us, "
              "no scale decode %.2f us\n",
              copies_only, copies_x, copies_w, copies_scales, no_copies, no_copies_scales, no_scales);
  for (int round = 0; round < 3; ++round) {
    const double a = timed(ours), b = timed(cublas);
    std::printf("  round %d: fused register-A %.2f us, cuBLAS bf16 %.2f us, ratio %.3f\n", round, a,
                b, a / b);
  }
  err = cudaDeviceSynchronize();
  if (err != cudaSuccess) std::printf("CUDA error: %s\n", cudaGetErrorString(err));
  cublasDestroy(h);
  cudaFree(dw);
  cudaFree(dx);
  cudaFree(dy);
  cudaFree(dwb);
}

int main() {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  uint32_t seed = 2026;
  // kW = 3 ran its correctness launch (0 outside the bound) but its timed launches failed; not
  // investigated (bench/NOTES.md).
  g_w_elem = 4;
  RunShape<2, 1, false>(3072, 3072, 157, seed);
  g_w_elem = 1;
  RunShape<2, 1, false>(3072, 3072, 157, seed);
  RunShape<2, 1, true>(3072, 3072, 157, seed);
  RunShape<2, 1, false>(14336, 3072, 157, seed);
  RunShape<2, 1, false>(3072, 14336, 157, seed);
  RunShape<2, 1, false>(3072, 3072, 16, seed);
  // The fixed cost per launch: K sweep at N 3072.
  RunShape<2, 1, false>(3072, 256, 157, seed);
  RunShape<2, 1, false>(3072, 1024, 157, seed);
  RunShape<2, 1, false>(3072, 12288, 157, seed);
  return 0;
}
