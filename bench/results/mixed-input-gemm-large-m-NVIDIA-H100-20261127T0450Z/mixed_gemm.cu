// EXPERIMENT (not in the tree): the large-M GEMM of large_m_gemm.cu with Q4_K weights
// decoded inside it. Warpgroup 0 (128 threads) is the producer: thread d decodes row d of each
// 64-element stage from the raw 144-byte units (TMA, two buffers) into the 128B-swizzled bf16
// tile (panel_stage_decode.cuh's StageDecoder), and thread 0 issues the copies; warpgroups 1-2
// multiply. 3 stages (decoded 16 KB + activations 32 KB each). Output compared bit for bit with
// cuBLAS on the weight dequantized by DequantizeCuda.
// Build: python3 make_wgmma.py && nvcc -O3 -std=c++17 --expt-relaxed-constexpr
//   -gencode=arch=compute_90a,code=sm_90a -I<repo> mixed_gemm.cu <repo>/kernels/cuda/dequantize.cu
//   <repo>/kernels/ggml_types.cc -lcublas -lcuda [-DWAIT_MODE=0|1|2] [-DNO_DECODE] [-DHALF_DECODE]
// Run: ./a.out ROUNDS BAND. NO_DECODE and HALF_DECODE are timing ablations (wrong output).
#include "large_m_common.cuh"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/panel_stage_decode.cuh"

__device__ __forceinline__ uint64_t GlobalNs() {
  uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}
#ifndef WAIT_MODE
#define WAIT_MODE 0  // the measured builds
#endif
// WAIT_MODE 0: try_wait loop (hopper_sync.cuh's MbarWait); 1: test_wait spin; 2: test_wait
// spin that traps after 2 s (a hang becomes an error).
__device__ __forceinline__ void MbarWaitDbg(uint32_t bar, uint32_t parity, int tag) {
#if WAIT_MODE == 0
  MbarWait(bar, parity);
#else
  uint64_t start = 0;
  for (int i = 0;; ++i) {
    uint32_t ok;
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.test_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(ok)
        : "r"(bar), "r"(parity)
        : "memory");
    if (ok) return;
#if WAIT_MODE == 2
    if (i == 1000) start = GlobalNs();
    if (i > 1000 && (i & 1023) == 0 && GlobalNs() - start > 2000000000ull) asm volatile("trap;");
#endif
  }
#endif
}

using namespace ovid;
template <int kP>
__device__ __forceinline__ void HalfQ4K(const uint8_t* b, int half, uint4 (&out)[8]) {
  using namespace cuda_detail;
  const int q = 2 * kP + half;
  uint32_t hdr[4], w[8];
  LdWords<16>(b, hdr);
  LdWords<16>(b + 16 + 32 * q, w);
  const ScaleOffset so = KQuantScaleOffset<kP>(hdr, 2 * half);
  DecodeWords32([&](int i) { return MantissaBytesBf16(w[i] & 0x0F0F0F0Fu, so.a, so.c); }, out);
}
constexpr GgmlType kT = GgmlType::kQ4_K;
constexpr int kUnitBytes = 144;  // one Q4_K block: 256 weights of a row
constexpr int kThreads = 384;
constexpr int kStages = 3;
constexpr int kRawBufs = 2;
constexpr int kWBytes = 128 * 128;
constexpr int kXBytes = 256 * 128;
constexpr int kStageBytes = kWBytes + kXBytes;
constexpr int kRawBytes = 128 * kUnitBytes;
constexpr int kEpiBytes = 128 * 128;
constexpr int kSmem = 2048 + kStages * kStageBytes + kRawBufs * kRawBytes + 2 * kEpiBytes + 64;

