// File: kernels/cuda/dequantize.cu
// Dequantization kernels. A persistent grid of 256-thread CUDA blocks walks tiles of 8192
// consecutive outputs of one row:
//   - the tile's source bytes go to shared memory with cp.async 16-byte copies, double-buffered
//     so the next tile is in flight while this one is decoded (most block sizes are not
//     multiples of 16 bytes, so per-thread vector loads straight from global memory would be
//     misaligned; the tile as a whole is aligned);
//   - each thread decodes one 32-output run (the inputs of a run are a few contiguous byte
//     ranges of its block);
//   - each warp transposes its 32 runs through shared memory so every store instruction writes
//     512 contiguous bytes (a thread writing its own 64-byte run would touch 32 lines per store).
// Sources that are not 16-byte aligned fall back to synchronous staging with narrower loads.
// Whole quantized tensors in whole aligned chunks (every Ovi weight) take a second kernel
// instead, DequantizeWholeKernel, in which each warp runs its own pipeline (see there).
// The stores are streaming (st.global.cs: first in line for L2 eviction) unless the caller
// asks to keep the output in L2 (see dequantize.cuh).
// Both kernels are launched with programmatic dependent launch (pdl.cuh) and wait for the
// previous kernel before anything else: their blocks are resident when it finishes (after a norm
// kernel that lets them start early, as in the lazy linear layer's chain), which saves the launch
// gap; the wait comes first because a source or row ids may be the previous kernel's output.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/block_decode.cuh"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/pdl.cuh"

namespace ovid {
namespace {

using cuda_detail::Codec;
using cuda_detail::kRunElems;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTileElems = kThreads * kRunElems;  // 8192 outputs per tile
// Blocks per SM the register budget must allow. The kernel is latency-bound, not issue-bound
// (ncu, H100, Q4_K -> bf16: issue slots 42% busy, no eligible warp in 49% of cycles, DRAM 65%),
// and at its natural 48 registers only 5 blocks (40 warps) fit an SM: 6 blocks (40 registers)
// keep more loads and stores in flight. Types and formats whose decode then spills (ptxas -v:
// f32 output, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K) keep the compiler's choice.
template <GgmlType T, FloatFormat F>
constexpr int MinBlocksPerSm() {
  constexpr bool spills = F == FloatFormat::kF32 || T == GgmlType::kQ4_1 || T == GgmlType::kQ5_0 ||
                          T == GgmlType::kQ5_1 || T == GgmlType::kQ2_K || T == GgmlType::kQ3_K;
  return spills ? 1 : 6;
}

template <GgmlType T>
constexpr int TileBytes() {
  return kTileElems / Codec<T>::kElems * Codec<T>::kBytes;
}

using cuda_detail::CpAsync16;
using cuda_detail::CpAsync8;
using cuda_detail::CpAsyncCommit;
using cuda_detail::CpAsyncWait;
using cuda_detail::SmemAddr;

// kernel<<<grid, block, smem, stream>>>(args...), with programmatic stream serialization when
// `pdl` (compute capability 9 and up, the cards that have it; older ones get a plain launch).
template <typename... Params, typename... Args>
cudaError_t LaunchPdl(void (*kernel)(Params...), bool pdl, unsigned grid, unsigned block,
                      size_t smem, cudaStream_t stream, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(block);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
}

// Copies n bytes from global p to shared s (16-byte aligned) with the widest safe loads.
__device__ __forceinline__ void StageBytes(const uint8_t* __restrict__ p, uint8_t* s, int n) {
  const int tid = threadIdx.x;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if ((a & 15) == 0) {
    const int n16 = n >> 4;
    const uint4* p16 = reinterpret_cast<const uint4*>(p);
    uint4* s16 = reinterpret_cast<uint4*>(s);
#pragma unroll 4
    for (int i = tid; i < n16; i += kThreads) s16[i] = __ldg(p16 + i);
    for (int i = (n16 << 4) + tid; i < n; i += kThreads) s[i] = p[i];
  } else if ((a & 3) == 0) {
    const int n4 = n >> 2;
    const uint32_t* p4 = reinterpret_cast<const uint32_t*>(p);
    uint32_t* s4 = reinterpret_cast<uint32_t*>(s);
#pragma unroll 4
    for (int i = tid; i < n4; i += kThreads) s4[i] = __ldg(p4 + i);
    for (int i = (n4 << 2) + tid; i < n; i += kThreads) s[i] = p[i];
  } else {
    for (int i = tid; i < n; i += kThreads) s[i] = p[i];
  }
}

template <FloatFormat F>
struct Out;

template <>
struct Out<FloatFormat::kF32> {
  using Scalar = float;
  static __device__ __forceinline__ float One(float v) { return v; }
  static __device__ __forceinline__ void Run(const float (&v)[32], void* dst) {
    float4* d = reinterpret_cast<float4*>(dst);
#pragma unroll
    for (int i = 0; i < 8; ++i)
      d[i] = make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
  }
};

__device__ __forceinline__ uint32_t PackF16(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

template <>
struct Out<FloatFormat::kBF16> {
  using Scalar = __nv_bfloat16;
  static __device__ __forceinline__ __nv_bfloat16 One(float v) { return __float2bfloat16_rn(v); }
  static __device__ __forceinline__ void Run(const float (&v)[32], void* dst) {
    uint4* d = reinterpret_cast<uint4*>(dst);
#pragma unroll
    for (int i = 0; i < 4; ++i) d[i] = cuda_detail::PackChunkBf16(v, i);
  }
};

template <>
struct Out<FloatFormat::kF16> {
  using Scalar = __half;
  static __device__ __forceinline__ __half One(float v) { return __float2half_rn(v); }
  static __device__ __forceinline__ void Run(const float (&v)[32], void* dst) {
    uint4* d = reinterpret_cast<uint4*>(dst);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      d[i] = make_uint4(PackF16(v[8 * i], v[8 * i + 1]), PackF16(v[8 * i + 2], v[8 * i + 3]),
                        PackF16(v[8 * i + 4], v[8 * i + 5]), PackF16(v[8 * i + 6], v[8 * i + 7]));
    }
  }
};

// Scalar decode of element e of a float tensor staged in shared memory (tails only).
template <GgmlType T>
__device__ __forceinline__ float FloatElement(const uint8_t* s, int e) {
  if constexpr (T == GgmlType::kF32) {
    return reinterpret_cast<const float*>(s)[e];
  } else if constexpr (T == GgmlType::kF16) {
    return cuda_detail::HalfBits(reinterpret_cast<const uint16_t*>(s)[e]);
  } else {
    return __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(s)[e]) << 16);
  }
}

