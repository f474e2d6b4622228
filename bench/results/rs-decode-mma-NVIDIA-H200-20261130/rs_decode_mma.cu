// Can one CTA decode Q4_K into registers and feed a register-A wgmma fast enough for a fused
// 64-row x 80-token tile over the whole K to beat cuBLAS at 157 tokens? (bench/NOTES.md, "What
// cuBLAS runs at 16-314 tokens": the open question.) This times the core loop alone, with the
// raw Q4_K units, a table of decoded sub-block scales and the activation chunks already in shared
// memory (no global loads), one CTA per SM:
//  - each warpgroup decodes its 64 rows x 16 k of Q4_K per k-step straight into the four A
//    registers of `wgmma.m64n80k16` (bf16x2 arithmetic: the nibble becomes 128 + q by an OR
//    into a bf16's mantissa, 128 is subtracted exactly, then one bf16x2 FMA with the sub-block's
//    scale and negated min, one rounding);
//  - the k order inside a 64-k chunk is permuted for A and B alike: k-step a takes the k-groups
//    a and a + 4 (the descriptor's leading byte offset says where the second one is), so one
//    16-bit load gives a thread both nibbles of two bytes, i.e. all four weights of a row;
//  - W warpgroups share the tile's K (chunk c goes to warpgroup c % W) and add their
//    accumulators through shared memory at the end;
//  - modes: 0 decode + MMA, 1 MMA only (A decoded once), 2 decode only (no wgmma).
// It also checks one tile against a host reference and times cuBLAS's bf16 GEMM of
// [3072, 3072] x 160 tokens in the same process.
//
// nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a rs_decode_mma.cu -lcublas -o rs
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "rs_common.cuh"

constexpr int kRows = 64, kTokens = 80, kChunkK = 64, kUnit = 144;
constexpr int kSbRing = 4;                                 // superblocks resident per row
constexpr int kRawBytes = kSbRing * kRows * kUnit;         // 36,864
constexpr int kScaleBytes = kSbRing * kRows * 8 * 8;       // (s,s) and (-m,-m) per sub-block
constexpr int kBChunkBytes = kTokens * kChunkK * 2;        // 10,240
constexpr int kBRing = 4;
constexpr int kGroupStride = (kTokens / 8) * 128;          // bytes between k-groups of 8
constexpr int kScaleOff = kRawBytes, kBOff = kScaleOff + 3 * kScaleBytes;  // bf16x2, fp32, scaled bf16x2
constexpr int kRedOff = kBOff + kBRing * kBChunkBytes;     // W - 1 partial tiles
constexpr int kSmem = kRedOff + 2 * kRows * kTokens * 4;

__device__ __forceinline__ uint64_t DescB(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | (uint64_t{lbo >> 4} << 16) |
         (uint64_t{sbo >> 4} << 32);  // no swizzle
}


__device__ __forceinline__ uint32_t Bf2(uint32_t v, uint32_t s, uint32_t nm) {
  // v = (128 + q0, 128 + q1) as bf16x2; returns (q0 * s - m, q1 * s - m), one rounding.
  __nv_bfloat162 x = *reinterpret_cast<__nv_bfloat162*>(&v);
  const __nv_bfloat162 k128 = __floats2bfloat162_rn(128.0f, 128.0f);
  x = __hsub2(x, k128);  // exact
  const __nv_bfloat162 r = __hfma2(x, *reinterpret_cast<__nv_bfloat162*>(&s),
                                   *reinterpret_cast<__nv_bfloat162*>(&nm));
  return *reinterpret_cast<const uint32_t*>(&r);
}

