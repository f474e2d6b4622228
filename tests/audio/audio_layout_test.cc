// The audio decoders' key tables and whole-file checks (engine/models/{audio,mmaudio_vae,bigvgan}),
// torch-free: the spec's key names and shapes, config inference, ONE error naming the file and
// every missing/unexpected/misshaped tensor, the encoder ignored, BigVGAN's three weight forms and
// its "generator." prefix, and the computed anti-aliasing filter.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/models/audio/audio_key_table.h"
#include "engine/models/bigvgan/bigvgan_filter.h"
#include "engine/models/bigvgan/bigvgan_layout.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_layout.h"

namespace ovid {
namespace {

using audio::NamedShape;
using Shape = std::vector<int64_t>;

std::vector<NamedShape> VaeFile(const mmaudio_vae::MmAudioVaeConfig& c) {
  std::vector<NamedShape> out;
  // Held in a variable: a range-for over *StatusOr-temporary would dangle.
  const auto layout = mmaudio_vae::BuildMmAudioVaeLayout(c);
  for (const auto& t : *layout) {
    out.push_back({t.expected.file, t.expected.shapes.front()});
  }
  return out;
}

std::map<std::string, Shape> AsMap(const std::vector<NamedShape>& v) {
  std::map<std::string, Shape> m;
  for (const auto& t : v) m[t.name] = t.shape;
  return m;
}

TEST(AudioKeyTable, ParsesRowsAndNamesBadLines) {
  auto t = audio::ParseAudioKeyTable("t.txt", "# c\nmodule a.{i} x.{i}.y\nignore enc.\nprefix g.\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*audio::AudioFileKey(*t, "a.{i}", {{'i', 7}}, "weight", "g."), "g.x.7.y.weight");
  EXPECT_EQ(t->ignored, std::vector<std::string>{"enc."});
  auto bad = audio::ParseAudioKeyTable("t.txt", "module a b\nmodul x y\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "t.txt line 2")) << bad.status();
  EXPECT_EQ(audio::AudioFileKey(*t, "nope", {}, "").status().code(), absl::StatusCode::kInternal);
}

TEST(MmAudioVaeLayout, MatchesTheSpecKeyList) {
  const auto file = AsMap(VaeFile(mmaudio_vae::MmAudioVae16kConfig()));
  // spec encoders.md §4, "Keys in v1-16.pth".
  const std::map<std::string, Shape> spec = {
      {"decoder.conv_in.weight", {1536, 20, 3}},
      {"decoder.mid.block_1.conv1.weight", {1536, 1536, 3}},
      {"decoder.mid.block_2.conv2.weight", {1536, 1536, 3}},
      {"decoder.mid.attn_1.qkv.weight", {4608, 1536, 1}},
      {"decoder.mid.attn_1.proj_out.weight", {1536, 1536, 1}},
      {"decoder.up.2.block.2.conv2.weight", {1536, 1536, 3}},
      {"decoder.up.1.block.0.conv1.weight", {768, 1536, 3}},
      {"decoder.up.1.block.0.nin_shortcut.weight", {768, 1536, 1}},
      {"decoder.up.1.upsample.conv.weight", {768, 768, 3}},
      {"decoder.up.0.block.0.nin_shortcut.weight", {384, 768, 1}},
      {"decoder.up.0.block.2.conv1.weight", {384, 384, 3}},
      {"decoder.conv_out.weight", {80, 384, 3}},
      {"decoder.learnable_gain", {}},
      {"data_mean", {1, 80, 1}},
      {"data_std", {1, 80, 1}},
  };
  for (const auto& [name, shape] : spec) {
    ASSERT_TRUE(file.count(name)) << name;
    EXPECT_EQ(file.at(name), shape) << name;
  }
  // 2 mid res blocks (2 convs) + attn (2) + 9 up blocks (2 convs, 2 with a shortcut) + upsample
  // + conv_in/conv_out + gain + mean/std.
  EXPECT_EQ(file.size(), 4u + 2u + 20u + 1u + 2u + 3u);
  EXPECT_FALSE(file.count("decoder.up.2.upsample.conv.weight"));
  EXPECT_FALSE(file.count("decoder.up.2.block.0.nin_shortcut.weight"));
}

TEST(MmAudioVaeLayout, InfersConfigAndIgnoresTheEncoder) {
  std::vector<NamedShape> file = VaeFile(mmaudio_vae::MmAudioVaeTinyConfig());
  file.push_back({"encoder.conv_in.weight", {16, 80, 3}});
  file.push_back({"encoder.learnable_gain", {}});
  for (auto& t : file) {
    if (t.name == "data_mean") t.shape = {80};  // squeezed statistics are accepted
  }
  auto r = mmaudio_vae::ResolveMmAudioVaeLayout(file, "tiny.safetensors");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->config.hidden, 16);
  EXPECT_EQ(r->config.ch_mult, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(r->config.embed_dim, 20);
  EXPECT_EQ(r->config.data_dim, 80);
  EXPECT_EQ(r->config.blocks_per_level, 3);
  EXPECT_EQ(r->config.upsample, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(r->config.LengthFactor(), 2);
  EXPECT_EQ(r->ignored,
            (std::vector<std::string>{"encoder.conv_in.weight", "encoder.learnable_gain"}));
}

TEST(MmAudioVaeLayout, OneErrorNamesEveryProblem) {
  std::vector<NamedShape> file = VaeFile(mmaudio_vae::MmAudioVaeTinyConfig());
  file.erase(std::remove_if(file.begin(), file.end(),
                            [](const NamedShape& t) { return t.name == "data_std"; }),
             file.end());
  for (auto& t : file) {
    if (t.name == "decoder.mid.attn_1.qkv.weight") t.shape = {64, 64, 1};
  }
  file.push_back({"decoder.bogus.weight", {1}});
  file.push_back({"encoder.down.0.block.0.conv1.weight", {16, 16, 3}});
  auto r = mmaudio_vae::ResolveMmAudioVaeLayout(file, "/m/vae.safetensors");
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_TRUE(absl::StartsWith(msg, "/m/vae.safetensors: ")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "1 missing: data_std [1, 80, 1]")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "1 unexpected: decoder.bogus.weight")) << msg;
  EXPECT_TRUE(absl::StrContains(
      msg, "decoder.mid.attn_1.qkv.weight is [64, 64, 1], expected [192, 64, 1]"))
      << msg;
  EXPECT_FALSE(absl::StrContains(msg, "encoder")) << msg;
}

TEST(MmAudioVaeLayout, NotAVaeFile) {
  auto r = mmaudio_vae::ResolveMmAudioVaeLayout({{"conv_pre.weight", {8, 80, 7}}}, "x.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(),
                                "x.gguf: not an MMAudio VAE decoder file: decoder.conv_in.weight"))
      << r.status();
}

std::vector<NamedShape> VocoderFile(const bigvgan::BigVganConfig& c, bigvgan::WeightForm form,
                                    const std::string& prefix = "", bool filters = true) {
  std::vector<NamedShape> out;
  const auto layout = bigvgan::BuildBigVganLayout(c, form, prefix);
  for (const auto& t : layout->tensors) {
    if (!filters && absl::EndsWith(t.file, ".filter")) continue;
    out.push_back({t.file, t.shapes.front()});
  }
  return out;
}

TEST(BigVganLayout, MatchesTheSpecAndHas112MParameters) {
  const auto file =
      AsMap(VocoderFile(bigvgan::BigVgan16kConfig(), bigvgan::WeightForm::kWeightNorm));
  const std::map<std::string, Shape> spec = {
      {"conv_pre.weight_g", {1536, 1, 1}},
      {"conv_pre.weight_v", {1536, 80, 7}},
      {"conv_pre.bias", {1536}},
      {"ups.0.0.weight_v", {1536, 768, 8}},
      {"ups.0.0.weight_g", {1536, 1, 1}},  // per input channel (ConvTranspose1d, dim 0)
      {"ups.0.0.bias", {768}},
      {"ups.5.0.weight_v", {48, 24, 4}},
      {"resblocks.2.convs1.2.weight_v", {768, 768, 11}},
      {"resblocks.17.convs2.0.weight_v", {24, 24, 11}},
      {"resblocks.17.activations.5.act.beta", {24}},
      {"resblocks.0.activations.0.upsample.filter", {1, 1, 12}},
      {"resblocks.0.activations.0.downsample.lowpass.filter", {1, 1, 12}},
      {"activation_post.act.alpha", {24}},
      {"conv_post.weight_g", {1, 1, 1}},
      {"conv_post.weight_v", {1, 24, 7}},
      {"conv_post.bias", {1}},
  };
  for (const auto& [name, shape] : spec) {
    ASSERT_TRUE(file.count(name)) << name;
    EXPECT_EQ(file.at(name), shape) << name;
  }
  int64_t params = 0;
  for (const auto& [name, shape] : file) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    params += n;
  }
  EXPECT_GT(params, 110'000'000);
  EXPECT_LT(params, 115'000'000);
  EXPECT_EQ(bigvgan::BigVgan16kConfig().HopLength(), 256);
}

TEST(BigVganLayout, AcceptsEveryWeightFormAndThePrefix) {
  const bigvgan::BigVganConfig c = bigvgan::BigVganTinyConfig();
  for (auto form : {bigvgan::WeightForm::kWeightNorm, bigvgan::WeightForm::kParametrized,
                    bigvgan::WeightForm::kFolded}) {
    for (const std::string prefix : {"", "generator."}) {
      auto r = bigvgan::ResolveBigVganLayout(VocoderFile(c, form, prefix, prefix.empty()), "v");
      ASSERT_TRUE(r.ok()) << bigvgan::WeightFormName(form) << " " << prefix << ": " << r.status();
      EXPECT_EQ(r->prefix, prefix);
      EXPECT_EQ(r->config.initial_channel, 64);
      EXPECT_EQ(r->config.up_kernels, (std::vector<int64_t>{8, 8, 4, 4, 4, 4}));
      EXPECT_EQ(r->config.rb_kernels, (std::vector<int64_t>{3, 7, 11}));
      for (const auto& conv : r->convs) EXPECT_EQ(conv.form, form) << conv.logical;
      EXPECT_EQ(r->convs[1].logical, "ups.0");
      EXPECT_EQ(r->convs[1].stride, 4);
      EXPECT_EQ(r->convs[1].padding, 2);
    }
  }
  // Forms may differ from conv to conv (a partly converted file).
  std::vector<NamedShape> mixed = VocoderFile(c, bigvgan::WeightForm::kWeightNorm);
  for (auto& t : mixed) {
    if (t.name == "conv_pre.weight_g") t.name = "conv_pre.parametrizations.weight.original0";
    if (t.name == "conv_pre.weight_v") t.name = "conv_pre.parametrizations.weight.original1";
  }
  auto r = bigvgan::ResolveBigVganLayout(mixed, "mixed");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->convs[0].form, bigvgan::WeightForm::kParametrized);
  EXPECT_EQ(r->convs[1].form, bigvgan::WeightForm::kWeightNorm);
}

