// OviModel on the tiny config (CPU, f32): loading synth files (BF16, Q4_K_M), the layout report,
// layout variants (folded 4-D patch embedding, 2-D modulation), first-frame conditioning,
// skip-layer guidance, one fused block against its unfused composition, input checks.
#include "engine/models/ovi/ovi_model.h"

#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_gguf.h"

namespace ovid::ovi {
namespace {

using ::ovid::testing::RandomInput;
using ::ovid::testing::RelativeMaxError;
using ::ovid::testing::TestTensor;
using ::ovid::testing::WriteTestGguf;

OviModelOptions Quiet() {
  OviModelOptions o;
  o.load.log = false;
  return o;
}

// Every tensor of the tiny layout as F32 random values (deterministic by position).
std::vector<TestTensor> TinyTensors() {
  std::vector<TestTensor> out;
  for (const OviTensor& t : BuildOviLayout(OviTinyConfig())) {
    out.push_back({t.name, GgmlType::kF32, t.shape});
  }
  return out;
}

std::unique_ptr<OviModel> LoadTensors(const std::string& name, std::vector<TestTensor> tensors) {
  absl::StatusOr<std::string> path = WriteTestGguf(name, std::move(tensors));
  EXPECT_TRUE(path.ok()) << path.status();
  if (!path.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<OviModel>> model = OviModel::Load(*path, Quiet());
  EXPECT_TRUE(model.ok()) << model.status();
  std::remove(path->c_str());
  return model.ok() ? *std::move(model) : nullptr;
}

struct Case {
  at::Tensor video = RandomInput({48, 2, 4, 4}, at::kFloat, c10::kCPU, 11);  // [C, F, H, W]
  at::Tensor audio = RandomInput({5, 20}, at::kFloat, c10::kCPU, 12);        // [L, C]
  at::Tensor ctx_v = RandomInput({7, 256}, at::kFloat, c10::kCPU, 13);       // [Lt, text_dim]
  at::Tensor ctx_a = RandomInput({7, 256}, at::kFloat, c10::kCPU, 14);       // [Lt, text_dim]
};

OviForwardOutputs RunTiny(const OviModel& model, double t, OviForwardOptions options = {}) {
  const Case c;
  absl::StatusOr<OviContextCache> ctx = model.PrepareContext(c.ctx_v, c.ctx_a);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  absl::StatusOr<OviForwardOutputs> out = model.Forward({c.video, c.audio, t}, *ctx, options);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : OviForwardOutputs{};
}

bool Same(const OviForwardOutputs& a, const OviForwardOutputs& b) {
  return at::equal(a.video, b.video) && at::equal(a.audio, b.audio);
}

class OviModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = LoadTensors("ovi_tiny_f32.gguf", TinyTensors()).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static OviModel* model_;
};
OviModel* OviModelTest::model_ = nullptr;

TEST_F(OviModelTest, ForwardShapesAndContextReuse) {
  ASSERT_NE(model_, nullptr);
  const OviConfig& c = model_->spec().config;
  EXPECT_EQ(c.dim, 256);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(model_->spec().text_len, 512);  // no ovi.* metadata: the defaults
  const Case in;
  absl::StatusOr<OviContextCache> ctx = model_->PrepareContext(in.ctx_v, in.ctx_a);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  ASSERT_EQ(ctx->video.size(), 3u);
  EXPECT_EQ(ctx->video[0].k.sizes(), (at::IntArrayRef{1, 2, 512, 128}));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<OviForwardOutputs> a = model_->Forward({in.video, in.audio, 700.0}, *ctx);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("tiny forward (CPU, f32, video [48,2,4,4], audio [5,20]): %.3f s\n", seconds);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->video.sizes(), (at::IntArrayRef{48, 2, 4, 4}));
  EXPECT_EQ(a->audio.sizes(), (at::IntArrayRef{5, 20}));
  EXPECT_TRUE(at::isfinite(a->video).all().item().toBool());
  EXPECT_TRUE(at::isfinite(a->audio).all().item().toBool());
  // The cache is reusable across steps: a second pass gives the same bits.
  absl::StatusOr<OviForwardOutputs> b = model_->Forward({in.video, in.audio, 700.0}, *ctx);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(Same(*a, *b));
  EXPECT_FALSE(Same(*a, RunTiny(*model_, 300.0)));
}

TEST_F(OviModelTest, BadInputsAreRefused) {
  ASSERT_NE(model_, nullptr);
  const Case in;
  absl::StatusOr<OviContextCache> ctx = model_->PrepareContext(in.ctx_v, in.ctx_a);
  ASSERT_TRUE(ctx.ok());
  auto code = [&](const at::Tensor& v, const at::Tensor& a) {
    return model_->Forward({v, a, 500.0}, *ctx).status().code();
  };
  EXPECT_EQ(code(RandomInput({47, 2, 4, 4}, at::kFloat, c10::kCPU, 1), in.audio),
            absl::StatusCode::kInvalidArgument);  // channels
  EXPECT_EQ(code(RandomInput({48, 2, 5, 4}, at::kFloat, c10::kCPU, 1), in.audio),
            absl::StatusCode::kInvalidArgument);  // odd height
  EXPECT_EQ(code(in.video, RandomInput({5, 21}, at::kFloat, c10::kCPU, 1)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(in.video.flatten(), in.audio), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model_->PrepareContext(RandomInput({513, 256}, at::kFloat, c10::kCPU, 1), in.ctx_a)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);  // longer than text_len
  EXPECT_EQ(model_->PrepareContext(RandomInput({7, 255}, at::kFloat, c10::kCPU, 1), in.ctx_a)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model_->Forward({in.video, in.audio, 500.0}, OviContextCache{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OviModelTest, FirstFrameCleanChangesOnlyTheFirstFrameModulation) {
  ASSERT_NE(model_, nullptr);
  OviForwardOptions clean;
  clean.first_frame_clean = true;
  // At t = 0 the clean rows equal the regular ones: the flag must be a no-op, bit for bit.
  EXPECT_TRUE(Same(RunTiny(*model_, 0.0), RunTiny(*model_, 0.0, clean)));
  // At t > 0 it changes the video (and, through fusion, the audio).
  const OviForwardOutputs a = RunTiny(*model_, 600.0), b = RunTiny(*model_, 600.0, clean);
  EXPECT_FALSE(at::equal(a.video, b.video));
  EXPECT_FALSE(at::equal(a.audio, b.audio));
}

// One batch-2 forward must give each guidance pass what its own forward gives: sample 0 the
// positive context through every block, sample 1 the negative context skipping the SLG block
// (here block 1 of 3, so the batch splits and merges in the middle), with and without the
// first-frame rows. f32 on the CPU: only the GEMMs' blocking may differ, so 1e-5 relative.
TEST_F(OviModelTest, GuidedBatchMatchesTwoPasses) {
  ASSERT_NE(model_, nullptr);
  const Case in;
  const at::Tensor neg_v = RandomInput({9, 256}, at::kFloat, c10::kCPU, 21);
  const at::Tensor neg_a = RandomInput({4, 256}, at::kFloat, c10::kCPU, 22);
  absl::StatusOr<OviContextCache> pos = model_->PrepareContext(in.ctx_v, in.ctx_a);
  absl::StatusOr<OviContextCache> neg = model_->PrepareContext(neg_v, neg_a);
  ASSERT_TRUE(pos.ok() && neg.ok());
  for (const int slg : {1, 2, -1}) {
    for (const bool clean : {false, true}) {
      SCOPED_TRACE(absl::StrCat("slg_layer ", slg, ", first_frame_clean ", clean));
      OviForwardOptions plain, skip;
      plain.first_frame_clean = skip.first_frame_clean = clean;
      skip.slg_layer = slg;
      const OviForwardInputs x{in.video, in.audio, 640.0};
      absl::StatusOr<OviForwardOutputs> p = model_->Forward(x, *pos, plain);
      absl::StatusOr<OviForwardOutputs> n = model_->Forward(x, *neg, skip);
      absl::StatusOr<OviGuidedOutputs> g = model_->ForwardGuided(x, *pos, *neg, skip);
      ASSERT_TRUE(p.ok() && n.ok() && g.ok()) << g.status();
      ASSERT_EQ(g->positive.video.sizes(), p->video.sizes());
      ASSERT_EQ(g->negative.audio.sizes(), n->audio.sizes());
      EXPECT_LT(RelativeMaxError(g->positive.video, p->video), 1e-5);
      EXPECT_LT(RelativeMaxError(g->positive.audio, p->audio), 1e-5);
      EXPECT_LT(RelativeMaxError(g->negative.video, n->video), 1e-5);
      EXPECT_LT(RelativeMaxError(g->negative.audio, n->audio), 1e-5);
      // The two samples really differ (different contexts, one block skipped).
      EXPECT_GT(RelativeMaxError(g->positive.video, g->negative.video), 1e-3);
    }
  }
  EXPECT_EQ(
      model_->ForwardGuided({in.video, in.audio, 500.0}, *pos, OviContextCache{}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(OviModelTest, FusedBlockMatchesUnfusedComposition) {
  ASSERT_NE(model_, nullptr);
  const OviWeights& w = model_->weights();
  const OviBlockWeights& ba = w.audio.blocks[1];
  const OviBlockWeights& bv = w.video.blocks[1];
  const int64_t d = 256;
  const BlockExec heads{2};
  const Case in;
  absl::StatusOr<OviContextCache> ctx = model_->PrepareContext(in.ctx_v, in.ctx_a);
  ASSERT_TRUE(ctx.ok());
  const at::Tensor e0a = RandomInput({1, 6, d}, at::kFloat, c10::kCPU, 21);  // [1, 6, D]
  const at::Tensor e0v = RandomInput({1, 6, d}, at::kFloat, c10::kCPU, 22);  // [1, 6, D]
  const at::Tensor a0 = RandomInput({1, 5, d}, at::kFloat, c10::kCPU, 23);   // [1, La, D]
  const at::Tensor v0 = RandomInput({1, 8, d}, at::kFloat, c10::kCPU, 24);   // [1, Lv, D]
  const RopeTable ra = AudioRopeTable(5, 128, 0.19676, at::kFloat, c10::kCPU);
  const RopeTable rv = VideoRopeTable(2, 2, 2, 128, at::kFloat, c10::kCPU);

  TowerStream audio{a0, {e0a, {}, 0}, ra};
  TowerStream video{v0, {e0v, {}, 0}, rv};
  FusedBlock(ba, bv, ctx->audio[1], ctx->video[1], heads, &audio, &video);

  // Spec §3 step by step, modulation rows by hand.
  const at::Tensor ea = e0a.add(ba.modulation.unsqueeze(0));                    // [1, 6, D]
  const at::Tensor ev = e0v.add(bv.modulation.unsqueeze(0));                    // [1, 6, D]
  auto row = [](const at::Tensor& e, int64_t i) { return e.narrow(1, i, 1); };  // [1, 1, D]
  auto mod = [&](const at::Tensor& x, const at::Tensor& e, int64_t shift, int64_t scale) {
    return LayerNorm(x).mul(row(e, scale).add(1)).add(row(e, shift));
  };
  at::Tensor a = a0.add(SelfAttention(ba.self_attn, mod(a0, ea, 0, 1), ra, heads).mul(row(ea, 2)));
  at::Tensor v = v0.add(SelfAttention(bv.self_attn, mod(v0, ev, 0, 1), rv, heads).mul(row(ev, 2)));
  const at::Tensor a_sa = a;
  a = a.add(FusionCrossAttention(ba.cross_attn, LayerNorm(a, ba.norm3_w, ba.norm3_b), v,
                                 ctx->audio[1], ra, rv, heads));
  a = a.add(FeedForward(ba, mod(a, ea, 3, 4)).mul(row(ea, 5)));
  v = v.add(FusionCrossAttention(bv.cross_attn, LayerNorm(v, bv.norm3_w, bv.norm3_b), a_sa,
                                 ctx->video[1], rv, ra, heads));
  v = v.add(FeedForward(bv, mod(v, ev, 3, 4)).mul(row(ev, 5)));
  EXPECT_LT(RelativeMaxError(audio.x, a), 1e-6);
  EXPECT_LT(RelativeMaxError(video.x, v), 1e-6);
  // And the order matters: the audio cross-attention saw the post-self-attention video.
  EXPECT_FALSE(at::equal(audio.x, a0));
}

// Block 1 with zero output projections adds nothing, so skipping it must change nothing; with
// random weights skipping it must change the result. slg_layer 0 skips nothing (Ovi's `> 0`).
TEST(OviModelLoadTest, SkipLayerGuidanceSkipsTheWholeBlock) {
  std::vector<TestTensor> tensors = TinyTensors();
  for (TestTensor& t : tensors) {
    const bool zero_out =
        t.name.find(".blocks.1.") != std::string::npos &&
        (t.name.find("attn.o.") != std::string::npos || t.name.find("ffn.2.") != std::string::npos);
    if (!zero_out) continue;
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    t.values.assign(n, 0.0f);
  }
  std::unique_ptr<OviModel> inert = LoadTensors("ovi_slg_inert.gguf", tensors);
  std::unique_ptr<OviModel> random = LoadTensors("ovi_slg_random.gguf", TinyTensors());
  ASSERT_TRUE(inert && random);
  OviForwardOptions skip1, skip0, skip_past;
  skip1.slg_layer = 1;
  skip0.slg_layer = 0;
  skip_past.slg_layer = 7;
  EXPECT_TRUE(Same(RunTiny(*inert, 500.0), RunTiny(*inert, 500.0, skip1)));
  EXPECT_FALSE(Same(RunTiny(*random, 500.0), RunTiny(*random, 500.0, skip1)));
  EXPECT_TRUE(Same(RunTiny(*random, 500.0), RunTiny(*random, 500.0, skip0)));
  EXPECT_TRUE(Same(RunTiny(*random, 500.0), RunTiny(*random, 500.0, skip_past)));
}

TEST(OviModelLoadTest, LayoutVariantsGiveTheSameOutput) {
  std::unique_ptr<OviModel> base = LoadTensors("ovi_layout_base.gguf", TinyTensors());
  std::vector<TestTensor> folded = TinyTensors();
  for (TestTensor& t : folded) {
    if (t.name == "video_model.patch_embedding.weight") {
      t.shape = {256 * 48, 1, 2, 2};  // stable-diffusion.cpp: ne[3] = in * out
    } else if (t.name.ends_with("modulation") && t.shape.size() == 3) {
      t.shape = {t.shape[1], t.shape[2]};  // llama-quantize drops the leading 1
    }
  }
  std::unique_ptr<OviModel> variant = LoadTensors("ovi_layout_folded.gguf", folded);
  ASSERT_TRUE(base && variant);
  EXPECT_TRUE(Same(RunTiny(*base, 400.0), RunTiny(*variant, 400.0)));
}

// Writes `tensors` to a file, loads it and returns the load's error (failing the test if it
// loads); `path` gets the file's name.
absl::Status LoadError(const std::string& name, std::vector<TestTensor> tensors,
                       std::string* path = nullptr) {
  absl::StatusOr<std::string> written = WriteTestGguf(name, std::move(tensors));
  EXPECT_TRUE(written.ok()) << written.status();
  if (!written.ok()) return written.status();
  if (path != nullptr) *path = *written;
  absl::StatusOr<std::unique_ptr<OviModel>> model = OviModel::Load(*written, Quiet());
  std::remove(written->c_str());
  EXPECT_FALSE(model.ok());
  return model.ok() ? absl::OkStatus() : model.status();
}

TEST(OviModelLoadTest, MissingUnexpectedAndMisshapedTensorsAreNamed) {
  std::vector<TestTensor> tensors;
  for (TestTensor& t : TinyTensors()) {
    if (t.name == "audio_model.blocks.1.ffn.0.bias") continue;
    if (t.name == "video_model.blocks.2.norm3.weight") t.shape = {255};
    tensors.push_back(t);
  }
  tensors.push_back({"video_model.extra.weight", GgmlType::kF32, {4}});
  const absl::Status s = LoadError("ovi_broken.gguf", tensors);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(s.message());
  EXPECT_NE(message.find("audio_model.blocks.1.ffn.0.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("video_model.blocks.2.norm3.weight is [255]"), std::string::npos)
      << message;
  EXPECT_NE(message.find("video_model.extra.weight"), std::string::npos) << message;
}

// Values that would load and then compute garbage are refused at load, naming what is wrong:
// an integer tensor among the parameters (it truncated the activations it met) and an audio
// rope scale that is not a positive number.
TEST(OviModelLoadTest, IntegerParametersAndABadAudioRopeScaleAreRefused) {
  std::vector<TestTensor> tensors = TinyTensors();
  for (TestTensor& t : tensors) {
    if (t.name == "video_model.patch_embedding.weight") {
      t.type = GgmlType::kI32;
      t.zero_bytes = true;
    }
  }
  absl::StatusOr<std::string> path = WriteTestGguf("ovi_int.gguf", tensors);
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::unique_ptr<OviModel>> model = OviModel::Load(*path, Quiet());
  std::remove(path->c_str());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find(
                "tensor 'video_model.patch_embedding.weight' is i32; Ovi's parameters are "
                "floating point"),
            std::string::npos)
      << model.status();

  for (const float scale : {std::nanf(""), INFINITY, 0.0f, -1.0f}) {
    path = WriteTestGguf("ovi_scale.gguf", TinyTensors(),
                         {{"ovi.audio_rope_scale", gguf::Value::F32(scale)}});
    ASSERT_TRUE(path.ok()) << path.status();
    model = OviModel::Load(*path, Quiet());
    std::remove(path->c_str());
    ASSERT_FALSE(model.ok()) << scale;
    EXPECT_NE(model.status().message().find("ovi.audio_rope_scale"), std::string::npos)
        << model.status();
  }
}

// An even audio conv kernel: every shape is consistent, but the padded convolutions add a token
// each, so every forward pass failed with an unnamed reshape error. Refused at load, naming the
// file and the tensor.
TEST(OviModelLoadTest, AnEvenAudioConvKernelIsRefusedAtLoad) {
  OviConfig config = OviTinyConfig();
  config.audio_conv_kernel = 6;
  std::vector<TestTensor> tensors;
  for (const OviTensor& t : BuildOviLayout(config))
    tensors.push_back({t.name, GgmlType::kF32, t.shape});
  std::string path;
  const absl::Status s = LoadError("ovi_even_kernel.gguf", tensors, &path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(s.message());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("audio_model.patch_embedding.0.weight's last dim) must be odd, got 6"),
            std::string::npos)
      << message;
}

// Files from `ovid-gguf synth --preset ovi-tiny` (the real writer and quantization rules).
std::string Synth(const std::string& type) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir ? dir : "/tmp", "/ovid_", getpid(), "_synth_", type, ".gguf");
  const std::string cmd =
      absl::StrCat(OVID_GGUF_BIN, " synth ", path, " --preset ovi-tiny --seed 5 --type ", type,
                   " > /dev/null 2>&1");
  return std::system(cmd.c_str()) == 0 ? path : "";
}

TEST(OviModelLoadTest, LoadsSynthBf16AndQ4KM) {
  const std::string bf16 = Synth("BF16"), q4 = Synth("Q4_K_M");
  ASSERT_FALSE(bf16.empty());
  ASSERT_FALSE(q4.empty());
  absl::StatusOr<std::unique_ptr<OviModel>> a = OviModel::Load(bf16, Quiet());
  absl::StatusOr<std::unique_ptr<OviModel>> b = OviModel::Load(q4, Quiet());
  std::remove(bf16.c_str());
  std::remove(q4.c_str());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)->spec().variant, "128x128_5s");  // from ovi.variant (synth tiny)
  EXPECT_EQ((*a)->spec().text_len, 512);
  EXPECT_NEAR((*a)->spec().audio_rope_scale, 0.19676, 1e-7);
  // Block linears stay quantized (lazy); the rest is dense.
  EXPECT_TRUE((*b)->store().Quantized("video_model.blocks.0.self_attn.q.weight").ok());
  EXPECT_NE((*b)->weights().video.blocks[0].ffn0.weight(), nullptr);
  EXPECT_EQ((*a)->weights().video.blocks[0].ffn0.weight(), nullptr);
  const OviForwardOutputs ya = RunTiny(**a, 800.0), yb = RunTiny(**b, 800.0);
  const double ev = RelativeMaxError(yb.video, ya.video), ea = RelativeMaxError(yb.audio, ya.audio);
  std::printf("Q4_K_M vs BF16 relative max error: video %.3g, audio %.3g\n", ev, ea);
  EXPECT_TRUE(at::isfinite(yb.video).all().item().toBool());
  EXPECT_LT(ev, 0.5);
  EXPECT_LT(ea, 0.5);
}

}  // namespace
}  // namespace ovid::ovi
