// engine/ops/attention.h: FlashInfer's Hopper kernel against an f32 reference and LibTorch's
// choice, at lengths that are not multiples of its tiles (128 queries x 192 keys), with a batch
// of two, the strided [B, L, H, d] -> [B, H, L, d] views the model passes, and the shapes where
// the default backend takes it or leaves it. GPU cases skip themselves without a Hopper GPU or
// without the kernel built in; the refusal of inputs it cannot take is checked everywhere.
#include <ATen/ops/empty.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/softmax.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/ops/attention.h"
#include "tests/engine/engine_test_util.h"

namespace ovid::ops {
namespace {

using ::ovid::testing::HaveCuda;
using ::ovid::testing::RandomInput;

const c10::Device kCuda(c10::kCUDA, 0);

// q/k/v as the model makes them: [B, L, H*d] projections viewed as [B, H, L, d].
at::Tensor Heads(int64_t b, int64_t l, int64_t heads, int64_t d, uint64_t seed, c10::Device dev,
                 at::ScalarType dtype = at::kBFloat16) {
  return RandomInput({b, l, heads * d}, at::kFloat, c10::kCPU, seed)
      .to(dev, dtype)
      .view({b, l, heads, d})
      .transpose(1, 2);
}

at::Tensor ReferenceF32(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const at::Tensor qf = q.to(at::kFloat), kf = k.to(at::kFloat), vf = v.to(at::kFloat);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  return at::matmul(at::softmax(at::matmul(qf, kf.transpose(2, 3)).mul(scale), -1), vf);
}

double RelL2(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor af = a.to(c10::kCPU, at::kFloat), bf = b.to(c10::kCPU, at::kFloat);
  return af.sub(bf).norm().item<double>() / bf.norm().item<double>();
}

class FlashInferAttentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
    const at::Tensor probe = Heads(1, 16, 1, 128, 1, kCuda);
    if (!FlashInferAttentionApplies(probe, probe, probe)) {
      GTEST_SKIP() << "FlashInfer's sm_90a attention is not built in or this GPU is not Hopper";
    }
  }
};

TEST_F(FlashInferAttentionTest, MatchesF32ReferenceAtOddLengthsAndBatchTwo) {
  struct Case {
    int64_t b, lq, lk, heads;
  };
  for (const Case c : {Case{2, 300, 4500, 3}, Case{1, 1, 5, 2}, Case{1, 129, 193, 4},
                       Case{2, 1000, 157, 2}, Case{1, 314, 7001, 24}}) {
    const at::Tensor q = Heads(c.b, c.lq, c.heads, 128, 10 + c.lq, kCuda);
    const at::Tensor k = Heads(c.b, c.lk, c.heads, 128, 20 + c.lk, kCuda);
    const at::Tensor v = Heads(c.b, c.lk, c.heads, 128, 30 + c.lk, kCuda);
    const at::Tensor out = ScaledDotProductAttention(q, k, v, AttentionBackend::kFlashInfer);
    ASSERT_EQ(out.sizes(), q.sizes());
    EXPECT_EQ(out.scalar_type(), at::kBFloat16);
    const at::Tensor ref = ReferenceF32(q, k, v);
    const double err = RelL2(out, ref);
    const double torch_err =
        RelL2(ScaledDotProductAttention(q, k, v, AttentionBackend::kTorch), ref);
    std::printf(
        "flashinfer B=%lld Lq=%lld Lk=%lld H=%lld: rel. L2 error vs f32 %.2e (LibTorch %.2e)\n",
        static_cast<long long>(c.b), static_cast<long long>(c.lq), static_cast<long long>(c.lk),
        static_cast<long long>(c.heads), err, torch_err);
    // bf16 output rounding is 2^-9 relative; P is rounded to bf16 before P·V in both kernels.
    EXPECT_LT(err, 6e-3);
    EXPECT_LT(err, 2 * torch_err + 1e-3);
  }
}

TEST_F(FlashInferAttentionTest, DefaultTakesItForLongKeysOnly) {
  const at::Tensor q = Heads(1, 256, 2, 128, 1, kCuda);
  const at::Tensor long_k = Heads(1, kFlashInferMinKeys, 2, 128, 2, kCuda);
  const at::Tensor long_v = Heads(1, kFlashInferMinKeys, 2, 128, 3, kCuda);
  const at::Tensor short_k = long_k.narrow(2, 0, 512), short_v = long_v.narrow(2, 0, 512);
  // Same kernel, same inputs: bit-identical outputs show which backend ran.
  EXPECT_TRUE(
      ScaledDotProductAttention(q, long_k, long_v, AttentionBackend::kDefault)
          .equal(ScaledDotProductAttention(q, long_k, long_v, AttentionBackend::kFlashInfer)));
  EXPECT_TRUE(ScaledDotProductAttention(q, short_k, short_v, AttentionBackend::kDefault)
                  .equal(ScaledDotProductAttention(q, short_k, short_v, AttentionBackend::kTorch)));
}

TEST_F(FlashInferAttentionTest, RefusesWhatItCannotTakeWithAMessage) {
  const at::Tensor ok = Heads(1, 64, 2, 128, 1, kCuda);
  const at::Tensor f32 = Heads(1, 64, 2, 128, 1, kCuda, at::kFloat);
  const at::Tensor d64 = Heads(1, 64, 2, 64, 1, kCuda);
  // A view starting 1 element into its storage: not 16-byte aligned.
  const at::Tensor misaligned = at::empty({64 * 256 + 1}, ok.options())
                                    .narrow(0, 1, 64 * 256)
                                    .view({1, 64, 2, 128})
                                    .transpose(1, 2);
  for (const at::Tensor* bad : {&f32, &d64, &misaligned}) {
    EXPECT_FALSE(FlashInferAttentionApplies(*bad, ok, ok));
    try {
      ScaledDotProductAttention(*bad, ok, ok, AttentionBackend::kFlashInfer);
      ADD_FAILURE() << "accepted q " << bad->sizes() << " " << bad->scalar_type();
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("flashinfer attention"), std::string::npos) << e.what();
    }
  }
}

// Everywhere (also without a GPU): CPU tensors are never given to it, and the default backend
// then is LibTorch's choice.
TEST(FlashInferAttentionCpuTest, NotAppliedToCpuTensors) {
  const at::Tensor q = Heads(1, 8, 2, 128, 1, c10::kCPU, at::kFloat);
  EXPECT_FALSE(FlashInferAttentionApplies(q, q, q));
  EXPECT_TRUE(ScaledDotProductAttention(q, q, q, AttentionBackend::kDefault)
                  .equal(ScaledDotProductAttention(q, q, q, AttentionBackend::kTorch)));
  try {
    ScaledDotProductAttention(q, q, q, AttentionBackend::kFlashInfer);
    ADD_FAILURE() << "flashinfer accepted CPU tensors";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("flashinfer attention"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ovid::ops
