// Shared by lazy_caching.cu and lazy_discard.cu: random Q4_K/Q6_K blocks (d = dmin = 0.01) and
// their bf16 dequantization, each in as many device copies as exceed 256 MB, so that a method
// cycling through them finds no weight in L2, as in a real forward pass.
#pragma once

#include "check.cuh"
#include "kernels/cuda/dequantize.cuh"

struct RotatingWeights {
  std::vector<void*> q, w;  // quantized copies, bf16 copies
  int64_t qbytes = 0, wbytes = 0;

  RotatingWeights(ovid::GgmlType type, int64_t n, int64_t k, std::mt19937& rng, cudaStream_t st) {
    const bool q4 = type == ovid::GgmlType::kQ4_K;
    const int64_t block_bytes = q4 ? 144 : 210;
    qbytes = n * (k / 256) * block_bytes;
    wbytes = n * k * 2;
    std::vector<uint8_t> hq(static_cast<size_t>(qbytes));
    for (auto& b : hq) b = uint8_t(rng());
    for (int64_t o = 0; o < qbytes; o += block_bytes) {  // f16 0.01 = 0x211F
      const int64_t d = q4 ? 0 : 208;
      hq[size_t(o + d)] = 0x1F;
      hq[size_t(o + d + 1)] = 0x21;
      if (q4) {
        hq[size_t(o + 2)] = 0x1F;
        hq[size_t(o + 3)] = 0x21;
      }
    }
    q.resize(size_t((int64_t{256} << 20) / qbytes + 1));
    w.resize(size_t((int64_t{256} << 20) / wbytes + 1));
    for (auto& p : q) {
      CK(cudaMalloc(&p, size_t(qbytes)));
      CK(cudaMemcpy(p, hq.data(), size_t(qbytes), cudaMemcpyHostToDevice));
    }
    for (auto& p : w) {
      CK(cudaMalloc(&p, size_t(wbytes)));
      CK(ovid::DequantizeCuda(type, q[0], p, ovid::FloatFormat::kBF16, n, k, st));
    }
  }
  ~RotatingWeights() {
    for (void* p : q) cudaFree(p);
    for (void* p : w) cudaFree(p);
  }
  RotatingWeights(const RotatingWeights&) = delete;
  RotatingWeights& operator=(const RotatingWeights&) = delete;
};
