// File: kernels/cuda/fused_matmul_panel_kernel.cuh
// The fused "panel" matmul kernel (sm_90a), for token counts where the weight stream and the
// tensor cores are both busy (tens to hundreds of tokens). Internal to kernels/cuda: included by
// the per-type instantiation files and the launcher only.
//
// One CUDA block owns 128 weight rows x kBT tokens (the whole token panel up to 160) x a range
// of K, walked in 64-element stages, two at a time. Warp-specialised, 16 warps:
//  - 2 decoder warpgroups expand each stage's weights once into a bf16 tile (128 rows x 64,
//    128B-swizzled K-major, a ring of 4) that serves all kBT tokens. Stages go in pairs: the
//    first warpgroup decodes the even stage, the second the odd one, each thread a whole row of
//    64 weights (StageDecoder), so the two halves wait on different barriers and each thread
//    reads a block header once per 64 weights;
//  - 2 MMA warpgroups (64 weight rows each) multiply it by the activation stage with wgmma, both
//    operands from shared memory, keeping one group in flight, and stream the raw weight units
//    (256 elements of 128 rows) and the bf16 activation stages (one TMA tensor copy per stage,
//    which also applies the 128B swizzle and zero-fills past M) into shared-memory rings. Units
//    of whole 16-byte words (Q4_K, Q5_K, Q8_0) are one TMA copy each; Q6_K's are cp.async from
//    every MMA thread (the copies are not issued by the decoders: their proxy fence would also
//    wait for their own cp.async copies in flight).
// Hand-offs: raw unit u landed -> decoders: an mbarrier per unit buffer (TMA transaction bytes,
// or cp.async.mbarrier.arrive from every copying thread); FULL[t] (decoders -> MMA: weight tile
// t is ready) and EMPTY[t] (MMA -> decoders: tile t consumed) are named barriers.
// Tile t = stage % 4 is always written by decoder warpgroup t % 2 (pairs start at even stages),
// so FULL/EMPTY count one decoder warpgroup and both MMA warpgroups.
// K is split over the blocks of a thread-block cluster (x dimension) when N alone does not fill
// the GPU: each block leaves its fp32 partial tile in shared memory and, after a cluster barrier,
// block r sums token rows r, r + S, ... over the cluster through distributed shared memory and
// writes them (+ bias) as bf16. No global scratch, one launch.
// Programmatic dependent launch (pdl.cuh): the kernel lets the next one start at once, and is
// itself launched so that its set-up and first weight units overlap the previous kernel; the
// thread that issues the activation copies, and every thread before the epilogue, waits for
// the previous kernels first.
#pragma once

#include <cooperative_groups.h>
#include <cuda.h>  // CUtensorMap (the type only; no driver library is linked)
#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/block_decode.cuh"
#include "kernels/cuda/hopper_sync.cuh"
#include "kernels/cuda/panel_stage_decode.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/wgmma_ss.cuh"

