// The quantization mixes, the per-tensor type rule (plain and --rules ovi), the synthetic
// weight generator and the tensor-name suggestions of ovid-gguf.
#include "tools/ovid_gguf/quant_rules.h"

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "engine/models/ovi/ovi_layout.h"
#include "gtest/gtest.h"
#include "tools/ovid_gguf/name_suggest.h"
#include "tools/ovid_gguf/synthetic_weights.h"

namespace ovid::tools {
namespace {

QuantMix Mix(const char* name) {
  absl::StatusOr<QuantMix> mix = FindQuantMix(name);
  EXPECT_TRUE(mix.ok()) << mix.status();
  return *mix;
}

TEST(QuantMixTest, LooksUpMixesAndTypesCaseInsensitively) {
  EXPECT_EQ(Mix("q4_k_m").base, GgmlType::kQ4_K);
  EXPECT_EQ(Mix("Q4_K_M").sensitive, GgmlType::kQ6_K);
  EXPECT_EQ(Mix("Q4_K_M").file_type, 15u);
  EXPECT_EQ(Mix("Q8_0").file_type, 7u);
  EXPECT_EQ(Mix("bf16").file_type, 32u);
  EXPECT_EQ(Mix("Q3_K_L").sensitive, GgmlType::kQ5_K);
  EXPECT_EQ(Mix("Q2_K").base, GgmlType::kQ2_K);
  for (const QuantMix& m : QuantMixes()) {
    EXPECT_TRUE(GgmlInfo(m.base).quantizable) << m.name;
    EXPECT_TRUE(GgmlInfo(m.sensitive).quantizable) << m.name;
    // A mix never puts the sensitive weights below the others.
    EXPECT_GE(GgmlInfo(m.sensitive).type_size * GgmlInfo(m.base).block_size,
              GgmlInfo(m.base).type_size * GgmlInfo(m.sensitive).block_size)
        << m.name;
  }
}

TEST(QuantMixTest, UnknownNameListsTheValidOnes) {
  absl::StatusOr<QuantMix> mix = FindQuantMix("Q4_K_X");
  ASSERT_FALSE(mix.ok());
  const std::string msg(mix.status().message());
  EXPECT_NE(msg.find("'Q4_K_X'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Q4_K_M"), std::string::npos) << msg;
  EXPECT_FALSE(ParseQuantRules(std::string("llama")).ok());
  EXPECT_EQ(*ParseQuantRules(std::nullopt), QuantRules::kNone);
  EXPECT_EQ(*ParseQuantRules(std::string("ovi")), QuantRules::kOvi);
}

TEST(QuantRuleTest, WithoutRulesEverySuitable2DFloatTensorIsConverted) {
  const QuantMix m = Mix("Q4_K_M");
  using T = GgmlType;
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kNone, "anything", T::kF32, {256, 4}), T::kQ4_K);
  // The name bump belongs to the Ovi rules only.
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kNone, "video_model.blocks.0.ffn.2.weight", T::kBF16,
                             {512, 256}),
            T::kQ4_K);
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kNone, "x", T::kF16, {100, 4}), T::kF16);     // row 100
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kNone, "x", T::kF32, {256}), T::kF32);        // 1-D
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kNone, "x", T::kF32, {256, 2, 2}), T::kF32);  // 3-D
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kNone, "x", T::kQ8_0, {256, 2}), T::kQ8_0);
  EXPECT_EQ(ChooseTensorType(Mix("Q8_0"), QuantRules::kNone, "x", T::kF32, {96, 2}), T::kQ8_0);
  EXPECT_EQ(ChooseTensorType(Mix("F16"), QuantRules::kNone, "x", T::kBF16, {7, 3}), T::kF16);
}

