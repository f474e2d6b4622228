// File: kernels/cuda/fused_matmul.cu
// One CUDA block computes a kBM x 64 tile of Y, walking K in stages of 256 elements (one K-quant
// super-block, or 8 legacy blocks, per weight row). Warp-specialised so that expanding the
// weights overlaps the tensor-core math:
//   - 16 decoder warps (8 with 128-token tiles): cp.async the raw weight bytes of a stage into
//     a ring of shared slots, then decode them (one or two 32-element runs per thread) into one
//     of two bf16 weight tiles;
//   - 4 math warps: cp.async the bf16 X tile of a stage into their own ring, then ldmatrix +
//     mma.sync m16n8k16 (bf16 in, fp32 accumulate) over the stage, and the epilogue.
// Hand-offs use named barriers: FULL[b] (decoders -> math, weight tile b ready) and EMPTY[b]
// (math -> decoders, weight tile b consumed); each group also syncs internally before it
// reuses a ring slot.
// Raw weight rows are not 16-byte aligned for most formats (Q6_K blocks are 210 bytes), so each
// row's stage is copied as the aligned 16-byte words that cover it and decoded at its offset.
// Shared tiles hold 512-byte rows with the 16-byte chunk index XORed by (row % 8), so the eight
// row addresses of an ldmatrix hit eight different bank groups.
#include <cuda_bf16.h>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/block_decode.cuh"
#include "kernels/cuda/fused_matmul.cuh"
#include "kernels/cuda/fused_matmul_panel.cuh"

