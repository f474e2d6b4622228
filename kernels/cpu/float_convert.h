// File: kernels/cpu/float_convert.h
// Bulk fp32 -> f16/bf16 rounding for the CPU output path. Same results as FloatToHalf and
// FloatToBf16 in kernels/fp16.h (round to nearest even, overflow to Inf, canonical quiet NaN),
// but written without branches so the compiler vectorises the loops; fp16_test checks the two
// against each other.
#pragma once

#include <cstdint>

#include "kernels/fp16.h"

namespace ovid {

// Branch-free FloatToHalf. The subnormal range uses the classic "+0.5f" trick: adding 0.5 puts
// the value on a grid of 2^-24 (the f16 subnormal step), and the fp32 adder rounds to nearest
// even, which is exactly the f16 rounding. It runs in the default rounding mode; inputs small
// enough to be hit by DAZ round to zero either way.
inline uint16_t FloatToHalfBranchless(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  // Normal halves: rebias the exponent (127 - 15 = 112) and round the 13 dropped bits.
  const uint32_t r = abs - (112u << 23);
  const uint32_t rem = r & 0x1fffu;
  const uint32_t k = r >> 13;
  // Round up iff rem > half, or rem == half and k is odd, i.e. iff rem + (k & 1) > 0x1000;
  // the top bit of the wrapped difference is that test, without a bool GCC cannot vectorise.
  const uint32_t normal = k + ((0x1000u - (rem + (k & 1u))) >> 31);
  const uint32_t sub = FloatBits(BitsToFloat(abs) + 0.5f) - 0x3f000000u;
  // Blend with all-ones/all-zeros masks rather than ?: so GCC sees no control flow (it will not
  // if-convert around a float add under the default -ftrapping-math) and vectorises the loop.
  const uint32_t is_sub = 0u - static_cast<uint32_t>(abs < 0x38800000u);
  const uint32_t is_inf = 0u - static_cast<uint32_t>(abs >= 0x477ff000u);
  const uint32_t is_nan = 0u - static_cast<uint32_t>(abs > 0x7f800000u);
  uint32_t h = (sub & is_sub) | (normal & ~is_sub);
  h = (0x7c00u & is_inf) | (h & ~is_inf);
  h = (0x7e00u & is_nan) | (h & ~is_nan);
  return static_cast<uint16_t>(sign | h);
}

// The portable bulk loop (what FloatsToHalves runs without F16C).
inline void FloatsToHalvesPortable(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = FloatToHalfBranchless(src[i]);
}

// Bulk fp32 -> f16. On x86-64 CPUs with F16C it uses vcvtps2ph (RNE, ~10x faster than the
// SSE2 loop, which must emulate the 32->16 bit pack), patching NaN lanes to the canonical
// quiet NaN; elsewhere FloatsToHalvesPortable. Bit-identical results either way.
void FloatsToHalves(const float* src, uint16_t* dst, int64_t n);

// The portable bulk fp32 -> bf16 loop (FloatToBf16 per element, written branch-free).
inline void FloatsToBf16sPortable(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = FloatBits(src[i]);
    const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    const uint32_t nan = (x >> 16) | 0x40u;
    dst[i] = static_cast<uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

// Bulk fp32 -> bf16. On x86-64 an AVX2 version when the CPU has it, else SSE2 (baseline); both
// narrow with a signed pack, which GCC does not find by itself. Elsewhere
// FloatsToBf16sPortable. Same bits on every path.
void FloatsToBf16s(const float* src, uint16_t* dst, int64_t n);

#if defined(__x86_64__)
// The SSE2 fallback FloatsToBf16s uses on x86-64 CPUs without AVX2 (exposed for its test).
void FloatsToBf16sSse2(const float* src, uint16_t* dst, int64_t n);
#endif

}  // namespace ovid
