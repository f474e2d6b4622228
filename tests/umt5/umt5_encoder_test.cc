// Umt5Encoder on tiny GGUFs (CPU, f32): relative buckets against the spec's thresholds, the
// same model in every key layout, batch vs single prompts, the quantized token table, Q8_0
// layers, input errors, load errors naming the file and tensor, and the embedding cache.
#include "engine/models/umt5/umt5_encoder.h"

#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/models/umt5/umt5_layers.h"
#include "tests/engine/engine_test_util.h"
#include "tests/umt5/umt5_test_util.h"

namespace ovid::umt5 {
namespace {

using ::ovid::testing::RelativeMaxError;
using ::ovid::testing::TestTensor;

Umt5EncoderOptions Quiet(size_t cache_entries = 0) {
  Umt5EncoderOptions o;
  o.load.log = false;
  o.cache_entries = cache_entries;
  return o;
}

std::unique_ptr<Umt5Encoder> LoadTiny(const std::string& name, std::vector<TestTensor> tensors,
                                      Umt5EncoderOptions options = Quiet()) {
  absl::StatusOr<std::string> path = testing::WriteUmt5Gguf(name, std::move(tensors));
  EXPECT_TRUE(path.ok()) << path.status();
  if (!path.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Umt5Encoder>> enc = Umt5Encoder::Load(*path, options);
  std::remove(path->c_str());
  EXPECT_TRUE(enc.ok()) << enc.status();
  return enc.ok() ? *std::move(enc) : nullptr;
}

const std::vector<int64_t> kPromptA = {37, 5, 311, 99, 2, 480, 1};
const std::vector<int64_t> kPromptB = {12, 400, 1};

std::vector<at::Tensor> EncodeOk(const Umt5Encoder& enc,
                                 const std::vector<std::vector<int64_t>>& prompts) {
  absl::StatusOr<std::vector<at::Tensor>> out = enc.Encode(prompts);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<at::Tensor>{};
}

TEST(Umt5Buckets, MatchTheSpecThresholds) {
  const at::Tensor b = RelativeBuckets(200, Umt5XxlConfig(), c10::kCPU);  // [S, S]
  // Spec §2, |rel| -> f: r < 8 -> r, 8-11 -> 8, 12-15 -> 9, 16-22 -> 10, 23-31 -> 11,
  // 32-45 -> 12, 46-63 -> 13, 64-90 -> 14, >= 91 -> 15; keys after the query add 16.
  auto f = [](int64_t r) -> int64_t {
    if (r < 8) return r;
    const int64_t lo[] = {8, 12, 16, 23, 32, 46, 64, 91};
    int64_t v = 7;
    for (int64_t edge : lo) v += r >= edge ? 1 : 0;
    return v;
  };
  for (int64_t r = 0; r < 200; ++r) {
    EXPECT_EQ(b[0][r].item<int64_t>(), (r > 0 ? 16 : 0) + f(r)) << "key after query by " << r;
    EXPECT_EQ(b[r][0].item<int64_t>(), f(r)) << "key before query by " << r;
  }
}

// The hf layout cannot be a GGUF: its relative-bias names are 68+ bytes, over GGUF's 63-byte
// tensor-name limit (ggml's GGML_MAX_NAME; engine/gguf enforces it on read and write). Hugging
// Face files are renamed to the gguf layout on conversion; its table is checked on name lists.
TEST(Umt5Encoder, HfNamesDoNotFitAGguf) {
  absl::StatusOr<std::string> path =
      testing::WriteUmt5Gguf("hf.gguf", testing::TinyUmt5Tensors(Umt5Layout::kHf));
  ASSERT_FALSE(path.ok());
  EXPECT_TRUE(absl::StrContains(path.status().message(), "relative_attention_bias"))
      << path.status();
}

TEST(Umt5Encoder, EveryGgufKeyLayoutGivesTheSameOutput) {
  std::vector<at::Tensor> ref;
  for (Umt5Layout l : {Umt5Layout::kPth, Umt5Layout::kGguf}) {
    auto enc =
        LoadTiny(std::string("layout_") + Umt5LayoutName(l) + ".gguf", testing::TinyUmt5Tensors(l));
    ASSERT_NE(enc, nullptr);
    EXPECT_EQ(enc->spec().layout, l);
    std::vector<at::Tensor> out = EncodeOk(*enc, {kPromptA});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].sizes(), (c10::IntArrayRef{7, 64}));
    EXPECT_TRUE(at::isfinite(out[0]).all().item<bool>());
    if (ref.empty()) {
      ref = out;
    } else {
      EXPECT_TRUE(at::equal(out[0], ref[0])) << Umt5LayoutName(l);
    }
  }
}

TEST(Umt5Encoder, PaddedBatchEqualsPromptsAlone) {
  auto enc = LoadTiny("batch.gguf", testing::TinyUmt5Tensors(Umt5Layout::kGguf));
  ASSERT_NE(enc, nullptr);
  const std::vector<at::Tensor> both = EncodeOk(*enc, {kPromptA, kPromptB});
  const std::vector<at::Tensor> a = EncodeOk(*enc, {kPromptA});
  const std::vector<at::Tensor> b = EncodeOk(*enc, {kPromptB});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].sizes(), (c10::IntArrayRef{3, 64}));
  // The padding of B (4 masked keys) must not reach its rows: equal up to summation order.
  EXPECT_LT(RelativeMaxError(both[0], a[0]), 1e-5);
  EXPECT_LT(RelativeMaxError(both[1], b[0]), 1e-5);
  // Different prompts give different rows (the test would pass on a constant output otherwise).
  EXPECT_GT(RelativeMaxError(both[1], both[0].narrow(0, 0, 3)), 1e-2);
}