namespace ovid::cuda_detail {

constexpr int kPanelDecThreads = 256;  // 2 decoder warpgroups (warps 0-7)
constexpr int kPanelMmaThreads = 256;  // 2 MMA warpgroups (warps 8-15)
// 16 warps: 4 per SM sub-partition, so each may use 128 registers (a 17th warp cuts it to 96;
// moving registers with setmaxnreg does not help: ptxas fits every wgmma's accumulators within
// the launch limit whatever setmaxnreg says, and the 160-token wgmma alone needs more than 80).
// The same limit caps the token tile: a 256-token wgmma needs a 154-register target (at most
// 384 threads); 192 tokens fit 512 (bench/NOTES.md, "Hiding the dequantization").
constexpr int kPanelThreads = kPanelDecThreads + kPanelMmaThreads;
constexpr int kPanelRows = 128;               // weight rows per block (64 per MMA warpgroup)
constexpr int kPanelBK = 64;                  // K per stage: one 128-byte swizzle row
constexpr int kPanelUnit = 256;               // K per raw weight unit
constexpr int kPanelTiles = 4;                // decoded weight tiles (two pairs of stages)
constexpr int kPanelTile = kPanelRows * 128;  // one bf16 weight tile
constexpr int kPartStride = kPanelRows + 4;   // fp32 partial row stride (bank spread)
// Named barrier ids (0 is __syncthreads).
constexpr int kBarFull = 1, kBarEmpty = 5;  // ids 1-8
// Every warp is done with the rings (they become the partial tile): a barrier of all threads,
// reached from both roles' code, so the MMA warps' accumulators are never live in the decoders.
constexpr int kBarDone = 9;
constexpr int kFullCount = kPanelDecThreads / 2 + kPanelMmaThreads;  // one decoder warpgroup
constexpr int kEmptyCount = kFullCount;

using PanelProblem = QuantMatmulProblem;

// kTma: the raw units arrive by one 2-D TMA copy per unit into [128 rows][kTmaBox bytes],
// dense: the 16-byte words that cover the unit (the box starts at the aligned word at or below
// the unit; past the row end TMA fills zeros). That needs rows of whole 16-byte words: always
// for Q4_K (144-byte units), Q5_K (176) and Q8_0 (272), for Q6_K (210) when K is a multiple of
// 2048. Otherwise every MMA thread cp.asyncs the aligned words covering its part of the unit.
template <GgmlType T, bool kTma>
struct PanelGeometry {
  using C = Codec<T>;
  static constexpr int kUnitBytes = kPanelUnit / C::kElems * C::kBytes;
  // A unit starts at an even offset, so 14 bytes at most before it share its first word. An odd
  // number of words, so the decoders' loads of 32 consecutive rows spread over the banks (Q6_K:
  // 15 words; a 14-word box measured 12% slower at 3072x14336).
  static constexpr int kTmaBox =
      ((kUnitBytes % 16 == 0 ? kUnitBytes / 16 : (kUnitBytes + 14 + 15) / 16) | 1) * 16;
  static_assert(kTmaBox / 2 <= 256, "TMA box: at most 256 16-bit words");
  static constexpr bool kTmaAlways = kUnitBytes % 16 == 0;
  // cp.async: aligned words covering a 2-byte-aligned unit (up to 14 bytes before it) plus 4
  // bytes of slack for the funnel-shift reads (LdWords), rounded to an odd number of words.
  static constexpr int kWords = ((kUnitBytes + 14 + 4 + 15) / 16) | 1;
  static constexpr int kSlot = kTma ? kTmaBox : kWords * 16;
  static constexpr int kRawBytes = kPanelRows * kSlot;
};

// Shared memory: 4 weight tiles, kRing activation stages (kAhead of them in flight, ring >=
// ahead + 2) and kRawBufs raw units. Three raw units (loads start a unit earlier, so the
// decoders are not held to the MMA warps at unit boundaries) with 4 activation stages where
// they fit, else two raw units and 5 stages, else two and 4.
template <GgmlType T, int kBT, bool kTma>
struct PanelLayout {
  static constexpr int kLimit = 227 * 1024 - 1024 - 64;  // sm_90 opt-in, alignment, mbarriers
  static constexpr int kXStage = kBT * 128;
  static constexpr int kRaw = PanelGeometry<T, kTma>::kRawBytes;
  static constexpr int kTiles = kPanelTiles * kPanelTile;
  static constexpr bool kThree = kTiles + 4 * kXStage + 3 * kRaw <= kLimit;
  static constexpr int kRawBufs = kThree ? 3 : 2;
  static constexpr int kRing = kThree ? 4 : (kTiles + 5 * kXStage + 2 * kRaw <= kLimit ? 5 : 4);
  static constexpr int kAhead = kRing - 2;
  static constexpr int kMain = kTiles + kRing * kXStage + kRawBufs * kRaw;
  static constexpr int kPart = kBT * kPartStride * 4;
  // X-stage mbarriers, 16 bytes past the last raw buffer: a decoder's last 8-byte load of a row
  // (Q8_0's block 7) reaches 4 bytes past its slot, which must not be an initialised mbarrier.
  static constexpr int kBarOffset = kMain + 16 > kPart ? kMain + 16 : kPart;
  static constexpr int kSmem = 1024 + kBarOffset + 8 * (kRing + kRawBufs);
};

// wgmma shared-memory matrix descriptor: K-major, 128-byte swizzle, 8-row groups 1024 B apart.
__device__ __forceinline__ uint64_t SwizzledDesc(uint32_t smem_addr) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) |
         (uint64_t{1024 >> 4} << 32) | (uint64_t{1} << 62);
}

