// At 157 tokens cuBLAS runs a [3072, 3072] bf16 GEMM on 96 CTAs, one per SM, leaving 36 of the
// H200's 132 SMs idle for its ~10 us (bench/NOTES.md, "What cuBLAS runs at 16-314 tokens").
// Could the lazy path dequantize the next layer's Q4_K weight on those idle SMs, on a second
// stream, while the current layer's GEMM runs, and then run its own GEMM on a workspace that is
// still in L2? Chain of L distinct [3072, 3072] layers at 160 tokens (weights > 256 MB in all,
// so nothing stays in L2 from one round to the next), per layer:
//   bf16      cuBLAS on the layer's own bf16 weight (from DRAM): the baseline;
//   serial    dequantize into the workspace (all SMs), then cuBLAS on it;
//   prefetch  layer i + 1 dequantized into the other half of the workspace on a second stream
//             (G blocks) while layer i's GEMM runs; events order the halves.
// The dequantization here is a plain Q4_K -> bf16 kernel (fp32 math, one rounding; one warp per
// 256-weight block, a lane's 8 weights as one 16-byte store), not the engine's.
//
// nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a prefetch_chain.cu -lcublas -o p
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

constexpr int kN = 3072, kK = 3072, kM = 160, kUnit = 144;
constexpr size_t kQBytes = size_t{kN} * (kK / 256) * kUnit;  // 5.3 MB
constexpr size_t kWElems = size_t{kN} * kK;                  // 9.4 M

__global__ void Spin(long long cycles) {
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
}

