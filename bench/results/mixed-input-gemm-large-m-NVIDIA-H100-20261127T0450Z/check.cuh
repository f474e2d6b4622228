// Shared by every program in this folder (experiments, not in the tree): the CUDA error check
// and random bf16 data.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#define CK(x)                                                                         \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      std::printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

// n bf16 values uniform in [-scale, scale), as raw bits.
inline std::vector<uint16_t> RandomBf16Host(size_t n, float scale, std::mt19937& rng) {
  std::vector<uint16_t> h(n);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (auto& v : h) {
    float f = u(rng);
    uint32_t b;
    std::memcpy(&b, &f, 4);
    v = uint16_t(b >> 16);
  }
  return h;
}