__global__ void __launch_bounds__(kThreads, 1)
    Mixed(const __grid_constant__ CUtensorMap rawmap, const __grid_constant__ CUtensorMap xmap,
          const __grid_constant__ CUtensorMap ymap, int M, int N, int K, int band) {
  extern __shared__ uint8_t smem_raw[];
  // Offset arithmetic on the __shared__ array (not integer casts), so the compiler emits
  // LDS/STS rather than generic loads and stores.
  uint8_t* smem = smem_raw + ((1024 - (Smem(smem_raw) & 1023)) & 1023);
  const uint32_t base = Smem(smem);
  const uint32_t epi = base + kStages * kStageBytes;
  const uint32_t rawb = epi + 2 * kEpiBytes;
  uint8_t* raw_ptr = smem + (rawb - base);
  const uint32_t bars = rawb + kRawBufs * kRawBytes;
  // full[s] 8s, empty[s] 8(S+s), rawfull[r] 8(2S+r), rawempty[r] 8(2S+R+r)
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 8 * (kStages + s); };
  auto rawfull = [&](int r) { return bars + 8 * (2 * kStages + r); };
  auto rawempty = [&](int r) { return bars + 8 * (2 * kStages + kRawBufs + r); };
  const int wg = threadIdx.x / 128;
  const int m_tiles = (M + 255) / 256, n_tiles = N / 128, tiles = m_tiles * n_tiles;
  const int ksteps = K / 64, units = K / 256;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      MbarInit(full(s), 5);
      MbarInit(empty(s), 8);
    }
    for (int r = 0; r < kRawBufs; ++r) {
      MbarInit(rawfull(r), 1);
      MbarInit(rawempty(r), 4);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (wg == 0) {
    // setmaxnreg moves registers only within the block's launch allocation (384 x 168): the
    // decoders free 128 x 72, enough for the consumers' 256 x 32 (a larger raise never returns).
    asm volatile("setmaxnreg.dec.sync.aligned.u32 96;\n");
    const int d = threadIdx.x, lane = d & 31;
    // Raw-unit load cursor (thread 0 only): the next unit to fetch, across this block's tiles.
    int lt = blockIdx.x, lu = 0, lr = 0;
    uint32_t lph = 0;
    auto issue_raw = [&]() {
      if (lt >= tiles) return;
      MbarWaitDbg(rawempty(lr), lph ^ 1, 1);
      int m0, n0;
      TileOf(lt, m_tiles, n_tiles, band, m0, n0);
      MbarExpectTx(rawfull(lr), kRawBytes);
      TmaLoad2d(rawb + lr * kRawBytes, &rawmap, lu * (kUnitBytes / 2), n0, rawfull(lr));
      if (++lr == kRawBufs) {
        lr = 0;
        lph ^= 1;
      }
      if (++lu == units) {
        lu = 0;
        lt += gridDim.x;
      }
    };
    if (d == 0) {
      for (int i = 0; i < kRawBufs; ++i) issue_raw();
    }
    int s = 0, r = 0;
    uint32_t ph = 0, rph = 0;
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
      int m0, n0;
      TileOf(t, m_tiles, n_tiles, band, m0, n0);
      for (int k = 0; k < ksteps; ++k) {
        const int q = k & 3;
        // Decode into registers first (needs only the raw unit), then wait for the stage.
        if (q == 0) MbarWaitDbg(rawfull(r), rph, 3);
#ifndef NO_DECODE
        uint4 packed[8];
        const uint8_t* src = raw_ptr + r * kRawBytes + d * kUnitBytes;
#ifdef HALF_DECODE
        // Ablation: only the first 32 weights of the row (the output is wrong; timing only).
        if (q == 0) HalfQ4K<0>(src, 0, packed);
        else if (q == 1) HalfQ4K<0>(src, 1, packed);
        else if (q == 2) HalfQ4K<1>(src, 0, packed);
        else HalfQ4K<1>(src, 1, packed);
#else
        if (q == 0) cuda_detail::StageDecoder<kT>::Run<0>(src, 0, packed);
        else if (q == 1) cuda_detail::StageDecoder<kT>::Run<0>(src, 1, packed);
        else if (q == 2) cuda_detail::StageDecoder<kT>::Run<1>(src, 0, packed);
        else cuda_detail::StageDecoder<kT>::Run<1>(src, 1, packed);
#endif
#endif
        MbarWaitDbg(empty(s), ph ^ 1, 2);
        const uint32_t st = base + s * kStageBytes;
        if (d == 0) {
          MbarExpectTx(full(s), kXBytes);
          TmaLoad2d(st + kWBytes, &xmap, k * 64, m0, full(s));
        }
#ifndef NO_DECODE
        uint8_t* tile = smem + s * kStageBytes + d * 128;
#pragma unroll
#ifdef HALF_DECODE
        for (int c = 0; c < 4; ++c) *reinterpret_cast<uint4*>(tile + ((c ^ (d & 7)) << 4)) = packed[c];
#else
        for (int c = 0; c < 8; ++c) *reinterpret_cast<uint4*>(tile + ((c ^ (d & 7)) << 4)) = packed[c];
#endif
#endif
        FenceProxyAsync();
        __syncwarp();
        if (lane == 0) MbarArrive(full(s));
        if (q == 3) {
          if (lane == 0) MbarArrive(rawempty(r));
          if (d == 0) issue_raw();
          if (++r == kRawBufs) {
            r = 0;
            rph ^= 1;
          }
        }
        if (++s == kStages) {
          s = 0;
          ph ^= 1;
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 200;\n");
    const int c = wg - 1;
    const int warp = (threadIdx.x / 32) & 3, lane = threadIdx.x & 31;
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
        MbarWaitDbg(full(s), phase, 4);
        const uint32_t st = base + s * kStageBytes;
        const uint64_t ad = Desc(st + c * 64 * 128), xd = Desc(st + kWBytes);
        MmaStage(acc, ad, xd);
        if (prev >= 0 && lane == 0) MbarArrive(empty(prev));
        prev = s;
        if (++s == kStages) {
          s = 0;
          phase ^= 1;
        }
      }
      WgmmaWait<0>();
      FenceOperands(acc);
      if (lane == 0) MbarArrive(empty(prev));
      StoreTileTma(acc, epi + c * kEpiBytes, 1 + c, &ymap, n0 + c * 64, m0);
    }
    if ((threadIdx.x & 127) == 0) BulkWaitAll();
  }
}

