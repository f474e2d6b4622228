// The key tables, layout detection, config inference and the tensor-set report (torch-free
// parts of engine/models/umt5).
#include "engine/models/umt5/umt5_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/gguf/gguf_file.h"
#include "tests/umt5/umt5_test_util.h"

namespace ovid::umt5 {
namespace {

std::vector<NamedShape> Shapes(const std::vector<Umt5Tensor>& tensors) {
  std::vector<NamedShape> out;
  for (const Umt5Tensor& t : tensors) out.push_back({t.names[0], t.shape});
  return out;
}

std::vector<Umt5Tensor> Layout(const Umt5Config& c, Umt5Layout l) {
  absl::StatusOr<std::vector<Umt5Tensor>> t = BuildUmt5Layout(c, l);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : std::vector<Umt5Tensor>{};
}

TEST(Umt5Keys, EveryTableGivesTheXxlTensorSet) {
  for (Umt5Layout l : kAllUmt5Layouts) {
    const std::vector<Umt5Tensor> t = Layout(Umt5XxlConfig(), l);
    ASSERT_EQ(t.size(), 2u + 24u * 10u) << Umt5LayoutName(l);
    int64_t params = 0;
    std::set<std::string> names;
    for (const Umt5Tensor& x : t) {
      int64_t n = 1;
      for (int64_t d : x.shape) n *= d;
      params += n;
      names.insert(x.names[0]);
    }
    EXPECT_EQ(names.size(), t.size()) << "duplicate names in " << Umt5LayoutName(l);
    // Spec §2: 5.68 B parameters.
    EXPECT_GT(params, 5'675'000'000) << Umt5LayoutName(l);
    EXPECT_LT(params, 5'685'000'000) << Umt5LayoutName(l);
  }
  // Spot checks of the spec's table: same canonical tensor, three names and one shape.
  const std::vector<Umt5Tensor> pth = Layout(Umt5XxlConfig(), Umt5Layout::kPth);
  const std::vector<Umt5Tensor> hf = Layout(Umt5XxlConfig(), Umt5Layout::kHf);
  const std::vector<Umt5Tensor> gg = Layout(Umt5XxlConfig(), Umt5Layout::kGguf);
  auto find = [](const std::vector<Umt5Tensor>& v, const std::string& canonical) {
    return *std::find_if(v.begin(), v.end(),
                         [&](const Umt5Tensor& t) { return t.canonical == canonical; });
  };
  EXPECT_EQ(find(pth, "blocks.7.rel_bias").names[0], "blocks.7.pos_embedding.embedding.weight");
  EXPECT_EQ(find(hf, "blocks.7.rel_bias").names[0],
            "encoder.block.7.layer.0.SelfAttention.relative_attention_bias.weight");
  EXPECT_EQ(find(gg, "blocks.7.rel_bias").names[0], "enc.blk.7.attn_rel_b.weight");
  EXPECT_EQ(find(gg, "blocks.7.rel_bias").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(find(pth, "blocks.0.ffn.gate").names[0], "blocks.0.ffn.gate.0.weight");
  EXPECT_EQ(find(hf, "blocks.0.ffn.up").names[0],
            "encoder.block.0.layer.1.DenseReluDense.wi_1.weight");
  EXPECT_EQ(find(gg, "blocks.23.ffn.down").shape, (std::vector<int64_t>{4096, 10240}));
  EXPECT_EQ(find(hf, "token_embedding").names,
            (std::vector<std::string>{"shared.weight", "encoder.embed_tokens.weight"}));
  EXPECT_EQ(find(pth, "token_embedding").shape, (std::vector<int64_t>{256384, 4096}));
}

TEST(Umt5Keys, MatchesNamesWithBlockIndices) {
  std::optional<Umt5KeyMatch> m = MatchUmt5Key(Umt5Layout::kGguf, "enc.blk.17.ffn_up.weight");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->canonical, "blocks.17.ffn.up");
  EXPECT_EQ(m->layer, 17);
  m = MatchUmt5Key(Umt5Layout::kHf, "encoder.embed_tokens.weight");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->canonical, "token_embedding");
  EXPECT_EQ(m->layer, -1);
  EXPECT_FALSE(MatchUmt5Key(Umt5Layout::kGguf, "enc.blk.017.ffn_up.weight"));
  EXPECT_FALSE(MatchUmt5Key(Umt5Layout::kGguf, "enc.blk.x.ffn_up.weight"));
  EXPECT_FALSE(MatchUmt5Key(Umt5Layout::kGguf, "enc.blk..ffn_up.weight"));
  EXPECT_FALSE(MatchUmt5Key(Umt5Layout::kPth, "enc.blk.1.ffn_up.weight"));
  EXPECT_EQ(ParseUmt5Layout("hf"), Umt5Layout::kHf);
  EXPECT_FALSE(ParseUmt5Layout("t5"));
}

TEST(Umt5Layout, DetectsEachLayoutAndInfersTheConfig) {
  for (const Umt5Config& c : {Umt5TinyConfig(), Umt5XxlConfig()}) {
    for (Umt5Layout l : kAllUmt5Layouts) {
      const std::vector<NamedShape> shapes = Shapes(Layout(c, l));
      absl::StatusOr<Umt5FileSpec> spec = ReadUmt5Spec(shapes, "m.gguf");
      ASSERT_TRUE(spec.ok()) << spec.status();
      EXPECT_EQ(spec->layout, l);
      EXPECT_EQ(spec->config.vocab, c.vocab);
      EXPECT_EQ(spec->config.d_model, c.d_model);
      EXPECT_EQ(spec->config.layers, c.layers);
      EXPECT_EQ(spec->config.heads, c.heads);
      EXPECT_EQ(spec->config.d_kv, c.d_kv);
      EXPECT_EQ(spec->config.d_ff, c.d_ff);
      EXPECT_EQ(spec->config.buckets, c.buckets);
    }
  }
}

TEST(Umt5Layout, HfFileWithOnlyTheTiedCopyUsesIt) {
  std::vector<NamedShape> shapes = Shapes(Layout(Umt5TinyConfig(), Umt5Layout::kHf));
  shapes[0].name = "encoder.embed_tokens.weight";  // instead of shared.weight
  absl::StatusOr<Umt5FileSpec> spec = ReadUmt5Spec(shapes, "m.gguf");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->tensors[0].names[0], "encoder.embed_tokens.weight");
  // Both copies present: accepted, neither unexpected.
  shapes.push_back({"shared.weight", shapes[0].shape});
  EXPECT_TRUE(ReadUmt5Spec(shapes, "m.gguf").ok());
}

TEST(Umt5Layout, UnknownLayoutNamesTheFileAndItsTensors) {
  const std::vector<NamedShape> shapes = {{"model.layers.0.mlp.weight", {4, 4}},
                                          {"lm_head.weight", {4, 4}}};
  absl::Status s = ReadUmt5Spec(shapes, "/models/llama.gguf").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "/models/llama.gguf")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "not a UMT5 encoder in any known key layout")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "model.layers.0.mlp.weight")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "token_embd.weight")) << s;  // what was looked for
}

