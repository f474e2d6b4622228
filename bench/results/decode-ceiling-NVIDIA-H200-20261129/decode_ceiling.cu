// How many Q4_K weights one SM can expand into a bf16 shared-memory tile per microsecond with
// nothing else in the way (no HBM traffic, no MMA, no hand-off to other warps): the fused panel
// kernel's own decoder (StageDecoder<Q4_K>, kernels/cuda/panel_stage_decode.cuh) on raw units
// resident in shared memory. Each thread expands one stage row (64 weights) per round into a
// ring of 4 swizzled 16 KB tiles, as the panel's decoders do; `sync` adds a __syncthreads per
// round (the price of a block-wide hand-off). One CTA per SM, 132 CTAs, timed with CUDA events.
//
// nvcc -O3 -std=c++17 -arch=sm_90a -I<repo root> decode_ceiling.cu -o decode_ceiling
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

#include "kernels/cuda/panel_stage_decode.cuh"

using ovid::GgmlType;
using ovid::cuda_detail::StageDecoder;

constexpr int kRows = 128, kUnit = 144, kUnits = 2;  // two units, alternated, so no load hoists

template <bool kSync>
__global__ void __launch_bounds__(512, 1) DecodeLoop(const uint8_t* raw_g, int rounds,
                                                     uint32_t* sink) {
  extern __shared__ __align__(1024) uint8_t smem[];
  uint8_t* raw = smem;                         // [kUnits][128 rows][144 B]
  uint8_t* tiles = smem + 48 * 1024;           // [4][128 rows][128 B]
  for (int i = threadIdx.x; i < kUnits * kRows * kUnit / 16; i += blockDim.x) {
    reinterpret_cast<uint4*>(raw)[i] = reinterpret_cast<const uint4*>(raw_g)[i];
  }
  __syncthreads();
  const int t = threadIdx.x, row = t & (kRows - 1), q = (t >> 7) & 3;
  uint32_t acc = 0;
  for (int r = 0; r < rounds; ++r) {
    const uint8_t* b = raw + (r & 1) * kRows * kUnit + row * kUnit;
    uint4 packed[8];
    if (q < 2) {
      StageDecoder<GgmlType::kQ4_K>::Run<0>(b, q & 1, packed);
    } else {
      StageDecoder<GgmlType::kQ4_K>::Run<1>(b, q & 1, packed);
    }
    uint8_t* tile = tiles + ((r + q) & 3) * 16384 + row * 128;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      *reinterpret_cast<uint4*>(tile + ((c ^ (row & 7)) << 4)) = packed[c];
    }
    if constexpr (kSync) {
      __syncthreads();
    } else {
      asm volatile("" ::: "memory");  // re-read the raw units next round
    }
  }
  __syncthreads();
  acc = reinterpret_cast<const uint32_t*>(tiles)[t];
  if (acc == 0x12345678u) sink[0] = acc;  // keeps the stores
}

int main() {
  std::vector<uint8_t> host(kUnits * kRows * kUnit);
  uint32_t s = 12345;
  for (auto& b : host) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  // Sane half scales (d, dmin) at the start of each 144-byte unit.
  for (size_t u = 0; u < host.size(); u += kUnit) {
    host[u] = 0x00; host[u + 1] = 0x2c; host[u + 2] = 0x00; host[u + 3] = 0x28;
  }
  uint8_t* raw = nullptr;
  uint32_t* sink = nullptr;
  cudaMalloc(&raw, host.size());
  cudaMalloc(&sink, 4);
  cudaMemcpy(raw, host.data(), host.size(), cudaMemcpyHostToDevice);
  const int smem = 48 * 1024 + 4 * 16384;
  cudaFuncSetAttribute(DecodeLoop<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  cudaFuncSetAttribute(DecodeLoop<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::printf("threads sync  us  weights/us/SM  weights/clk/SM(@1.98GHz)\n");
  for (int threads : {128, 256, 384, 512}) {
    for (bool sync : {false, true}) {
      const int rounds = 4000;
      auto launch = [&] {
        if (sync) {
          DecodeLoop<true><<<sms, threads, smem>>>(raw, rounds, sink);
        } else {
          DecodeLoop<false><<<sms, threads, smem>>>(raw, rounds, sink);
        }
      };
      launch();
      cudaEventRecord(a);
      for (int i = 0; i < 5; ++i) launch();
      cudaEventRecord(b);
      cudaEventSynchronize(b);
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      const double us = ms * 1000.0 / 5;
      const double per_sm = 64.0 * threads * rounds / us;
      std::printf("%7d %4d %7.1f %13.0f %10.1f\n", threads, sync ? 1 : 0, us, per_sm,
                  per_sm / 1980.0);
    }
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    std::printf("CUDA error: %s\n", cudaGetErrorString(err));
    return 1;
  }
  return 0;
}
