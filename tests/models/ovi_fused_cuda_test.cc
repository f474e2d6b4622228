// The fused elementwise kernels (engine/ops/dit_ops.h) against the plain ATen chains they
// replace, on CUDA in bf16: RMSNorm + RoPE, LayerNorm (+ affine) + modulation with a
// first-frame segment, the gated residual; then a whole tiny Ovi forward pass fused vs plain,
// with each attention backend, and both guidance passes as one batch. Without a GPU those cases
// report themselves skipped; the dispatch (CPU and f32 keep the plain chains) and the backend names
// are checked everywhere.
#include <ATen/ops/abs.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ne.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/models/ovi/ovi_block.h"
#include "engine/models/ovi/ovi_layers.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/models/ovi/ovi_rope.h"
#include "engine/ops/attention.h"
#include "engine/ops/dit_ops.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_gguf.h"

namespace ovid::ovi {
namespace {

using ::ovid::testing::HaveCuda;
using ::ovid::testing::RandomInput;
using ::ovid::testing::RelativeMaxError;

const c10::Device kCuda(c10::kCUDA, 0);

// Fused and plain outputs round at the same points; only a norm statistic summed in another
// order can move a value across a bf16 rounding boundary, which changes it by one bf16 step
// (2^-8 relative, 2^-7 just below a power of two). Allow that, on at most 1% of the values.
void ExpectOneRoundingApart(const at::Tensor& fused, const at::Tensor& plain, const char* what) {
  ASSERT_EQ(fused.sizes(), plain.sizes()) << what;
  ASSERT_EQ(fused.scalar_type(), plain.scalar_type()) << what;
  const at::Tensor f = fused.to(c10::kCPU, at::kFloat), p = plain.to(c10::kCPU, at::kFloat);
  const at::Tensor diff = f.sub(p).abs();
  const at::Tensor bound = p.abs().mul(1.0 / 128).add(1e-30);
  const double worst = diff.div(bound).max().item<double>();
  const double changed = at::ne(f, p).to(at::kDouble).mean().item<double>();
  std::printf("%s: %.4f%% of values differ, worst |diff| = %.2f bf16 steps\n", what, changed * 100,
              worst);
  EXPECT_LE(worst, 1.0) << what;
  EXPECT_LE(changed, 0.01) << what;
}

class DitFusedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
    if (!ops::DitFusedAvailable(
            at::empty({1, 1, 8}, at::TensorOptions(kCuda).dtype(at::kBFloat16)))) {
      GTEST_SKIP() << "built without the CUDA kernels";
    }
  }
  static at::Tensor Bf16(const std::vector<int64_t>& shape, uint64_t seed, double scale = 1.0) {
    return RandomInput(shape, at::kFloat, kCuda, seed).mul(scale).to(at::kBFloat16);
  }
};

TEST_F(DitFusedTest, RmsNormRopeMatchesThePlainChain) {
  struct Shape {
    int64_t b, f, h, w, dim, head_dim;
  };
  for (const Shape& s :
       {Shape{1, 2, 3, 5, 256, 128}, Shape{2, 1, 4, 4, 3072, 128}, Shape{1, 3, 2, 2, 384, 64}}) {
    const int64_t l = s.f * s.h * s.w, heads = s.dim / s.head_dim;
    const at::Tensor x = Bf16({s.b, l, s.dim}, 1, 3.0);  // [B, L, D]
    const at::Tensor weight = RandomInput({s.dim}, at::kFloat, kCuda, 2);
    const RopeTable rope = VideoRopeTable(s.f, s.h, s.w, s.head_dim, at::kFloat, kCuda);
    at::Tensor normed, roped;
    ASSERT_TRUE(
        ops::RmsNormRope(x, weight, rope.cos, rope.sin, s.head_dim, kOviEps, {&normed, &roped})
            .ok());
    const at::Tensor plain_normed = RmsNorm(x, weight);  // [B, L, D]
    const at::Tensor plain_roped =
        ApplyRope(plain_normed.view({s.b, l, heads, s.head_dim}), rope).view({s.b, l, s.dim});
    const std::string what = "RMSNorm+RoPE D=" + std::to_string(s.dim);
    ExpectOneRoundingApart(normed, plain_normed, (what + " normed").c_str());
    ExpectOneRoundingApart(roped, plain_roped, (what + " roped").c_str());
    // Given the same normed input, the rotation itself rounds exactly as the plain chain does.
    at::Tensor roped_only;
    ASSERT_TRUE(
        ops::RmsNormRope(x, weight, rope.cos, rope.sin, s.head_dim, kOviEps, {nullptr, &roped_only})
            .ok());
    EXPECT_TRUE(at::equal(roped_only, roped));
    const at::Tensor from_fused =
        ApplyRope(normed.view({s.b, l, heads, s.head_dim}), rope).view({s.b, l, s.dim});
    EXPECT_TRUE(at::equal(roped, from_fused)) << what;
  }
}

