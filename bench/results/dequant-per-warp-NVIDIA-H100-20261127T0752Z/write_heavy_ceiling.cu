// What a kernel with the dequantization's exact traffic can reach on this card, at Ovi's shapes,
// and how close the dequantization gets. For each case (Q4_K/Q6_K/Q8_0 -> bf16 at [3072,3072]
// and [14336,3072]) the same process times:
//   - cudaMemcpyAsync of 1 GiB (the issue's copy rate) and of the case's own bytes, rotating;
//   - cudaMemsetAsync of the case's output bytes (writes only), rotating;
//   - DequantizeCuda as built from kernels/cuda/dequantize.cu, streaming and keep-in-L2 stores,
//     and the kernel before the per-warp path (dequantize_before.cu, written by run.sh prepare
//     from commit f4e4014, linked with renamed entry points);
//   - WarpPipe: the experiment that became the per-warp whole-tensor kernel;
//   - traffic-matched kernels that read exactly the case's input bytes and write exactly its
//     output bytes in the same 16 KB output tiles, with no decode:
//       staged: the block-ring dequantization's skeleton (persistent balanced grid, cp.async
//               double buffer, each warp store 512 contiguous bytes), st.global.cs or plain;
//       bulk:   one bulk copy in and one 16 KB bulk store out per tile (TMA, no per-thread
//               global accesses), with or without an L2 evict-first hint on the store;
//       direct: a grid-stride loop, no shared memory.
//     Tiles go to blocks either strided (tile t, t + grid, ...) or contiguous (a run per block).
//     Without the argument "all" only the staged forms at 6 and 8 blocks per SM run.
// Every time is the median of 9 batches of 20 calls over rotating buffers (> 300 MB), and the
// whole set runs three times so order effects show. At the end, every WarpPipe output is
// compared byte for byte with DequantizeCuda's.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/cuda/bench_timer.h"
#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/block_decode.cuh"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/hopper_sync.cuh"

namespace ovid {
// The kernel before this change (scratch/dequantize_old.cu, compiled with renamed entry points).
cudaError_t DequantizeCudaOld(GgmlType type, const void* src, void* dst, FloatFormat out,
                              int64_t n_rows, int64_t row_elements, cudaStream_t stream,
                              DequantCaching caching);
}  // namespace ovid

using namespace ovid;
using namespace ovid::cuda_detail;
using ovid::bench::Failed;
using ovid::bench::MedianMicros;

