// File: tests/kernels/dequantize_test.cc
// CPU dequantization: hand-built blocks per format with values worked out from the spec
// formulas (ggml.md §3), special scales (negative, NaN, Inf, zero), the f16/bf16 outputs,
// selected rows, threading, and the refusals.
#include "kernels/cpu/dequantize.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"

namespace ovid {
namespace {

constexpr uint16_t kHalfOne = 0x3c00;       // 1.0
constexpr uint16_t kHalfHalf = 0x3800;      // 0.5
constexpr uint16_t kHalfMinusTwo = 0xc000;  // -2.0
constexpr uint16_t kHalfQuarter = 0x3400;   // 0.25
constexpr uint16_t kHalfNan = 0x7e00;
constexpr uint16_t kHalfInf = 0x7c00;

std::vector<float> Decode(GgmlType type, const void* blocks, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  EXPECT_TRUE(DequantizeRow(type, blocks, out.data(), FloatFormat::kF32, n));
  return out;
}

TEST(DequantizeTest, Q4_0HandBlock) {
  BlockQ4_0 b;
  b.d = kHalfMinusTwo;  // negative scales occur in real files (d = max / -8)
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> y = Decode(GgmlType::kQ4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * -2.0f) << j;       // low nibbles: elements 0..15
    EXPECT_EQ(y[j + 16], (7 - j) * -2.0f) << j;  // high nibbles: 16..31, not interleaved
  }
  EXPECT_EQ(y[0], 16.0f);
  EXPECT_EQ(y[16], -14.0f);
}

TEST(DequantizeTest, Q4_1HandBlock) {
  BlockQ4_1 b;
  b.d = kHalfHalf;
  b.m = kHalfMinusTwo;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (3 << 4));
  const std::vector<float> y = Decode(GgmlType::kQ4_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.5f - 2.0f);
    EXPECT_EQ(y[j + 16], -0.5f);
  }
}

TEST(DequantizeTest, Q5_0AndQ5_1UseTheFifthBitPerElement) {
  BlockQ5_0 b0;
  BlockQ5_1 b1;
  b0.d = b1.d = kHalfOne;
  b1.m = kHalfQuarter;
  const uint32_t qh = 0x80000001u;  // element 0 and element 31 have the 5th bit
  memcpy(b0.qh, &qh, 4);
  memcpy(b1.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b0.qs[j] = b1.qs[j] = static_cast<uint8_t>(0xF0 | (j & 0xF));
  const std::vector<float> y0 = Decode(GgmlType::kQ5_0, &b0, 32);
  const std::vector<float> y1 = Decode(GgmlType::kQ5_1, &b1, 32);
  EXPECT_EQ(y0[0], 0.0f);    // 16 + 0 - 16
  EXPECT_EQ(y0[1], -15.0f);  // 1 - 16
  EXPECT_EQ(y0[16], -1.0f);  // 15 - 16
  EXPECT_EQ(y0[31], 15.0f);  // 31 - 16
  EXPECT_EQ(y1[0], 16.25f);
  EXPECT_EQ(y1[5], 5.25f);
  EXPECT_EQ(y1[31], 31.25f);
  EXPECT_EQ(y1[20], 15.25f);
}

TEST(DequantizeTest, Q8_0HandBlock) {
  BlockQ8_0 b;
  b.d = kHalfQuarter;
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  const std::vector<float> y = Decode(GgmlType::kQ8_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.25f);
}

TEST(DequantizeTest, Q2_KHandBlock) {
  BlockQ2_K b;
  memset(&b, 0, sizeof(b));
  b.d = kHalfHalf;
  b.dmin = kHalfQuarter;
  for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<uint8_t>((k & 0xF) | ((15 - k) << 4));
  // Element i = 128h + 32g + l takes bits 2g.. of qs[32h + l]; give every element q = g.
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) b.qs[32 * h + l] = 0b11100100;  // g=0:0, g=1:1, g=2:2, g=3:3
  }
  const std::vector<float> y = Decode(GgmlType::kQ2_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, g = (i % 128) / 32, l = i % 32;
    const int k = 8 * h + 2 * g + (l >= 16);
    EXPECT_EQ(y[i], 0.5f * k * g - 0.25f * (15 - k)) << i;
  }
  EXPECT_EQ(y[255], 0.5f * 15 * 3 - 0.0f);
}