// Packs 8 outputs into one 16-byte chunk of format F (chunk q of a run: outputs 8q..8q+7 for
// 16-bit formats, 4q..4q+3 for f32).
template <FloatFormat F>
__device__ __forceinline__ uint4 Chunk(const float (&v)[32], int q) {
  if constexpr (F == FloatFormat::kF32) {
    return make_uint4(__float_as_uint(v[4 * q]), __float_as_uint(v[4 * q + 1]),
                      __float_as_uint(v[4 * q + 2]), __float_as_uint(v[4 * q + 3]));
  } else if constexpr (F == FloatFormat::kBF16) {
    return cuda_detail::PackChunkBf16(v, q);
  } else {
    return make_uint4(PackF16(v[8 * q], v[8 * q + 1]), PackF16(v[8 * q + 2], v[8 * q + 3]),
                      PackF16(v[8 * q + 4], v[8 * q + 5]), PackF16(v[8 * q + 6], v[8 * q + 7]));
  }
}

// 16-byte chunks per 32-output run, and the swizzled slot of chunk q of lane l's run in the
// warp's staging area: the 8 lanes of a shared-memory phase always hit 8 different bank groups,
// both when lanes write their own runs and when they read consecutive chunks back.
template <FloatFormat F>
constexpr int kRunChunks = F == FloatFormat::kF32 ? 8 : 4;
template <FloatFormat F>
__device__ __forceinline__ int StageSlot(int l, int q) {
  if constexpr (kRunChunks<F> == 8) {
    return l * 8 + (q ^ (l & 7));
  } else {
    return l * 4 + (q ^ ((l >> 1) & 3));
  }
}

template <GgmlType T, FloatFormat F>
constexpr int SmemBytes() {
  return 2 * ((TileBytes<T>() + 15) / 16 * 16) + kWarps * 32 * kRunChunks<F> * 16;
}

