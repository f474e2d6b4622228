// The stateless pieces of the Ovi model against direct formulas: RoPE band split and tables,
// the rotation, the cos-first sinusoidal embedding and the first-frame modulation split.
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/tensor.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/models/ovi/ovi_layers.h"
#include "engine/models/ovi/ovi_rope.h"
#include "tests/engine/engine_test_util.h"

namespace ovid::ovi {
namespace {

using ::ovid::testing::RandomInput;

double Freq(int64_t k, int64_t channels) {  // theta^(-2k/channels)
  return std::pow(10000.0, -2.0 * static_cast<double>(k) / static_cast<double>(channels));
}

TEST(OviRopeTest, SplitMatchesFormula) {
  const RopeSplit s = SplitRopeDims(128);
  EXPECT_EQ(s.t, 44);  // 22 / 21 / 21 pairs
  EXPECT_EQ(s.h, 42);
  EXPECT_EQ(s.w, 42);
  const RopeSplit s64 = SplitRopeDims(64);
  EXPECT_EQ(s64.t, 24);
  EXPECT_EQ(s64.h, 20);
  EXPECT_EQ(s64.t + s64.h + s64.w, 64);
}

TEST(OviRopeTest, VideoTableMatchesDirectFormula) {
  const int64_t f = 3, h = 2, w = 4, d = 128;
  const RopeTable t = VideoRopeTable(f, h, w, d, at::kDouble, c10::kCPU);
  ASSERT_EQ(t.cos.sizes(), (at::IntArrayRef{f * h * w, d / 2}));
  const auto cos = t.cos.accessor<double, 2>();
  const auto sin = t.sin.accessor<double, 2>();
  for (int64_t fi = 0; fi < f; ++fi) {
    for (int64_t hi = 0; hi < h; ++hi) {
      for (int64_t wi = 0; wi < w; ++wi) {
        const int64_t token = (fi * h + hi) * w + wi;
        for (int64_t k = 0; k < d / 2; ++k) {
          const double angle = k < 22   ? fi * Freq(k, 44)
                               : k < 43 ? hi * Freq(k - 22, 42)
                                        : wi * Freq(k - 43, 42);
          ASSERT_NEAR(cos[token][k], std::cos(angle), 1e-12) << token << " " << k;
          ASSERT_NEAR(sin[token][k], std::sin(angle), 1e-12) << token << " " << k;
        }
      }
    }
  }
}

TEST(OviRopeTest, AudioTableRotatesOnlyTheTemporalBand) {
  const int64_t l = 6, d = 128;
  const double scale = 0.19676;
  const RopeTable t = AudioRopeTable(l, d, scale, at::kDouble, c10::kCPU);
  const auto cos = t.cos.accessor<double, 2>();
  const auto sin = t.sin.accessor<double, 2>();
  for (int64_t p = 0; p < l; ++p) {
    for (int64_t k = 0; k < d / 2; ++k) {
      const double angle = k < 22 ? p * scale * Freq(k, 44) : 0.0;
      ASSERT_NEAR(cos[p][k], std::cos(angle), 1e-12);
      ASSERT_NEAR(sin[p][k], std::sin(angle), 1e-12);
    }
  }
}

TEST(OviRopeTest, ApplyRotatesInterleavedPairs) {
  const int64_t l = 5, heads = 2, d = 128;
  const at::Tensor x = RandomInput({1, l, heads, d}, at::kDouble, c10::kCPU, 3);  // [1, L, 2, d]
  const RopeTable t = AudioRopeTable(l, d, 0.5, at::kDouble, c10::kCPU);
  const at::Tensor y = ApplyRope(x, t);  // [1, L, 2, d]
  const auto xa = x.accessor<double, 4>();
  const auto ya = y.accessor<double, 4>();
  const auto c = t.cos.accessor<double, 2>();
  const auto s = t.sin.accessor<double, 2>();
  for (int64_t p = 0; p < l; ++p) {
    for (int64_t n = 0; n < heads; ++n) {
      for (int64_t k = 0; k < d / 2; ++k) {
        const double re = xa[0][p][n][2 * k], im = xa[0][p][n][2 * k + 1];
        ASSERT_NEAR(ya[0][p][n][2 * k], re * c[p][k] - im * s[p][k], 1e-12);
        ASSERT_NEAR(ya[0][p][n][2 * k + 1], re * s[p][k] + im * c[p][k], 1e-12);
      }
    }
  }
}

TEST(OviRopeTest, CacheReturnsTheSameTable) {
  RopeCache cache;
  const RopeTable a = cache.Video(2, 2, 3, 128, at::kFloat, c10::kCPU);
  const RopeTable b = cache.Video(2, 2, 3, 128, at::kFloat, c10::kCPU);
  EXPECT_TRUE(a.cos.is_same(b.cos));
  const RopeTable direct = VideoRopeTable(2, 2, 3, 128, at::kFloat, c10::kCPU);
  EXPECT_TRUE(at::equal(a.sin, direct.sin));
}

TEST(OviRopeTest, CacheKeepsOnlyTheMostRecentlyUsedTables) {
  RopeCache cache;
  const RopeTable first = cache.Video(1, 2, 2, 128, at::kFloat, c10::kCPU);
  for (int64_t f = 2; f <= static_cast<int64_t>(RopeCache::kMaxTables) + 3; ++f) {
    cache.Video(f, 2, 2, 128, at::kFloat, c10::kCPU);
    EXPECT_LE(cache.size(), RopeCache::kMaxTables);
  }
  EXPECT_EQ(cache.size(), RopeCache::kMaxTables);
  // The first table was evicted: asking again builds a new one (equal values, new storage),
  // while the caller's copy stays valid.
  const RopeTable again = cache.Video(1, 2, 2, 128, at::kFloat, c10::kCPU);
  EXPECT_NE(again.cos.data_ptr(), first.cos.data_ptr());
  EXPECT_TRUE(at::equal(again.cos, first.cos));
  // A recently used table survives the next insertion.
  const RopeTable recent = cache.Video(1, 2, 2, 128, at::kFloat, c10::kCPU);
  cache.Audio(7, 128, 0.5, at::kFloat, c10::kCPU);
  EXPECT_EQ(cache.Video(1, 2, 2, 128, at::kFloat, c10::kCPU).cos.data_ptr(), recent.cos.data_ptr());
}

TEST(OviSinusoidalTest, CosFirstInFp64) {
  const double ts[] = {0.0, 3.5, 999.0};
  const at::Tensor t = at::tensor(at::ArrayRef<double>(ts, 3));   // [3]
  const at::Tensor e = SinusoidalEmbedding(t, 256, at::kDouble);  // [3, 256]
  ASSERT_EQ(e.sizes(), (at::IntArrayRef{3, 256}));
  const auto a = e.accessor<double, 2>();
  for (int b = 0; b < 3; ++b) {
    for (int k = 0; k < 128; ++k) {
      const double arg = ts[b] * std::pow(10000.0, -static_cast<double>(k) / 128.0);
      ASSERT_NEAR(a[b][k], std::cos(arg), 1e-12) << b << " " << k;
      ASSERT_NEAR(a[b][128 + k], std::sin(arg), 1e-12) << b << " " << k;
    }
  }
}

TEST(OviModulationTest, FirstFrameTokensUseTheCleanRows) {
  const int64_t l = 10, d = 8, n0 = 4;
  const at::Tensor rows = RandomInput({1, 6, d}, at::kFloat, c10::kCPU, 1);   // [1, 6, D]
  const at::Tensor clean = RandomInput({1, 6, d}, at::kFloat, c10::kCPU, 2);  // [1, 6, D]
  const at::Tensor x = RandomInput({1, l, d}, at::kFloat, c10::kCPU, 4);      // [1, L, D]
  const Modulation plain{rows, {}, 0};
  const Modulation split{rows, clean, n0};
  const Modulation all_clean{clean, {}, 0};
  const at::Tensor y = split.Affine(x, 3, 4);  // [1, L, D]
  EXPECT_TRUE(at::equal(y.narrow(1, 0, n0), all_clean.Affine(x, 3, 4).narrow(1, 0, n0)));
  EXPECT_TRUE(at::equal(y.narrow(1, n0, l - n0), plain.Affine(x, 3, 4).narrow(1, n0, l - n0)));
  const at::Tensor g = split.Gate(x, 5);  // [1, L, D]
  EXPECT_TRUE(at::equal(g.narrow(1, 0, n0), all_clean.Gate(x, 5).narrow(1, 0, n0)));
  EXPECT_TRUE(at::equal(g.narrow(1, n0, l - n0), plain.Gate(x, 5).narrow(1, n0, l - n0)));
  // x * (1 + scale) + shift, row by row.
  const at::Tensor want = x.mul(rows.narrow(1, 4, 1).add(1)).add(rows.narrow(1, 3, 1));
  EXPECT_TRUE(at::allclose(plain.Affine(x, 3, 4), want));
}

}  // namespace
}  // namespace ovid::ovi