TEST(DequantizeTest, Q3_KHandBlock) {
  BlockQ3_K b;
  memset(&b, 0, sizeof(b));
  b.d = kHalfHalf;
  // Scale k = k - 8 (6-bit value k + 24): low 4 bits in bytes 0..7, high 2 bits in 8..11.
  for (int k = 0; k < 16; ++k) {
    const int v = k + 24;
    if (k < 8) {
      b.scales[k] |= static_cast<uint8_t>(v & 0xF);
    } else {
      b.scales[k - 8] |= static_cast<uint8_t>((v & 0xF) << 4);
    }
    b.scales[8 + k % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (k / 4)));
  }
  // Low bits q2 = 1 everywhere; the high bit set only for even l (then no -4).
  for (int i = 0; i < 64; ++i) b.qs[i] = 0x55;
  for (int l = 0; l < 32; l += 2) b.hmask[l] = 0xFF;
  const std::vector<float> y = Decode(GgmlType::kQ3_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, g = (i % 128) / 32, l = i % 32;
    const int k = 8 * h + 2 * g + (l >= 16);
    const int q = (l % 2 == 0) ? 1 : -3;
    EXPECT_EQ(y[i], 0.5f * (k - 8) * q) << i;
  }
}

// Packs 6-bit (scale, min) pairs the way Q4_K/Q5_K store them (spec ggml.md §3.2).
void PackK4(const int* sc, const int* m, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

TEST(DequantizeTest, Q4_KAndQ5_KHandBlocks) {
  const int sc[8] = {1, 2, 3, 63, 40, 17, 5, 33};
  const int m[8] = {0, 7, 63, 1, 50, 2, 31, 16};
  BlockQ4_K b4;
  BlockQ5_K b5;
  memset(&b5, 0, sizeof(b5));
  b4.d = b5.d = kHalfHalf;
  b4.dmin = b5.dmin = kHalfQuarter;
  PackK4(sc, m, b4.scales);
  PackK4(sc, m, b5.scales);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      b4.qs[32 * c + l] = b5.qs[32 * c + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
    }
  }
  for (int l = 0; l < 32; ++l) b5.qh[l] = static_cast<uint8_t>(l * 37);  // arbitrary bit mix
  const std::vector<float> y4 = Decode(GgmlType::kQ4_K, &b4, 256);
  const std::vector<float> y5 = Decode(GgmlType::kQ5_K, &b5, 256);
  for (int i = 0; i < 256; ++i) {
    const int c = i / 64, l = i % 32, hi = (i % 64) >= 32, j = 2 * c + hi;
    const int nib = hi ? 15 - l % 16 : l % 16;
    EXPECT_EQ(y4[i], 0.5f * sc[j] * nib - 0.25f * m[j]) << i;
    const int q5 = nib + (((b5.qh[l] >> j) & 1) << 4);
    EXPECT_EQ(y5[i], 0.5f * sc[j] * q5 - 0.25f * m[j]) << i;
  }
}

TEST(DequantizeTest, Q6_KHandBlock) {
  BlockQ6_K b;
  memset(&b, 0, sizeof(b));
  b.d = kHalfQuarter;
  for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<int8_t>(k % 2 ? -k * 8 : k * 8);
  // Give element i the 6-bit code (i * 7) % 64 through the ql/qh layout of spec §3.2.
  std::vector<int> code(256);
  for (int i = 0; i < 256; ++i) {
    code[i] = (i * 7) % 64;
    const int h = i / 128, g = (i % 128) / 32, l = i % 32;
    const int ql_index = 64 * h + l + (g & 1) * 32;
    b.ql[ql_index] |= static_cast<uint8_t>((code[i] & 0xF) << ((g >> 1) * 4));
    b.qh[32 * h + l] |= static_cast<uint8_t>((code[i] >> 4) << (2 * g));
  }
  const std::vector<float> y = Decode(GgmlType::kQ6_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    const int k = i / 16;
    EXPECT_EQ(y[i], 0.25f * b.scales[k] * (code[i] - 32)) << i;
  }
}