template <GgmlType T, int kBT, bool kTma>
__global__ void __launch_bounds__(kPanelThreads, 1)
    FusedPanelKernel(const __grid_constant__ CUtensorMap xmap, const __grid_constant__ CUtensorMap wmap,
                     PanelProblem p) {
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // Built for another architecture: wgmma needs sm_90a. The launcher never gets here
  // (FusedPanelSupports requires compute capability 9).
  __trap();
#else
  using G = PanelGeometry<T, kTma>;
  using L = PanelLayout<T, kBT, kTma>;
  static_assert(kBT % 8 == 0 && kBT <= 256, "wgmma N: a multiple of 8, at most 256");
  extern __shared__ uint8_t smem_raw[];
  // The 128B swizzle pattern repeats every 1024 bytes and wgmma applies it to absolute
  // addresses, so the tiles start 1024-aligned.
  const uint32_t smem_base = SmemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (smem_base & 1023)) & 1023);
  uint8_t* wt = smem;                           // [kTiles][128 rows][128 B] bf16 weights
  uint8_t* xs = wt + kPanelTiles * kPanelTile;  // [kRing][kBT][128 B] bf16 activations
  uint8_t* raw = xs + L::kRing * L::kXStage;    // [kRawBufs][128 rows][kSlot] raw weight units

  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int splits = static_cast<int>(cluster.num_blocks());
  const int rank = static_cast<int>(cluster.block_rank());
  const int n0 = blockIdx.y * kPanelRows, m0 = blockIdx.z * kBT;
  // Each block takes whole pairs of stages (K % 256 == 0, so the count is even).
  const int n_pairs = p.k / (2 * kPanelBK);
  const int s_begin = 2 * static_cast<int>(static_cast<int64_t>(n_pairs) * rank / splits);
  const int s_end = 2 * static_cast<int>(static_cast<int64_t>(n_pairs) * (rank + 1) / splits);
  const int tid = threadIdx.x;
  // One mbarrier per activation slot (the TMA copy completes on it) and one per raw unit buffer
  // (the unit's TMA copy completes on it, or every MMA thread arrives once its cp.async copies
  // have landed). The k-th use of a barrier completes phase k, so waits take parity k & 1.
  const uint32_t xbar = SmemAddr(smem + L::kBarOffset);
  const uint32_t rawbar = xbar + 8 * L::kRing;
  // Launched with programmatic stream serialization: the next kernel may start its prologue
  // once every block of this grid runs (it waits for this grid's results itself).
  LaunchDependents();
  if (tid == kPanelDecThreads) {
    for (int i = 0; i < L::kRing; ++i) MbarInit(xbar + 8 * i, 1);
    for (int i = 0; i < L::kRawBufs; ++i) MbarInit(rawbar + 8 * i, kTma ? 1 : kPanelMmaThreads);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  float* part = reinterpret_cast<float*>(smem);  // after the main loop: the fp32 partial tile
  const int u0 = s_begin / (kPanelUnit / kPanelBK);
  const int u_end = (s_end + 3) >> 2;  // units the decoders read: u0 .. u_end-1
  if (tid < kPanelDecThreads) {
    // ---------------- decoder warpgroups ----------------
    // Thread d expands row `drow` of stage s + half of each pair (s even): 64 weights. Rows
    // past N decode whatever their raw slot holds: those output features are never stored.
    const int d = tid;
    const int drow = d & (kPanelRows - 1), half = d >> 7;
    const int drow_mis =
        kTma ? 0 : static_cast<int>((static_cast<int64_t>(n0 + drow) * p.w_row_bytes) & 15);
    const uint8_t* dsrc = raw + drow * G::kSlot;
    uint8_t* dtile = wt + drow * 128;
    auto pair = [&](int s0, auto kp) {
      constexpr int kP = decltype(kp)::value;  // (s0 & 3) / 2
      const int s = s0 + half, u = s >> 2, b = s % kPanelTiles;
      if (kP == 0 || s0 == s_begin) {  // a new unit: wait until its copies landed
        MbarWait(rawbar + 8 * (u % L::kRawBufs), ((u - u0) / L::kRawBufs) & 1);
      }
      if (s - kPanelTiles >= s_begin) NamedSync(kBarEmpty + b, kEmptyCount);  // tile b consumed
      uint4 packed[8];
      DecodeStage<T, kP, kTma>(dsrc + (u % L::kRawBufs) * G::kRawBytes,
                               (drow_mis + u * G::kUnitBytes) & 15, half, packed);
      uint8_t* tile = dtile + b * kPanelTile;
#pragma unroll
      for (int c = 0; c < 8; ++c) {
        *reinterpret_cast<uint4*>(tile + ((c ^ (drow & 7)) << 4)) = packed[c];
      }
      FenceProxyAsync();
      NamedArrive(kBarFull + b, kFullCount);  // tile b holds stage s
    };
    for (int s0 = s_begin; s0 < s_end; s0 += 2) {
      if ((s0 & 2) == 0) {
        pair(s0, std::integral_constant<int, 0>{});
      } else {
        pair(s0, std::integral_constant<int, 1>{});
      }
    }
    NamedSyncDivergent(kBarDone, kPanelThreads);
  } else {
    // ---------------- MMA warpgroups (and the copies) ----------------
    const int mt = tid - kPanelDecThreads;
    const int wg = mt >> 7;  // weight rows 64wg..64wg+63 of the tile
    float acc[kBT / 2];
#pragma unroll
    for (int i = 0; i < kBT / 2; ++i) acc[i] = 0.0f;
    // Activation stages: one TMA copy each, issued by one thread, into slot `slot` (stages
    // cycle through the ring from s_begin).
    const bool x_issuer = mt == 0;
    auto load_x = [&](int s, int slot) {
      if (s >= s_end || !x_issuer) return;
      const uint32_t bar = xbar + 8 * slot;
      MbarExpectTx(bar, kBT * 128);
      TmaLoad2d(SmemAddr(xs + slot * L::kXStage), &xmap, s * kPanelBK, m0, bar);
    };
    // Raw unit copies: row mt/2, 16-byte words mt%2, mt%2 + 2, ...
    const int rrow = mt >> 1;
    const bool rrow_ok = n0 + rrow < p.n;
    const uint8_t* wrow = p.w + static_cast<int64_t>(n0 + rrow) * p.w_row_bytes;
    const uint8_t* const w_end = p.w + static_cast<int64_t>(p.n) * p.w_row_bytes;
    const uint32_t rdst = SmemAddr(raw + rrow * G::kSlot);
    // Unit u's copies, then this thread's arrival on the unit buffer's mbarrier.
    auto load_raw = [&](int u) {
      if (u >= u_end) return;
      const uint32_t bar = rawbar + 8 * (u % L::kRawBufs);
      if constexpr (kTma) {
        // One copy of box {kTmaBox bytes, 128 rows} from the aligned word at or below the unit;
        // rows past N are zero-filled (and still counted in the transaction bytes).
        if (mt == 0) {
          MbarExpectTx(bar, G::kRawBytes);  // the whole box, zero fill included
          TmaLoad2d(SmemAddr(raw) + (u % L::kRawBufs) * G::kRawBytes, &wmap,
                    ((u * G::kUnitBytes) & ~15) / 2, n0, bar);
        }
        return;
      }
      if (!rrow_ok) {
        CpAsyncArriveOn(bar);
        return;
      }
      const uint8_t* a = wrow + static_cast<int64_t>(u) * G::kUnitBytes;
      const uint8_t* a0 =
          reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(a) & ~uintptr_t{15});
      const uint32_t rb = rdst + (u % L::kRawBufs) * G::kRawBytes;
#pragma unroll
      for (int wd = 0; wd < G::kWords; wd += 2) {
        const int w = wd + (mt & 1);
        if (w < G::kWords && a0 + w * 16 < a + G::kUnitBytes) {
          // The last row's last covering word may reach past the tensor: only its bytes are
          // read, the rest zero-filled.
          CpAsync16Until(rb + w * 16, a0 + w * 16, w_end);
        }
      }
      CpAsyncArriveOn(bar);
    };
#pragma unroll
    for (int i = 0; i < L::kRawBufs; ++i) load_raw(u0 + i);
    // Everything before this reads only the weights, which no kernel writes after the load, so
    // it overlaps the previous kernel; the activations (and, below, the output) wait for it.
    if (x_issuer) GridDependencyWait();
#pragma unroll
    for (int i = 0; i < L::kAhead; ++i) load_x(s_begin + i, i);
    // Shared-memory descriptors of weight tile 0 (this warpgroup's 64 rows) and activation slot
    // 0. The address field is bits 0-13 (address / 16) and never carries (shared memory < 256
    // KB), so a tile, a slot or a 16-element k step is an add.
    const uint64_t a_desc0 = SwizzledDesc(SmemAddr(wt + wg * 64 * 128));
    const uint64_t x_desc0 = SwizzledDesc(SmemAddr(xs));
    int b = s_begin % kPanelTiles;           // weight tile of stage s
    int slot = 0, ld_slot = L::kAhead;       // activation slots of stages s and s + ahead
    uint32_t phase = 0;                      // parity of slot's mbarrier use
    for (int s = s_begin; s < s_end; ++s) {
      const int u = s >> 2, q = s & 3;
      MbarWait(xbar + 8 * slot, phase);      // activation stage s landed
      NamedSync(kBarFull + b, kFullCount);  // tile b decoded
      const uint64_t ad = a_desc0 + static_cast<uint64_t>(b * (kPanelTile >> 4));
      const uint64_t xd = x_desc0 + static_cast<uint64_t>(slot * (L::kXStage >> 4));
      WgmmaFence();
#pragma unroll
      for (int i = 0; i < 4; ++i) WgmmaSS<kBT>::Run(acc, ad + 2 * i, xd + 2 * i);
      WgmmaCommit();
      WgmmaWait<1>();  // stage s-1's group is done: release its weight tile
      if (s - 1 >= s_begin && s - 1 + kPanelTiles < s_end) {
        NamedArrive(kBarEmpty + ((b + kPanelTiles - 1) & (kPanelTiles - 1)), kEmptyCount);
      }
      // Stage s+ahead goes into the activation slot of stage s+ahead-ring <= s-2 (both
      // warpgroups retired it: each waited for its group s-2 before passing FULL[s]).
      load_x(s + L::kAhead, ld_slot);
      // At the last stage of unit u the decoders are done with it (FULL[s] passed: each decoder
      // warpgroup finished its stage of the unit), so unit u+B replaces it.
      if (q == 3) load_raw(u + L::kRawBufs);
      b = (b + 1) & (kPanelTiles - 1);
      if (++slot == L::kRing) {
        slot = 0;
        phase ^= 1;
      }
      if (++ld_slot == L::kRing) ld_slot = 0;
    }
    CpAsyncCommit();
    CpAsyncWait<0>();
    WgmmaWait<0>();
    FenceOperands(acc);
    NamedSyncDivergent(kBarDone, kPanelThreads);  // every warp is done with the rings

    // Partial tile, [token][row] fp32. MMA thread: rows 64wg + 16w + g (+8), tokens 8j + 2t (+1).
    const int lane = mt & 31;
    const int row = (mt >> 5) * 16 + (lane >> 2), t = lane & 3;
#pragma unroll
    for (int j = 0; j < kBT / 8; ++j) {
      const int tok = 8 * j + 2 * t;
      part[tok * kPartStride + row] = acc[4 * j];
      part[(tok + 1) * kPartStride + row] = acc[4 * j + 1];
      part[tok * kPartStride + row + 8] = acc[4 * j + 2];
      part[(tok + 1) * kPartStride + row + 8] = acc[4 * j + 3];
    }
  }
  // All partial tiles of the cluster are written and visible. Without a split the tile is the
  // block's own, and a block barrier is enough (a one-block cluster barrier cost 0.5-0.9 us per
  // launch at 157 tokens on an H200, bench/NOTES.md).
  if (splits > 1) {
    cluster.sync();
  } else {
    __syncthreads();
  }
  GridDependencyWait();  // y and bias: the previous kernel may still have been using them

  // Block `rank` finishes token rows rank, rank + S, ...: one warp per token row, 4 features
  // per lane.
  const int warp = tid >> 5, lane = tid & 31;
  const int col = n0 + 4 * lane;
  float bias[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (p.bias != nullptr) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      if (col + c < p.n) bias[c] = __bfloat162float(p.bias[col + c]);
    }
  }
  const bool vec = (p.n & 3) == 0 && (reinterpret_cast<uintptr_t>(p.y) & 7) == 0;
  for (int tok = rank + splits * warp; tok < kBT; tok += splits * (kPanelThreads / 32)) {
    if (m0 + tok >= p.m) break;
    float sum[4] = {bias[0], bias[1], bias[2], bias[3]};
    for (int r = 0; r < splits; ++r) {
      const float* src = cluster.map_shared_rank(part, r) + tok * kPartStride + 4 * lane;
      const float4 v = *reinterpret_cast<const float4*>(src);
      sum[0] += v.x;
      sum[1] += v.y;
      sum[2] += v.z;
      sum[3] += v.w;
    }
    __nv_bfloat16* out = p.y + static_cast<int64_t>(m0 + tok) * p.n + col;
    if (vec && col + 3 < p.n) {
      uint2 packed;
      packed.x = PackBf16x2(sum[0], sum[1]);
      packed.y = PackBf16x2(sum[2], sum[3]);
      *reinterpret_cast<uint2*>(out) = packed;
    } else {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        if (col + c < p.n) out[c] = __float2bfloat16_rn(sum[c]);
      }
    }
  }
  // No block leaves while another still reads its shared memory. Every remote read has returned
  // by now (its value went into a sum stored above), so the barrier need order nothing.
  if (splits > 1) ClusterBarrierRelaxed();
#endif
}

}  // namespace ovid::cuda_detail