// Four weights of one row: bytes b0, b1 of a 16-bit load; low nibbles -> *lo (sub-block scale
// sl / min ml), high nibbles -> *hi (sh / mh).
// kDec 1: fp32 arithmetic instead. v = (128 + q0, 128 + q1) as bf16x2 -> two fp32 by shift and
// mask, then q * s - m = (128 + q) * s + c with c = -(128 s + m) in fp32 (its rounding is
// 2^-17 s), then one rounding of the pair to bf16x2.
__device__ __forceinline__ uint32_t F2(uint32_t v, uint32_t s, uint32_t c) {
  const float f0 = __uint_as_float(v << 16), f1 = __uint_as_float(v & 0xFFFF0000u);
  const float sf = __uint_as_float(s), cf = __uint_as_float(c);
  const __nv_bfloat162 r = __floats2bfloat162_rn(fmaf(f0, sf, cf), fmaf(f1, sf, cf));
  return *reinterpret_cast<const uint32_t*>(&r);
}
// kDec 2 (timing only, wrong values): the bf16x2 pair's two instructions as integer ones.
__device__ __forceinline__ uint32_t I2(uint32_t v, uint32_t s, uint32_t nm) {
  uint32_t r;
  asm volatile("xor.b32 %0, %1, %2;\n\tadd.u32 %0, %0, %3;\n" : "=r"(r) : "r"(v), "r"(s), "r"(nm));
  return r;
}
// kDec 3: no subtraction. A bf16 bit pattern p < 0x0100 has the value p * 2^-133 (subnormal,
// and exponent field 1 continues it linearly), so the masked nibbles are q * 2^-133 (low) and
// 16 q * 2^-133 (high) as they stand. One bf16x2 FMA with s * 2^117 (s * 2^113 for the high
// nibbles) and -m * 2^-16 gives (q s - m) * 2^-16, one rounding, exact scaling; the epilogue
// multiplies the fp32 accumulators by 2^16.
template <int kDec>
__device__ __forceinline__ void Decode4(uint32_t u, uint4 sc, uint32_t* lo, uint32_t* hi) {
  const uint32_t x = __byte_perm(u, 0, 0x4140);  // b0 -> bits 0-7, b1 -> bits 16-23
  if (kDec == 3) {
    const uint32_t pl = x & 0x000F000Fu, ph = x & 0x00F000F0u;
    const __nv_bfloat162 rl = __hfma2(*reinterpret_cast<const __nv_bfloat162*>(&pl),
                                      *reinterpret_cast<const __nv_bfloat162*>(&sc.x),
                                      *reinterpret_cast<const __nv_bfloat162*>(&sc.y));
    const __nv_bfloat162 rh = __hfma2(*reinterpret_cast<const __nv_bfloat162*>(&ph),
                                      *reinterpret_cast<const __nv_bfloat162*>(&sc.z),
                                      *reinterpret_cast<const __nv_bfloat162*>(&sc.w));
    *lo = *reinterpret_cast<const uint32_t*>(&rl);
    *hi = *reinterpret_cast<const uint32_t*>(&rh);
    return;
  }
  const uint32_t vl = (x & 0x000F000Fu) | 0x43004300u, vh = ((x >> 4) & 0x000F000Fu) | 0x43004300u;
  if (kDec == 0) {
    *lo = Bf2(vl, sc.x, sc.y);
    *hi = Bf2(vh, sc.z, sc.w);
  } else if (kDec == 1) {
    *lo = F2(vl, sc.x, sc.y);
    *hi = F2(vh, sc.z, sc.w);
  } else {
    *lo = I2(vl, sc.x, sc.y);
    *hi = I2(vh, sc.z, sc.w);
  }
}

struct Frag {
  uint32_t a[4][4];  // k-step, register
};

template <int kDec>
__device__ __forceinline__ void DecodeChunk(const uint8_t* smem, int c, int r0, int tq, Frag& f) {
  const int sb = (c >> 2) % kSbRing, j = c & 3;
  const uint8_t* q0 = smem + (sb * kRows + r0) * kUnit + 16 + 32 * j + 2 * tq;
  const uint8_t* q1 = q0 + 8 * kUnit;
  const int table = kScaleOff + (kDec == 1 ? kScaleBytes : kDec == 3 ? 2 * kScaleBytes : 0);
  const uint4 s0 = *reinterpret_cast<const uint4*>(smem + table + ((sb * kRows + r0) * 8 + 2 * j) * 8);
  const uint4 s1 = *reinterpret_cast<const uint4*>(smem + table + ((sb * kRows + r0 + 8) * 8 + 2 * j) * 8);
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    const uint32_t u0 = *reinterpret_cast<const uint16_t*>(q0 + 8 * a);
    const uint32_t u1 = *reinterpret_cast<const uint16_t*>(q1 + 8 * a);
    Decode4<kDec>(u0, s0, &f.a[a][0], &f.a[a][2]);
    Decode4<kDec>(u1, s1, &f.a[a][1], &f.a[a][3]);
  }
}