TEST(Umt5Layout, ReportsMissingUnexpectedAndMisshapedAtOnce) {
  std::vector<NamedShape> shapes = Shapes(Layout(Umt5TinyConfig(), Umt5Layout::kGguf));
  std::erase_if(shapes, [](const NamedShape& t) { return t.name == "enc.blk.1.attn_k.weight"; });
  for (NamedShape& t : shapes) {
    if (t.name == "enc.blk.0.ffn_down.weight") t.shape = {64, 95};
  }
  shapes.push_back({"enc.blk.0.attn_extra.weight", {64}});
  absl::Status s = ReadUmt5Spec(shapes, "/m/tiny.gguf").status();
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  const std::string m(s.message());
  EXPECT_TRUE(absl::StartsWith(m, "/m/tiny.gguf: ")) << m;
  EXPECT_TRUE(absl::StrContains(m, "layout gguf")) << m;
  EXPECT_TRUE(absl::StrContains(m, "1 missing: enc.blk.1.attn_k.weight")) << m;
  EXPECT_TRUE(absl::StrContains(m, "1 unexpected: enc.blk.0.attn_extra.weight")) << m;
  EXPECT_TRUE(
      absl::StrContains(m, "1 misshaped: enc.blk.0.ffn_down.weight [64, 95] (expected [64, 96])"))
      << m;
}