TEST(Umt5Encoder, QuantizedTokenTableLooksUpOnlyRowsAndMatchesItsDenseForm) {
  auto enc = LoadTiny("q8emb.gguf",
                      testing::TinyUmt5Tensors(Umt5Layout::kGguf, GgmlType::kF32, GgmlType::kQ8_0));
  ASSERT_NE(enc, nullptr);
  EXPECT_TRUE(enc->quantized_embedding());
  absl::StatusOr<at::Tensor> dense = enc->store().Tensor("token_embd.weight");  // expanded once
  ASSERT_TRUE(dense.ok()) << dense.status();
  absl::StatusOr<TokenEmbedding> emb =
      TokenEmbedding::Bind(enc->store(), "token_embd.weight", 512, 64);
  ASSERT_TRUE(emb.ok()) << emb.status();
  absl::StatusOr<at::Tensor> rows = emb->Lookup({511, 0, 37, 37}, at::kFloat);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_TRUE(at::equal((*rows)[0], (*dense)[511]));
  EXPECT_TRUE(at::equal((*rows)[1], (*dense)[0]));
  EXPECT_TRUE(at::equal((*rows)[3], (*dense)[37]));
  absl::Status bad = emb->Lookup({512}, at::kFloat).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.message(), "token id 512")) << bad;
}

TEST(Umt5Encoder, Q8_0LayersStayCloseToF32) {
  auto f32 = LoadTiny("f32.gguf", testing::TinyUmt5Tensors(Umt5Layout::kGguf));
  auto q8 = LoadTiny("q8.gguf",
                     testing::TinyUmt5Tensors(Umt5Layout::kGguf, GgmlType::kQ8_0, GgmlType::kQ8_0));
  ASSERT_NE(f32, nullptr);
  ASSERT_NE(q8, nullptr);
  EXPECT_EQ(q8->store().Accounting().quantized, 2 * 7 + 1);  // 7 Linear per block + the table
  const at::Tensor a = EncodeOk(*f32, {kPromptA})[0];
  const at::Tensor b = EncodeOk(*q8, {kPromptA})[0];
  const double rel = a.sub(b).norm().item<double>() / a.norm().item<double>();
  EXPECT_LT(rel, 2e-2);  // Q8_0 keeps ~8 bits per weight
  EXPECT_GT(rel, 0.0);   // and is not the F32 model by accident
}