TEST(QuantRuleTest, OviRulesQuantizeOnlyBlockLinearWeights) {
  using T = GgmlType;
  const QuantMix m = Mix("Q4_K_M");
  int q4 = 0, q6 = 0, kept = 0;
  for (const ovi::OviTensor& t : ovi::BuildOviLayout(ovi::OviFullConfig())) {
    const std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    const T type = ChooseTensorType(m, QuantRules::kOvi, t.name, T::kBF16, ne);
    const bool block_linear =
        t.part == ovi::OviPart::kBlock && t.role == ovi::OviRole::kLinearWeight;
    if (!block_linear) {
      EXPECT_EQ(type, T::kBF16) << t.name;
      ++kept;
    } else if (t.name.ends_with(".v.weight") || t.name.ends_with(".ffn.2.weight")) {
      EXPECT_EQ(type, T::kQ6_K) << t.name;
      ++q6;
    } else {
      EXPECT_EQ(type, T::kQ4_K) << t.name;
      ++q4;
    }
  }
  EXPECT_EQ(q6, 3 * 60);  // self_attn.v, cross_attn.v, ffn.2 in 60 blocks (v_fusion is not .v.)
  EXPECT_EQ(q4, 9 * 60);
  EXPECT_EQ(kept, 2073 - 12 * 60);
  // Keys that are not Ovi's stay as they are under the Ovi rules.
  EXPECT_EQ(ChooseTensorType(m, QuantRules::kOvi, "blocks.0.ffn.0.weight", T::kF32, {256, 8}),
            T::kF32);
  EXPECT_EQ(ChooseTensorType(Mix("Q5_K_S"), QuantRules::kOvi,
                             "audio_model.blocks.3.self_attn.v.weight", T::kF32, {256, 256}),
            T::kQ5_K);
}

TEST(SyntheticWeightsTest, DeterministicAndIndependentOfTheSplit) {
  const uint64_t key = TensorStreamKey(7, "video_model.blocks.0.ffn.0.weight");
  EXPECT_NE(key, TensorStreamKey(8, "video_model.blocks.0.ffn.0.weight"));
  EXPECT_NE(key, TensorStreamKey(7, "video_model.blocks.0.ffn.2.weight"));
  std::vector<float> whole(1001), parts(1001);
  FillNormal(key, 0, 1001, 0.0f, 1.0f, whole.data());
  // Odd split points: a pair of Box-Muller values straddles each boundary.
  FillNormal(key, 0, 333, 0.0f, 1.0f, parts.data());
  FillNormal(key, 333, 1, 0.0f, 1.0f, parts.data() + 333);
  FillNormal(key, 334, 667, 0.0f, 1.0f, parts.data() + 334);
  EXPECT_EQ(whole, parts);
}

TEST(SyntheticWeightsTest, MomentsMatchTheRequestedDistribution) {
  std::vector<float> x(1 << 18);
  FillNormal(TensorStreamKey(1, "t"), 0, static_cast<int64_t>(x.size()), 1.0f, 0.5f, x.data());
  double sum = 0, sq = 0;
  for (float v : x) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double mean = sum / x.size();
  const double stddev = std::sqrt(sq / x.size() - mean * mean);
  EXPECT_NEAR(mean, 1.0, 0.005);
  EXPECT_NEAR(stddev, 0.5, 0.005);
}

TEST(SyntheticWeightsTest, ScalePerRole) {
  const ovi::OviConfig c = ovi::OviFullConfig();
  for (const ovi::OviTensor& t : ovi::BuildOviLayout(c)) {
    const Distribution d = DistributionFor(t, c.dim);
    if (t.name == "video_model.blocks.0.ffn.2.weight") {
      EXPECT_FLOAT_EQ(d.stddev, 1.0f / std::sqrt(14336.0f));
    }
    if (t.name == "video_model.patch_embedding.weight") {
      EXPECT_FLOAT_EQ(d.stddev, 1.0f / std::sqrt(192.0f));
    }
    if (t.role == ovi::OviRole::kNormWeight) {
      EXPECT_EQ(d.mean, 1.0f) << t.name;
    }
    if (t.role == ovi::OviRole::kModulation) {
      EXPECT_FLOAT_EQ(d.stddev, 1.0f / std::sqrt(3072.0f)) << t.name;
    }
  }
}

TEST(NameSuggestTest, ClosestNamesFirst) {
  const std::vector<std::string> names = {"a.ffn.0.weight", "a.ffn.2.weight", "b.norm3.bias",
                                          "completely.different"};
  const std::vector<std::string> s = SuggestNames("a.ffn.0.weigth", names);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0], "a.ffn.0.weight");
  EXPECT_EQ(SuggestNames("norm3", names), std::vector<std::string>{"b.norm3.bias"});
  EXPECT_TRUE(SuggestNames("zzzzzzzzzzzzzzzzzzzzzzzzzz", names).empty());
}

}  // namespace
}  // namespace ovid::tools
