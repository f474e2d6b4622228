// The Wan VAE key tables, layout detection, config inference and the all-at-once tensor check
// (engine/models/wan_vae/wan_vae_keys.h), torch-free.
#include "engine/models/wan_vae/wan_vae_keys.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ovid::wan_vae {
namespace {

std::vector<NamedShape> FileTensors(const WanVaeConfig& c, WanVaeLayout layout) {
  const KeyTable* table = *BuiltinKeyTable(layout);
  std::vector<NamedShape> out;
  const std::vector<WanVaeTensor> tensors = *BuildWanVaeLayout(c, *table);
  for (const WanVaeTensor& t : tensors) out.push_back({t.file, t.shape});
  return out;
}

int64_t Elements(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

TEST(WanVaeKeysTest, FullModelMatchesTheSpecCounts) {
  const KeyTable* table = *BuiltinKeyTable(WanVaeLayout::kOriginal);
  const std::vector<WanVaeTensor> layout = *BuildWanVaeLayout(WanVae22Config(), *table);
  // Spec §3.2: 34 CausalConv3d in the decoder, 26 in the encoder (sd.cpp's _conv_num).
  int dec_convs = 0, enc_convs = 0;
  int64_t dec_params = 0, enc_params = 0;
  for (const WanVaeTensor& t : layout) {
    const bool enc = absl::StartsWith(t.logical, "enc.") || absl::StartsWith(t.logical, "quant");
    const bool conv3d = t.shape.size() == 5 && absl::EndsWith(t.logical, ".weight") &&
                        !absl::StartsWith(t.logical, "post_quant") &&
                        !absl::StartsWith(t.logical, "quant");
    (enc ? enc_convs : dec_convs) += conv3d;
    (enc ? enc_params : dec_params) += Elements(t.shape);
  }
  EXPECT_EQ(dec_convs, 34);
  EXPECT_EQ(enc_convs, 26);
  // "decoder about 556 M, encoder about 149 M" (705 M in all).
  EXPECT_NEAR(dec_params / 1e6, 556, 3);
  EXPECT_NEAR(enc_params / 1e6, 149, 3);
}

TEST(WanVaeKeysTest, OriginalNamesFollowTheSpec) {
  std::vector<NamedShape> t = FileTensors(WanVae22Config(), WanVaeLayout::kOriginal);
  auto shape_of = [&](const std::string& name) -> std::vector<int64_t> {
    for (const NamedShape& n : t) {
      if (n.name == name) return n.shape;
    }
    return {};
  };
  EXPECT_EQ(shape_of("conv2.weight"), (std::vector<int64_t>{48, 48, 1, 1, 1}));
  EXPECT_EQ(shape_of("conv1.weight"), (std::vector<int64_t>{96, 96, 1, 1, 1}));
  EXPECT_EQ(shape_of("decoder.conv1.weight"), (std::vector<int64_t>{1024, 48, 3, 3, 3}));
  EXPECT_EQ(shape_of("decoder.middle.1.to_qkv.weight"), (std::vector<int64_t>{3072, 1024, 1, 1}));
  EXPECT_EQ(shape_of("decoder.upsamples.0.upsamples.3.time_conv.weight"),
            (std::vector<int64_t>{2048, 1024, 3, 1, 1}));
  EXPECT_EQ(shape_of("decoder.upsamples.2.upsamples.3.resample.1.weight"),
            (std::vector<int64_t>{512, 512, 3, 3}));
  EXPECT_EQ(shape_of("decoder.upsamples.2.upsamples.0.shortcut.weight"),
            (std::vector<int64_t>{512, 1024, 1, 1, 1}));
  EXPECT_EQ(shape_of("decoder.head.2.weight"), (std::vector<int64_t>{12, 256, 3, 3, 3}));
  EXPECT_EQ(shape_of("encoder.conv1.weight"), (std::vector<int64_t>{160, 12, 3, 3, 3}));
  EXPECT_EQ(shape_of("encoder.downsamples.1.downsamples.2.time_conv.weight"),
            (std::vector<int64_t>{320, 320, 3, 1, 1}));
  EXPECT_EQ(shape_of("encoder.head.2.weight"), (std::vector<int64_t>{96, 640, 3, 3, 3}));
  EXPECT_TRUE(shape_of("decoder.upsamples.3.upsamples.3.resample.1.weight").empty());
}

TEST(WanVaeKeysTest, DetectsEachLayoutAndInfersTheConfig) {
  for (WanVaeLayout layout : {WanVaeLayout::kOriginal, WanVaeLayout::kDiffusers}) {
    SCOPED_TRACE(WanVaeLayoutName(layout));
    absl::StatusOr<ResolvedLayout> r =
        ResolveWanVaeLayout(FileTensors(WanVae22Config(), layout), "vae.safetensors");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->layout, layout);
    const WanVaeConfig& c = r->config;
    EXPECT_EQ(c.z_dim, 48);
    EXPECT_EQ(c.patch, 2);
    EXPECT_EQ(c.num_res_blocks, 2);
    EXPECT_EQ(c.dec_in_dim, 1024);
    EXPECT_EQ(c.dec_stage_dims, (std::vector<int64_t>{1024, 1024, 512, 256}));
    EXPECT_EQ(c.dec_temporal, (std::vector<bool>{true, true, false}));
    EXPECT_TRUE(c.has_encoder);
    EXPECT_EQ(c.enc_in_dim, 160);
    EXPECT_EQ(c.enc_stage_dims, (std::vector<int64_t>{160, 320, 640, 640}));
    EXPECT_EQ(c.enc_temporal, (std::vector<bool>{false, true, true}));
    EXPECT_EQ(c.TemporalFactor(), 4);
    EXPECT_EQ(c.SpatialFactor(), 16);
  }
}

TEST(WanVaeKeysTest, DecoderOnlyFileHasNoEncoder) {
  WanVaeConfig c = WanVae22Config();
  c.has_encoder = false;
  absl::StatusOr<ResolvedLayout> r =
      ResolveWanVaeLayout(FileTensors(c, WanVaeLayout::kDiffusers), "dec.safetensors");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->config.has_encoder);
}

