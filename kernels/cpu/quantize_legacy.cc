// File: kernels/cpu/quantize_legacy.cc
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 following ggml's quantize_row_*_ref (shared spec ggml.md §4.3):
// multiply by id = 1/d (never divide by d), truncate (x*id + 8.5) etc. toward zero, and Q8_0
// rounds half away from zero. The scales are stored RNE to f16 but quantization uses the fp32 d.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/cpu/quant_fit.h"
#include "kernels/cpu/quantize.h"
#include "kernels/fp16.h"

namespace ovid {
namespace {

using quant_fit::TruncToInt;

// Signed value of the largest-magnitude element (the first on ties).
float SignedAbsMax(const float* x, int n) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void MinMax(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

// ggml truncates through int8_t and keeps the low byte; MIN(cap, ...) then applies.
inline uint8_t TruncByte(float v) { return static_cast<uint8_t>(TruncToInt(v)); }
inline uint8_t TruncCapped(float v, int cap) {
  const int8_t q = static_cast<int8_t>(TruncToInt(v));
  return static_cast<uint8_t>(q < cap ? q : cap);
}

}  // namespace

void QuantizeQ4_0(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    const float d = SignedAbsMax(src, kQK) / -8;  // the extreme value maps to q = 0
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = TruncCapped(src[j] * id + 8.5f, 15);
      const uint8_t hi = TruncCapped(src[j + kQK / 2] * id + 8.5f, 15);
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void QuantizeQ4_1(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    float min, max;
    MinMax(src, kQK, &min, &max);
    const float d = (max - min) / 15;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    y[i].m = FloatToHalf(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = TruncCapped((src[j] - min) * id + 0.5f, 15);
      const uint8_t hi = TruncCapped((src[j + kQK / 2] - min) * id + 0.5f, 15);
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void QuantizeQ5_0(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    const float d = SignedAbsMax(src, kQK) / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = TruncCapped(src[j] * id + 16.5f, 31);
      const uint8_t hi = TruncCapped(src[j + kQK / 2] * id + 16.5f, 31);
      y[i].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + kQK / 2);
    }
    memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

void QuantizeQ5_1(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    float min, max;
    MinMax(src, kQK, &min, &max);
    const float d = (max - min) / 31;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    y[i].m = FloatToHalf(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      // No cap here (ggml has none): (max - min) * id + 0.5 stays below 32 for finite input.
      const uint8_t lo = TruncByte((src[j] - min) * id + 0.5f);
      const uint8_t hi = TruncByte((src[j + kQK / 2] - min) * id + 0.5f);
      y[i].qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + kQK / 2);
    }
    memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

void QuantizeQ8_0(const float* src, void* dst, int64_t n_blocks) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n_blocks; ++i, src += kQK) {
    float amax = 0.f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(TruncToInt(std::round(src[j] * id)));  // half away from 0
    }
  }
}

}  // namespace ovid