struct Params {
  const uint8_t* src;
  int64_t src_row_bytes;
  int64_t n_src_rows;
  const int64_t* ids;  // null: output row i = source row i
  int64_t n_out_rows;
  int64_t row_elems;
  int64_t tiles_per_row;
  void* dst;
  bool async_ok;    // every tile starts 16-byte aligned
  bool keep_in_l2;  // plain stores (DequantCaching::kKeepInL2) instead of streaming ones
};

template <GgmlType T, FloatFormat F>
__global__ void __launch_bounds__(kThreads, MinBlocksPerSm<T, F>()) DequantizeKernel(Params p) {
  cuda_detail::GridDependencyWait();  // p.src / p.ids may come from the previous kernel
  cuda_detail::LaunchDependents();
  using C = Codec<T>;
  using O = Out<F>;
  constexpr int kIn = (TileBytes<T>() + 15) / 16 * 16;
  extern __shared__ __align__(16) uint8_t smem[];
  uint4* stage = reinterpret_cast<uint4*>(smem + 2 * kIn) + (threadIdx.x >> 5) * 32 * kRunChunks<F>;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = tid / C::kRuns, r = tid % C::kRuns;
  const int e0 = tid * kRunElems;  // == b * kElems + r * 32: this thread's run in the tile
  const int64_t total = p.n_out_rows * p.tiles_per_row;

  // Tile t -> (output row, tile within the row). Whole-tensor launches are one long row, so the
  // 64-bit division (dozens of instructions) is only paid by selected-row launches.
  struct Where {
    int64_t row, tile, src_row;  // src_row -1: id out of range
  };
  auto where = [&](int64_t t) {
    Where w{0, t, 0};
    if (p.n_out_rows != 1) {
      w.row = t / p.tiles_per_row;
      w.tile = t - w.row * p.tiles_per_row;
    }
    const int64_t s = p.ids != nullptr ? p.ids[w.row] : w.row;
    w.src_row = s >= 0 && s < p.n_src_rows ? s : -1;
    return w;
  };
  auto tile_elems = [&](const Where& w) {
    return static_cast<int>(
        min(static_cast<int64_t>(kTileElems), p.row_elems - w.tile * kTileElems));
  };
  auto tile_src = [&](const Where& w) {
    return p.src + w.src_row * p.src_row_bytes + w.tile * TileBytes<T>();
  };
  auto issue = [&](int64_t t, int buf) {
    if (!p.async_ok || t >= total) return;
    const Where w = where(t);
    if (w.src_row < 0) return;
    const uint8_t* a = tile_src(w);
    const int nbytes =
        static_cast<int>(static_cast<int64_t>(tile_elems(w)) * C::kBytes / C::kElems);
    const uint32_t base = SmemAddr(smem + buf * kIn);
    for (int i = tid; i * 16 < nbytes; i += kThreads) {
      CpAsync16(base + 16 * i, a + 16 * i, min(16, nbytes - 16 * i));
    }
  };

  int buf = 0;
  issue(blockIdx.x, 0);
  CpAsyncCommit();
  for (int64_t t = blockIdx.x; t < total; t += gridDim.x, buf ^= 1) {
    issue(t + gridDim.x, buf ^ 1);  // next tile's bytes fly while this one is decoded
    CpAsyncCommit();
    const Where w = where(t);
    const int64_t first = w.tile * kTileElems;
    const int elems = tile_elems(w);
    const int64_t s = w.src_row;
    const int64_t row = w.row;
    uint8_t* in = smem + buf * kIn;
    if (!p.async_ok && s >= 0) {
      StageBytes(tile_src(w), in,
                 static_cast<int>(static_cast<int64_t>(elems) * C::kBytes / C::kElems));
    }
    CpAsyncWait<1>();
    __syncthreads();  // tile t is in `in`

    using Scalar = typename O::Scalar;
    Scalar* out_tile = static_cast<Scalar*>(p.dst) + row * p.row_elems + first;
    const bool aligned = (reinterpret_cast<uintptr_t>(out_tile) & 15) == 0;
    if (s < 0) {  // bad id: zeros (see the header)
      for (int e = 0; e < kRunElems && e0 + e < elems; ++e) out_tile[e0 + e] = O::One(0.0f);
    } else if (aligned && (warp + 1) * 32 * kRunElems <= elems) {
      // Whole warp in range: decode, transpose through shared memory, 512-byte stores.
      float v[kRunElems];
      C::Decode(in + b * C::kBytes, r, v);
#pragma unroll
      for (int q = 0; q < kRunChunks<F>; ++q) stage[StageSlot<F>(lane, q)] = Chunk<F>(v, q);
      __syncwarp();
      // Streaming stores by default: the output is written once and not read back by this
      // kernel, and marking its lines evict-first keeps the L2 from filling with dirty lines
      // that are then written back in eviction order (+4-6 points of copy bandwidth at Ovi's
      // large shapes, bench/NOTES.md). A GEMM that reads the output right away instead wants
      // it left in L2 (kKeepInL2): there the streaming gain is lost again in the GEMM.
      uint4* dst = reinterpret_cast<uint4*>(out_tile + warp * 32 * kRunElems);
#pragma unroll
      for (int i = 0; i < kRunChunks<F>; ++i) {
        const int c = i * 32 + lane;
        const uint4 chunk = stage[StageSlot<F>(c / kRunChunks<F>, c % kRunChunks<F>)];
        if (p.keep_in_l2) {
          dst[c] = chunk;
        } else {
          __stcs(dst + c, chunk);
        }
      }
      __syncwarp();
    } else if (e0 < elems) {
      Scalar* out = out_tile + e0;
      if constexpr (T == GgmlType::kF32 || T == GgmlType::kF16 || T == GgmlType::kBF16) {
        // Float rows whose length is not a multiple of 32, or unaligned output rows.
        for (int e = 0; e < kRunElems && e0 + e < elems; ++e) {
          out[e] = O::One(FloatElement<T>(in, e0 + e));
        }
      } else {
        float v[kRunElems];
        C::Decode(in + b * C::kBytes, r, v);
        if ((reinterpret_cast<uintptr_t>(out) & 15) == 0) {
          O::Run(v, out);
        } else {
          for (int e = 0; e < kRunElems; ++e) out[e] = O::One(v[e]);
        }
      }
    }
    __syncthreads();  // everyone is done with `in` before it is refilled
  }
  CpAsyncWait<1>();
}

