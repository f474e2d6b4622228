// File: tests/kernels/fp16_test.cc
// The fp32 <-> f16/bf16 conversions: exhaustive over all 65536 half and bf16 bit patterns, the
// rounding corner cases by value, and the branch-free bulk versions against the scalar ones.
#include "kernels/fp16.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"
#include "kernels/cpu/float_convert.h"

namespace ovid {
namespace {

// Independent decoding of a binary16 pattern by its definition.
double HalfValue(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return sign ? -v : v;
}

// Independent RNE fp32 -> f16 value in double (finite inputs): pick the grid step of the
// target binade and round with the FPU's default nearest-even mode.
double RoundToHalfValue(float f) {
  const double v = std::fabs(static_cast<double>(f));
  if (v >= 65520.0) return std::copysign(INFINITY, f);
  int e = v == 0 ? -14 : std::ilogb(v);
  if (e < -14) e = -14;
  const double step = std::ldexp(1.0, e - 10);
  return std::copysign(std::nearbyint(v / step) * step, f);
}

TEST(Fp16Test, EveryHalfDecodesExactlyAndRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    const int exp = (h >> 10) & 31;
    if (exp == 31 && (h & 1023) != 0) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
      EXPECT_EQ(FloatToHalf(f), (h & 0x8000) | 0x7e00) << std::hex << h;  // canonical quiet NaN
      continue;
    }
    if (exp == 31) {
      EXPECT_TRUE(std::isinf(f)) << std::hex << h;
    } else {
      EXPECT_EQ(static_cast<double>(f), HalfValue(static_cast<uint16_t>(h))) << std::hex << h;
    }
    EXPECT_EQ(FloatToHalf(f), h) << std::hex << h;
    EXPECT_EQ(FloatToHalfBranchless(f), h) << std::hex << h;
  }
}

TEST(Fp16Test, RoundsToNearestEvenAtTies) {
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie, 1.0 is even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, rounds up to even
  EXPECT_EQ(FloatToHalf(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3c01);
  EXPECT_EQ(FloatToHalf(-1.0f - std::ldexp(1.0f, -11)), 0xbc00);
  // 2047.5 .. 2048: the top of a binade rounding into the next exponent.
  EXPECT_EQ(FloatToHalf(2047.5f), 0x6800);  // 2048
}

TEST(Fp16Test, SubnormalsAndUnderflow) {
  const float tiny = std::ldexp(1.0f, -24);  // the smallest subnormal half
  EXPECT_EQ(FloatToHalf(tiny), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 1: even is 0
  EXPECT_EQ(FloatToHalf(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(3 * std::ldexp(1.0f, -25)), 0x0002);  // 1.5 steps: tie to even 2
  EXPECT_EQ(FloatToHalf(5 * std::ldexp(1.0f, -25)), 0x0002);  // 2.5 steps: tie to even 2
  EXPECT_EQ(FloatToHalf(-std::ldexp(1.0f, -30)), 0x8000);     // underflow keeps the sign
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.5f, -24)), 0x0400);   // rounds up into the normals
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(Fp16Test, OverflowInfinityAndNan) {
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // the tie above the largest half goes to Inf
  EXPECT_EQ(FloatToHalf(-1e9f), 0xfc00);
  EXPECT_EQ(FloatToHalf(INFINITY), 0x7c00);
  EXPECT_EQ(FloatToHalf(-INFINITY), 0xfc00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_EQ(FloatToHalf(BitsToFloat(0xff800001u)), 0xfe00);  // signalling NaN -> quiet, signed
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
}

TEST(Fp16Test, RoundingMatchesIndependentReferenceOnSampledFloats) {
  // Every 257th bit pattern (odd stride: all mantissa residues get hit) across all floats.
  for (uint64_t u = 0; u <= 0xffffffffull; u += 257) {
    const float f = BitsToFloat(static_cast<uint32_t>(u));
    const uint16_t h = FloatToHalf(f);
    ASSERT_EQ(FloatToHalfBranchless(f), h) << std::hex << u;
    if (std::isnan(f)) {
      ASSERT_EQ(h & 0x7fff, 0x7e00) << std::hex << u;
      continue;
    }
    const double want = RoundToHalfValue(f);
    const double got =
        std::isinf(HalfToFloat(h)) ? std::copysign(INFINITY, HalfToFloat(h)) : HalfValue(h);
    ASSERT_EQ(got, want) << std::hex << u;
    ASSERT_EQ(std::signbit(HalfToFloat(h)), std::signbit(f)) << std::hex << u;
  }
}

TEST(Bf16Test, EveryBf16RoundTrips) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(b));
    EXPECT_EQ(FloatBits(f), b << 16);
    if (std::isnan(f)) {
      EXPECT_EQ(FloatToBf16(f), b | 0x40) << std::hex << b;  // quiet bit forced
    } else {
      EXPECT_EQ(FloatToBf16(f), b) << std::hex << b;
    }
  }
}

TEST(Bf16Test, RoundsToNearestEvenAndKeepsNan) {
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f808001u)), 0x3f81);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f807fffu)), 0x3f80);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x7f7fffffu)), 0x7f80);  // overflow rounds to Inf
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x7f800001u)), 0x7fc0);  // sNaN whose payload is low bits
  EXPECT_EQ(FloatToBf16(BitsToFloat(0xffc00000u)), 0xffc0);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x00008000u)), 0x0000);  // subnormal tie to even 0
}

TEST(BulkConvertTest, MatchesScalarOnSampledFloats) {
  float in[4096];
  uint16_t out[4096];
  for (uint64_t base = 0; base <= 0xffffffffull; base += 4096ull * 263) {
    for (int i = 0; i < 4096; ++i) in[i] = BitsToFloat(static_cast<uint32_t>(base + 263ull * i));
    FloatsToBf16s(in, out, 4096);  // AVX2 or SSE2 on x86-64
    for (int i = 0; i < 4096; ++i) ASSERT_EQ(out[i], FloatToBf16(in[i])) << FloatBits(in[i]);
    FloatsToBf16sPortable(in, out, 4096);
    for (int i = 0; i < 4096; ++i) ASSERT_EQ(out[i], FloatToBf16(in[i])) << FloatBits(in[i]);
#if defined(__x86_64__)
    FloatsToBf16sSse2(in, out, 4093);
    for (int i = 0; i < 4093; ++i) ASSERT_EQ(out[i], FloatToBf16(in[i])) << FloatBits(in[i]);
#endif
    FloatsToBf16s(in + 3, out, 4091);
    for (int i = 0; i < 4091; ++i) ASSERT_EQ(out[i], FloatToBf16(in[i + 3])) << FloatBits(in[i]);
    FloatsToHalves(in, out, 4096);  // the F16C path where the CPU has it
    for (int i = 0; i < 4096; ++i) ASSERT_EQ(out[i], FloatToHalf(in[i])) << FloatBits(in[i]);
    FloatsToHalvesPortable(in, out, 4096);
    for (int i = 0; i < 4096; ++i) ASSERT_EQ(out[i], FloatToHalf(in[i])) << FloatBits(in[i]);
    FloatsToHalves(in + 1, out, 4093);  // unaligned start, a tail shorter than one vector
    for (int i = 0; i < 4093; ++i) ASSERT_EQ(out[i], FloatToHalf(in[i + 1])) << FloatBits(in[i]);
  }
}

}  // namespace
}  // namespace ovid