__device__ __forceinline__ void MmaChunk(float (&acc)[40], const Frag& f, uint32_t bbase, int c) {
  const uint32_t b = bbase + (c % kBRing) * kBChunkBytes;
  Fence();
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    Mma(acc, f.a[a], DescB(b + a * kGroupStride, 4 * kGroupStride, 128));
  }
  Commit();
}

// mode 0: decode + MMA; 1: MMA only; 2: decode only. chunks: per CTA. out: fp32 tile of each CTA.
template <int kDec>
__global__ void __launch_bounds__(384, 1)
    Kernel(const uint8_t* init, int mode, int chunks, uint32_t fill, float* out, uint32_t* sink) {
  extern __shared__ __align__(1024) uint8_t smem[];
  // fill != 4: a launch-cost run, shared memory left as it is (values do not matter for time).
  for (int i = threadIdx.x; fill == 4 && i < kRedOff / 16; i += blockDim.x) {
    reinterpret_cast<uint4*>(smem)[i] = reinterpret_cast<const uint4*>(init)[i];
  }
  __syncthreads();
  const int wg = threadIdx.x >> 7, w = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  const int g = lane >> 2, tq = lane & 3, r0 = 16 * w + g;
  const int warpgroups = blockDim.x >> 7;
  const uint32_t bbase = static_cast<uint32_t>(__cvta_generic_to_shared(smem + kBOff));
  float acc[40];
#pragma unroll
  for (int i = 0; i < 40; ++i) acc[i] = 0.0f;
  uint32_t x = 0;
  Frag f0, f1;
  int c = wg;
  if (c < chunks) DecodeChunk<kDec>(smem, c, r0, tq, f0);
  if (mode == 1) {
    for (; c < chunks; c += warpgroups) {
      MmaChunk(acc, f0, bbase, c);
      Wait<1>();
    }
  } else if (mode == 2) {
    for (c += warpgroups; c < chunks; c += 2 * warpgroups) {
      DecodeChunk<kDec>(smem, c, r0, tq, f1);
      if (c + warpgroups < chunks) DecodeChunk<kDec>(smem, c + warpgroups, r0, tq, f0);
#pragma unroll
      for (int a = 0; a < 4; ++a)
#pragma unroll
        for (int i = 0; i < 4; ++i) x ^= f0.a[a][i] + f1.a[a][i];
    }
  } else {
    // Two register sets: chunk c's wgmmas run while chunk c + W decodes into the other set; the
    // wait before each decode retires the group that read that set.
    while (c < chunks) {
      MmaChunk(acc, f0, bbase, c);
      Wait<1>();
      c += warpgroups;
      if (c >= chunks) break;
      DecodeChunk<kDec>(smem, c, r0, tq, f1);
      MmaChunk(acc, f1, bbase, c);
      Wait<1>();
      c += warpgroups;
      if (c >= chunks) break;
      DecodeChunk<kDec>(smem, c, r0, tq, f0);
    }
  }
  Wait<0>();
  asm volatile("" ::: "memory");
  // Warpgroups 1.. add their partial tiles into warpgroup 0's accumulators.
  float* red = reinterpret_cast<float*>(smem + kRedOff);
  for (int src = 1; src < warpgroups; ++src) {
    __syncthreads();
    if (wg == src) {
#pragma unroll
      for (int i = 0; i < 40; ++i) red[i * 128 + (threadIdx.x & 127)] = acc[i];
    }
    __syncthreads();
    if (wg == 0) {
#pragma unroll
      for (int i = 0; i < 40; ++i) acc[i] += red[i * 128 + threadIdx.x];
    }
  }
  if (wg == 0) {
    // Accumulator layout: acc[4j + {0,1}] = D[r0][8j + 2tq + {0,1}], acc[4j + {2,3}] = D[r0 + 8][...].
    if (kDec == 3) {
#pragma unroll
      for (int i = 0; i < 40; ++i) acc[i] *= 65536.0f;
    }
    float* o = out + static_cast<size_t>(blockIdx.x) * kRows * kTokens;
#pragma unroll
    for (int jn = 0; jn < 10; ++jn) {
      const int n = 8 * jn + 2 * tq;
      o[r0 * kTokens + n] = acc[4 * jn];
      o[r0 * kTokens + n + 1] = acc[4 * jn + 1];
      o[(r0 + 8) * kTokens + n] = acc[4 * jn + 2];
      o[(r0 + 8) * kTokens + n + 1] = acc[4 * jn + 3];
    }
  }
  if (x == 0x12345678u) sink[0] = x;
}


