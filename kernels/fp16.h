// File: kernels/fp16.h
// Exact conversions between fp32 and the two 16-bit float formats, usable on host and device.
// Integer-only so the result never depends on compiler flags, FTZ/DAZ modes or F16C support:
// dequantization is bit-exact with ggml only if every rounding here is round-to-nearest-even.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define OVID_HD __host__ __device__ __forceinline__
#else
#define OVID_HD inline
#endif

namespace ovid {

OVID_HD uint32_t FloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

OVID_HD float BitsToFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

// IEEE binary16 -> fp32, exact (every half is representable in fp32).
OVID_HD float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return BitsToFloat(sign);
    // Subnormal half: normalise the mantissa into an fp32 normal.
    uint32_t e = 0;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      ++e;
    }
    return BitsToFloat(sign | ((113u - e) << 23) | ((mant & 0x3ffu) << 13));
  }
  if (exp == 31) return BitsToFloat(sign | 0x7f800000u | (mant << 13));  // Inf / NaN
  return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
}

// fp32 -> IEEE binary16, round to nearest even, overflow to Inf.
OVID_HD uint16_t FloatToHalf(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  // NaN becomes the canonical quiet NaN (sign kept), exactly what ggml's FP32_TO_FP16 stores,
  // so quantized blocks of NaN input match ggml byte for byte.
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 -> Inf
  if (abs < 0x38800000u) {  // below the smallest normal half (2^-14)
    if (abs <= 0x33000000u) return static_cast<uint16_t>(sign);  // <= 2^-25 rounds to zero
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t k = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (k & 1u))) ++k;
    return static_cast<uint16_t>(sign | k);
  }
  const uint32_t r = abs - (112u << 23);
  uint32_t k = r >> 13;
  const uint32_t rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (k & 1u))) ++k;
  return static_cast<uint16_t>(sign | k);
}

OVID_HD float Bf16ToFloat(uint16_t b) { return BitsToFloat(static_cast<uint32_t>(b) << 16); }

// fp32 -> bfloat16, round to nearest even; NaN stays NaN (quiet bit forced, as ggml does).
OVID_HD uint16_t FloatToBf16(float f) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace ovid