// ---- whole tensors: one pipeline per warp ----
// Each warp streams its own chunks of 1024 consecutive outputs, one 32-output run per lane,
// through a ring of kWholeDepth shared-memory slots, two chunks ahead of the one
// it decodes, and waits only on its own copies. The block-wide ring above ties 8 warps to one
// barrier per tile; with per-warp rings a warp that is decoding never holds back another warp's
// loads. At Ovi's large shapes this moved Q4_K/Q6_K/Q8_0 -> bf16 from 81.5-84% of the copy rate
// to 84.4-86.1%, within 1-2 points of the same skeleton with no decode math, and Q4_K/Q8_0 at
// [3072, 3072] from 76-79% to 81.5-82% (H100, bench/NOTES.md).
constexpr int kWholeDepth = 3;
// A chunk is one 32-output run per lane: 1024 outputs. Chunks of whole 16-byte vectors are
// copied in 16-byte pieces; Q6_K's (840 bytes) and Q3_K's (440) are whole 8-byte words and go in
// 8-byte pieces. (They used to take 2048-output chunks to be whole vectors: at [3072, 3072] that
// left fewer than two chunks per resident warp, so Q6_K fell back to the block-ring kernel.)
constexpr int kWholeChunkElems = 32 * kRunElems;
template <GgmlType T>
constexpr int kWholeChunkBytes = kWholeChunkElems / Codec<T>::kElems * Codec<T>::kBytes;
template <GgmlType T>
constexpr int kWholeCopyBytes = kWholeChunkBytes<T> % 16 == 0 ? 16 : 8;
// The ring of one warp, padded so that its run stage after it stays 16-byte aligned.
template <GgmlType T>
constexpr int kWholeRingBytes = (kWholeDepth * kWholeChunkBytes<T> + 15) / 16 * 16;
template <GgmlType T, FloatFormat F>
constexpr int WholeWarpSmem() {
  return kWholeRingBytes<T> + 32 * kRunChunks<F> * 16;
}