__global__ void Empty(uint32_t* sink) {
  extern __shared__ uint8_t e_smem[];
  if (threadIdx.x == 1023) sink[0] = e_smem[0];
}

// ---- host ----
static void ScaleMin(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

template <int kDec>
static void Run(const char* name, const uint8_t* dinit, float* dout, uint32_t* sink, int sms,
                const std::vector<float>& xb, const std::vector<float>& wbf,
                const std::vector<float>& wexact) {
  std::printf("\n=== %s ===\n", name);
  cudaFuncSetAttribute(Kernel<kDec>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);

  // Correctness of one tile of K = 3072 (48 chunks) for W = 1, 2, 3 and both readings of the
  // descriptor's offsets.
  const int kChunks = 48;
  std::vector<float> got(kRows * kTokens);
  for (int W = 1; W <= 3; ++W) {
    Kernel<kDec><<<1, 128 * W, kSmem>>>(dinit, 0, kChunks, 4, dout, sink);
    cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost);
    double err_bf = 0, err_exact = 0, norm = 0;
    for (int r = 0; r < kRows; ++r) {
      for (int n = 0; n < kTokens; ++n) {
        double ref_bf = 0, ref_exact = 0;
        for (int c = 0; c < kChunks; ++c) {
          const int sb = (c >> 2) % kSbRing, j = c & 3, bc = c % kBRing;
          for (int k = 0; k < kChunkK; ++k) {
            const size_t wi = (static_cast<size_t>(sb) * kRows + r) * 256 + 64 * j + k;
            const double xv = xb[(bc * kTokens + n) * kChunkK + k];
            ref_bf += wbf[wi] * xv;
            ref_exact += static_cast<double>(Bf16ToF(FToBf16(wexact[wi]))) * xv;
          }
        }
        const double v = got[r * kTokens + n];
        err_bf = std::fmax(err_bf, std::fabs(v - ref_bf));
        err_exact = std::fmax(err_exact, std::fabs(v - ref_exact));
        norm = std::fmax(norm, std::fabs(ref_exact));
      }
    }
    std::printf("check W=%d: max |out - bf16-decode ref| = %.3g, max |out - exact-decode ref| = "
                "%.3g, max |ref| = %.3g\n",
                W, err_bf, err_exact, norm);
  }

  cudaEvent_t ea, eb;
  cudaEventCreate(&ea);
  cudaEventCreate(&eb);
  auto time = [&](int ctas, int W, int mode, int chunks, int launches, uint32_t copy = 4) {
    Kernel<kDec><<<ctas, 128 * W, kSmem>>>(dinit, mode, chunks, copy, dout, sink);
    Spin<<<1, 1>>>(400000);  // ~200 us
    cudaEventRecord(ea);
    for (int i = 0; i < launches; ++i) Kernel<kDec><<<ctas, 128 * W, kSmem>>>(dinit, mode, chunks, copy, dout, sink);
    cudaEventRecord(eb);
    cudaEventSynchronize(eb);
    float ms = 0;
    cudaEventElapsedTime(&ms, ea, eb);
    return ms * 1000.0 / launches;
  };
  // Steady rate: 132 CTAs x 40 tiles of K = 3072; per-tile us = time / 40.
  std::printf("\nsteady loop, %d CTAs (one per SM), us per 64x80 tile over K = 3072 (48 chunks):\n", sms);
  std::printf("W | decode+MMA | MMA only | decode only | MMA TFLOP/s (MMA only, per %d SMs)\n", sms);
  const int reps = 40;
  for (int W = 1; W <= 3; ++W) {
    const double both = time(sms, W, 0, kChunks * reps, 5) / reps;
    const double mma = time(sms, W, 1, kChunks * reps, 5) / reps;
    const double dec = time(sms, W, 2, kChunks * reps, 5) / reps;
    std::printf("%d | %10.2f | %8.2f | %11.2f | %6.0f\n", W, both, mma, dec,
                2.0 * kRows * kTokens * 3072.0 * sms / mma / 1e6);
  }
  std::printf("\none launch as a [3072, 3072] x 160 layer would make it: 96 CTAs x one tile, "
              "20 launches back to back, us per launch:\n");
  for (int W = 1; W <= 3; ++W) {
    std::printf("W=%d: decode+MMA %.2f, MMA only %.2f (without the shared-memory fill: %.2f, %.2f)\n",
                W, time(96, W, 0, kChunks, 20), time(96, W, 1, kChunks, 20),
                time(96, W, 0, kChunks, 20, 5), time(96, W, 1, kChunks, 20, 5));
  }
  if (kDec == 3) {
    std::printf("K sweep, 96 CTAs, no shared-memory fill, us per launch (decode+MMA / MMA only):\n");
    for (int W = 1; W <= 3; ++W) {
      std::printf("W=%d:", W);
      for (int ch : {0, 1, 6, 12, 24, 48, 96, 192}) {
        std::printf(" K=%d %.2f/%.2f;", ch * 64, time(96, W, 0, ch, 20, 5), time(96, W, 1, ch, 20, 5));
      }
      std::printf("\n");
    }
  }

}