namespace {

constexpr int kThreads = 256;
constexpr int kOutTile = 16384;  // bytes: 8192 bf16 outputs, the dequantization's tile
constexpr int kOutVecs = kOutTile / 16;

struct Job {
  const uint8_t* src;
  uint8_t* dst;
  int64_t tiles;
  int in_tile;  // input bytes per tile (multiple of 16)
  int rounds;   // tiles per block (contiguous assignment)
  bool contiguous;
};

__device__ __forceinline__ int64_t TileOf(const Job& j, int k) {
  int64_t t;
  if (j.contiguous) {
    if (k >= j.rounds) return -1;
    t = static_cast<int64_t>(blockIdx.x) * j.rounds + k;
  } else {
    t = blockIdx.x + static_cast<int64_t>(k) * gridDim.x;
  }
  return t < j.tiles ? t : -1;
}

template <bool kStreaming>
__global__ void __launch_bounds__(kThreads) Staged(Job j) {
  extern __shared__ __align__(16) uint8_t smem[];
  const int tid = threadIdx.x;
  const int in_vecs = j.in_tile / 16;
  auto issue = [&](int k, int buf) {
    const int64_t t = TileOf(j, k);
    if (t < 0) return;
    const uint8_t* a = j.src + t * j.in_tile;
    const uint32_t base = SmemAddr(smem + buf * j.in_tile);
    for (int i = tid; i < in_vecs; i += kThreads) CpAsync16(base + 16 * i, a + 16 * i, 16);
  };
  int buf = 0;
  issue(0, 0);
  CpAsyncCommit();
  for (int k = 0;; ++k, buf ^= 1) {
    const int64_t t = TileOf(j, k);
    if (t < 0) break;
    issue(k + 1, buf ^ 1);
    CpAsyncCommit();
    CpAsyncWait<1>();
    __syncthreads();
    const uint4* in = reinterpret_cast<const uint4*>(smem + buf * j.in_tile);
    uint4* out = reinterpret_cast<uint4*>(j.dst + t * kOutTile);
#pragma unroll
    for (int i = 0; i < kOutVecs / kThreads; ++i) {
      const int c = i * kThreads + tid;
      uint4 v = in[(c * in_vecs) >> 10];
      v.x ^= c;
      if (kStreaming) {
        __stcs(out + c, v);
      } else {
        out[c] = v;
      }
    }
    __syncthreads();
  }
  CpAsyncWait<0>();
}

__device__ __forceinline__ void BulkLoad(uint32_t dst, const void* src, int bytes, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
          dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");
}

template <bool kEvictFirst>
__global__ void __launch_bounds__(kThreads) Bulk(Job j) {
  extern __shared__ __align__(16) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[2];
  const int tid = threadIdx.x;
  const int in_vecs = j.in_tile / 16;
  uint8_t* out_base = smem;                 // 2 x 16 KB
  uint8_t* in_base = smem + 2 * kOutTile;   // 2 x in_tile
  const uint32_t bar0 = SmemAddr(&bars[0]);
  if (tid == 0) {
    MbarInit(bar0, 1);
    MbarInit(bar0 + 8, 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  uint64_t policy = 0;
  if (kEvictFirst) asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  auto load = [&](int k, int buf) {
    const int64_t t = TileOf(j, k);
    if (tid != 0 || t < 0) return;
    MbarExpectTx(bar0 + 8 * buf, j.in_tile);
    BulkLoad(SmemAddr(in_base + buf * j.in_tile), j.src + t * j.in_tile, j.in_tile, bar0 + 8 * buf);
  };
  load(0, 0);
  uint32_t phase[2] = {0, 0};
  int buf = 0;
  for (int k = 0;; ++k, buf ^= 1) {
    const int64_t t = TileOf(j, k);
    if (t < 0) break;
    load(k + 1, buf ^ 1);
    MbarWait(bar0 + 8 * buf, phase[buf]);
    phase[buf] ^= 1;
    // The store issued from this out buffer two tiles ago must have read it.
    if (tid == 0) asm volatile("cp.async.bulk.wait_group.read 1;\n" ::: "memory");
    __syncthreads();
    const uint4* in = reinterpret_cast<const uint4*>(in_base + buf * j.in_tile);
    uint4* out = reinterpret_cast<uint4*>(out_base + buf * kOutTile);
#pragma unroll
    for (int i = 0; i < kOutVecs / kThreads; ++i) {
      const int c = i * kThreads + tid;
      uint4 v = in[(c * in_vecs) >> 10];
      v.x ^= c;
      out[c] = v;
    }
    FenceProxyAsync();
    __syncthreads();
    if (tid == 0) {
      const uint32_t s = SmemAddr(out);
      uint8_t* d = j.dst + t * kOutTile;
      if (kEvictFirst) {
        asm volatile(
            "cp.async.bulk.global.shared::cta.bulk_group.L2::cache_hint [%0], [%1], %2, %3;\n" ::"l"(d),
            "r"(s), "r"(kOutTile), "l"(policy)
            : "memory");
      } else {
        asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n" ::"l"(d), "r"(s),
                     "r"(kOutTile)
                     : "memory");
      }
      asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
    }
  }
  if (tid == 0) asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}

__global__ void __launch_bounds__(kThreads) Direct(Job j) {
  const int in_vecs = j.in_tile / 16;
  const int64_t n = j.tiles * kOutVecs;
  const uint4* src = reinterpret_cast<const uint4*>(j.src);
  uint4* dst = reinterpret_cast<uint4*>(j.dst);
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; c < n;
       c += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t t = c >> 10;
    const int w = static_cast<int>(c & 1023);
    uint4 v = __ldg(src + t * in_vecs + ((w * in_vecs) >> 10));
    v.x ^= w;
    __stcs(dst + c, v);
  }
}


int sms = 0;
double copy_gbps = 0;

// The dequantization with one pipeline per warp instead of per block: each warp streams its own
// chunks (1024 or 2048 outputs) through a ring of kDepth shared-memory slots with cp.async, and
// waits only on its own copies (no block barrier), so a warp decoding never holds up another
// warp's loads and every warp keeps kDepth - 1 chunks in flight.
template <GgmlType T>
constexpr int kWarpChunkRuns = T == GgmlType::kQ6_K ? 2 : 1;  // chunk bytes a multiple of 16
template <GgmlType T, int kDepth, bool kDecode, int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks) WarpPipe(const uint8_t* __restrict__ src,
                                                      uint4* __restrict__ dst, int64_t chunks) {
  using C = Codec<T>;
  constexpr int kRunsPerLane = kWarpChunkRuns<T>;
  constexpr int kChunkOut = 32 * kRunElems * kRunsPerLane;
  constexpr int kChunkIn = kChunkOut / C::kElems * C::kBytes;
  static_assert(kChunkIn % 16 == 0, "chunk must be whole 16-byte vectors");
  constexpr int kWarpSmem = kDepth * kChunkIn + 32 * 4 * 16;
  extern __shared__ __align__(16) uint8_t smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint8_t* ring = smem + warp * kWarpSmem;
  uint4* stage = reinterpret_cast<uint4*>(ring + kDepth * kChunkIn);
  const int64_t nw = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  const int64_t gw = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + warp;
  auto issue = [&](int64_t c, int slot) {
    if (c >= chunks) return;
    const uint8_t* a = src + c * kChunkIn;
    const uint32_t base = SmemAddr(ring + slot * kChunkIn);
    for (int i = lane; i < kChunkIn / 16; i += 32) CpAsync16(base + 16 * i, a + 16 * i, 16);
  };
#pragma unroll
  for (int s = 0; s < kDepth - 1; ++s) {
    issue(gw + s * nw, s);
    CpAsyncCommit();
  }
  int slot = 0;
  for (int64_t c = gw; c < chunks; c += nw) {
    issue(c + (kDepth - 1) * nw, (slot + kDepth - 1) % kDepth);
    CpAsyncCommit();
    CpAsyncWait<kDepth - 1>();
    __syncwarp();  // every lane's copies of chunk c have landed
    const uint8_t* in = ring + slot * kChunkIn;
#pragma unroll
    for (int rr = 0; rr < kRunsPerLane; ++rr) {
      const int run = rr * 32 + lane;
      float v[kRunElems];
      if (kDecode) {
        C::Decode(in + run / C::kRuns * C::kBytes, run % C::kRuns, v);
      } else {
        const uint4 x = reinterpret_cast<const uint4*>(in)[(run * (kChunkIn / 16)) / (32 * kRunsPerLane)];
#pragma unroll
        for (int i = 0; i < kRunElems; ++i) v[i] = __uint_as_float(x.x + i);
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) stage[lane * 4 + (q ^ ((lane >> 1) & 3))] = PackChunkBf16(v, q);
      __syncwarp();
      uint4* d = dst + (c * kChunkOut + rr * 32 * kRunElems) / 8;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int k = i * 32 + lane, l = k / 4, q = k % 4;
        __stcs(d + k, stage[l * 4 + (q ^ ((l >> 1) & 3))]);
      }
      __syncwarp();
    }
    slot = (slot + 1) % kDepth;
  }
  CpAsyncWait<0>();
}