TEST_F(DitFusedTest, LayerNormModulateMatchesThePlainChain) {
  const int64_t b = 2, l = 37, d = 3072;
  const at::Tensor x = Bf16({b, l, d}, 3, 4.0).add(1.5);  // [B, L, D], mean away from 0
  const at::Tensor rows = Bf16({b, 6, d}, 4, 0.5);        // [B, 6, D]
  const at::Tensor clean = Bf16({b, 6, d}, 5, 0.5);       // [B, 6, D]
  // The norm may round one way or the other (above); from the rounded norm on, the modulation
  // rounds exactly as the plain chain (a flip can look large after `+ shift` cancels, so the
  // two are checked apart: the norm within a rounding, the modulation bit for bit).
  const at::Tensor fused_norm = LayerNorm(x, {}, {}, true);
  for (int64_t clean_tokens : {int64_t{0}, int64_t{5}}) {
    const Modulation m{rows, clean_tokens > 0 ? clean : at::Tensor(), clean_tokens};
    EXPECT_TRUE(at::equal(m.NormAffine(x, 3, 4, true), m.Affine(fused_norm, 3, 4)))
        << "clean_tokens " << clean_tokens;
    EXPECT_LT(RelativeMaxError(m.NormAffine(x, 3, 4, true), m.Affine(LayerNorm(x), 3, 4)), 1e-2);
  }
  const at::Tensor w = RandomInput({d}, at::kFloat, kCuda, 6);
  const at::Tensor bias = RandomInput({d}, at::kFloat, kCuda, 7);
  ExpectOneRoundingApart(LayerNorm(x, w, bias, true), LayerNorm(x, w, bias), "LayerNorm affine");
  ExpectOneRoundingApart(LayerNorm(x, {}, {}, true), LayerNorm(x), "LayerNorm");
}

TEST_F(DitFusedTest, GatedResidualIsBitExact) {
  const int64_t b = 2, l = 19, d = 256;
  const at::Tensor x = Bf16({b, l, d}, 8), y = Bf16({b, l, d}, 9);
  const at::Tensor rows = Bf16({b, 6, d}, 10), clean = Bf16({b, 6, d}, 11);
  for (int64_t clean_tokens : {int64_t{0}, int64_t{4}, int64_t{19}}) {
    const Modulation m{rows, clean_tokens > 0 ? clean : at::Tensor(), clean_tokens};
    EXPECT_TRUE(at::equal(m.AddGated(x, y, 2, true), x.add(m.Gate(y, 2))))
        << "clean_tokens " << clean_tokens;
  }
}