namespace ovid {
namespace {

using cuda_detail::Codec;

constexpr int kMathWarps = 4;
constexpr int kMathThreads = kMathWarps * 32;
// Decoder warps: 16 (one run per thread per stage) where the math warps' registers allow it
// (64-token tiles, <= 102 registers at 640 threads); 8 for 128-token tiles (134 registers).
template <int kBM>
constexpr int kDecodeThreads = (kBM <= 64 ? 16 : 8) * 32;
template <int kBM>
constexpr int kThreads = kDecodeThreads<kBM> + kMathThreads;
constexpr int kBN = 64;             // weight rows per CUDA block
constexpr int kBK = 256;            // K elements per stage
constexpr int kRowBytes = kBK * 2;  // one bf16 tile row in shared memory
constexpr int kChunks = kRowBytes / 16;
constexpr int kWTileBytes = kBN * kRowBytes;
// Named barrier ids (0 is __syncthreads).
constexpr int kBarDecode = 1, kBarMath = 2, kBarFull = 3, kBarEmpty = 5;

template <GgmlType T>
struct Geometry {
  static constexpr int kStageBytes = kBK / Codec<T>::kElems * Codec<T>::kBytes;
  // Covering 16-byte words of a 2-byte-aligned span: up to 14 bytes before it; plus 4 bytes
  // of slack for the funnel-shift word reads (LdWords).
  static constexpr int kSlot = (kStageBytes + 14 + 4 + 15) / 16 * 16;
  static constexpr int kRawBytes = kBN * kSlot;
};

// Math warps in a 2 x 2 grid, each (kBM / 2) x 32.
template <int kBM>
struct Tiles {
  static constexpr int kWM = kBM / 2;
  static constexpr int kMFrag = kWM / 16;
  static constexpr int kWN = kBN / 2;
  static constexpr int kNFrag = kWN / 8;
  static constexpr int kStages = kBM <= 64 ? 3 : 2;  // X ring depth
  static constexpr int kXBytes = kBM * kRowBytes;
};

constexpr int kMaxSmem = 227 * 1024;

template <GgmlType T, int kBM>
constexpr int SmemBytesFor(int raw_stages) {
  return Tiles<kBM>::kStages * Tiles<kBM>::kXBytes + raw_stages * Geometry<T>::kRawBytes +
         2 * kWTileBytes;
}
// Raw-weight ring depth: 3 stages (2 in flight while one is decoded) when they fit, else 2.
template <GgmlType T, int kBM>
constexpr int kRawStages = SmemBytesFor<T, kBM>(3) <= kMaxSmem ? 3 : 2;
template <GgmlType T, int kBM>
constexpr int SmemBytes() {
  return SmemBytesFor<T, kBM>(kRawStages<T, kBM>);
}

__device__ __forceinline__ void BarSync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void BarArrive(int id, int count) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

using cuda_detail::CpAsync16;
using cuda_detail::CpAsync16Until;
using cuda_detail::CpAsyncCommit;
using cuda_detail::CpAsyncWait;
using cuda_detail::SmemAddr;

__device__ __forceinline__ void LdMatrixX4(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Byte offset of 16-byte chunk `ch` of tile row `row` after the XOR swizzle.
__device__ __forceinline__ int Swz(int row, int ch) {
  return row * kRowBytes + ((ch ^ (row & 7)) << 4);
}

using Problem = cuda_detail::QuantMatmulProblem;

template <GgmlType T, int kBM>
__global__ void __launch_bounds__(kThreads<kBM>, 1) FusedMatmulKernel(Problem p) {
  using C = Codec<T>;
  using G = Geometry<T>;
  using L = Tiles<kBM>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* xs = smem;                                     // [kStages][kBM][512 B] bf16 X
  uint8_t* raw = xs + L::kStages * L::kXBytes;            // [kRawStages][kBN][kSlot] raw weights
  uint8_t* ws = raw + kRawStages<T, kBM> * G::kRawBytes;  // [2][kBN][512 B] bf16 weights

  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
  const int k_blocks = p.k / C::kElems;
  const int n_stages = (p.k + kBK - 1) / kBK;
  constexpr int kBlocksPerStage = kBK / C::kElems;

  if (threadIdx.x < kDecodeThreads<kBM>) {
    // ---------------- decoder warps ----------------
    const int tid = threadIdx.x;
    const uint8_t* const w_end = p.w + static_cast<int64_t>(p.n) * p.w_row_bytes;
    auto load_raw = [&](int s) {
      if (s >= n_stages) return;
      const int first = s * kBlocksPerStage;
      const int nblk = min(kBlocksPerStage, k_blocks - first);
      const uint32_t base = SmemAddr(raw + (s % kRawStages<T, kBM>)*G::kRawBytes);
      constexpr int kSlotChunks = G::kSlot / 16;
      for (int i = tid; i < kBN * kSlotChunks; i += kDecodeThreads<kBM>) {
        const int row = i / kSlotChunks, ch = i % kSlotChunks;
        if (n0 + row >= p.n) continue;
        const uint8_t* a =
            p.w + (n0 + row) * p.w_row_bytes + static_cast<int64_t>(first) * C::kBytes;
        const uint8_t* a0 =
            reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(a) & ~uintptr_t{15});
        if (a0 + ch * 16 < a + nblk * C::kBytes) {
          // The last row's last covering word may reach past the tensor: read only its bytes
          // (the rest is zero-filled; within a row the decode never uses them).
          CpAsync16Until(base + row * G::kSlot + ch * 16, a0 + ch * 16, w_end);
        }
      }
    };
#pragma unroll
    for (int s = 0; s < kRawStages<T, kBM> - 1; ++s) {
      load_raw(s);
      CpAsyncCommit();
    }
    for (int kt = 0; kt < n_stages; ++kt) {
      CpAsyncWait<kRawStages<T, kBM> - 2>();
      BarSync(kBarDecode, kDecodeThreads<kBM>);  // raw stage kt landed; stage kt-1 fully decoded
      load_raw(kt + kRawStages<T, kBM> - 1);     // into stage kt-1's slot
      CpAsyncCommit();
      const int buf = kt & 1;
      if (kt >= 2) BarSync(kBarEmpty + buf, kThreads<kBM>);  // math is done with tile `buf`
      const int first = kt * kBlocksPerStage;
      const int nblk = min(kBlocksPerStage, k_blocks - first);
      uint8_t* wt = ws + buf * kWTileBytes;
      const uint8_t* rs = raw + (kt % kRawStages<T, kBM>)*G::kRawBytes;
#pragma unroll
      for (int i = 0; i < 2 * kBN * 4 / kDecodeThreads<kBM>; ++i) {
        const int u = tid + i * kDecodeThreads<kBM>;  // 512 runs: run r of row `row`
        const int r = u / kBN, row = u % kBN;
        const int blk = C::kRuns == 1 ? r : 0, run = C::kRuns == 1 ? 0 : r;
        uint4 packed[4];
        if (n0 + row < p.n && blk < nblk) {
          const uint8_t* a =
              p.w + (n0 + row) * p.w_row_bytes + static_cast<int64_t>(first) * C::kBytes;
          const int off = static_cast<int>(reinterpret_cast<uintptr_t>(a) & 15);
          float v[32];
          C::Decode(rs + row * G::kSlot + off + blk * C::kBytes, run, v);
          cuda_detail::PackRunBf16(v, packed);
        } else {
#pragma unroll
          for (int q = 0; q < 4; ++q) packed[q] = make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int q = 0; q < 4; ++q) *reinterpret_cast<uint4*>(wt + Swz(row, 4 * r + q)) = packed[q];
      }
      BarArrive(kBarFull + buf, kThreads<kBM>);  // weight tile `buf` holds stage kt
    }
    CpAsyncWait<0>();
    return;
  }

  // ---------------- math warps ----------------
  const int tid = threadIdx.x - kDecodeThreads<kBM>, lane = tid & 31, warp = tid >> 5;
  const int wm = warp & 1, wn = warp >> 1;
  auto load_x = [&](int s) {
    if (s >= n_stages) return;
    const uint32_t xbase = SmemAddr(xs + (s % L::kStages) * L::kXBytes);
    for (int i = tid; i < kBM * kChunks; i += kMathThreads) {
      const int row = i / kChunks, ch = i % kChunks;
      const int gm = m0 + row, gk = s * kBK + ch * 8;
      const bool ok = gm < p.m && gk < p.k;
      const void* src = ok ? static_cast<const void*>(p.x + static_cast<int64_t>(gm) * p.k + gk)
                           : static_cast<const void*>(p.x);
      CpAsync16(xbase + Swz(row, ch), src, ok ? 16 : 0);  // zero-fill past M and K
    }
  };

  float acc[L::kMFrag][L::kNFrag][4];
#pragma unroll
  for (int a = 0; a < L::kMFrag; ++a)
#pragma unroll
    for (int b = 0; b < L::kNFrag; ++b)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[a][b][c] = 0.0f;

#pragma unroll
  for (int s = 0; s < L::kStages - 1; ++s) {
    load_x(s);
    CpAsyncCommit();
  }
  for (int kt = 0; kt < n_stages; ++kt) {
    if (kt > 0) BarSync(kBarMath, kMathThreads);  // all math warps are done with stage kt-1
    load_x(kt + L::kStages - 1);                  // into stage kt-1's slot
    CpAsyncCommit();
    CpAsyncWait<L::kStages - 1>();
    BarSync(kBarMath, kMathThreads);  // X stage kt landed (every thread's copies)
    const int buf = kt & 1;
    BarSync(kBarFull + buf, kThreads<kBM>);  // weight tile for stage kt decoded

    const uint32_t x_addr = SmemAddr(xs + (kt % L::kStages) * L::kXBytes);
    const uint32_t w_addr = SmemAddr(ws + buf * kWTileBytes);
#pragma unroll 2
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t a[L::kMFrag][4];
#pragma unroll
      for (int mi = 0; mi < L::kMFrag; ++mi) {
        const int row = wm * L::kWM + mi * 16 + (lane & 15);
        LdMatrixX4(x_addr + Swz(row, kk * 2 + (lane >> 4)), a[mi]);
      }
#pragma unroll
      for (int nj = 0; nj < L::kNFrag / 2; ++nj) {
        uint32_t b[4];
        const int row = wn * L::kWN + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
        LdMatrixX4(w_addr + Swz(row, kk * 2 + ((lane >> 3) & 1)), b);
#pragma unroll
        for (int mi = 0; mi < L::kMFrag; ++mi) {
          Mma(acc[mi][2 * nj], a[mi], b[0], b[1]);
          Mma(acc[mi][2 * nj + 1], a[mi], b[2], b[3]);
        }
      }
    }
    if (kt + 2 < n_stages) BarArrive(kBarEmpty + buf, kThreads<kBM>);  // tile `buf` may be refilled
  }
  CpAsyncWait<0>();