TEST(Umt5Encoder, WorkspaceIsSizedToTheLargestExpandingLinearAndCounted) {
  const auto q8_tensors =
      testing::TinyUmt5Tensors(Umt5Layout::kGguf, GgmlType::kQ8_0, GgmlType::kQ8_0);
  auto q8 = LoadTiny("ws.gguf", q8_tensors);
  ASSERT_NE(q8, nullptr);
  // d_ff x d_model = 96 x 64 in f32 (the CPU's compute dtype), not the 512 x 64 token table.
  EXPECT_EQ(q8->WorkspaceBytes(), 96 * 64 * 4);
  EXPECT_EQ(q8->store().Accounting().workspace_bytes, 96 * 64 * 4);  // counted while alive
  // Nothing expands in an unquantized file or in eager mode: no workspace at all.
  auto f32 = LoadTiny("ws_f32.gguf", testing::TinyUmt5Tensors(Umt5Layout::kGguf));
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->WorkspaceBytes(), 0);
  Umt5EncoderOptions eager = Quiet();
  eager.load.mode = LinearMode::kEager;
  auto expanded = LoadTiny("ws_eager.gguf", q8_tensors, eager);
  ASSERT_NE(expanded, nullptr);
  EXPECT_EQ(expanded->WorkspaceBytes(), 0);
  EXPECT_EQ(expanded->store().Accounting().workspace_bytes, 0);
}

TEST(Umt5Encoder, WithoutItsOwnWorkspaceItRunsInTheCallersOne) {
  Umt5EncoderOptions options = Quiet();
  options.default_workspace = false;  // the pipeline's setting: worker slots bind theirs
  auto enc = LoadTiny("bound.gguf",
                      testing::TinyUmt5Tensors(Umt5Layout::kGguf, GgmlType::kQ8_0, GgmlType::kQ8_0),
                      options);
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(enc->store().Accounting().workspace_bytes, 0);  // none allocated
  absl::Status unbound = enc->Encode({kPromptA}).status();
  EXPECT_EQ(unbound.code(), absl::StatusCode::kFailedPrecondition) << unbound;
  EXPECT_TRUE(absl::StrContains(unbound.message(), "DequantWorkspace")) << unbound;
  absl::StatusOr<std::unique_ptr<DequantWorkspace>> ws =
      DequantWorkspace::Create(c10::kCPU, enc->WorkspaceBytes());
  ASSERT_TRUE(ws.ok()) << ws.status();
  const ScopedWorkspace bind(ws->get());
  EXPECT_FALSE(EncodeOk(*enc, {kPromptA}).empty());
  EXPECT_EQ((*ws)->capacity_bytes(), enc->WorkspaceBytes());  // it did not have to grow
}

TEST(Umt5Encoder, EagerModeMatchesLazyBitForBit) {
  // Eager expands every quantized tensor at load, the token table included (then looked up as
  // a dense table); lazy keeps blocks. On the CPU both use the same dequantizer and GEMM.
  const auto tensors =
      testing::TinyUmt5Tensors(Umt5Layout::kGguf, GgmlType::kQ8_0, GgmlType::kQ8_0);
  Umt5EncoderOptions eager_options = Quiet();
  eager_options.load.mode = LinearMode::kEager;
  auto lazy = LoadTiny("lazy.gguf", tensors);
  auto eager = LoadTiny("eager.gguf", tensors, eager_options);
  ASSERT_NE(lazy, nullptr);
  ASSERT_NE(eager, nullptr);
  EXPECT_TRUE(lazy->quantized_embedding());
  EXPECT_FALSE(eager->quantized_embedding());
  const std::vector<at::Tensor> a = EncodeOk(*lazy, {kPromptA, kPromptB});
  const std::vector<at::Tensor> b = EncodeOk(*eager, {kPromptA, kPromptB});
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_TRUE(at::equal(a[0], b[0]));
  EXPECT_TRUE(at::equal(a[1], b[1]));
}