TEST(BigVganLayout, OneErrorNamesEveryProblem) {
  std::vector<NamedShape> file =
      VocoderFile(bigvgan::BigVganTinyConfig(), bigvgan::WeightForm::kWeightNorm);
  file.erase(std::remove_if(file.begin(), file.end(),
                            [](const NamedShape& t) { return t.name == "ups.3.0.bias"; }),
             file.end());
  for (auto& t : file) {
    if (t.name == "resblocks.7.activations.2.act.alpha") t.shape = {3};
  }
  file.push_back({"ups.0.1.weight", {2}});
  auto r = bigvgan::ResolveBigVganLayout(file, "/m/voc.safetensors");
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_TRUE(absl::StartsWith(msg, "/m/voc.safetensors: tensors do not match the BigVGAN"))
      << msg;
  EXPECT_TRUE(absl::StrContains(msg, "1 missing: ups.3.0.bias [4]")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "1 unexpected: ups.0.1.weight")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "resblocks.7.activations.2.act.alpha is [3], expected [8]"))
      << msg;
}

TEST(BigVganLayout, RefusesWhatShapesCannotTell) {
  std::vector<NamedShape> file =
      VocoderFile(bigvgan::BigVganTinyConfig(), bigvgan::WeightForm::kFolded);
  for (auto& t : file) {
    if (t.name == "ups.1.0.weight") t.shape = {32, 16, 6};
  }
  auto r = bigvgan::ResolveBigVganLayout(file, "k6");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "ups.1.0 weight is [32, 16, 6]"))
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "stride")) << r.status();
  // A kernel of 0 passed "multiple of 4" and failed at vocoding without a name.
  for (auto& t : file) {
    if (t.name == "ups.1.0.weight") t.shape = {32, 16, 0};
  }
  r = bigvgan::ResolveBigVganLayout(file, "k0");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "ups.1.0 weight is [32, 16, 0]"))
      << r.status();
  // The filter's tap count sizes every filter the file leaves out: 1 failed at vocoding, 50,000
  // took gigabytes at load.
  for (const int64_t taps : {int64_t{1}, int64_t{13}, int64_t{50000}}) {
    std::vector<NamedShape> with_filter =
        VocoderFile(bigvgan::BigVganTinyConfig(), bigvgan::WeightForm::kFolded);
    with_filter.push_back({"resblocks.0.activations.0.upsample.filter", {1, 1, taps}});
    auto f = bigvgan::ResolveBigVganLayout(with_filter, "taps");
    ASSERT_FALSE(f.ok()) << taps;
    EXPECT_TRUE(absl::StrContains(f.status().message(),
                                  absl::StrCat("upsample.filter has ", taps, " taps")))
        << f.status();
  }
  // An even residual kernel loaded and then failed every vocode on the residual add.
  bigvgan::BigVganConfig even = bigvgan::BigVganTinyConfig();
  even.rb_kernels[0] = 4;
  auto e = bigvgan::ResolveBigVganLayout(VocoderFile(even, bigvgan::WeightForm::kFolded), "even");
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(absl::StrContains(e.status().message(), "resblocks.0.convs1.0 weight is [32, 32, 4]"))
      << e.status();
  EXPECT_TRUE(absl::StrContains(e.status().message(), "must be odd")) << e.status();
  // Dozens of stages shifted the channel count past 63 bits (undefined behaviour); more stages
  // than the channels can be halved for left zero-channel convs.
  for (const int64_t stages : {int64_t{7}, int64_t{17}}) {
    bigvgan::BigVganConfig deep = bigvgan::BigVganTinyConfig();
    deep.up_kernels.assign(static_cast<size_t>(stages), 4);
    auto d = bigvgan::ResolveBigVganLayout(VocoderFile(deep, bigvgan::WeightForm::kFolded), "deep");
    ASSERT_FALSE(d.ok()) << stages;
    EXPECT_TRUE(absl::StrContains(
        d.status().message(), stages == 7 ? "cannot be halved 7 times" : "more than 16 upsampling"))
        << d.status();
  }
  auto none = bigvgan::ResolveBigVganLayout({{"decoder.conv_in.weight", {1}}}, "vae");
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::StrContains(none.status().message(), "vae: not a BigVGAN generator file"))
      << none.status();
}

TEST(BigVganFilter, MatchesTheSpecCoefficients) {
  // spec encoders.md §5 (a Python recomputation of kaiser_sinc_filter1d(0.25, 0.3, 12)).
  const std::vector<double> spec = {0.0020290, 0.0093895, -0.0255435, -0.0576574,
                                    0.1285726, 0.4432098, 0.4432098, 0.1285726,
                                    -0.0576574, -0.0255435, 0.0093895, 0.0020290};
  const std::vector<float> f = bigvgan::KaiserSincFilter();
  ASSERT_EQ(f.size(), spec.size());
  double sum = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_NEAR(f[i], spec[i], 1e-6) << i;
    sum += f[i];
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

}  // namespace
}  // namespace ovid
