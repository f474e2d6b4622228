// File: tests/kernels/quantize_test.cc
// Quantizers: quantize -> dequantize round-trip error per type on several data shapes, exact
// hand cases, zero input, threading, and the refusals. Byte equality with ggml is checked by
// the Python tests (against gguf-py and a numpy port of ggml's reference quantizers).
#include "kernels/cpu/quantize.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/blocks.h"
#include "kernels/cpu/dequantize.h"
#include "kernels/fp16.h"

namespace ovid {
namespace {

struct Bound {
  GgmlType type;
  double max_relative_rmse;  // RMSE of the round trip / RMS of the input, normal data
};

constexpr uint16_t kHalfOneBits = 0x3c00;  // f16 1.0

// Measured (numpy N(0,1), 16384 values, ovid-blocks-cli): Q8_0 0.0054, Q6_K 0.0176,
// Q5_0 0.042, Q5_1 0.038, Q5_K 0.036, Q4_0 0.086, Q4_1 0.077, Q4_K 0.071, Q3_K 0.149,
// Q2_K 0.296, F16 0.0002, BF16 0.0017. The bounds leave ~15% headroom for a different sample;
// a real regression (a wrong scale or code layout) is off by far more.
constexpr Bound kBounds[] = {
    {GgmlType::kQ8_0, 0.0062}, {GgmlType::kQ6_K, 0.020},  {GgmlType::kQ5_0, 0.049},
    {GgmlType::kQ5_1, 0.044},  {GgmlType::kQ5_K, 0.041},  {GgmlType::kQ4_0, 0.099},
    {GgmlType::kQ4_1, 0.089},  {GgmlType::kQ4_K, 0.082},  {GgmlType::kQ3_K, 0.172},
    {GgmlType::kQ2_K, 0.34},   {GgmlType::kF16, 0.00025}, {GgmlType::kBF16, 0.002},
    {GgmlType::kF32, 0.0},
};

std::vector<float> RoundTrip(GgmlType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(GgmlRowBytes(type, n)));
  EXPECT_TRUE(QuantizeRow(type, x.data(), q.data(), n));
  std::vector<float> y(x.size());
  EXPECT_TRUE(DequantizeRow(type, q.data(), y.data(), FloatFormat::kF32, n));
  return y;
}

double RelativeRmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

TEST(QuantizeTest, RoundTripErrorWithinBoundsOnNormalData) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(64 * 256);
  for (float& v : x) v = normal(rng);
  for (const Bound& b : kBounds) {
    const double rel = RelativeRmse(x, RoundTrip(b.type, x));
    EXPECT_LE(rel, b.max_relative_rmse) << GgmlTypeName(b.type);
    if (b.type != GgmlType::kF32) {
      EXPECT_GT(rel, 0.0) << GgmlTypeName(b.type);
    }
  }
}

TEST(QuantizeTest, RoundTripStaysBoundedOnScaledUniformAndOutlierData) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> uniform(-0.02f, 0.05f);  // shifted: exercises mins
  std::vector<float> x(64 * 256);
  for (float& v : x) v = uniform(rng);
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 40.0f;  // sparse outliers
  for (const Bound& b : kBounds) {
    // Outliers stretch each block's range; allow 3x the normal-data bound.
    EXPECT_LE(RelativeRmse(x, RoundTrip(b.type, x)), 3 * b.max_relative_rmse + 1e-6)
        << GgmlTypeName(b.type);
  }
}

TEST(QuantizeTest, ZeroInputGivesZeroBlocksAndZeroOutput) {
  const std::vector<float> x(512, 0.0f);
  for (const Bound& b : kBounds) {
    const std::vector<float> y = RoundTrip(b.type, x);
    for (float v : y) ASSERT_EQ(v, 0.0f) << GgmlTypeName(b.type);
  }
  BlockQ6_K q6;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ6_K, x.data(), &q6, 256));
  const BlockQ6_K zero = {};
  EXPECT_EQ(memcmp(&q6, &zero, sizeof(q6)), 0);  // ggml zeroes an all-zero Q6_K block
}

TEST(QuantizeTest, LegacyHandCases) {
  // Q8_0: amax 127 gives d = 1 exactly, q = roundf(x) (half away from zero).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 16.5f;
  x[31] = 127.0f;
  BlockQ8_0 q8;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ8_0, x.data(), &q8, 32));
  EXPECT_EQ(q8.d, kHalfOneBits);
  EXPECT_EQ(q8.qs[0], -17);  // -16.5 -> -17
  EXPECT_EQ(q8.qs[1], -16);  // -15.5 -> -16
  EXPECT_EQ(q8.qs[17], 1);   // 0.5 -> 1
  EXPECT_EQ(q8.qs[31], 127);
  // Q4_0: the extreme value -8 gives d = 1 and maps to q = 0; the rest truncate x + 8.5.
  for (int j = 0; j < 32; ++j) x[j] = (j % 16) * 0.5f - 4.0f;
  x[5] = -8.0f;
  BlockQ4_0 q4;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_0, x.data(), &q4, 32));
  EXPECT_EQ(q4.d, kHalfOneBits);
  EXPECT_EQ(q4.qs[5] & 0xF, 0);
  EXPECT_EQ(q4.qs[0] & 0xF, 4);  // -4 + 8.5 = 4.5 -> 4
  EXPECT_EQ(q4.qs[1] >> 4, 5);   // x[17] = -3.5: 5.0 -> 5
}

TEST(QuantizeTest, ThreadedTensorEqualsSingleThreaded) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 0.02f);
  const int64_t rows = 9, row_elements = 4096;
  std::vector<float> x(rows * row_elements);
  for (float& v : x) v = normal(rng);
  for (const Bound& b : kBounds) {
    const size_t bytes = static_cast<size_t>(GgmlRowBytes(b.type, row_elements) * rows);
    std::vector<uint8_t> one(bytes), many(bytes, 0xCD);
    ASSERT_TRUE(QuantizeTensor(b.type, x.data(), one.data(), rows, row_elements, 1));
    ASSERT_TRUE(QuantizeTensor(b.type, x.data(), many.data(), rows, row_elements, 5));
    EXPECT_EQ(one, many) << GgmlTypeName(b.type);
  }
}

TEST(QuantizeTest, UnsupportedTypesAndShapesReturnFalse) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> out(4096, 0x5A);
  for (uint32_t id : {4u, 9u, 15u, 16u, 23u, 26u, 39u, 41u, 1000u}) {
    EXPECT_FALSE(QuantizeRow(static_cast<GgmlType>(id), x.data(), out.data(), 256)) << id;
    EXPECT_FALSE(QuantizeTensor(static_cast<GgmlType>(id), x.data(), out.data(), 1, 256)) << id;
  }
  EXPECT_FALSE(QuantizeRow(GgmlType::kQ4_K, x.data(), out.data(), 128));
  EXPECT_FALSE(QuantizeTensor(GgmlType::kQ4_0, x.data(), out.data(), 1, 48));
  EXPECT_EQ(out[0], 0x5A);
}

}  // namespace
}  // namespace ovid