template <GgmlType T, int kDepth, bool kDecode, int kMinBlocks = 1>
double TimeWarpPipe(const uint8_t* in, int64_t in_stride, uint8_t* out, int64_t out_stride,
                    int variants, int64_t n_out, cudaStream_t s, int* blocks_per_sm) {
  constexpr int kChunkOut = 32 * kRunElems * kWarpChunkRuns<T>;
  constexpr int kChunkIn = kChunkOut / Codec<T>::kElems * Codec<T>::kBytes;
  constexpr int kSmem = (kThreads / 32) * (kDepth * kChunkIn + 32 * 4 * 16);
  auto* kernel = WarpPipe<T, kDepth, kDecode, kMinBlocks>;
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                       cudaSharedmemCarveoutMaxShared);
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, kSmem);
  *blocks_per_sm = per_sm;
  if (per_sm < 1) return -1;
  const int64_t chunks = n_out / kChunkOut;
  const int64_t warps = static_cast<int64_t>(sms) * per_sm * (kThreads / 32);
  const int64_t rounds = (chunks + warps - 1) / warps;
  const int64_t active = (chunks + rounds - 1) / rounds;
  const unsigned grid = static_cast<unsigned>((active + kThreads / 32 - 1) / (kThreads / 32));
  return MedianMicros(
      [&](int v) {
        kernel<<<grid, kThreads, kSmem, s>>>(in + v * in_stride,
                                             reinterpret_cast<uint4*>(out + v * out_stride), chunks);
        return cudaGetLastError();
      },
      variants, s);
}

