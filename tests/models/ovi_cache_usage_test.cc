// File: tests/models/ovi_cache_usage_test.cc
// OviLayerUsage: the token counts and call rates the cache planner ranks Ovi's layers by.
#include "engine/models/ovi/ovi_cache_usage.h"

#include <gtest/gtest.h>

namespace ovid::ovi {
namespace {

OviModelSpec Spec(const char* variant) {
  OviModelSpec spec;
  spec.variant = variant;
  spec.text_len = 512;
  return spec;
}

TEST(OviCacheUsageTest, TokensPerLayerFollowTheTowerAndTheVariant) {
  const OviModelSpec five = Spec("720x720_5s");
  // 31 latent frames x (720/32)^2 rounded down: the video tower runs at ~15,000 tokens.
  const LayerUsage v = OviLayerUsage(five, "video_model.blocks.3.self_attn.q.weight");
  EXPECT_GT(v.tokens, 15000);
  EXPECT_LT(v.tokens, 16000);
  EXPECT_EQ(v.calls_per_step, 2);
  EXPECT_EQ(OviLayerUsage(five, "video_model.blocks.0.ffn.2.weight").tokens, v.tokens);
  EXPECT_EQ(OviLayerUsage(five, "video_model.head.head.weight").tokens, v.tokens);
  // The audio tower at 157 tokens; each tower's fusion k/v at the other tower's count.
  EXPECT_EQ(OviLayerUsage(five, "audio_model.blocks.29.cross_attn.o.weight").tokens, 157);
  EXPECT_EQ(OviLayerUsage(five, "video_model.blocks.1.cross_attn.k_fusion.weight").tokens, 157);
  EXPECT_EQ(OviLayerUsage(five, "audio_model.blocks.1.cross_attn.v_fusion.weight").tokens,
            v.tokens);
  // The 10 s variant doubles the audio.
  EXPECT_EQ(OviLayerUsage(Spec("960x960_10s"), "audio_model.blocks.0.ffn.0.weight").tokens, 314);
  // The FFN's first layer feeds the tanh-GELU; the dispatch times it with it, and only it.
  EXPECT_TRUE(OviLayerUsage(five, "audio_model.blocks.0.ffn.0.weight").gelu);
  EXPECT_FALSE(OviLayerUsage(five, "video_model.blocks.0.ffn.2.weight").gelu);
  EXPECT_FALSE(OviLayerUsage(five, "video_model.blocks.3.self_attn.q.weight").gelu);
}

TEST(OviCacheUsageTest, TextLayersCountOncePerRequest) {
  const OviModelSpec spec = Spec("720x720_5s");
  for (const char* name :
       {"video_model.blocks.2.cross_attn.k.weight", "audio_model.blocks.2.cross_attn.v.weight",
        "video_model.text_embedding.0.weight"}) {
    const LayerUsage u = OviLayerUsage(spec, name);
    EXPECT_EQ(u.tokens, 512) << name;
    EXPECT_LT(u.calls_per_step, 0.1) << name;  // 2 text inputs over 50 steps
    EXPECT_GT(u.calls_per_step, 0) << name;
  }
  EXPECT_EQ(OviLayerUsage(spec, "audio_model.time_projection.1.weight").tokens, 1);
  // Not a denoiser tensor: the planner's default.
  const LayerUsage other = OviLayerUsage(spec, "encoder.block.0.layer.0.weight");
  EXPECT_EQ(other.tokens, 0);
  EXPECT_EQ(other.calls_per_step, 1);
}

TEST(OviCacheUsageTest, BatchedGuidanceRunsAPassLayerOnceAtTwiceTheRows) {
  const OviModelSpec spec = Spec("720x720_5s");
  for (const char* name :
       {"audio_model.blocks.0.self_attn.q.weight",
        "video_model.blocks.1.cross_attn.k_fusion.weight", "audio_model.time_projection.1.weight",
        "audio_model.blocks.0.ffn.0.weight"}) {
    const LayerUsage apart = OviLayerUsage(spec, name);
    const LayerUsage batched = OviLayerUsage(spec, name, /*guidance_batched=*/true);
    EXPECT_EQ(batched.tokens, apart.tokens) << name;  // the dispatch is measured per pass too
    EXPECT_EQ(batched.gelu, apart.gelu) << name;
    EXPECT_EQ(StepCallsOf(apart).tokens, apart.tokens) << name;
    EXPECT_EQ(StepCallsOf(apart).calls, 2) << name;
    EXPECT_EQ(StepCallsOf(batched).tokens, 2 * apart.tokens) << name;
    EXPECT_EQ(StepCallsOf(batched).calls, 1) << name;
  }
  EXPECT_EQ(
      StepCallsOf(OviLayerUsage(spec, "audio_model.blocks.0.self_attn.q.weight", true)).tokens,
      314);
  // The text k/v are computed per text input, batched guidance or not.
  const LayerUsage text = OviLayerUsage(spec, "video_model.blocks.2.cross_attn.k.weight", true);
  EXPECT_FALSE(text.passes_in_one_call);
  EXPECT_EQ(StepCallsOf(text).tokens, 512);
  EXPECT_LT(StepCallsOf(text).calls, 0.1);
}

}  // namespace
}  // namespace ovid::ovi
