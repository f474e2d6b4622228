// EXPERIMENT (not in the tree): step 1 of a large-M mixed-input GEMM. A persistent,
// warp-specialised bf16 GEMM y[M,N] = x[M,K] w[N,K]^T with the weights as the wgmma A operand
// (64 rows per consumer warpgroup) and 256 tokens as its N: tile 128 weight rows x 256 tokens,
// 1 producer warpgroup (TMA), 2 consumer warpgroups, 4 stages of 64 K, an epilogue through
// stmatrix .trans and TMA stores, tiles rastered in bands of n-tiles. Question: how close does
// the mainloop get to cuBLAS at 15,004 tokens before any decoding is added?
// Build: python3 make_wgmma.py && nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a
//   -I<repo> large_m_gemm.cu -lcublas -lcuda; run: ./a.out ROUNDS BAND_A BAND_B.
#include "large_m_common.cuh"

constexpr int kThreads = 384;
constexpr int kStages = 4;
constexpr int kWBytes = 128 * 128;
constexpr int kXBytes = 256 * 128;
constexpr int kStageBytes = kWBytes + kXBytes;
constexpr int kEpiBytes = 128 * 128;  // per consumer warpgroup: 128 tokens x 64 rows bf16
constexpr int kSmem = 1024 + kStages * kStageBytes + 2 * kEpiBytes + 16 * kStages;


__global__ void __launch_bounds__(kThreads, 1)
    LargeM(const __grid_constant__ CUtensorMap wmap, const __grid_constant__ CUtensorMap xmap,
           const __grid_constant__ CUtensorMap ymap, __nv_bfloat16* y, int M, int N, int K,
           int store, int band) {
  extern __shared__ uint8_t raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~uintptr_t(1023));
  const uint32_t base = Smem(smem);
  const uint32_t epi = base + kStages * kStageBytes;  // 2 x kEpiBytes
  const uint32_t bars = epi + 2 * kEpiBytes;  // full[s] at 8s, empty[s] at 8(kStages+s)
  const int wg = threadIdx.x / 128;
  const int m_tiles = (M + 255) / 256, n_tiles = N / 128, tiles = m_tiles * n_tiles;
  const int ksteps = K / 64;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      MbarInit(bars + 8 * s, 1);
      MbarInit(bars + 8 * (kStages + s), 8);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x == 0) {
      int s = 0;
      uint32_t phase = 0;
      for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int m0, n0;
        TileOf(t, m_tiles, n_tiles, band, m0, n0);
        for (int k = 0; k < ksteps; ++k) {
          MbarWait(bars + 8 * (kStages + s), phase ^ 1);
          const uint32_t full = bars + 8 * s;
          MbarExpectTx(full, kStageBytes);
          const uint32_t st = base + s * kStageBytes;
          TmaLoad2d(st, &wmap, k * 64, n0, full);
          TmaLoad2d(st + kWBytes, &xmap, k * 64, m0, full);
          if (++s == kStages) {
            s = 0;
            phase ^= 1;
          }
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int c = wg - 1;
    const int warp = (threadIdx.x / 32) & 3, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3;
    float acc[128];
    int s = 0;
    uint32_t phase = 0;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
      int m0, n0;
      TileOf(t, m_tiles, n_tiles, band, m0, n0);
#pragma unroll
      for (int i = 0; i < 128; ++i) acc[i] = 0.f;
      int prev = -1;
      for (int k = 0; k < ksteps; ++k) {
        MbarWait(bars + 8 * s, phase);
        const uint32_t st = base + s * kStageBytes;
        const uint64_t ad = Desc(st + c * 64 * 128), xd = Desc(st + kWBytes);
        MmaStage(acc, ad, xd);
        if (prev >= 0 && lane == 0) MbarArrive(bars + 8 * (kStages + prev));
        prev = s;
        if (++s == kStages) {
          s = 0;
          phase ^= 1;
        }
      }
      WgmmaWait<0>();
      FenceOperands(acc);
      if (lane == 0) MbarArrive(bars + 8 * (kStages + prev));
      if (store == 2) {
        StoreTileTma(acc, epi + c * kEpiBytes, 1 + c, &ymap, n0 + c * 64, m0);
      } else {
        const int row = n0 + c * 64 + warp * 16 + g;
#pragma unroll
        for (int j = 0; j < 32; ++j) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int tok = m0 + 8 * j + 2 * tq + h;
            const float v0 = acc[4 * j + h], v1 = acc[4 * j + 2 + h];
            if (tok < M && (store || v0 == 12345.f)) {
              y[size_t(tok) * N + row] = __float2bfloat16_rn(v0);
              y[size_t(tok) * N + row + 8] = __float2bfloat16_rn(v1);
            }
          }
        }
      }
    }
    if ((threadIdx.x & 127) == 0) BulkWaitAll();
  }
}


