// Shared by chunked_l2.cu and sm_split.cu (experiment programs, not in the tree): one Ovi video
// block's eight large-M layers as Q4_K/Q6_K blocks with small random values, and their bf16
// copies (the baseline's resident weights).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <random>
#include <vector>

#include "kernels/cuda/dequantize.cuh"
#include "kernels/ggml_types.h"

#include "check.cuh"

struct Layer {
  ovid::GgmlType type;
  int64_t n, k;
  void* q = nullptr;   // quantized blocks
  void* bf = nullptr;  // resident bf16 weight (baseline)
  size_t bf_bytes() const { return size_t(n * k * 2); }
};

inline size_t RowBytes(ovid::GgmlType t, int64_t k) {
  if (t == ovid::GgmlType::kQ4_K) return size_t(k / 256 * 144);
  if (t == ovid::GgmlType::kQ6_K) return size_t(k / 256 * 210);
  std::exit(2);
}

// Random blocks with d (and Q4_K's dmin) = fp16 0.01: finite, small values.
inline void Fill(Layer& l, std::mt19937& rng) {
  using ovid::GgmlType;
  const size_t bytes = RowBytes(l.type, l.k) * l.n;
  std::vector<uint8_t> h(bytes);
  for (auto& b : h) b = uint8_t(rng());
  const size_t bs = l.type == GgmlType::kQ4_K ? 144 : 210;
  for (size_t o = 0; o < bytes; o += bs) {
    const size_t d_off = l.type == GgmlType::kQ4_K ? 0 : 208;
    h[o + d_off] = 0x1F;
    h[o + d_off + 1] = 0x21;
    if (l.type == GgmlType::kQ4_K) {
      h[o + 2] = 0x1F;
      h[o + 3] = 0x21;
    }
  }
  CK(cudaMalloc(&l.q, bytes));
  CK(cudaMemcpy(l.q, h.data(), bytes, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&l.bf, l.bf_bytes()));
  CK(ovid::DequantizeCuda(l.type, l.q, l.bf, ovid::FloatFormat::kBF16, l.n, l.k, 0));
}

// One video block's layers at large M, in forward order (Q4_K_M: v and ffn.2 Q6_K).
inline std::vector<Layer> VideoBlockChain(std::mt19937& rng) {
  using ovid::GgmlType;
  std::vector<Layer> L = {
      {GgmlType::kQ4_K, 3072, 3072},  {GgmlType::kQ4_K, 3072, 3072},
      {GgmlType::kQ6_K, 3072, 3072},  {GgmlType::kQ4_K, 3072, 3072},
      {GgmlType::kQ4_K, 3072, 3072},  {GgmlType::kQ4_K, 3072, 3072},
      {GgmlType::kQ4_K, 14336, 3072}, {GgmlType::kQ6_K, 3072, 14336}};
  for (auto& l : L) Fill(l, rng);
  return L;
}

// Fills n bf16 values in [-1, 1) at dst (device): realistic switching power for the GEMMs.
inline void RandomBf16(void* dst, size_t n, std::mt19937& rng) {
  const std::vector<uint16_t> h = RandomBf16Host(n, 1.f, rng);
  CK(cudaMemcpy(dst, h.data(), n * 2, cudaMemcpyHostToDevice));
}

// One line per mode: median and minimum ms per chain (as us), and the median's ratio to mode 0's
// (bf16). Sorts the samples.
inline void PrintChainMedians(const std::vector<std::string>& names,
                              std::vector<std::vector<float>>& ms, int width) {
  std::sort(ms[0].begin(), ms[0].end());
  const double base = ms[0][ms[0].size() / 2];
  for (size_t mi = 0; mi < names.size(); ++mi) {
    std::sort(ms[mi].begin(), ms[mi].end());
    const double med = ms[mi][ms[mi].size() / 2];
    std::printf("%-*s median %8.1f us  (min %8.1f)  ratio to bf16 %.4f\n", width, names[mi].c_str(),
                med * 1000, ms[mi][0] * 1000, med / base);
  }
}

// Interleaved rounds: for each round, each mode in turn runs once (run(mi), `reps` chains,
// timed on stream_of(mi)); the first two rounds are warm-up. Returns ms per chain, per mode.
template <typename StreamOf, typename Run>
std::vector<std::vector<float>> ChainRounds(size_t modes, int rounds, int reps, StreamOf&& stream_of,
                                            Run&& run) {
  cudaEvent_t t0, t1;
  CK(cudaEventCreate(&t0));
  CK(cudaEventCreate(&t1));
  std::vector<std::vector<float>> ms(modes);
  for (int r = 0; r < rounds + 2; ++r) {
    for (size_t mi = 0; mi < modes; ++mi) {
      const cudaStream_t s = stream_of(mi);
      CK(cudaDeviceSynchronize());
      CK(cudaEventRecord(t0, s));
      run(mi);
      CK(cudaEventRecord(t1, s));
      CK(cudaEventSynchronize(t1));
      float t = 0;
      CK(cudaEventElapsedTime(&t, t0, t1));
      if (r >= 2) ms[mi].push_back(t / reps);
    }
  }
  CK(cudaEventDestroy(t0));
  CK(cudaEventDestroy(t1));
  return ms;
}
