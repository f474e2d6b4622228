// The Ovi tensor layout against the numbers of shared spec ovi.md §1-2, key classification,
// config inference from shapes, and the all-at-once mismatch report.
#include "engine/models/ovi/ovi_layout.h"

#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace ovid::ovi {
namespace {

int64_t TotalParameters(const std::vector<OviTensor>& layout) {
  int64_t n = 0;
  for (const OviTensor& t : layout) n += t.Elements();
  return n;
}

std::map<std::string, std::vector<int64_t>> ShapesByName(const std::vector<OviTensor>& layout) {
  std::map<std::string, std::vector<int64_t>> m;
  for (const OviTensor& t : layout) m[t.name] = t.shape;
  return m;
}

TEST(OviLayoutTest, FullModelMatchesTheSpecCounts) {
  const std::vector<OviTensor> layout = BuildOviLayout(OviFullConfig());
  EXPECT_EQ(layout.size(), 2073u);
  EXPECT_EQ(TotalParameters(layout), 11'660'753'108);
  std::set<std::string> names;
  for (const OviTensor& t : layout) names.insert(t.name);
  EXPECT_EQ(names.size(), layout.size()) << "duplicate names";
  for (const std::string& n : names) EXPECT_LE(n.size(), 63u) << n;  // ggml's name limit
}

TEST(OviLayoutTest, OneBlockAndEachTowerMatchTheSpec) {
  const std::vector<OviTensor> layout = BuildOviLayout(OviFullConfig());
  int64_t block0 = 0, video = 0, audio = 0, fusion = 0;
  int block0_tensors = 0;
  for (const OviTensor& t : layout) {
    if (t.tower == OviTower::kVideo && t.layer == 0) {
      block0 += t.Elements();
      ++block0_tensors;
    }
    (t.tower == OviTower::kVideo ? video : audio) += t.Elements();
    if (t.name.find("_fusion") != std::string::npos) fusion += t.Elements();
  }
  EXPECT_EQ(block0_tensors, 34);
  EXPECT_EQ(block0, 182'546'432);
  EXPECT_EQ(video, 5'566'479'552);
  EXPECT_EQ(audio, 6'094'273'556);
  EXPECT_EQ(fusion, 1'133'383'680);
}

TEST(OviLayoutTest, ShapesOfTheSpecialTensors) {
  const auto shapes = ShapesByName(BuildOviLayout(OviFullConfig()));
  using S = std::vector<int64_t>;
  EXPECT_EQ(shapes.at("video_model.patch_embedding.weight"), (S{3072, 48, 1, 2, 2}));
  EXPECT_EQ(shapes.at("video_model.head.head.weight"), (S{192, 3072}));
  EXPECT_EQ(shapes.at("audio_model.head.head.weight"), (S{20, 3072}));
  EXPECT_EQ(shapes.at("audio_model.patch_embedding.0.weight"), (S{3072, 20, 7}));
  EXPECT_EQ(shapes.at("audio_model.patch_embedding.2.w2.weight"), (S{3072, 8192, 7}));
  EXPECT_EQ(shapes.at("audio_model.time_projection.1.weight"), (S{18432, 3072}));
  EXPECT_EQ(shapes.at("video_model.blocks.29.modulation.modulation"), (S{1, 6, 3072}));
  EXPECT_EQ(shapes.at("audio_model.head.modulation"), (S{1, 2, 3072}));
  EXPECT_EQ(shapes.at("audio_model.blocks.7.ffn.2.weight"), (S{3072, 14336}));
  EXPECT_EQ(shapes.count("video_model.blocks.30.ffn.2.weight"), 0u);
}

TEST(OviLayoutTest, TinyConfigIsStructurallyComplete) {
  const OviConfig tiny = OviTinyConfig();
  ASSERT_TRUE(tiny.Validate().ok());
  const std::vector<OviTensor> layout = BuildOviLayout(tiny);
  EXPECT_EQ(layout.size(), 34u * 3 * 2 + 33);
  for (const OviTensor& t : layout) {
    if (t.role == OviRole::kLinearWeight && t.part == OviPart::kBlock) {
      EXPECT_EQ(t.shape[1] % 256, 0) << t.name << ": K-quants need rows of 256";
    }
  }
}

TEST(OviLayoutTest, ClassifiesEveryLayoutKeyAsTheLayoutDoes) {
  for (const OviTensor& t : BuildOviLayout(OviTinyConfig())) {
    const std::optional<OviKeyInfo> info = ClassifyOviKey(t.name);
    ASSERT_TRUE(info.has_value()) << t.name;
    EXPECT_EQ(info->role, t.role) << t.name;
    EXPECT_EQ(info->part, t.part) << t.name;
    EXPECT_EQ(info->tower, t.tower) << t.name;
    EXPECT_EQ(info->layer, t.layer) << t.name;
  }
}

TEST(OviLayoutTest, RejectsKeysThatAreNotOvi) {
  for (const char* name :
       {"blocks.0.ffn.0.weight", "model.video_model.head.modulation",
        "video_model.blocks.x.ffn.0.weight", "video_model.blocks.01.ffn.0.weight",
        "video_model.blocks.0.ffn.1.weight", "audio_model.patch_embedding.weight",
        "video_model.patch_embedding.2.w1.weight", "video_model.blocks..ffn.0.weight",
        "video_model.head.norm.weight"}) {
    EXPECT_FALSE(ClassifyOviKey(name).has_value()) << name;
  }
}

TEST(OviLayoutTest, InfersTheConfigFromShapes) {
  OviConfig want = OviTinyConfig();
  want.num_layers = 4;
  want.ffn_dim = 768;
  const std::vector<OviTensor> layout = BuildOviLayout(want);
  const auto shapes = ShapesByName(layout);
  std::vector<std::string> names;
  for (const OviTensor& t : layout) names.push_back(t.name);
  const ShapeLookup lookup = [&](const std::string& k) -> std::optional<std::vector<int64_t>> {
    auto it = shapes.find(k);
    if (it == shapes.end()) return std::nullopt;
    return it->second;
  };
  absl::StatusOr<OviConfig> got = InferOviConfig(lookup, names, 64);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->num_layers, 4);
  EXPECT_EQ(got->ffn_dim, 768);
  EXPECT_EQ(got->num_heads, 4);  // dim 256 / head_dim 64
  EXPECT_EQ(got->head_dim, 64);
  got->num_heads = want.num_heads;
  got->head_dim = want.head_dim;
  EXPECT_EQ(ShapesByName(BuildOviLayout(*got)), shapes);

  // A head_dim that does not divide dim is refused, naming both numbers.
  absl::StatusOr<OviConfig> bad = InferOviConfig(lookup, names, 100);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("head_dim 100"), std::string::npos) << bad.status();
  // No block keys at all: the message says so.
  absl::StatusOr<OviConfig> none = InferOviConfig(lookup, {"video_model.head.modulation"}, 128);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("num_layers"), std::string::npos);
  // One stray key with a huge block index is refused by name before any layout is built for it
  // (it once sized a layout of billions of entries); INT_MAX itself must not overflow.
  for (const char* stray : {"video_model.blocks.2147483646.norm3.weight",
                            "audio_model.blocks.2147483647.norm3.weight"}) {
    std::vector<std::string> with_stray = names;
    with_stray.push_back(stray);
    absl::StatusOr<OviConfig> huge = InferOviConfig(lookup, with_stray, 64);
    ASSERT_FALSE(huge.ok()) << stray;
    EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(huge.status().message().find(stray), std::string::npos) << huge.status();
    EXPECT_NE(huge.status().message().find("most blocks a model may have (1024)"),
              std::string::npos)
        << huge.status();
  }
}

TEST(OviLayoutTest, ReportsEveryMismatchInOneMessage) {
  const std::vector<OviTensor> layout = BuildOviLayout(OviTinyConfig());
  std::vector<NamedShape> actual;
  for (const OviTensor& t : layout) {
    if (t.name == "audio_model.blocks.2.norm3.bias") continue;  // missing
    actual.push_back({t.name, t.shape});
    if (t.name == "video_model.blocks.1.ffn.0.bias") actual.back().shape = {511};  // misshaped
  }
  actual.push_back({"video_model.blocks.1.extra.weight", {4}});  // unexpected
  const absl::Status status = CheckOviTensors(layout, actual, "ckpt.safetensors");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(status.message());
  EXPECT_EQ(msg.rfind("ckpt.safetensors: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("1 missing: audio_model.blocks.2.norm3.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 unexpected: video_model.blocks.1.extra.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("video_model.blocks.1.ffn.0.bias is [511], expected [512]"), std::string::npos)
      << msg;

  std::vector<NamedShape> exact;
  for (const OviTensor& t : layout) exact.push_back({t.name, t.shape});
  EXPECT_TRUE(CheckOviTensors(layout, exact, "ok").ok());
}

TEST(OviLayoutTest, LongMismatchListsAreCapped) {
  const std::string msg(
      CheckOviTensors(BuildOviLayout(OviFullConfig()), {}, "empty.safetensors").message());
  EXPECT_NE(msg.find("2073 missing"), std::string::npos);
  EXPECT_NE(msg.find("and 2048 more"), std::string::npos);
  EXPECT_LT(msg.size(), 4000u);
}

TEST(OviLayoutTest, ConfigValidationNamesTheField) {
  OviConfig c = OviTinyConfig();
  c.num_heads = 3;
  EXPECT_NE(c.Validate().message().find("num_heads 3"), std::string::npos);
  c = OviTinyConfig();
  c.ffn_dim = 0;
  EXPECT_NE(c.Validate().message().find("ffn_dim"), std::string::npos);
}

}  // namespace
}  // namespace ovid::ovi