int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 11;
  const int band_a = argc > 2 ? std::atoi(argv[2]) : 16, band_b = argc > 3 ? std::atoi(argv[3]) : 8;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  CK(cudaFuncSetAttribute(LargeM, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  std::mt19937 rng(1);

  const int64_t shapes[3][2] = {{3072, 3072}, {14336, 3072}, {3072, 14336}};
  const int64_t ms[2] = {15004, 2048};
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  std::printf("%s, %d SMs; times are medians of %d interleaved rounds of 5 launches\n", prop.name,
              prop.multiProcessorCount, rounds);
  for (auto& sh : shapes) {
    const int64_t n = sh[0], k = sh[1];
    auto hw = RandomBf16Host(size_t(n * k), 0.05f, rng);
    void* w;
    CK(cudaMalloc(&w, hw.size() * 2));
    CK(cudaMemcpy(w, hw.data(), hw.size() * 2, cudaMemcpyHostToDevice));
    for (int64_t m : ms) {
      auto hx = RandomBf16Host(size_t(m * k), 1.f, rng);
      void *x, *y, *yr;
      CK(cudaMalloc(&x, hx.size() * 2));
      CK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
      CK(cudaMalloc(&y, size_t(m * n * 2)));
      CK(cudaMalloc(&yr, size_t(m * n * 2)));
      const CUtensorMap wm = Map(w, n, k, 128), xm = Map(x, m, k, 256), ym = Map(y, m, n, 128);
      const int tiles = int((m + 255) / 256 * (n / 128));
      const int grid = std::min(tiles, prop.multiProcessorCount);
      auto mine = [&](int store, int band) {
        LargeM<<<grid, kThreads, kSmem, st>>>(wm, xm, ym, static_cast<__nv_bfloat16*>(y), int(m), int(n),
                                              int(k), store, band);
      };
      // correctness
      CK(cudaMemset(y, 0xFF, size_t(m * n * 2)));
      mine(2, band_a);
      Cublas(st, w, x, yr, m, n, k);
      CK(cudaStreamSynchronize(st));
      CK(cudaGetLastError());
      const Agreement ag = CompareBf16(y, yr, size_t(m * n));
      const std::vector<double> t = MedianUs(st, 4, rounds, [&](int v) {
        if (v == 0) Cublas(st, w, x, yr, m, n, k);
        else mine(2, v == 1 ? 1 << 20 : v == 2 ? band_a : band_b);
      });
      const double flop = 2.0 * m * n * k;
      std::printf("[%5lld,%5lld] M %5lld: cuBLAS %7.1f us (%4.0f TF/s) | band A %7.1f us (%4.0f TF/s, %.3fx) | n fastest %.3fx | band B %.3fx | equal %.4f%% max|d| %.3g (max|y| %.3g)\n",
                  (long long)n, (long long)k, (long long)m, t[0], flop / t[0] * 1e-6, t[2],
                  flop / t[2] * 1e-6, t[2] / t[0], t[1] / t[0], t[3] / t[0], ag.equal_pct,
                  ag.max_diff, ag.max_ref);
      CK(cudaFree(x));
      CK(cudaFree(y));
      CK(cudaFree(yr));
    }
    CK(cudaFree(w));
  }
  return 0;
}