int main() {
  std::vector<uint8_t> init(kRedOff);
  uint32_t s = 12345;
  auto rnd = [&] {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  };
  for (int i = 0; i < kRawBytes; ++i) init[i] = static_cast<uint8_t>(rnd());
  // d in [0.002, 0.004), dmin in [0.001, 0.002) as fp16; host-side scale table (the values a
  // device scale decoder would produce: bf16 of the fp32 products).
  std::vector<float> wexact(static_cast<size_t>(kSbRing) * kRows * 256), wbf(wexact.size()),
      wf32(wexact.size());
  for (int sb = 0; sb < kSbRing; ++sb) {
    for (int r = 0; r < kRows; ++r) {
      uint8_t* blk = init.data() + (sb * kRows + r) * kUnit;
      const uint16_t dh = static_cast<uint16_t>(0x1818 + (rnd() & 0x1FF));   // ~0.002-0.004
      const uint16_t mh = static_cast<uint16_t>(0x1418 + (rnd() & 0x1FF));   // ~0.001-0.002
      std::memcpy(blk, &dh, 2);
      std::memcpy(blk + 2, &mh, 2);
      const float d = HalfToF(dh), dmin = HalfToF(mh);
      for (int sub = 0; sub < 8; ++sub) {
        int sc, m;
        ScaleMin(sub, blk + 4, &sc, &m);
        const float sf = d * static_cast<float>(sc), mf = dmin * static_cast<float>(m);
        const uint16_t sb16 = FToBf16(sf), nm16 = FToBf16(-mf);
        const uint32_t s2 = sb16 | (static_cast<uint32_t>(sb16) << 16);
        const uint32_t m2 = nm16 | (static_cast<uint32_t>(nm16) << 16);
        uint8_t* e = init.data() + kScaleOff + ((sb * kRows + r) * 8 + sub) * 8;
        std::memcpy(e, &s2, 4);
        std::memcpy(e + 4, &m2, 4);
        const float cf = -(128.0f * sf + mf);
        std::memcpy(e + kScaleBytes, &sf, 4);
        std::memcpy(e + kScaleBytes + 4, &cf, 4);
        const uint16_t ss = FToBf16(Bf16ToF(sb16) * std::ldexp(1.0f, (sub & 1) ? 113 : 117));
        const uint16_t ms = FToBf16(Bf16ToF(nm16) * std::ldexp(1.0f, -16));
        const uint32_t ss2 = ss | (static_cast<uint32_t>(ss) << 16), ms2 = ms | (static_cast<uint32_t>(ms) << 16);
        std::memcpy(e + 2 * kScaleBytes, &ss2, 4);
        std::memcpy(e + 2 * kScaleBytes + 4, &ms2, 4);
        for (int l = 0; l < 32; ++l) {
          const int k = 32 * sub + l;  // weight k of the superblock
          const uint8_t byte = blk[16 + 32 * (sub / 2) + l];
          const int q = (sub & 1) ? byte >> 4 : byte & 15;
          const size_t idx = (static_cast<size_t>(sb) * kRows + r) * 256 + k;
          wexact[idx] = sf * static_cast<float>(q) - mf;  // ggml: d*sc*q - dmin*m in fp32
          const float qs = static_cast<float>(q) * Bf16ToF(sb16) + Bf16ToF(nm16);
          wbf[idx] = Bf16ToF(FToBf16(qs));  // one rounding of the exact FMA (qs is exact here)
          wf32[idx] = Bf16ToF(FToBf16(std::fmaf(128.0f + q, sf, cf)));
        }
      }
    }
  }
  // Activations: B chunk layout [k-group][token group][token % 8][k % 8].
  std::vector<float> xb(static_cast<size_t>(kBRing) * kTokens * kChunkK);
  for (int bc = 0; bc < kBRing; ++bc) {
    for (int n = 0; n < kTokens; ++n) {
      for (int k = 0; k < kChunkK; ++k) {
        const uint16_t h = FToBf16((static_cast<int>(rnd() % 2001) - 1000) / 1000.0f);
        xb[(bc * kTokens + n) * kChunkK + k] = Bf16ToF(h);
        const size_t off = kBOff + bc * kBChunkBytes + (k / 8) * kGroupStride + (n / 8) * 128 +
                           (n % 8) * 16 + (k % 8) * 2;
        std::memcpy(init.data() + off, &h, 2);
      }
    }
  }
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  uint8_t* dinit = nullptr;
  float* dout = nullptr;
  uint32_t* sink = nullptr;
  cudaMalloc(&dinit, init.size());
  cudaMalloc(&dout, static_cast<size_t>(sms) * kRows * kTokens * 4);
  cudaMalloc(&sink, 8);
  cudaMemcpy(dinit, init.data(), init.size(), cudaMemcpyHostToDevice);
  {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    cudaFuncSetAttribute(Empty, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
    for (int smem : {0, 48 * 1024, kSmem}) {
      for (int threads : {128, 384}) {
        Spin<<<1, 1>>>(400000);
        cudaEventRecord(a);
        for (int i = 0; i < 20; ++i) Empty<<<96, threads, smem>>>(sink);
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms = 0;
        cudaEventElapsedTime(&ms, a, b);
        std::printf("empty kernel, 96 CTAs x %d threads, %d B shared memory: %.2f us per launch\n",
                    threads, smem, ms * 1000 / 20);
      }
    }
  }
  Run<0>("bf16x2 decode", dinit, dout, sink, sms, xb, wbf, wexact);
  Run<1>("fp32 decode", dinit, dout, sink, sms, xb, wf32, wexact);
  Run<3>("bf16x2 decode without subtraction (subnormal nibbles, output scaled by 2^-16)", dinit, dout, sink, sms, xb, wbf, wexact);
  Run<2>("integer stand-in for the bf16x2 pair (values wrong)", dinit, dout, sink, sms, xb, wbf, wexact);
  cudaEvent_t ea, eb;
  cudaEventCreate(&ea);
  cudaEventCreate(&eb);
  // cuBLAS bf16, [3072, 3072] weight x 160 tokens, weights rotating over 8 copies (> L2).
  cublasHandle_t h;
  cublasCreate(&h);
  const int N = 3072, K = 3072, M = 160, copies = 8;
  __nv_bfloat16 *wd = nullptr, *xd = nullptr, *yd = nullptr;
  cudaMalloc(&wd, static_cast<size_t>(copies) * N * K * 2);
  cudaMalloc(&xd, static_cast<size_t>(M) * K * 2);
  cudaMalloc(&yd, static_cast<size_t>(M) * N * 2);
  cudaMemset(wd, 0x3c, static_cast<size_t>(copies) * N * K * 2);
  cudaMemset(xd, 0x3c, static_cast<size_t>(M) * K * 2);
  const float one = 1.0f, zero = 0.0f;
  auto gemm = [&](int i) {
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, wd + static_cast<size_t>(i % copies) * N * K,
                 CUDA_R_16BF, K, xd, CUDA_R_16BF, K, &zero, yd, CUDA_R_16BF, N, CUBLAS_COMPUTE_32F,
                 CUBLAS_GEMM_DEFAULT);
  };
  for (int round = 0; round < 3; ++round) {
    gemm(0);
    Spin<<<1, 1>>>(400000);
    cudaEventRecord(ea);
    for (int i = 0; i < 20; ++i) gemm(i);
    cudaEventRecord(eb);
    cudaEventSynchronize(eb);
    float ms = 0;
    cudaEventElapsedTime(&ms, ea, eb);
    std::printf("cuBLAS bf16 [3072, 3072] x 160, round %d: %.2f us per call\n", round,
                ms * 1000.0 / 20);
  }
  const cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) {
    std::printf("CUDA error: %s\n", cudaGetErrorString(err));
    return 1;
  }
  return 0;
}