TEST(DequantizeTest, F16AndBf16Inputs) {
  const uint16_t halves[4] = {kHalfOne, kHalfMinusTwo, 0x0001, kHalfInf};
  const std::vector<float> y = Decode(GgmlType::kF16, halves, 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[2], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(y[3]));
  const uint16_t bf[2] = {0x3f80, 0xc0a0};
  const std::vector<float> z = Decode(GgmlType::kBF16, bf, 2);
  EXPECT_EQ(z[0], 1.0f);
  EXPECT_EQ(z[1], -5.0f);
}

TEST(DequantizeTest, NanInfAndZeroScalesBehaveLikeIeeeFp32) {
  BlockQ4_1 b;
  b.d = kHalfInf;
  b.m = kHalfOne;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j);  // high nibbles all 0
  std::vector<float> y = Decode(GgmlType::kQ4_1, &b, 32);
  EXPECT_TRUE(std::isnan(y[16]));  // 0 * Inf = NaN, as in ggml
  EXPECT_TRUE(std::isinf(y[1]));
  BlockQ4_K k;
  memset(&k, 0, sizeof(k));
  k.d = kHalfNan;
  y = Decode(GgmlType::kQ4_K, &k, 256);
  for (float v : y) EXPECT_TRUE(std::isnan(v));
  memset(&k, 0, sizeof(k));  // an all-zero block decodes to +0 everywhere
  y = Decode(GgmlType::kQ4_K, &k, 256);
  for (float v : y) EXPECT_EQ(FloatBits(v), 0u);
}

std::vector<uint8_t> RandomBlocks(GgmlType type, int64_t n_blocks, uint32_t seed) {
  const int64_t size = GgmlInfo(type).type_size;
  std::mt19937 rng(seed);
  std::vector<uint8_t> data(static_cast<size_t>(n_blocks * size));
  for (uint8_t& v : data) v = static_cast<uint8_t>(rng());
  // Finite scales only: rewrite every f16 whose exponent is all ones.
  for (int64_t i = 0; i + 1 < static_cast<int64_t>(data.size()); i += 2) {
    if ((data[i + 1] & 0x7c) == 0x7c) data[i + 1] &= 0xbb;
  }
  return data;
}

constexpr GgmlType kAllTypes[] = {
    GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0, GgmlType::kQ4_1,
    GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ2_K, GgmlType::kQ3_K,
    GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};

TEST(DequantizeTest, HalfOutputsAreTheRoundedF32Outputs) {
  for (GgmlType type : kAllTypes) {
    const int64_t bs = GgmlInfo(type).block_size;
    const int64_t n = 40 * 256;
    const std::vector<uint8_t> data = RandomBlocks(type, n / bs, 7);
    std::vector<float> f32(n);
    std::vector<uint16_t> f16(n), bf16(n);
    ASSERT_TRUE(DequantizeRow(type, data.data(), f32.data(), FloatFormat::kF32, n));
    ASSERT_TRUE(DequantizeRow(type, data.data(), f16.data(), FloatFormat::kF16, n));
    ASSERT_TRUE(DequantizeRow(type, data.data(), bf16.data(), FloatFormat::kBF16, n));
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(f16[i], FloatToHalf(f32[i])) << GgmlTypeName(type) << " " << i;
      ASSERT_EQ(bf16[i], FloatToBf16(f32[i])) << GgmlTypeName(type) << " " << i;
    }
  }
}