__global__ void FillRandom(uint32_t* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t x = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    // Keep f16 scale bytes finite: clear bit 14 of every 16-bit half (exponent < 31).
    p[i] = x & 0xBFFFBFFFu;
  }
}

struct Case {
  const char* name;
  GgmlType type;
  int64_t rows, cols;
  int in_tile;  // bytes per 8192 outputs
};

struct Pool {
  uint8_t* in = nullptr;
  uint8_t* out = nullptr;
  int64_t in_stride = 0, out_stride = 0;
  int variants = 0;
};


void Report(const char* name, const char* method, double us, double bytes, double same_gbps) {
  const double gbps = bytes / us / 1e3;
  std::printf("%-18s %-34s %9.2f us %8.1f GB/s %6.1f%% of 1 GiB copy %6.1f%% of same-size copy\n",
              name, method, us, gbps, 100 * gbps / copy_gbps, 100 * gbps / same_gbps);
}

template <typename K>
double TimeKernel(K kernel, const Case& c, const Pool& p, int bps, bool contiguous, int smem,
                  cudaStream_t s) {
  const int64_t tiles = c.rows * c.cols / 8192;
  if (smem > 48 * 1024 &&
      Failed(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
             "smem attribute")) {
    return -1;
  }
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem);
  if (per_sm < bps) return -2;  // does not fit: skip
  const int64_t resident = static_cast<int64_t>(sms) * bps;
  const int rounds = static_cast<int>((tiles + resident - 1) / resident);
  const unsigned grid = static_cast<unsigned>((tiles + rounds - 1) / rounds);
  return MedianMicros(
      [&](int v) {
        Job j{p.in + v * p.in_stride, p.out + v * p.out_stride, tiles, c.in_tile, rounds,
              contiguous};
        kernel<<<grid, kThreads, smem, s>>>(j);
        return cudaGetLastError();
      },
      p.variants, s);
}

}  // namespace

