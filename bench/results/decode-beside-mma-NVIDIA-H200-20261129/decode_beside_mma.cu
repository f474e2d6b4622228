// Does the Q4_K decode keep its rate beside a warpgroup that keeps the tensor cores busy? The
// premise of a fused 64 x 80 tile over the whole K (bench/NOTES.md, "What cuBLAS runs at
// 16-314 tokens"): per CTA ~196 K weights decoded while one MMA warpgroup does ~15.7 M
// multiply-adds, overlapped. Here: D decoder warps run the panel's StageDecoder<Q4_K> from
// shared memory into a ring of swizzled bf16 tiles (as decode_ceiling.cu), and one warpgroup
// issues wgmma m64n64k16 (both operands in shared memory, 4 k-steps per commit, one group in
// flight) on tiles of its own. Each side has a fixed amount of work; the kernel is timed with
// only the decoders working, only the MMA working, and both. One CTA per SM, 132 CTAs.
//
// nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I<repo root> decode_beside_mma.cu -o decode_beside_mma
#include <cuda_runtime.h>

#include <cstdio>
#include <vector>

#include "kernels/cuda/panel_stage_decode.cuh"
#include "kernels/cuda/wgmma_ss.cuh"

using ovid::GgmlType;
using ovid::cuda_detail::StageDecoder;
namespace cd = ovid::cuda_detail;

constexpr int kRows = 128, kUnit = 144, kUnits = 2;
constexpr int kRawBytes = kUnits * kRows * kUnit;          // 36 KB
constexpr int kTilesOffset = 48 * 1024;                     // 4 x 16 KB decoded tiles
constexpr int kMmaOffset = kTilesOffset + 4 * 16384;        // A and B of the MMA: 8 KB each
constexpr int kSmem = kMmaOffset + 2 * 8192 + 1024;

__device__ __forceinline__ uint64_t Desc(uint32_t addr) {  // K-major, 128B swizzle
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) |
         (uint64_t{1024 >> 4} << 32) | (uint64_t{1} << 62);
}

// decoders: D decoder threads (first), then 128 MMA threads. rounds / stages: each side's work.
__global__ void __launch_bounds__(512, 1) Kernel(const uint8_t* raw_g, int decoders, int rounds,
                                                 int stages, uint32_t* sink) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  uint8_t* smem = smem_raw + ((1024 - (base & 1023)) & 1023);
  uint8_t* raw = smem;
  uint8_t* tiles = smem + kTilesOffset;
  for (int i = threadIdx.x; i < kRawBytes / 16; i += blockDim.x) {
    reinterpret_cast<uint4*>(raw)[i] = reinterpret_cast<const uint4*>(raw_g)[i];
  }
  for (int i = threadIdx.x; i < 2 * 8192 / 4; i += blockDim.x) {  // MMA operands: small values
    reinterpret_cast<uint32_t*>(smem + kMmaOffset)[i] = 0x3c003c00u ^ (i * 2654435761u & 0x00ff00ffu);
  }
  __syncthreads();
  const int t = threadIdx.x;
  if (t < decoders) {
    const int row = t & (kRows - 1), q = (t >> 7) & 3;
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
      asm volatile("" ::: "memory");
    }
  } else if (t < decoders + 128) {
    float acc[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) acc[i] = 0.0f;
    const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem + kMmaOffset));
    const uint64_t da = Desc(a), db = Desc(a + 8192);
    for (int s = 0; s < stages; ++s) {
      cd::WgmmaFence();
#pragma unroll
      for (int k = 0; k < 4; ++k) cd::WgmmaSS<64>::Run(acc, da + 2 * k, db + 2 * k);
      cd::WgmmaCommit();
      cd::WgmmaWait<1>();
    }
    cd::WgmmaWait<0>();
    cd::FenceOperands(acc);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < 32; ++i) sum += acc[i];
    if (sum == 1.2345f) sink[1] = 1;
  }
  __syncthreads();
  if (reinterpret_cast<const uint32_t*>(tiles)[t] == 0x12345678u) sink[0] = 1;
}

int main() {
  std::vector<uint8_t> host(kRawBytes);
  uint32_t s = 12345;
  for (auto& b : host) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  for (size_t u = 0; u < host.size(); u += kUnit) {
    host[u] = 0x00; host[u + 1] = 0x2c; host[u + 2] = 0x00; host[u + 3] = 0x28;
  }
  uint8_t* raw = nullptr;
  uint32_t* sink = nullptr;
  cudaMalloc(&raw, host.size());
  cudaMalloc(&sink, 8);
  cudaMemcpy(raw, host.data(), host.size(), cudaMemcpyHostToDevice);
  cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  cudaEvent_t ea, eb;
  cudaEventCreate(&ea);
  cudaEventCreate(&eb);
  auto time = [&](int decoders, int rounds, int stages) {
    Kernel<<<sms, decoders + 128, kSmem>>>(raw, decoders, rounds, stages, sink);
    cudaEventRecord(ea);
    for (int i = 0; i < 5; ++i) {
      Kernel<<<sms, decoders + 128, kSmem>>>(raw, decoders, rounds, stages, sink);
    }
    cudaEventRecord(eb);
    cudaEventSynchronize(eb);
    float ms = 0;
    cudaEventElapsedTime(&ms, ea, eb);
    return ms * 1000.0 / 5;
  };
  std::printf("decoder warps | decode alone us | MMA alone us | both us | both / max(alone)"
              " | decode K weights/us/SM alone, beside MMA | MMA TFLOP/s alone\n");
  const int stages = 3000;  // 3000 x 64x64x64 multiply-adds: ~0.79 G per SM
  for (int decoders : {256, 384}) {
    // As much decoding as a 64 x 80 tile over K = 3072 per multiply-add (196 K weights per
    // 15.7 M), scaled to the MMA side's 3000 stages.
    const double weights = 196608.0 * (stages * 262144.0) / 15728640.0;
    const int rounds = static_cast<int>(weights / (64.0 * decoders));
    const double dec = time(decoders, rounds, 0), mma = time(decoders, 0, stages),
                 both = time(decoders, rounds, stages);
    const double w = 64.0 * decoders * rounds;
    std::printf("%13d | %15.1f | %12.1f | %7.1f | %17.2f | %6.0f, %6.0f | %6.0f\n",
                decoders / 32, dec, mma, both, both / (dec > mma ? dec : mma), w / dec / 1000,
                w / both / 1000, 2.0 * stages * 262144.0 * sms / mma / 1e6);
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    std::printf("CUDA error: %s\n", cudaGetErrorString(err));
    return 1;
  }
  return 0;
}