// kKeepInL2 is a template argument, not a run-time flag: a branch in the store loop cost 10
// registers per thread (Q6_K: 58 against 48).
template <GgmlType T, FloatFormat F, bool kKeepInL2>
__global__ void __launch_bounds__(kThreads)
    DequantizeWholeKernel(const uint8_t* __restrict__ src, void* __restrict__ dst, int64_t chunks) {
  cuda_detail::GridDependencyWait();  // src may come from the previous kernel
  cuda_detail::LaunchDependents();
  using C = Codec<T>;
  constexpr int kBytes = kWholeChunkBytes<T>, kCopy = kWholeCopyBytes<T>;
  static_assert(kBytes % kCopy == 0, "chunks must be whole 8-byte words");
  extern __shared__ __align__(16) uint8_t smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint8_t* ring = smem + warp * WholeWarpSmem<T, F>();
  uint4* stage = reinterpret_cast<uint4*>(ring + kWholeRingBytes<T>);
  const int64_t n_warps = static_cast<int64_t>(gridDim.x) * kWarps;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  auto issue = [&](int64_t c, int slot) {
    if (c >= chunks) return;
    const uint8_t* a = src + c * kBytes;
    const uint32_t base = SmemAddr(ring + slot * kBytes);
    for (int i = lane; i < kBytes / kCopy; i += 32) {
      if constexpr (kCopy == 16) {
        CpAsync16(base + 16 * i, a + 16 * i, 16);
      } else {
        CpAsync8(base + 8 * i, a + 8 * i);
      }
    }
  };
#pragma unroll
  for (int k = 0; k < kWholeDepth - 1; ++k) {
    issue(first + k * n_warps, k);
    CpAsyncCommit();
  }
  int slot = 0;
  for (int64_t c = first; c < chunks; c += n_warps) {
    issue(c + (kWholeDepth - 1) * n_warps, slot == 0 ? kWholeDepth - 1 : slot - 1);
    CpAsyncCommit();
    CpAsyncWait<kWholeDepth - 1>();
    __syncwarp();  // every lane's copies of chunk c have landed
    const uint8_t* in = ring + slot * kBytes;
    float v[kRunElems];
    C::Decode(in + lane / C::kRuns * C::kBytes, lane % C::kRuns, v);
#pragma unroll
    for (int q = 0; q < kRunChunks<F>; ++q) stage[StageSlot<F>(lane, q)] = Chunk<F>(v, q);
    __syncwarp();
    // 32 runs = 2 KB of bf16 (4 KB of f32): each store instruction writes 512 contiguous bytes.
    uint4* d = reinterpret_cast<uint4*>(static_cast<typename Out<F>::Scalar*>(dst) +
                                        c * kWholeChunkElems);
#pragma unroll
    for (int i = 0; i < kRunChunks<F>; ++i) {
      const int k = i * 32 + lane;
      const uint4 chunk = stage[StageSlot<F>(k / kRunChunks<F>, k % kRunChunks<F>)];
      if constexpr (kKeepInL2) {
        d[k] = chunk;
      } else {
        __stcs(d + k, chunk);
      }
    }
    __syncwarp();  // the stage is read before the next chunk's run overwrites it
    slot = slot == kWholeDepth - 1 ? 0 : slot + 1;
  }
  CpAsyncWait<0>();
}