// One warp per block of 256 weights, grid-stride; lane l: weights 8l .. 8l + 7 (sub-block l / 4).
__global__ void __launch_bounds__(512) DequantQ4K(const uint8_t* __restrict__ q,
                                                  __nv_bfloat16* __restrict__ out, int blocks) {
  const int lane = threadIdx.x & 31;
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int warps = (gridDim.x * blockDim.x) >> 5;
  const int j = lane >> 2, c = j >> 1;
  for (int b = warp; b < blocks; b += warps) {
    const uint8_t* u = q + static_cast<size_t>(b) * kUnit;
    const uint4 head = __ldg(reinterpret_cast<const uint4*>(u));
    const float d = __half2float(__ushort_as_half(static_cast<unsigned short>(head.x & 0xFFFF)));
    const float dmin = __half2float(__ushort_as_half(static_cast<unsigned short>(head.x >> 16)));
    // Scale bytes 0-3 in head.y, 4-7 in head.z, 8-11 in head.w.
    const int i8 = 8 * (j & 3);
    const uint32_t lo = head.y >> i8, mid = head.z >> i8, hi = head.w >> i8;
    uint32_t s, m;
    if (j < 4) {
      s = lo & 63;
      m = mid & 63;
    } else {
      s = (hi & 0xF) | ((lo >> 6 & 3) << 4);
      m = (hi >> 4 & 0xF) | ((mid >> 6 & 3) << 4);
    }
    const float d1 = d * static_cast<float>(s), m1 = dmin * static_cast<float>(m);
    const uint2 raw = __ldg(reinterpret_cast<const uint2*>(u + 16 + 32 * c + 8 * (lane & 3)));
    const int shift = (j & 1) ? 4 : 0;
    uint32_t packed[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t word = i < 2 ? raw.x : raw.y;
      const int b0 = 16 * (i & 1);
      const float v0 = d1 * static_cast<float>((word >> (b0 + shift)) & 15) - m1;
      const float v1 = d1 * static_cast<float>((word >> (b0 + 8 + shift)) & 15) - m1;
      const __nv_bfloat162 p = __floats2bfloat162_rn(v0, v1);
      packed[i] = *reinterpret_cast<const uint32_t*>(&p);
    }
    reinterpret_cast<uint4*>(out + static_cast<size_t>(b) * 256)[lane] =
        make_uint4(packed[0], packed[1], packed[2], packed[3]);
  }
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  const int layers = 48;  // 255 MB of Q4_K, 906 MB of bf16
  uint8_t* q = nullptr;
  __nv_bfloat16 *wb = nullptr, *ws = nullptr, *x = nullptr, *y = nullptr;
  cudaMalloc(&q, kQBytes * layers);
  cudaMalloc(&wb, kWElems * 2 * layers);
  cudaMalloc(&ws, kWElems * 2 * 2);  // two halves (the engine's workspace is sized to ffn's 88 MB)
  cudaMalloc(&x, size_t{kM} * kK * 2);
  cudaMalloc(&y, size_t{kM} * kN * 2);
  {
    std::vector<uint8_t> h(kQBytes);
    uint32_t st = 7;
    for (size_t i = 0; i < h.size(); ++i) {
      st = st * 1664525u + 1013904223u;
      h[i] = static_cast<uint8_t>(st >> 24);
    }
    for (size_t b = 0; b < h.size(); b += kUnit) {  // small positive d, dmin
      h[b] = 0x18; h[b + 1] = 0x14; h[b + 2] = 0x18; h[b + 3] = 0x10;
    }
    for (int l = 0; l < layers; ++l) cudaMemcpy(q + kQBytes * l, h.data(), kQBytes, cudaMemcpyHostToDevice);
  }
  cudaMemset(x, 0x3c, size_t{kM} * kK * 2);
  const int blocks = static_cast<int>(kQBytes / kUnit);
  // The bf16 copies are the dequantized weights (the same values cuBLAS multiplies in lazy).
  for (int l = 0; l < layers; ++l) DequantQ4K<<<4 * sms, 512>>>(q + kQBytes * l, wb + kWElems * l, blocks);
  cudaDeviceSynchronize();

  cublasHandle_t h;
  cublasCreate(&h);
  cudaStream_t s1, s2;
  cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking);
  cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking);
  cudaEvent_t ea, eb, dq[2], used[2];
  cudaEventCreate(&ea);
  cudaEventCreate(&eb);
  for (int i = 0; i < 2; ++i) {
    cudaEventCreateWithFlags(&dq[i], cudaEventDisableTiming);
    cudaEventCreateWithFlags(&used[i], cudaEventDisableTiming);
  }
  const float one = 1.0f, zero = 0.0f;
  auto gemm = [&](const __nv_bfloat16* w, cudaStream_t s) {
    cublasSetStream(h, s);
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, kN, kM, kK, &one, w, CUDA_R_16BF, kK, x, CUDA_R_16BF,
                 kK, &zero, y, CUDA_R_16BF, kN, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  auto timed = [&](auto&& chain) {  // us per layer
    chain();  // warm
    cudaDeviceSynchronize();
    Spin<<<1, 1, 0, s1>>>(2000000);
    cudaEventRecord(ea, s1);
    chain();
    cudaEventRecord(eb, s1);
    cudaEventSynchronize(eb);
    float ms = 0;
    cudaEventElapsedTime(&ms, ea, eb);
    return ms * 1000.0 / layers;
  };
  auto bf16 = [&] {
    for (int l = 0; l < layers; ++l) gemm(wb + kWElems * l, s1);
  };
  auto serial = [&] {
    for (int l = 0; l < layers; ++l) {
      DequantQ4K<<<4 * sms, 512, 0, s1>>>(q + kQBytes * l, ws, blocks);
      gemm(ws, s1);
    }
  };
  auto dequant_only = [&](int grid) {
    return [&, grid] {
      for (int l = 0; l < layers; ++l) DequantQ4K<<<grid, 512, 0, s1>>>(q + kQBytes * l, ws, blocks);
    };
  };
  auto prefetch = [&](int grid) {
    return [&, grid] {
      // s2 follows s1 (the spin and the start event) before its first dequantization.
      cudaEventRecord(used[1], s1);
      cudaStreamWaitEvent(s2, used[1], 0);
      DequantQ4K<<<grid, 512, 0, s2>>>(q, ws, blocks);
      cudaEventRecord(dq[0], s2);
      for (int l = 0; l < layers; ++l) {
        const int half = l & 1;
        cudaStreamWaitEvent(s1, dq[half], 0);
        gemm(ws + kWElems * half, s1);
        cudaEventRecord(used[half], s1);
        if (l + 1 < layers) {
          // Half 1 - half was last read by layer l - 1's GEMM, which s1 ran before layer l's.
          if (l >= 1) cudaStreamWaitEvent(s2, used[1 - half], 0);
          DequantQ4K<<<grid, 512, 0, s2>>>(q + kQBytes * (l + 1), ws + kWElems * (1 - half), blocks);
          cudaEventRecord(dq[1 - half], s2);
        }
      }
    };
  };
  std::printf("%d layers of [3072, 3072] Q4_K at %d tokens, us per layer (%d SMs)\n", layers, kM, sms);
  for (int round = 0; round < 3; ++round) {
    const double a = timed(bf16), b = timed(serial);
    const double d36 = timed(dequant_only(36)), dall = timed(dequant_only(4 * sms));
    const double p36 = timed(prefetch(36)), p24 = timed(prefetch(24)), p72 = timed(prefetch(72));
    std::printf("round %d: bf16 %.2f | serial %.2f (%.3f) | prefetch on 24 / 36 / 72 blocks %.2f / %.2f / "
                "%.2f (%.3f / %.3f / %.3f) | dequant alone on 36 blocks %.2f, on %d %.2f\n",
                round, a, b, b / a, p24, p36, p72, p24 / a, p36 / a, p72 / a, d36, 4 * sms, dall);
  }
  const cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) {
    std::printf("CUDA error: %s\n", cudaGetErrorString(err));
    return 1;
  }
  return 0;
}