TEST(WanVaeKeysTest, ReportsEveryProblemAtOnceNamingTheFile) {
  std::vector<NamedShape> t = FileTensors(WanVae22Config(), WanVaeLayout::kOriginal);
  auto erase = [&](const std::string& name) {
    t.erase(std::remove_if(t.begin(), t.end(), [&](const NamedShape& n) { return n.name == name; }),
            t.end());
  };
  erase("decoder.middle.1.proj.bias");
  erase("encoder.head.0.gamma");
  t.push_back({"decoder.extra.weight", {3}});
  for (NamedShape& n : t) {
    if (n.name == "decoder.head.2.bias") n.shape = {13};
  }
  absl::StatusOr<ResolvedLayout> r = ResolveWanVaeLayout(t, "/models/Wan2.2_VAE.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(r.status().message());
  EXPECT_TRUE(absl::StartsWith(m, "/models/Wan2.2_VAE.safetensors: ")) << m;
  EXPECT_TRUE(absl::StrContains(m, "original layout")) << m;
  EXPECT_TRUE(absl::StrContains(m, "2 missing: ")) << m;
  EXPECT_TRUE(absl::StrContains(m, "decoder.middle.1.proj.bias [1024]")) << m;
  EXPECT_TRUE(absl::StrContains(m, "encoder.head.0.gamma [640, 1, 1, 1]")) << m;
  EXPECT_TRUE(absl::StrContains(m, "1 unexpected: decoder.extra.weight")) << m;
  EXPECT_TRUE(absl::StrContains(m, "1 misshaped: decoder.head.2.bias is [13], expected [12]"))
      << m;
}

TEST(WanVaeKeysTest, RefusesAFileThatIsNoWanVae) {
  absl::StatusOr<ResolvedLayout> r =
      ResolveWanVaeLayout({{"model.weight", {4, 4}}}, "other.safetensors");
  ASSERT_FALSE(r.ok());
  const std::string m(r.status().message());
  EXPECT_TRUE(absl::StrContains(m, "other.safetensors: not a Wan2.2 VAE file")) << m;
  EXPECT_TRUE(absl::StrContains(m, "decoder.conv1.weight (original)")) << m;
  EXPECT_TRUE(absl::StrContains(m, "decoder.conv_in.weight (diffusers)")) << m;
}

TEST(WanVaeKeysTest, RefusesAHeadThatIsNotThreeColoursPatched) {
  std::vector<NamedShape> t = FileTensors(WanVae22Config(), WanVaeLayout::kDiffusers);
  for (NamedShape& n : t) {
    if (n.name == "decoder.conv_out.weight") n.shape[0] = 10;
  }
  absl::StatusOr<ResolvedLayout> r = ResolveWanVaeLayout(t, "x.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "10 output channels")) << r.status();
}

TEST(WanVaeKeysTest, TableParserNamesTheTableAndLine) {
  absl::StatusOr<KeyTable> bad = ParseKeyTable("t.txt", "# c\nmodule a b\nparam conv x\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "key table t.txt line 3")) << bad.status();
  absl::StatusOr<KeyTable> kind = ParseKeyTable("t.txt", "param lstm w w\n");
  ASSERT_FALSE(kind.ok());
  EXPECT_TRUE(absl::StrContains(kind.status().message(), "unknown module kind"));
  absl::StatusOr<KeyTable> dup = ParseKeyTable("t.txt", "module a b\nmodule a c\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(absl::StrContains(dup.status().message(), "duplicate module"));
  // A table lacking a row is ovid's own bug: INTERNAL, naming the row.
  KeyTable empty = *ParseKeyTable("empty.txt", "");
  absl::StatusOr<std::string> key = FileKey(empty, "dec.conv_in", {}, ModuleKind::kConv, "weight");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(key.status().message(), "'module dec.conv_in'"));
}

TEST(WanVaeKeysTest, ConfigValidationCatchesIndivisibleShortcuts) {
  WanVaeConfig c = WanVae22Config();
  EXPECT_TRUE(c.Validate().ok());
  c.dec_stage_dims[2] = 500;  // DupUp3D 1024 -> 500 would repeat 500*4/1024 channels
  EXPECT_FALSE(c.Validate().ok());
}

// An encoder that does not mirror the decoder loaded, and the I2V first frame's latent came out
// at another size than the video's, failing later without a name.
TEST(WanVaeKeysTest, AnEncoderThatDoesNotMirrorTheDecoderIsRefused) {
  WanVaeConfig c = WanVae22Config();
  c.enc_temporal = {false, false, true};
  absl::Status s = c.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(),
                                "the encoder's 4 stages (temporal downsampling 0,0,1) "
                                "do not mirror the decoder's 4 (temporal upsampling "
                                "1,1,0)"))
      << s;
  c = WanVae22Config();
  c.enc_stage_dims = {160, 320, 640};
  c.enc_temporal = {true, true};
  EXPECT_FALSE(c.Validate().ok());
  c.has_encoder = false;  // a decoder-only file has nothing to mirror
  EXPECT_TRUE(c.Validate().ok());
}

}  // namespace
}  // namespace ovid::wan_vae