TEST_F(DitFusedTest, BadInputsAreRefused) {
  const at::Tensor x = Bf16({1, 4, 256}, 12);
  const at::Tensor w = RandomInput({256}, at::kFloat, kCuda, 13);
  const RopeTable rope = AudioRopeTable(4, 128, 1.0, at::kFloat, kCuda);
  at::Tensor out;
  // f32 activations, a head_dim that does not divide D, a table of the wrong length.
  EXPECT_EQ(
      ops::RmsNormRope(x.to(at::kFloat), w, rope.cos, rope.sin, 128, 1e-6, {&out, nullptr}).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops::RmsNormRope(x, w, rope.cos, rope.sin, 96, 1e-6, {nullptr, &out}).code(),
            absl::StatusCode::kInvalidArgument);
  const RopeTable short_rope = AudioRopeTable(3, 128, 1.0, at::kFloat, kCuda);
  EXPECT_EQ(
      ops::RmsNormRope(x, w, short_rope.cos, short_rope.sin, 128, 1e-6, {nullptr, &out}).code(),
      absl::StatusCode::kInvalidArgument);
  const at::Tensor rows = Bf16({2, 6, 256}, 14);  // batch 2 for activations of batch 1
  const ops::DitModulation m{&rows, nullptr, 0};
  EXPECT_EQ(ops::GateResidual(x, x, m, 2).status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing a kernel would read out of bounds or on another device gets through: a sin table on
  // the host, a row index past the rows, first-frame rows with another row count, y elsewhere.
  EXPECT_EQ(ops::RmsNormRope(x, w, rope.cos, rope.sin.cpu(), 128, 1e-6, {nullptr, &out}).code(),
            absl::StatusCode::kInvalidArgument);
  const at::Tensor rows1 = Bf16({1, 6, 256}, 15), clean3 = Bf16({1, 3, 256}, 16);
  const ops::DitModulation m1{&rows1, nullptr, 0};
  const absl::Status past = ops::GateResidual(x, x, m1, 6).status();
  EXPECT_EQ(past.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(past.message()).find("modulation row 6 asked of 6 rows"),
            std::string::npos)
      << past;
  EXPECT_EQ(ops::LayerNormModulate(x, {}, {}, &m1, 0, 7, 1e-6).status().code(),
            absl::StatusCode::kInvalidArgument);
  const ops::DitModulation mixed{&rows1, &clean3, 2};
  EXPECT_EQ(ops::GateResidual(x, x, mixed, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops::GateResidual(x, x.cpu(), m1, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Rows given as an undefined tensor mean no modulation, not an exception.
  const at::Tensor none;
  const ops::DitModulation absent{&none, nullptr, 0};
  EXPECT_TRUE(ops::LayerNormModulate(x, {}, {}, &absent, 0, 1, 1e-6).ok());
}

// Without CUDA (and for f32 or CPU tensors anywhere) the fused entry points refuse and the
// layers keep the plain chains, bit for bit.
TEST(DitFusedDispatchTest, CpuAndF32TakeThePlainChains) {
  const at::Tensor x = RandomInput({2, 5, 64}, at::kFloat, c10::kCPU, 31);  // [B, L, D]
  const at::Tensor rows = RandomInput({2, 6, 64}, at::kFloat, c10::kCPU, 32);
  const at::Tensor clean = RandomInput({2, 6, 64}, at::kFloat, c10::kCPU, 33);
  EXPECT_FALSE(ops::DitFusedAvailable(x));
  EXPECT_FALSE(ops::DitFusedAvailable(x.to(at::kBFloat16)));  // bf16, but on the CPU
  const Modulation m{rows, clean, 2};
  EXPECT_TRUE(at::equal(m.NormAffine(x, 0, 1, true), m.Affine(LayerNorm(x), 0, 1)));
  EXPECT_TRUE(at::equal(m.AddGated(x, x.mul(0.5), 2, true), x.add(m.Gate(x.mul(0.5), 2))));
  const at::Tensor w = RandomInput({64}, at::kFloat, c10::kCPU, 34);
  EXPECT_TRUE(at::equal(LayerNorm(x, w, w, true), LayerNorm(x, w, w)));
  at::Tensor out;
  const RopeTable rope = AudioRopeTable(5, 32, 1.0, at::kFloat, c10::kCPU);
  const absl::Status s = ops::RmsNormRope(x, w, rope.cos, rope.sin, 32, 1e-6, {&out, nullptr});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("RmsNormRope"), std::string::npos) << s;
  EXPECT_EQ(ops::GateResidual(x, x, {&rows, nullptr, 0}, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AttentionBackendTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (ops::AttentionBackend b : {ops::AttentionBackend::kDefault, ops::AttentionBackend::kTorch,
                                  ops::AttentionBackend::kFlashInfer, ops::AttentionBackend::kCudnn,
                                  ops::AttentionBackend::kFlash, ops::AttentionBackend::kEfficient,
                                  ops::AttentionBackend::kMath}) {
    absl::StatusOr<ops::AttentionBackend> parsed =
        ops::ParseAttentionBackend(ops::AttentionBackendName(b));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, b);
  }
  const absl::StatusOr<ops::AttentionBackend> bad = ops::ParseAttentionBackend("fa3");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("fa3"), std::string::npos);
  // On the CPU the math reference and LibTorch's choice agree.
  const at::Tensor q = RandomInput({1, 2, 7, 16}, at::kFloat, c10::kCPU, 41);
  const at::Tensor k = RandomInput({1, 2, 9, 16}, at::kFloat, c10::kCPU, 42);
  const at::Tensor v = RandomInput({1, 2, 9, 16}, at::kFloat, c10::kCPU, 43);
  EXPECT_LT(
      RelativeMaxError(ops::ScaledDotProductAttention(q, k, v, ops::AttentionBackend::kMath),
                       ops::ScaledDotProductAttention(q, k, v, ops::AttentionBackend::kDefault)),
      1e-6);
}

// The whole tiny model on CUDA in bf16: fused vs plain chains, and the attention backends.
// The tiny layout with every tensor F32 random (deterministic by position), as a test GGUF.
absl::StatusOr<std::string> TinyF32Gguf(const std::string& name) {
  std::vector<::ovid::testing::TestTensor> tensors;
  for (const OviTensor& t : BuildOviLayout(OviTinyConfig())) {
    tensors.push_back({t.name, GgmlType::kF32, t.shape});
  }
  return ::ovid::testing::WriteTestGguf(name, std::move(tensors));
}

TEST_F(DitFusedTest, TinyForwardFusedMatchesPlainAndBackendsAgree) {
  absl::StatusOr<std::string> path = TinyF32Gguf("ovi_tiny_fused.gguf");
  ASSERT_TRUE(path.ok()) << path.status();
  auto load = [&](bool fused, ops::AttentionBackend attention) {
    OviModelOptions o;
    o.device = kCuda;
    o.load.log = false;
    o.fused_elementwise = fused;
    o.attention = attention;
    absl::StatusOr<std::unique_ptr<OviModel>> m = OviModel::Load(*path, o);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *std::move(m) : nullptr;
  };
  const at::Tensor video = RandomInput({48, 3, 4, 6}, at::kFloat, c10::kCPU, 21);
  const at::Tensor audio = RandomInput({9, 20}, at::kFloat, c10::kCPU, 22);
  const at::Tensor ctx_v = RandomInput({7, 256}, at::kFloat, c10::kCPU, 23);
  const at::Tensor ctx_a = RandomInput({5, 256}, at::kFloat, c10::kCPU, 24);
  auto run = [&](const OviModel& m, bool first_frame) {
    absl::StatusOr<OviContextCache> ctx = m.PrepareContext(ctx_v, ctx_a);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    OviForwardOptions f;
    f.first_frame_clean = first_frame;
    absl::StatusOr<OviForwardOutputs> out = m.Forward({video, audio, 640.0}, *ctx, f);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : OviForwardOutputs{};
  };
  const std::unique_ptr<OviModel> plain = load(false, ops::AttentionBackend::kDefault);
  ASSERT_NE(plain, nullptr);
  for (bool first_frame : {false, true}) {
    const OviForwardOutputs ref = run(*plain, first_frame);
    for (ops::AttentionBackend backend :
         {ops::AttentionBackend::kDefault, ops::AttentionBackend::kCudnn,
          ops::AttentionBackend::kFlash, ops::AttentionBackend::kMath}) {
      const std::unique_ptr<OviModel> m = load(true, backend);
      ASSERT_NE(m, nullptr);
      const OviForwardOutputs out = run(*m, first_frame);
      const double ev = RelativeMaxError(out.video, ref.video);
      const double ea = RelativeMaxError(out.audio, ref.audio);
      std::printf(
          "tiny forward bf16, fused + %s attention vs plain + default%s: video %.2e, "
          "audio %.2e\n",
          ops::AttentionBackendName(backend), first_frame ? " (first frame clean)" : "", ev, ea);
      // bf16 through three blocks: one-step rounding differences grow to ~1e-2 of the max.
      EXPECT_LT(ev, 3e-2);
      EXPECT_LT(ea, 3e-2);
    }
  }
  std::remove(path->c_str());
}

// Both guidance passes in one batch-2 forward on the GPU (bf16, fused kernels, the default
// attention backend: FlashInfer where built in, with batch 2) against the two passes run alone:
// sample 0 the positive context, sample 1 the negative one skipping block 1.
TEST_F(DitFusedTest, TinyGuidedBatchMatchesTwoPasses) {
  absl::StatusOr<std::string> path = TinyF32Gguf("ovi_tiny_guided.gguf");
  ASSERT_TRUE(path.ok()) << path.status();
  OviModelOptions o;
  o.device = kCuda;
  o.load.log = false;
  absl::StatusOr<std::unique_ptr<OviModel>> m = OviModel::Load(*path, o);
  std::remove(path->c_str());
  ASSERT_TRUE(m.ok()) << m.status();
  const OviModel& model = **m;
  const at::Tensor video = RandomInput({48, 3, 4, 6}, at::kFloat, c10::kCPU, 31);
  const at::Tensor audio = RandomInput({9, 20}, at::kFloat, c10::kCPU, 32);
  absl::StatusOr<OviContextCache> pos =
      model.PrepareContext(RandomInput({7, 256}, at::kFloat, c10::kCPU, 33),
                           RandomInput({5, 256}, at::kFloat, c10::kCPU, 34));
  absl::StatusOr<OviContextCache> neg =
      model.PrepareContext(RandomInput({3, 256}, at::kFloat, c10::kCPU, 35),
                           RandomInput({6, 256}, at::kFloat, c10::kCPU, 36));
  ASSERT_TRUE(pos.ok() && neg.ok());
  for (const bool first_frame : {false, true}) {
    OviForwardOptions plain, skip;
    plain.first_frame_clean = skip.first_frame_clean = first_frame;
    skip.slg_layer = 1;
    const OviForwardInputs in{video, audio, 640.0};
    absl::StatusOr<OviForwardOutputs> p = model.Forward(in, *pos, plain);
    absl::StatusOr<OviForwardOutputs> n = model.Forward(in, *neg, skip);
    absl::StatusOr<OviGuidedOutputs> g = model.ForwardGuided(in, *pos, *neg, skip);
    ASSERT_TRUE(p.ok() && n.ok() && g.ok()) << g.status();
    const double errs[4] = {RelativeMaxError(g->positive.video, p->video),
                            RelativeMaxError(g->positive.audio, p->audio),
                            RelativeMaxError(g->negative.video, n->video),
                            RelativeMaxError(g->negative.audio, n->audio)};
    std::printf(
        "tiny guided batch vs two passes, bf16%s: positive video %.2e audio %.2e, negative "
        "video %.2e audio %.2e\n",
        first_frame ? " (first frame clean)" : "", errs[0], errs[1], errs[2], errs[3]);
    // The same kernels on twice the rows: only GEMM tilings chosen for the taller problem may
    // round differently (the bound of the fused-vs-plain test above).
    for (const double e : errs) EXPECT_LT(e, 3e-2);
    EXPECT_GT(RelativeMaxError(g->positive.video, g->negative.video), 1e-1);
  }
}

}  // namespace
}  // namespace ovid::ovi