// Launches DequantizeWholeKernel when it applies (quantized type, whole 16-byte aligned chunks,
// 16-byte aligned output); *launched says whether it did.
template <GgmlType T, FloatFormat F>
cudaError_t LaunchWhole(const void* src, void* dst, int64_t total, bool keep_in_l2,
                        cudaStream_t stream, bool* launched) {
  *launched = false;
  if constexpr (T == GgmlType::kF32 || T == GgmlType::kF16 || T == GgmlType::kBF16) {
    return cudaSuccess;
  } else {
    if (total % kWholeChunkElems != 0 || (reinterpret_cast<uintptr_t>(src) & 15) != 0 ||
        (reinterpret_cast<uintptr_t>(dst) & 15) != 0) {
      return cudaSuccess;
    }
    auto* kernel =
        keep_in_l2 ? DequantizeWholeKernel<T, F, true> : DequantizeWholeKernel<T, F, false>;
    int device = 0, sms = 0, smem_per_sm = 0, reserved = 0, per_sm = 0, major = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    if ((err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)) !=
            cudaSuccess ||
        (err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device)) !=
            cudaSuccess ||
        (err = cudaDeviceGetAttribute(&smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor,
                                      device)) != cudaSuccess ||
        (err = cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock,
                                      device)) != cudaSuccess) {
      return err;
    }
    // At most kWholeBlocksPerSm blocks (24 warps) per SM, enforced by asking for more shared
    // memory than a fourth block would leave: with 32-40 resident warps the same kernel ran 2-4
    // points of copy bandwidth slower (more streams in flight than the memory system serves
    // well), at 24 it matched the no-decode skeleton within 1-2 points (bench/NOTES.md).
    constexpr int kWholeBlocksPerSm = 3;
    const int smem = max(kWarps * WholeWarpSmem<T, F>(),
                         (smem_per_sm / (kWholeBlocksPerSm + 1) - reserved + 16) / 16 * 16);
    if ((err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)) !=
            cudaSuccess ||
        (err = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    cudaSharedmemCarveoutMaxShared)) != cudaSuccess ||
        (err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem)) !=
            cudaSuccess) {
      return err;
    }
    // Persistent warps, balanced: every warp gets the same number of chunks (+-1). Below two
    // chunks per resident warp the grid leaves SMs short of warps (Q6_K's former 2048-output
    // chunks at [3072, 3072], 1.45 per warp: 69% of the copy rate against 76% for the block-ring
    // kernel), so those tensors stay on the block-ring kernel.
    const int64_t chunks = total / kWholeChunkElems;
    const int64_t resident = static_cast<int64_t>(sms) * (per_sm > 0 ? per_sm : 1) * kWarps;
    if (chunks < 2 * resident) return cudaSuccess;
    const int64_t rounds = (chunks + resident - 1) / resident;
    const int64_t warps = (chunks + rounds - 1) / rounds;
    const unsigned grid = static_cast<unsigned>((warps + kWarps - 1) / kWarps);
    err = LaunchPdl(kernel, major >= 9, grid, kThreads, smem, stream,
                    static_cast<const uint8_t*>(src), dst, chunks);
    *launched = err == cudaSuccess;
    return err;
  }
}

template <GgmlType T, FloatFormat F>
cudaError_t Launch(Params p, cudaStream_t stream) {
  constexpr int kSmem = SmemBytes<T, F>();
  auto* kernel = DequantizeKernel<T, F>;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  if (err != cudaSuccess) return err;
  // All of the unified L1/shared memory as shared memory: the kernel reads nothing through L1,
  // and the default carve-out (135 KB on an H100) would hold only 5 blocks' 26 KB.
  err = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                             cudaSharedmemCarveoutMaxShared);
  if (err != cudaSuccess) return err;
  int device = 0, sms = 0, per_sm = 0, major = 0;
  if ((err = cudaGetDevice(&device)) != cudaSuccess) return err;
  if ((err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)) !=
          cudaSuccess ||
      (err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device)) !=
          cudaSuccess) {
    return err;
  }
  err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, kSmem);
  if (err != cudaSuccess) return err;
  p.tiles_per_row = (p.row_elems + kTileElems - 1) / kTileElems;
  const int64_t tiles = p.tiles_per_row * p.n_out_rows;
  // Persistent grid, balanced: every block gets the same number of tiles (+-1), so the last
  // round is not left to a few blocks while most SMs idle.
  const int64_t resident = static_cast<int64_t>(sms) * (per_sm > 0 ? per_sm : 1);
  const int64_t rounds = (tiles + resident - 1) / resident;
  const unsigned grid = static_cast<unsigned>((tiles + rounds - 1) / rounds);
  return LaunchPdl(kernel, major >= 9, grid, kThreads, kSmem, stream, p);
}