  // Epilogue: fp32 accumulators (+ bias) rounded once to bf16.
  const int g = lane >> 2, t = lane & 3;
  const bool pairs = (p.n & 1) == 0;
#pragma unroll
  for (int mi = 0; mi < L::kMFrag; ++mi) {
#pragma unroll
    for (int ni = 0; ni < L::kNFrag; ++ni) {
      const int col = n0 + wn * L::kWN + ni * 8 + 2 * t;
      float b0 = 0.0f, b1 = 0.0f;
      if (p.bias != nullptr) {
        if (col < p.n) b0 = __bfloat162float(p.bias[col]);
        if (col + 1 < p.n) b1 = __bfloat162float(p.bias[col + 1]);
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + wm * L::kWM + mi * 16 + g + 8 * h;
        if (row >= p.m || col >= p.n) continue;
        __nv_bfloat16* out = p.y + static_cast<int64_t>(row) * p.n + col;
        const float v0 = acc[mi][ni][2 * h] + b0, v1 = acc[mi][ni][2 * h + 1] + b1;
        if (pairs) {
          *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(v0, v1);
        } else {
          out[0] = __float2bfloat16_rn(v0);
          if (col + 1 < p.n) out[1] = __float2bfloat16_rn(v1);
        }
      }
    }
  }
}

template <GgmlType T, int kBM>
cudaError_t Launch(const Problem& p, cudaStream_t stream) {
  constexpr int kSmem = SmemBytes<T, kBM>();
  static_assert(kSmem <= kMaxSmem, "shared memory over the sm_90 limit");
  auto* kernel = FusedMatmulKernel<T, kBM>;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  if (err != cudaSuccess) return err;
  const dim3 grid((p.m + kBM - 1) / kBM, (p.n + kBN - 1) / kBN);
  kernel<<<grid, kThreads<kBM>, kSmem, stream>>>(p);
  return cudaGetLastError();
}

template <GgmlType T>
constexpr bool kFused =
    Codec<T>::kElems == 32 ? T != GgmlType::kF32&& T != GgmlType::kF16&& T != GgmlType::kBF16
                           : true;

// The current device's opt-in shared memory per block; 0 when it cannot be read.
int CurrentDeviceSmemOptin() {
  int device = 0, bytes = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
          cudaSuccess) {
    cudaGetLastError();  // leave no error behind for the next launch check
    return 0;
  }
  return bytes;
}

}  // namespace