TEST(Umt5Encoder, RefusesBadPrompts) {
  Umt5EncoderOptions o = Quiet();
  o.max_tokens = 4;
  auto enc = LoadTiny("bad.gguf", testing::TinyUmt5Tensors(Umt5Layout::kPth), o);
  ASSERT_NE(enc, nullptr);
  auto code_and = [&](const std::vector<std::vector<int64_t>>& p, const char* text) {
    absl::Status s = enc->Encode(p).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), text)) << s;
  };
  code_and({}, "no prompts");
  code_and({{1, 2}, {}}, "prompt 1 has 0 tokens");
  code_and({{1, 2, 3, 4, 5}}, "prompt 0 has 5 tokens; 1 to 4 allowed");
  code_and({{1, 512}}, "token id 512");
  code_and({{-1}}, "token id -1");
}

TEST(Umt5Encoder, LoadErrorsNameTheFileAndTensor) {
  std::vector<TestTensor> tensors = testing::TinyUmt5Tensors(Umt5Layout::kGguf);
  std::erase_if(tensors, [](const TestTensor& t) { return t.name == "enc.blk.1.ffn_gate.weight"; });
  for (TestTensor& t : tensors) {
    if (t.name == "enc.output_norm.weight") t.shape = {32}, t.values.resize(32);
  }
  absl::StatusOr<std::string> path = testing::WriteUmt5Gguf("broken.gguf", tensors);
  ASSERT_TRUE(path.ok()) << path.status();
  absl::Status s = Umt5Encoder::Load(*path, Quiet()).status();
  std::remove(path->c_str());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), *path)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "missing: enc.blk.1.ffn_gate.weight")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "enc.output_norm.weight [32] (expected [64])")) << s;
  EXPECT_EQ(Umt5Encoder::Load("/nonexistent/umt5.gguf", Quiet()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Umt5Encoder, CachesIdenticalPrompts) {
  auto enc = LoadTiny("cache.gguf", testing::TinyUmt5Tensors(Umt5Layout::kGguf), Quiet(4));
  ASSERT_NE(enc, nullptr);
  const std::vector<at::Tensor> first = EncodeOk(*enc, {kPromptA, kPromptB, kPromptA});
  EXPECT_TRUE(at::equal(first[0], first[2]));
  Umt5CacheStats s = enc->cache_stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.hits, 0);
  const std::vector<at::Tensor> again = EncodeOk(*enc, {kPromptB});
  EXPECT_EQ(enc->cache_stats().hits, 1);
  EXPECT_TRUE(at::equal(again[0], first[1]));
}

TEST(Umt5Cache, EvictsTheLeastRecentlyUsed) {
  Umt5EmbeddingCache cache(2);
  const at::Tensor t = ovid::testing::RandomInput({2, 3}, at::kFloat, c10::kCPU, 1);
  cache.Put({1}, t);
  cache.Put({2}, t.add(1));
  ASSERT_TRUE(cache.Get({1}).has_value());  // {1} is now the most recent
  cache.Put({3}, t.add(2));                 // evicts {2}
  EXPECT_FALSE(cache.Get({2}).has_value());
  ASSERT_TRUE(cache.Get({3}).has_value());
  EXPECT_TRUE(at::equal(*cache.Get({1}), t));
  EXPECT_EQ(cache.Stats().entries, 2u);
  EXPECT_EQ(cache.Stats().misses, 1);
  Umt5EmbeddingCache off(0);
  off.Put({1}, t);
  EXPECT_FALSE(off.Get({1}).has_value());
}

}  // namespace
}  // namespace ovid::umt5