int main(int argc, char** argv) {
  // "all": every traffic-matched form (the first run); default: the per-warp pipelines.
  const bool all = argc > 1 && std::string(argv[1]) == "all";
  cudaDeviceProp prop{};
  if (Failed(cudaGetDeviceProperties(&prop, 0), "properties")) return 1;
  sms = prop.multiProcessorCount;
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, sms, prop.l2CacheSize >> 20);
  cudaStream_t s;
  cudaStreamCreate(&s);
  const Case cases[] = {
      {"q4_K 14336x3072", GgmlType::kQ4_K, 14336, 3072, 4608},
      {"q6_K 14336x3072", GgmlType::kQ6_K, 14336, 3072, 6720},
      {"q8_0 14336x3072", GgmlType::kQ8_0, 14336, 3072, 8704},
      {"q4_K 3072x3072", GgmlType::kQ4_K, 3072, 3072, 4608},
      {"q6_K 3072x3072", GgmlType::kQ6_K, 3072, 3072, 6720},
      {"q8_0 3072x3072", GgmlType::kQ8_0, 3072, 3072, 8704},
  };
  // One pool for every case: inputs and outputs rotate over > 300 MB.
  const int64_t kGiB = int64_t{1} << 30;
  uint8_t *big_a, *big_b;
  if (Failed(cudaMalloc(&big_a, kGiB), "malloc") || Failed(cudaMalloc(&big_b, kGiB), "malloc"))
    return 1;
  cudaMemset(big_a, 0x11, kGiB);
  cudaMemset(big_b, 0x22, kGiB);
  uint8_t *pool_in, *pool_out;
  const int64_t kPoolIn = int64_t{400} << 20, kPoolOut = int64_t{720} << 20;
  if (Failed(cudaMalloc(&pool_in, kPoolIn), "malloc") ||
      Failed(cudaMalloc(&pool_out, kPoolOut), "malloc"))
    return 1;
  FillRandom<<<1024, 256>>>(reinterpret_cast<uint32_t*>(pool_in), kPoolIn / 4, 12345u);
  cudaMemset(pool_out, 0, kPoolOut);
  cudaDeviceSynchronize();

  for (int round = 0; round < 3; ++round) {
    const double copy_us = MedianMicros(
        [&](int) { return cudaMemcpyAsync(big_b, big_a, kGiB, cudaMemcpyDeviceToDevice, s); }, 1, s,
        5, 9);
    copy_gbps = 2.0 * kGiB / copy_us / 1e3;
    std::printf("\nround %d: copy D2D 1 GiB: %.1f GB/s (read + write)\n", round + 1, copy_gbps);
    for (const Case& c : cases) {
      const int64_t out_bytes = c.rows * c.cols * 2;
      const int64_t in_bytes = c.rows * c.cols / 8192 * c.in_tile;
      const double bytes = static_cast<double>(in_bytes + out_bytes);
      Pool p;
      p.in_stride = (in_bytes + 4095) / 4096 * 4096;
      p.out_stride = (out_bytes + 4095) / 4096 * 4096;
      p.variants = static_cast<int>(std::min(kPoolOut / p.out_stride, kPoolIn / p.in_stride));
      p.variants = std::min(p.variants, 16);
      p.in = pool_in;
      p.out = pool_out;
      const int64_t half = (in_bytes + out_bytes) / 2 / 16 * 16;
      const int64_t half_stride = (half + 4095) / 4096 * 4096;
      const double same_us = MedianMicros(
          [&](int v) {
            return cudaMemcpyAsync(big_b + v * half_stride, big_a + v * half_stride, half,
                                   cudaMemcpyDeviceToDevice, s);
          },
          static_cast<int>(std::min<int64_t>(16, kGiB / half_stride)), s);
      const double same_gbps = 2.0 * half / same_us / 1e3;
      std::printf("-- %s: in %.1f MB, out %.1f MB, %d rotating sets; copy of the same bytes %.1f GB/s\n",
                  c.name, in_bytes / 1e6, out_bytes / 1e6, p.variants, same_gbps);
      const double memset_us = MedianMicros(
          [&](int v) { return cudaMemsetAsync(pool_out + v * p.out_stride, 0, out_bytes, s); },
          p.variants, s);
      Report(c.name, "memset of the output (writes only)", memset_us, static_cast<double>(out_bytes),
             same_gbps);
      // The dequantization as built now and as it was before, each with both store kinds.
      using DequantFn = cudaError_t (*)(GgmlType, const void*, void*, FloatFormat, int64_t,
                                        int64_t, cudaStream_t, DequantCaching);
      struct Dequant {
        const char* label;
        DequantFn fn;
        DequantCaching caching;
      };
      for (const Dequant& dq :
           {Dequant{"dequantize, per-warp whole-tensor path", DequantizeCuda, DequantCaching::kStream},
            Dequant{"dequantize before (block ring)", DequantizeCudaOld, DequantCaching::kStream},
            Dequant{"dequantize keep-L2", DequantizeCuda, DequantCaching::kKeepInL2},
            Dequant{"dequantize before, keep-L2", DequantizeCudaOld, DequantCaching::kKeepInL2}}) {
        const double us = MedianMicros(
            [&](int v) {
              return dq.fn(c.type, pool_in + v * p.in_stride, pool_out + v * p.out_stride,
                           FloatFormat::kBF16, c.rows, c.cols, s, dq.caching);
            },
            p.variants, s);
        Report(c.name, dq.label, us, bytes, same_gbps);
      }
      char label[96];
      auto warp_pipe = [&](const char* what, auto timer) {
        int per_sm = 0;
        const double us = timer(pool_in, p.in_stride, pool_out, p.out_stride, p.variants,
                                c.rows * c.cols, s, &per_sm);
        std::snprintf(label, sizeof(label), "%s (%d/SM)", what, per_sm);
        if (us > 0) Report(c.name, label, us, bytes, same_gbps);
      };
      auto per_type = [&](auto tag) {
        constexpr GgmlType T = decltype(tag)::value;
        warp_pipe("warp-pipe depth 3", TimeWarpPipe<T, 3, true>);
        if (!all) return;
        warp_pipe("warp-pipe depth 2", TimeWarpPipe<T, 2, true>);
        if constexpr (T != GgmlType::kQ6_K) warp_pipe("warp-pipe depth 4", TimeWarpPipe<T, 4, true>);
        warp_pipe("warp-pipe depth 3, no decode", TimeWarpPipe<T, 3, false>);
        warp_pipe("warp-pipe depth 2, 40 regs", TimeWarpPipe<T, 2, true, 6>);
        if constexpr (T == GgmlType::kQ4_K) {
          warp_pipe("warp-pipe depth 3, 40 regs", TimeWarpPipe<T, 3, true, 6>);
          warp_pipe("warp-pipe depth 4, 40 regs", TimeWarpPipe<T, 4, true, 6>);
        }
      };
      if (c.type == GgmlType::kQ4_K) per_type(TypeTag<GgmlType::kQ4_K>{});
      if (c.type == GgmlType::kQ6_K) per_type(TypeTag<GgmlType::kQ6_K>{});
      if (c.type == GgmlType::kQ8_0) per_type(TypeTag<GgmlType::kQ8_0>{});
      for (const int bps : {4, 6, 8}) {
        if (!all && bps == 4) continue;
        for (const bool contiguous : {false, true}) {
          for (const bool cs : {true, false}) {
            if (!all && (contiguous || !cs)) continue;
            const double us = cs ? TimeKernel(Staged<true>, c, p, bps, contiguous, 2 * c.in_tile, s)
                                 : TimeKernel(Staged<false>, c, p, bps, contiguous, 2 * c.in_tile, s);
            std::snprintf(label, sizeof(label), "staged %d/SM %s %s", bps,
                          contiguous ? "contig" : "strided", cs ? ".cs" : "plain");
            if (us > 0) Report(c.name, label, us, bytes, same_gbps);
          }
        }
      }
      for (const int bps : {2, 3, 4}) {
        if (!all) break;
        for (const bool contiguous : {false, true}) {
          for (const bool ef : {false, true}) {
            const int smem = 2 * kOutTile + 2 * c.in_tile;
            const double us = ef ? TimeKernel(Bulk<true>, c, p, bps, contiguous, smem, s)
                                 : TimeKernel(Bulk<false>, c, p, bps, contiguous, smem, s);
            std::snprintf(label, sizeof(label), "bulk %d/SM %s %s", bps,
                          contiguous ? "contig" : "strided", ef ? "evict-first" : "no-hint");
            if (us > 0) Report(c.name, label, us, bytes, same_gbps);
            if (us == -2) std::printf("%-18s %s: does not fit\n", c.name, label);
          }
        }
      }
      for (const int bps : {4, 8}) {
        if (!all) break;
        const double us = TimeKernel(Direct, c, p, bps, false, 0, s);
        std::snprintf(label, sizeof(label), "direct %d/SM .cs", bps);
        if (us > 0) Report(c.name, label, us, bytes, same_gbps);
      }
      std::fflush(stdout);
    }
  }
  // Correctness of the traffic: the bulk kernel's output equals the staged kernel's.
  {
    const Case& c = cases[0];
    const int64_t out_bytes = c.rows * c.cols * 2;
    Pool p{pool_in, pool_out, 0, 0, 1};
    TimeKernel(Staged<true>, c, p, 6, false, 2 * c.in_tile, s);
    std::vector<uint8_t> a(out_bytes), b(out_bytes);
    cudaMemcpy(a.data(), pool_out, out_bytes, cudaMemcpyDeviceToHost);
    cudaMemset(pool_out, 0, out_bytes);
    TimeKernel(Bulk<true>, c, p, 3, true, 2 * kOutTile + 2 * c.in_tile, s);
    cudaMemcpy(b.data(), pool_out, out_bytes, cudaMemcpyDeviceToHost);
    cudaMemset(pool_out, 0, out_bytes);
    TimeKernel(Direct, c, p, 8, false, 0, s);
    std::vector<uint8_t> d(out_bytes);
    cudaMemcpy(d.data(), pool_out, out_bytes, cudaMemcpyDeviceToHost);
    std::printf("\ncheck: bulk output %s staged output; direct output %s staged output\n",
                a == b ? "equals" : "DIFFERS FROM", a == d ? "equals" : "DIFFERS FROM");
  }
  // The per-warp pipeline writes exactly what DequantizeCuda writes, for every case.
  for (const Case& c : cases) {
    const int64_t out_bytes = c.rows * c.cols * 2;
    std::vector<uint8_t> a(out_bytes), b(out_bytes);
    DequantizeCuda(c.type, pool_in, pool_out, FloatFormat::kBF16, c.rows, c.cols, s);
    cudaMemcpy(a.data(), pool_out, out_bytes, cudaMemcpyDeviceToHost);
    cudaMemset(pool_out, 0, out_bytes);
    int per_sm = 0;
    auto one = [&](auto tag) {
      constexpr GgmlType T = decltype(tag)::value;
      Pool q{};
      (void)q;
      TimeWarpPipe<T, 3, true>(pool_in, 0, pool_out, 0, 1, c.rows * c.cols, s, &per_sm);
    };
    if (c.type == GgmlType::kQ4_K) one(TypeTag<GgmlType::kQ4_K>{});
    if (c.type == GgmlType::kQ6_K) one(TypeTag<GgmlType::kQ6_K>{});
    if (c.type == GgmlType::kQ8_0) one(TypeTag<GgmlType::kQ8_0>{});
    cudaMemcpy(b.data(), pool_out, out_bytes, cudaMemcpyDeviceToHost);
    int64_t diff = 0;
    for (int64_t i = 0; i < out_bytes; ++i) diff += a[i] != b[i];
    std::printf("check %s: warp-pipe vs DequantizeCuda: %lld differing bytes of %lld\n", c.name,
                static_cast<long long>(diff), static_cast<long long>(out_bytes));
  }
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("final status: %s\n", cudaGetErrorString(e));
  return e == cudaSuccess ? 0 : 1;
}