bool FusedMatmulSupportsWithin(GgmlType type, int smem_optin_bytes) {
  bool ok = false;
  cuda_detail::DispatchType(type, [&](auto tag) {
    constexpr GgmlType T = decltype(tag)::value;
    if constexpr (kFused<T>) ok = SmemBytes<T, 64>() <= smem_optin_bytes;
  });
  return ok;
}

bool FusedMatmulSupports(GgmlType type) {
  return FusedMatmulSupportsWithin(type, CurrentDeviceSmemOptin());
}

cudaError_t FusedMatmul(GgmlType type, const void* w, const void* x, void* y, int64_t m, int64_t n,
                        int64_t k, const void* bias, cudaStream_t stream) {
  // Hopper + Q4_K/Q5_K/Q6_K/Q8_0 with whole super-blocks: the wgmma panel kernel, which decodes
  // each weight element once per 64-256 tokens (3-8x faster than this file's kernel at 157-628
  // tokens on an H200, bench/NOTES.md). Everything else: the portable kernel below.
  if (FusedPanelSupports(type, k)) {
    return FusedPanelMatmul(type, w, x, y, m, n, k, bias, 0, 0, stream);
  }
  return FusedMatmulTiled(type, w, x, y, m, n, k, bias, 0, stream);
}

cudaError_t FusedMatmulTiled(GgmlType type, const void* w, const void* x, void* y, int64_t m,
                             int64_t n, int64_t k, const void* bias, int token_tile,
                             cudaStream_t stream) {
  if (token_tile != 0 && token_tile != 64 && token_tile != 128) return cudaErrorInvalidValue;
  if (!FusedMatmulSupportsWithin(type, kMaxSmem)) return cudaErrorInvalidValue;  // the type
  if (m < 0 || n < 0 || k <= 0 || k % GgmlInfo(type).block_size != 0) return cudaErrorInvalidValue;
  if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff) return cudaErrorInvalidValue;
  if (m == 0 || n == 0) return cudaSuccess;
  if (w == nullptr || x == nullptr || y == nullptr) return cudaErrorInvalidValue;
  if ((reinterpret_cast<uintptr_t>(w) & 15) != 0 || (reinterpret_cast<uintptr_t>(x) & 15) != 0 ||
      (reinterpret_cast<uintptr_t>(y) & 3) != 0 || (reinterpret_cast<uintptr_t>(bias) & 1) != 0) {
    return cudaErrorMisalignedAddress;
  }
  if ((n + kBN - 1) / kBN > 65535) return cudaErrorInvalidValue;
  // This device's shared memory, read once for the support check and the token tile.
  const int smem_optin = CurrentDeviceSmemOptin();
  if (!FusedMatmulSupportsWithin(type, smem_optin)) return cudaErrorInvalidValue;
  const Problem p{static_cast<const uint8_t*>(w),
                  static_cast<const __nv_bfloat16*>(x),
                  static_cast<__nv_bfloat16*>(y),
                  static_cast<const __nv_bfloat16*>(bias),
                  static_cast<int>(m),
                  static_cast<int>(n),
                  static_cast<int>(k),
                  GgmlRowBytes(type, k)};
  // One CUDA block per SM (shared memory), so the grid runs in waves of `sms` blocks and a
  // nearly empty last wave costs a whole block time. Pick the token tile that minimises
  // waves x block time; a 128-token block takes ~1.45x a 64-token one (same weight decoding,
  // twice the products), measured on an H200 with Q4_K at 3072x3072.
  int device = 0, sms = 132;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    return cudaErrorInvalidDevice;
  }
  const int64_t n_tiles = (n + kBN - 1) / kBN;
  auto cost = [&](int64_t bm, double block_time) {
    const int64_t blocks = (m + bm - 1) / bm * n_tiles;
    return static_cast<double>((blocks + sms - 1) / sms) * block_time;
  };
  const bool big = token_tile == 0 ? cost(128, 1.45) < cost(64, 1.0) : token_tile == 128;
  cudaError_t err = cudaErrorInvalidValue;
  cuda_detail::DispatchType(type, [&](auto tag) {
    constexpr GgmlType T = decltype(tag)::value;
    if constexpr (kFused<T>) {
      // 128-token tiles need more shared memory than the widest formats (Q8_0) leave.
      if constexpr (SmemBytes<T, 128>() <= kMaxSmem) {
        const bool fits_128 = SmemBytes<T, 128>() <= smem_optin;
        err = big && fits_128 ? Launch<T, 128>(p, stream) : Launch<T, 64>(p, stream);
      } else {
        err = Launch<T, 64>(p, stream);
      }
    }
  });
  return err;
}

}  // namespace ovid