CUtensorMap RawMap(void* base, int64_t rows, int64_t row_bytes) {
  CUtensorMap m;
  const cuuint64_t dims[2] = {cuuint64_t(row_bytes / 2), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(row_bytes)};
  const cuuint32_t box[2] = {kUnitBytes / 2, 128};
  const cuuint32_t es[2] = {1, 1};
  if (Encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_UINT16, 2, base, dims, strides, box, es,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS) {
    std::printf("raw encode failed\n");
    std::exit(1);
  }
  return m;
}

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 11;
  const int band = argc > 2 ? std::atoi(argv[2]) : 12;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  CK(cudaFuncSetAttribute(Mixed, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  std::mt19937 rng(1);
  const int64_t shapes[3][2] = {{3072, 3072}, {14336, 3072}, {3072, 14336}};
  const int64_t ms[2] = {15004, 2048};
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  std::printf("%s, %d SMs, Q4_K; medians of %d interleaved rounds of 5 launches; band %d\n", prop.name,
              prop.multiProcessorCount, rounds, band);
  for (auto& sh : shapes) {
    const int64_t n = sh[0], k = sh[1];
    const int64_t row_bytes = k / 256 * kUnitBytes;
    std::vector<uint8_t> hq(size_t(n * row_bytes));
    for (auto& b : hq) b = uint8_t(rng());
    for (size_t o = 0; o < hq.size(); o += kUnitBytes) {
      hq[o] = 0x1F; hq[o + 1] = 0x21;  // d = 0.01
      hq[o + 2] = 0x1F; hq[o + 3] = 0x21;  // dmin
    }
    void *q, *wbf, *ws;
    CK(cudaMalloc(&q, hq.size()));
    CK(cudaMemcpy(q, hq.data(), hq.size(), cudaMemcpyHostToDevice));
    CK(cudaMalloc(&wbf, size_t(n * k * 2)));
    CK(cudaMalloc(&ws, size_t(n * k * 2)));
    CK(DequantizeCuda(kT, q, wbf, FloatFormat::kBF16, n, k, st));
    for (int64_t m : ms) {
      const std::vector<uint16_t> hx = RandomBf16Host(size_t(m * k), 1.f, rng);
      void *x, *y, *yr;
      CK(cudaMalloc(&x, hx.size() * 2));
      CK(cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
      CK(cudaMalloc(&y, size_t(m * n * 2)));
      CK(cudaMalloc(&yr, size_t(m * n * 2)));
      const CUtensorMap rm = RawMap(q, n, row_bytes), xm = Map(x, m, k, 256), ym = Map(y, m, n, 128);
      const int tiles = int((m + 255) / 256 * (n / 128));
      const int grid = std::min(tiles, prop.multiProcessorCount);
      auto mixed = [&]() { Mixed<<<grid, kThreads, kSmem, st>>>(rm, xm, ym, int(m), int(n), int(k), band); };
      auto lazy = [&]() {
        CK(DequantizeCuda(kT, q, ws, FloatFormat::kBF16, n, k, st, DequantCaching::kKeepInL2));
        Cublas(st, ws, x, yr, m, n, k);
      };
      CK(cudaMemset(y, 0xFF, size_t(m * n * 2)));
      mixed();
      Cublas(st, wbf, x, yr, m, n, k);
      CK(cudaStreamSynchronize(st));
      CK(cudaGetLastError());
      const Agreement ag = CompareBf16(y, yr, size_t(m * n));
      const std::vector<double> t = MedianUs(st, 3, rounds, [&](int v) {
        if (v == 0) Cublas(st, wbf, x, yr, m, n, k);
        else if (v == 1) lazy();
        else mixed();
      });
      std::printf("[%5lld,%5lld] M %5lld: bf16 cuBLAS %7.1f us | lazy (dequant+cuBLAS) %.3fx | mixed kernel %7.1f us %.3fx | mixed vs bf16 on dequantized weight: equal %.4f%% max|d| %.3g (max|y| %.3g)\n",
                  (long long)n, (long long)k, (long long)m, t[0], t[1] / t[0], t[2], t[2] / t[0],
                  ag.equal_pct, ag.max_diff, ag.max_ref);
      CK(cudaFree(x));
      CK(cudaFree(y));
      CK(cudaFree(yr));
    }
    CK(cudaFree(q));
    CK(cudaFree(wbf));
    CK(cudaFree(ws));
  }
  return 0;
}