cudaError_t Dispatch(GgmlType type, const void* src, int64_t src_row_bytes, int64_t n_src_rows,
                     const int64_t* ids, int64_t n_out_rows, int64_t row_elems, void* dst,
                     FloatFormat out, DequantCaching caching, cudaStream_t stream) {
  Params p{};
  p.src = static_cast<const uint8_t*>(src);
  p.src_row_bytes = src_row_bytes;
  p.n_src_rows = n_src_rows;
  p.ids = ids;
  p.n_out_rows = n_out_rows;
  p.row_elems = row_elems;
  p.dst = dst;
  p.keep_in_l2 = caching == DequantCaching::kKeepInL2;
  p.async_ok =
      (reinterpret_cast<uintptr_t>(src) & 15) == 0 && (n_src_rows == 1 || src_row_bytes % 16 == 0);
  cudaError_t err = cudaErrorInvalidValue;
  const bool known = cuda_detail::DispatchType(type, [&](auto tag) {
    constexpr GgmlType T = decltype(tag)::value;
    auto launch = [&](auto format) {
      constexpr FloatFormat F = decltype(format)::value;
      if (n_out_rows == 1 && ids == nullptr) {  // a whole tensor: the per-warp kernel if it applies
        bool launched = false;
        err = LaunchWhole<T, F>(src, dst, row_elems, p.keep_in_l2, stream, &launched);
        if (launched || err != cudaSuccess) return;
      }
      err = Launch<T, F>(p, stream);
    };
    switch (out) {
      case FloatFormat::kF32:
        launch(std::integral_constant<FloatFormat, FloatFormat::kF32>{});
        break;
      case FloatFormat::kF16:
        launch(std::integral_constant<FloatFormat, FloatFormat::kF16>{});
        break;
      case FloatFormat::kBF16:
        launch(std::integral_constant<FloatFormat, FloatFormat::kBF16>{});
        break;
    }
  });
  return known ? err : cudaErrorInvalidValue;
}

// Shared argument checks; returns cudaSuccess when the call may proceed.
cudaError_t Check(GgmlType type, const void* src, const void* dst, FloatFormat out, int64_t n_rows,
                  int64_t row_elements) {
  if (!DequantizeCudaSupports(type)) return cudaErrorInvalidValue;
  if (out != FloatFormat::kF32 && out != FloatFormat::kF16 && out != FloatFormat::kBF16) {
    return cudaErrorInvalidValue;
  }
  if (n_rows < 0 || row_elements < 0) return cudaErrorInvalidValue;
  if (row_elements % GgmlInfo(type).block_size != 0) return cudaErrorInvalidValue;
  if (n_rows > 0 && row_elements > 0 && (src == nullptr || dst == nullptr)) {
    return cudaErrorInvalidValue;
  }
  if ((reinterpret_cast<uintptr_t>(dst) & 15) != 0) return cudaErrorMisalignedAddress;
  if ((reinterpret_cast<uintptr_t>(src) & 1) != 0) return cudaErrorMisalignedAddress;
  return cudaSuccess;
}

}  // namespace

bool DequantizeCudaSupports(GgmlType type) {
  return cuda_detail::DispatchType(type, [](auto) {});
}

cudaError_t DequantizeCuda(GgmlType type, const void* src, void* dst, FloatFormat out,
                           int64_t n_rows, int64_t row_elements, cudaStream_t stream,
                           DequantCaching caching) {
  if (const cudaError_t e = Check(type, src, dst, out, n_rows, row_elements); e != cudaSuccess) {
    return e;
  }
  const int64_t total = n_rows * row_elements;
  if (total == 0) return cudaSuccess;
  // Rows are contiguous and whole blocks, so the tensor is one long row.
  const int64_t total_bytes = GgmlRowBytes(type, total);
  return Dispatch(type, src, total_bytes, 1, nullptr, 1, total, dst, out, caching, stream);
}

cudaError_t DequantizeRowsCuda(GgmlType type, const void* src, int64_t n_rows, int64_t row_elements,
                               const int64_t* row_ids, int64_t n_ids, void* dst, FloatFormat out,
                               cudaStream_t stream) {
  if (const cudaError_t e = Check(type, src, dst, out, n_rows, row_elements); e != cudaSuccess) {
    return e;
  }
  if (n_ids < 0 || (n_ids > 0 && row_ids == nullptr)) return cudaErrorInvalidValue;
  if (n_ids == 0 || row_elements == 0) return cudaSuccess;
  // A row is written for every id (zeros for ids out of range), even from an empty source, whose
  // dst Check does not test.
  if (dst == nullptr) return cudaErrorInvalidValue;
  return Dispatch(type, src, GgmlRowBytes(type, row_elements), n_rows, row_ids, n_ids, row_elements,
                  dst, out, DequantCaching::kStream, stream);
}

}  // namespace ovid
