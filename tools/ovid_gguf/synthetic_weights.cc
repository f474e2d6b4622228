#include "tools/ovid_gguf/synthetic_weights.h"

#include <cmath>

namespace ovid::tools {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the name
  for (char c : tensor_name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return SplitMix64(SplitMix64(seed) ^ h);
}

void FillNormal(uint64_t key, int64_t first, int64_t n, float mean, float stddev, float* dst) {
  constexpr float kTwoPi = 6.28318530717958647692f;
  constexpr float kInv2Pow24 = 1.0f / 16777216.0f;
  int64_t i = 0;
  while (i < n) {
    const int64_t element = first + i;
    const uint64_t r = SplitMix64(key + static_cast<uint64_t>(element >> 1));
    const float u1 = static_cast<float>((r >> 40) + 1) * kInv2Pow24;  // (0, 1]: log is finite
    const float u2 = static_cast<float>(r & 0xFFFFFF) * kInv2Pow24;
    const float radius = std::sqrt(-2.0f * std::log(u1));
    const float angle = kTwoPi * u2;
    const float z0 = radius * std::cos(angle);
    const float z1 = radius * std::sin(angle);
    if ((element & 1) == 0) {
      dst[i++] = mean + stddev * z0;
      if (i < n) dst[i++] = mean + stddev * z1;
    } else {
      dst[i++] = mean + stddev * z1;
    }
  }
}

Distribution DistributionFor(const ovi::OviTensor& tensor, int64_t model_dim) {
  switch (tensor.role) {
    case ovi::OviRole::kLinearWeight:
    case ovi::OviRole::kConvWeight:
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(tensor.FanIn()))};
    case ovi::OviRole::kModulation:
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(model_dim))};
    case ovi::OviRole::kNormWeight:
      return {1.0f, 0.02f};
    case ovi::OviRole::kNormBias:
    case ovi::OviRole::kLinearBias:
      return {0.0f, 0.02f};
  }
  return {0.0f, 0.02f};
}

}  // namespace ovid::tools