TEST(Umt5Layout, MissingEmbeddingIsReportedWithEverythingElse) {
  std::vector<NamedShape> shapes = Shapes(Layout(Umt5TinyConfig(), Umt5Layout::kPth));
  std::erase_if(shapes, [](const NamedShape& t) { return t.name == "token_embedding.weight"; });
  shapes.push_back({"pos_embedding.embedding.weight", {32, 4}});  // T5's shared table: not UMT5
  absl::Status s = ReadUmt5Spec(shapes, "enc.gguf").status();
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "missing: token_embedding.weight")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "unexpected: pos_embedding.embedding.weight")) << s;
  // The other tensors are checked against the sizes they show, not reported as misshaped.
  EXPECT_FALSE(absl::StrContains(s.message(), "misshaped")) << s;
}

TEST(Umt5Layout, HeadsThatDoNotDivideTheWidthAreRefused) {
  std::vector<NamedShape> shapes = Shapes(Layout(Umt5TinyConfig(), Umt5Layout::kGguf));
  for (NamedShape& t : shapes) {
    if (absl::StrContains(t.name, "attn_rel_b")) t.shape = {32, 5};
  }
  absl::Status s = ReadUmt5Spec(shapes, "x.gguf").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "does not split into 5 heads")) << s;
}

// One stray key with a huge block index is refused by name before a layout is sized by it (it
// once took gigabytes, then bad_alloc); an infinite or huge eps is refused (+Inf zeroed every
// embedding).
TEST(Umt5Layout, AStrayDeepBlockAndAnAbsurdEpsAreRefused) {
  std::vector<NamedShape> shapes = Shapes(Layout(Umt5TinyConfig(), Umt5Layout::kGguf));
  shapes.push_back({"enc.blk.999999.attn_norm.weight", {64}});
  for (const absl::Status& s :
       {ReadUmt5Spec(shapes, "x.gguf").status(), ExpectUmt5Tensors(shapes, "x.gguf").status(),
        InferUmt5Config(shapes, Umt5Layout::kGguf, "x.gguf").status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "block index 999999 in "
                                               "'enc.blk.999999.attn_norm.weight'"))
        << s;
  }
  for (const double eps : {double{INFINITY}, 1.0, 0.0}) {
    Umt5Config c = Umt5TinyConfig();
    c.eps = eps;
    EXPECT_FALSE(c.Validate().ok()) << eps;
  }
}

// Integer tensors where UMT5 has real-valued parameters are refused at load, naming the tensor
// (they loaded and encoded garbage without an error).
TEST(Umt5Layout, IntegerParametersAreRefusedNamingTheTensor) {
  std::vector<ovid::testing::TestTensor> tensors = testing::TinyUmt5Tensors(Umt5Layout::kGguf);
  for (ovid::testing::TestTensor& t : tensors) {
    if (t.name == "enc.blk.0.attn_q.weight") {
      t.type = GgmlType::kI32;
      t.zero_bytes = true;
    }
  }
  absl::StatusOr<std::string> path = testing::WriteUmt5Gguf("layout_int.gguf", tensors);
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(*path);
  ASSERT_TRUE(file.ok()) << file.status();
  const absl::Status s = ReadUmt5Spec(**file).status();
  std::remove(path->c_str());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "tensor 'enc.blk.0.attn_q.weight' is i32")) << s;
}

TEST(Umt5Layout, ReadsAWrittenGgufAndItsEpsilon) {
  std::vector<ovid::testing::TestTensor> tensors = testing::TinyUmt5Tensors(Umt5Layout::kGguf);
  absl::StatusOr<std::string> path = testing::WriteUmt5Gguf("layout_read.gguf", tensors);
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(*path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<Umt5FileSpec> spec = ReadUmt5Spec(**file);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->layout, Umt5Layout::kGguf);
  EXPECT_EQ(spec->config.d_ff, 96);
  EXPECT_DOUBLE_EQ(spec->config.eps, 1e-6);
  std::remove(path->c_str());
}

}  // namespace
}  // namespace ovid::umt5
