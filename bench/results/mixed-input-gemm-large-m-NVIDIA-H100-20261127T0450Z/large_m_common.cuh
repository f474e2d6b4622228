// Shared by large_m_gemm.cu and mixed_gemm.cu (experiment programs, not in the tree): device
// helpers for the persistent 128 x 256 GEMM (descriptors, barriers, stmatrix, TMA store, tile
// raster) and the host side (tensor maps, the cuBLAS baseline).
#pragma once

#include <cublas_v2.h>
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/hopper_sync.cuh"
#include "kernels/cuda/wgmma_ss.cuh"

using namespace ovid::cuda_detail;

#include "check.cuh"


#include "wgmma256.inc"

__device__ __forceinline__ uint32_t Smem(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ uint64_t Desc(uint32_t a) {
  return static_cast<uint64_t>((a & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) |
         (uint64_t{1024 >> 4} << 32) | (uint64_t{1} << 62);
}
__device__ __forceinline__ void MbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

__device__ __forceinline__ uint32_t PackBf(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ void StMatrixT(uint32_t addr, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr),
               "r"(a), "r"(b), "r"(c), "r"(d)
               : "memory");
}
__device__ __forceinline__ void TmaStore2d(const CUtensorMap* map, int c0, int c1, uint32_t src) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(c0), "r"(c1), "r"(src)
               : "memory");
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void BulkWaitRead() {
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}
__device__ __forceinline__ void BulkWaitAll() {
  asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}

// One 64-element stage of a consumer warpgroup: four k16 wgmmas of its 64 weight rows (A at ad)
// by the 256-token activation tile (B at xd), then wait until only this group is in flight, so
// the previous stage's buffers may be released.
__device__ __forceinline__ void MmaStage(float (&acc)[128], uint64_t ad, uint64_t xd) {
  WgmmaFence();
#pragma unroll
  for (int i = 0; i < 4; ++i) Wgmma256(acc, ad + 2 * i, xd + 2 * i);
  WgmmaCommit();
  WgmmaWait<1>();
}

// Tile t -> (m0, n0): bands of `band` n-tiles; inside a band the n-tiles cycle fastest, then
// m, so the blocks in flight share both weight rows and activation rows in L2.
__device__ __forceinline__ void TileOf(int t, int m_tiles, int n_tiles, int band, int& m0, int& n0) {
  const int per_band = band * m_tiles;
  const int b = t / per_band, i = t - b * per_band;
  const int width = min(band, n_tiles - b * band);
  m0 = (i / width) * 256;
  n0 = (b * band + i % width) * 128;
}

// Epilogue of one consumer warpgroup: its 64 weight rows x 256 tokens of fp32 accumulators go
// out as bf16 y[token][row] in parts of kTokens tokens (128: two halves; 64: four quarters),
// each transposed through `eb` (kTokens x 128 bytes, rows = tokens, 128B-swizzled) by stmatrix
// .trans and written by one TMA store whose box is kTokens rows. Thread 0 of the warpgroup
// waits until the previous store has read `eb`; `bar` is the warpgroup's named barrier.
template <int kTokens = 128>
__device__ __forceinline__ void StoreTileTma(const float (&acc)[128], uint32_t eb, int bar,
                                             const CUtensorMap* ymap, int row0, int m0) {
  const int wt = threadIdx.x & 127, warp = wt >> 5, lane = threadIdx.x & 31;
  const int mi = lane >> 3, r = lane & 7;
#pragma unroll
  for (int part = 0; part < 256 / kTokens; ++part) {
    if (wt == 0) BulkWaitRead();
    NamedSync(bar, 128);
#pragma unroll
    for (int jj = 0; jj < kTokens / 16; ++jj) {
      const int j0 = part * (kTokens / 8) + 2 * jj, j1 = j0 + 1;
      const int tl = 8 * (2 * jj + (mi >> 1)) + r;
      const int chunk = 2 * warp + (mi & 1);
      StMatrixT(eb + tl * 128 + ((chunk ^ (tl & 7)) << 4), PackBf(acc[4 * j0], acc[4 * j0 + 1]),
                PackBf(acc[4 * j0 + 2], acc[4 * j0 + 3]), PackBf(acc[4 * j1], acc[4 * j1 + 1]),
                PackBf(acc[4 * j1 + 2], acc[4 * j1 + 3]));
    }
    FenceProxyAsync();
    NamedSync(bar, 128);
    if (wt == 0) TmaStore2d(ymap, row0, m0 + part * kTokens, eb);
  }
}

PFN_cuTensorMapEncodeTiled_v12000 Encoder() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult st{};
  CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &st));
  return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
}
CUtensorMap Map(void* base, int64_t rows, int64_t k, uint32_t box_rows, uint32_t box_k = 64) {
  CUtensorMap m;
  const cuuint64_t dims[2] = {cuuint64_t(k), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(k) * 2};
  const cuuint32_t box[2] = {box_k, box_rows};
  const cuuint32_t es[2] = {1, 1};
  if (Encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, base, dims, strides, box, es,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS) {
    std::printf("encode failed\n");
    std::exit(1);
  }
  return m;
}


float Bf(uint16_t v) {
  uint32_t b = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// How two bf16 outputs on the device compare: share of identical elements, largest difference,
// largest reference magnitude.
struct Agreement {
  double equal_pct, max_diff, max_ref;
};
inline Agreement CompareBf16(const void* got, const void* ref, size_t n) {
  std::vector<uint16_t> a(n), b(n);
  CK(cudaMemcpy(a.data(), got, n * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(b.data(), ref, n * 2, cudaMemcpyDeviceToHost));
  Agreement r{0, 0, 0};
  size_t same = 0;
  for (size_t i = 0; i < n; ++i) {
    same += a[i] == b[i];
    r.max_diff = std::max(r.max_diff, double(std::fabs(Bf(a[i]) - Bf(b[i]))));
    r.max_ref = std::max(r.max_ref, double(std::fabs(Bf(b[i]))));
  }
  r.equal_pct = 100.0 * same / n;
  return r;
}

// Median us per launch of each variant over `rounds` interleaved rounds (one warm-up round) of
// 5 launches; run(v) enqueues one launch of variant v on st.
template <typename Run>
std::vector<double> MedianUs(cudaStream_t st, int variants, int rounds, Run&& run) {
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  std::vector<std::vector<float>> tm(variants);
  for (int r = 0; r < rounds + 1; ++r) {
    for (int v = 0; v < variants; ++v) {
      CK(cudaEventRecord(t0, st));
      for (int i = 0; i < 5; ++i) run(v);
      CK(cudaEventRecord(t1, st));
      CK(cudaEventSynchronize(t1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, t0, t1));
      if (r > 0) tm[v].push_back(ms * 1000 / 5);
    }
  }
  std::vector<double> med;
  for (auto& v : tm) {
    std::sort(v.begin(), v.end());
    med.push_back(v[v.size() / 2]);
  }
  CK(cudaEventDestroy(t0));
  CK(cudaEventDestroy(t1));
  return med;
}