TEST(DequantizeTest, ThreadedTensorEqualsSingleThreaded) {
  for (GgmlType type : kAllTypes) {
    const int64_t rows = 37, row_elements = 2048;
    const int64_t bs = GgmlInfo(type).block_size;
    const std::vector<uint8_t> data = RandomBlocks(type, rows * row_elements / bs, 11);
    for (FloatFormat fmt : {FloatFormat::kF32, FloatFormat::kF16, FloatFormat::kBF16}) {
      const size_t bytes = static_cast<size_t>(rows * row_elements * FloatFormatBytes(fmt));
      std::vector<uint8_t> one(bytes), many(bytes, 0xAB), per_row(bytes);
      ASSERT_TRUE(DequantizeTensor(type, data.data(), one.data(), fmt, rows, row_elements, 1));
      ASSERT_TRUE(DequantizeTensor(type, data.data(), many.data(), fmt, rows, row_elements, 7));
      EXPECT_EQ(one, many) << GgmlTypeName(type) << " " << FloatFormatName(fmt);
      const int64_t in_row = GgmlRowBytes(type, row_elements);
      const int64_t out_row = row_elements * FloatFormatBytes(fmt);
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_TRUE(DequantizeRow(type, data.data() + r * in_row, per_row.data() + r * out_row, fmt,
                                  row_elements));
      }
      EXPECT_EQ(one, per_row) << GgmlTypeName(type) << " " << FloatFormatName(fmt);
    }
  }
}

TEST(DequantizeTest, SelectedRowsMatchTheFullTensor) {
  const int64_t rows = 20, row_elements = 512;
  const GgmlType type = GgmlType::kQ5_K;
  const std::vector<uint8_t> data = RandomBlocks(type, rows * row_elements / 256, 3);
  std::vector<uint16_t> full(rows * row_elements);
  ASSERT_TRUE(
      DequantizeTensor(type, data.data(), full.data(), FloatFormat::kBF16, rows, row_elements, 2));
  const int64_t ids[5] = {19, 0, 7, 7, 3};
  std::vector<uint16_t> picked(5 * row_elements);
  ASSERT_TRUE(DequantizeRows(type, data.data(), rows, row_elements, ids, 5, picked.data(),
                             FloatFormat::kBF16));
  for (int i = 0; i < 5; ++i) {
    for (int64_t e = 0; e < row_elements; ++e) {
      ASSERT_EQ(picked[i * row_elements + e], full[ids[i] * row_elements + e]) << i << " " << e;
    }
  }
  const int64_t bad[2] = {3, 20};
  std::vector<uint16_t> untouched(2 * row_elements, 0x1234);
  EXPECT_FALSE(DequantizeRows(type, data.data(), rows, row_elements, bad, 2, untouched.data(),
                              FloatFormat::kBF16));
  EXPECT_EQ(untouched[0], 0x1234);  // the range check comes before any write
  const int64_t negative[1] = {-1};
  EXPECT_FALSE(DequantizeRows(type, data.data(), rows, row_elements, negative, 1, untouched.data(),
                              FloatFormat::kBF16));
}

TEST(DequantizeTest, UnsupportedTypesAndShapesReturnFalse) {
  std::vector<uint8_t> src(4096, 0);
  std::vector<float> dst(1024, 42.0f);
  for (uint32_t id : {4u, 9u, 15u, 16u, 20u, 24u, 28u, 39u, 42u, 43u, 1000u}) {
    EXPECT_FALSE(
        DequantizeRow(static_cast<GgmlType>(id), src.data(), dst.data(), FloatFormat::kF32, 256))
        << id;
    EXPECT_FALSE(DequantizeTensor(static_cast<GgmlType>(id), src.data(), dst.data(),
                                  FloatFormat::kF32, 1, 256))
        << id;
  }
  EXPECT_FALSE(DequantizeRow(GgmlType::kQ4_K, src.data(), dst.data(), FloatFormat::kF32, 100));
  EXPECT_FALSE(DequantizeTensor(GgmlType::kQ8_0, src.data(), dst.data(), FloatFormat::kF32, 2, 33));
  EXPECT_EQ(dst[0], 42.0f);
  EXPECT_STREQ(FloatFormatName(FloatFormat::kBF16), "bf16");
}

}  // namespace
}  // namespace ovid
