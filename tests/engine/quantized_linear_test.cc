// File: tests/engine/quantized_linear_test.cc
// QuantizedLinear in every mode against an independent reference: the file's blocks expanded
// by the CPU reference dequantizer, then at::linear. On the CPU (f32 compute) every mode must
// match the reference bit for bit; on the GPU the dequantize+GEMM path must match eager bit for
// bit and the fused kernel must stay within a bf16 tolerance.
#include <ATen/ops/empty.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"
#include "engine/tensor/weight_store.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_gguf.h"

namespace ovid {
namespace {

using testing::BitEqual;
using testing::HaveCuda;

constexpr int64_t kOut = 64;
constexpr int64_t kIn = 512;

struct Fixture {
  std::unique_ptr<WeightStore> store;
  at::Tensor ref_weight;  // f32 [kOut, kIn], CPU
  at::Tensor ref_bias;    // f32 [kOut], CPU
};

Fixture Load(GgmlType type, LinearMode mode, c10::Device device, int64_t cache_budget = 0,
             int64_t fused_max_tokens = 1024, bool exact_f32 = false) {
  const std::string name = std::string("linear_") + GgmlTypeName(type) + ".gguf";
  absl::StatusOr<std::string> path =
      testing::WriteTestGguf(name, {{"w", type, {kOut, kIn}}, {"b", GgmlType::kF32, {kOut}}});
  EXPECT_TRUE(path.ok()) << path.status();
  LoadOptions options;
  options.mode = mode;
  options.cache_budget_bytes = cache_budget;
  options.linear.fused_max_tokens = fused_max_tokens;
  options.linear.fused_max_tokens_by_type.clear();  // the test picks the path itself
  options.linear.exact_f32 = exact_f32;
  options.log = false;
  absl::StatusOr<std::unique_ptr<WeightStore>> store = WeightStore::Load(*path, device, options);
  std::remove(path->c_str());  // the mapping stays valid; nothing piles up in /tmp
  EXPECT_TRUE(store.ok()) << store.status();
  Fixture f;
  f.store = *std::move(store);
  const gguf::GgufFile& file = f.store->file();
  const gguf::TensorInfo* w = file.FindTensor("w");
  f.ref_weight = testing::ReferenceWeight(type, file.TensorData(*w).data(), kOut, kIn);
  const gguf::TensorInfo* b = file.FindTensor("b");
  f.ref_bias =
      testing::ReferenceWeight(GgmlType::kF32, file.TensorData(*b).data(), 1, kOut).view({kOut});
  return f;
}

at::Tensor RunLinear(const WeightStore& store, const at::Tensor& x) {
  absl::StatusOr<QuantizedLinear> linear = store.Linear("w", "b", kOut, kIn);
  EXPECT_TRUE(linear.ok()) << linear.status();
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store.NewWorkspace();
  EXPECT_TRUE(ws.ok()) << ws.status();
  absl::StatusOr<at::Tensor> y = linear->Forward(x, ws->get());
  EXPECT_TRUE(y.ok()) << y.status();
  return y.ok() ? *y : at::Tensor();
}

const GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                           GgmlType::kQ8_0, GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                           GgmlType::kQ5_K, GgmlType::kQ6_K};
const LinearMode kModes[] = {LinearMode::kLazy, LinearMode::kEager, LinearMode::kCache};

class CpuLinearTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(CpuLinearTest, EveryModeMatchesReferenceBitForBit) {
  const c10::Device cpu(c10::kCPU);
  const at::Tensor x = testing::RandomInput({2, 3, kIn}, at::kFloat, cpu, 7);
  for (LinearMode mode : kModes) {
    SCOPED_TRACE(LinearModeName(mode));
    Fixture f = Load(GetParam(), mode, cpu, /*cache_budget=*/int64_t{1} << 30);
    const at::Tensor want =
        at::linear(x.reshape({-1, kIn}), f.ref_weight, f.ref_bias).view({2, 3, kOut});
    const at::Tensor got = RunLinear(*f.store, x);
    EXPECT_TRUE(BitEqual(got, want)) << testing::RelativeMaxError(got, want);
  }
}

TEST_P(CpuLinearTest, Bf16InputComputesInF32AndReturnsBf16) {
  const c10::Device cpu(c10::kCPU);
  Fixture f = Load(GetParam(), LinearMode::kLazy, cpu);
  const at::Tensor x = testing::RandomInput({5, kIn}, at::kBFloat16, cpu, 3);
  const at::Tensor want = at::linear(x.to(at::kFloat), f.ref_weight, f.ref_bias).to(at::kBFloat16);
  EXPECT_TRUE(BitEqual(RunLinear(*f.store, x), want));
}

INSTANTIATE_TEST_SUITE_P(Types, CpuLinearTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

TEST(QuantizedLinearTest, GeluOnTheCpuIsGeluAfterTheLayerBitForBit) {
  // The CPU keeps the reference's two steps: the activation changes nothing but where it runs.
  Fixture f = Load(GgmlType::kQ4_K, LinearMode::kLazy, c10::kCPU);
  absl::StatusOr<QuantizedLinear> linear = f.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(linear.ok()) << linear.status();
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = f.store->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  const at::Tensor x = testing::RandomInput({3, 5, kIn}, at::kFloat, c10::kCPU, 9);
  absl::StatusOr<at::Tensor> plain = linear->Forward(x, ws->get());
  absl::StatusOr<at::Tensor> y =
      linear->Forward(x, ws->get(), nullptr, LinearActivation::kGeluTanh);
  ASSERT_TRUE(plain.ok() && y.ok()) << plain.status() << y.status();
  EXPECT_TRUE(BitEqual(*y, at::gelu(*plain, "tanh")));
}

TEST(QuantizedLinearTest, CacheModeKeepsCopiesOnlyWithinBudget) {
  const c10::Device cpu(c10::kCPU);
  Fixture none = Load(GgmlType::kQ4_K, LinearMode::kCache, cpu, /*cache_budget=*/1000);
  absl::StatusOr<QuantizedLinear> l0 = none.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(l0.ok());
  EXPECT_FALSE(l0->has_dense());
  Fixture all = Load(GgmlType::kQ4_K, LinearMode::kCache, cpu, /*cache_budget=*/kOut * kIn * 4);
  absl::StatusOr<QuantizedLinear> l1 = all.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(l1.ok());
  EXPECT_TRUE(l1->has_dense());
  const at::Tensor x = testing::RandomInput({4, kIn}, at::kFloat, cpu, 1);
  LinearPath path = LinearPath::kNone;
  absl::StatusOr<at::Tensor> y = l1->Forward(x, nullptr, &path);  // cached: no workspace needed
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(path, LinearPath::kDenseGemm);
  // On the CPU the copy is f32, 4 bytes a weight: a budget of 2 bytes a weight takes none.
  EXPECT_EQ(all.store->Accounting().cache_bytes, int64_t{kOut} * kIn * 4);
  Fixture half = Load(GgmlType::kQ4_K, LinearMode::kCache, cpu, /*cache_budget=*/kOut * kIn * 2);
  EXPECT_LE(half.store->Accounting().cache_bytes, int64_t{kOut} * kIn * 2);
  absl::StatusOr<QuantizedLinear> l2 = half.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(l2.ok());
  EXPECT_FALSE(l2->has_dense());
}

TEST(QuantizedLinearTest, ForwardUsesTheThreadsWorkspace) {
  const c10::Device cpu(c10::kCPU);
  Fixture f = Load(GgmlType::kQ8_0, LinearMode::kLazy, cpu);
  absl::StatusOr<QuantizedLinear> linear = f.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(linear.ok());
  const at::Tensor x = testing::RandomInput({3, kIn}, at::kFloat, cpu, 2);

  // Unbound: a named FAILED_PRECONDITION through the exception boundary, not a crash.
  absl::Status unbound = ops::GuardTorch("test", [&] { (void)linear->forward(x); });
  EXPECT_EQ(unbound.code(), absl::StatusCode::kFailedPrecondition) << unbound;
  EXPECT_NE(unbound.message().find("DequantWorkspace"), std::string::npos);

  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = f.store->NewWorkspace();
  ASSERT_TRUE(ws.ok());
  ScopedWorkspace bind(ws->get());
  const at::Tensor y = linear->forward(x);
  LinearPath path = LinearPath::kNone;
  ASSERT_TRUE(linear->Forward(x, ws->get(), &path).ok());
  EXPECT_EQ(path, LinearPath::kDequantGemm);
  EXPECT_TRUE(BitEqual(y, at::linear(x, f.ref_weight, f.ref_bias)));
}

// A layer nobody bound answers with an error instead of dereferencing a null weight.
TEST(QuantizedLinearTest, AnUnboundLayerIsFailedPrecondition) {
  const QuantizedLinear unbound;
  absl::StatusOr<at::Tensor> y = unbound.Forward(at::zeros({2, kIn}), nullptr);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kFailedPrecondition) << y.status();
}

TEST(QuantizedLinearTest, BadInputIsInvalidArgument) {
  const c10::Device cpu(c10::kCPU);
  Fixture f = Load(GgmlType::kQ4_0, LinearMode::kLazy, cpu);
  absl::StatusOr<QuantizedLinear> linear = f.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(linear.ok());
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = f.store->NewWorkspace();
  ASSERT_TRUE(ws.ok());
  const at::Tensor x = testing::RandomInput({3, kIn + 32}, at::kFloat, c10::kCPU, 2);
  absl::StatusOr<at::Tensor> y = linear->Forward(x, ws->get());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(y.status().message().find("'w'"), std::string::npos) << y.status();
}

TEST(QuantizedLinearTest, WorkersShareLayersButNotWorkspaces) {
  // Two workers run the same layer at once, each with its own workspace bound to its thread.
  const c10::Device cpu(c10::kCPU);
  Fixture f = Load(GgmlType::kQ4_K, LinearMode::kLazy, cpu);
  absl::StatusOr<QuantizedLinear> linear = f.store->Linear("w", "b", kOut, kIn);
  ASSERT_TRUE(linear.ok());
  std::vector<at::Tensor> inputs, wants;
  for (int w = 0; w < 2; ++w) {
    inputs.push_back(testing::RandomInput({9, kIn}, at::kFloat, cpu, 100 + w));
    wants.push_back(at::linear(inputs.back(), f.ref_weight, f.ref_bias));
  }
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = f.store->NewWorkspace();
      if (!ws.ok()) {
        mismatches[w] = -1;
        return;
      }
      ScopedWorkspace bind(ws->get());
      for (int i = 0; i < 50; ++i) {
        if (!BitEqual(linear->forward(inputs[w]), wants[w])) ++mismatches[w];
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(mismatches, std::vector<int>({0, 0}));
}

// ---- GPU ----

class GpuLinearTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  void SetUp() override {
    if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(GpuLinearTest, DequantGemmMatchesEagerBitForBitAndReference) {
  const c10::Device gpu(c10::kCUDA, 0);
  const at::Tensor x = testing::RandomInput({2, 100, kIn}, at::kBFloat16, gpu, 11);
  // fused_max_tokens = 0: lazy always dequantizes + GEMMs.
  Fixture lazy = Load(GetParam(), LinearMode::kLazy, gpu, 0, /*fused_max_tokens=*/0);
  Fixture eager = Load(GetParam(), LinearMode::kEager, gpu, 0, 0);
  Fixture cache = Load(GetParam(), LinearMode::kCache, gpu, int64_t{1} << 30, 0);
  const at::Tensor y_lazy = RunLinear(*lazy.store, x);
  const at::Tensor y_eager = RunLinear(*eager.store, x);
  const at::Tensor y_cache = RunLinear(*cache.store, x);
  EXPECT_TRUE(BitEqual(y_lazy, y_eager));
  EXPECT_TRUE(BitEqual(y_cache, y_eager));
  // The reference weight rounded to bf16 on the host: the CUDA dequantizer is bit-exact.
  const at::Tensor w = lazy.ref_weight.to(at::kBFloat16).to(gpu);
  const at::Tensor b = lazy.ref_bias.to(at::kBFloat16).to(gpu);
  const at::Tensor want = at::linear(x.reshape({-1, kIn}), w, b).view({2, 100, kOut});
  EXPECT_TRUE(BitEqual(y_lazy, want)) << testing::RelativeMaxError(y_lazy, want);
}

TEST_P(GpuLinearTest, FusedPathWithinBf16Tolerance) {
  const c10::Device gpu(c10::kCUDA, 0);
  Fixture f = Load(GetParam(), LinearMode::kLazy, gpu);
  if (!ops::HasFusedMatmul(GetParam())) GTEST_SKIP() << "no fused kernel for this type";
  for (int64_t tokens : {1, 7, 64, 1024}) {
    const at::Tensor x = testing::RandomInput({tokens, kIn}, at::kBFloat16, gpu, tokens);
    absl::StatusOr<QuantizedLinear> linear = f.store->Linear("w", "b", kOut, kIn);
    ASSERT_TRUE(linear.ok());
    LinearPath path = LinearPath::kNone;
    absl::StatusOr<at::Tensor> y = linear->Forward(x, nullptr, &path);  // fused: no workspace
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(path, LinearPath::kFused);
    const at::Tensor want = at::linear(x.cpu().to(at::kFloat), f.ref_weight, f.ref_bias);
    EXPECT_LT(testing::RelativeMaxError(*y, want), 2e-2) << "tokens " << tokens;
  }
}

TEST_P(GpuLinearTest, ExactF32MatchesTheCpuF32Reference) {
  // LinearOptions::exact_f32: f32 in, f32 weights, f32 GEMM (no TF32: PyTorch's default for
  // matmuls), whatever the token count, so a CUDA model can be held against its CPU run.
  const c10::Device gpu(c10::kCUDA, 0);
  Fixture f = Load(GetParam(), LinearMode::kLazy, gpu, 0, 1024, /*exact_f32=*/true);
  for (int64_t tokens : {1, 64, 300}) {
    const at::Tensor x = testing::RandomInput({tokens, kIn}, at::kFloat, gpu, tokens);
    absl::StatusOr<QuantizedLinear> linear = f.store->Linear("w", "b", kOut, kIn);
    ASSERT_TRUE(linear.ok());
    LinearPath path = LinearPath::kNone;
    absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = f.store->NewWorkspace();
    ASSERT_TRUE(ws.ok()) << ws.status();
    absl::StatusOr<at::Tensor> y = linear->Forward(x, ws->get(), &path);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(path, LinearPath::kDequantGemm);
    EXPECT_EQ(y->scalar_type(), at::kFloat);
    const at::Tensor want = at::linear(x.cpu(), f.ref_weight, f.ref_bias);
    EXPECT_LT(testing::RelativeMaxError(*y, want), 1e-5) << "tokens " << tokens;
  }
}

TEST_P(GpuLinearTest, GeluEpilogueMatchesGeluAfterTheLayer) {
  // LinearActivation::kGeluTanh: in cuBLASLt's epilogue on the dense and dequantize+GEMM paths
  // (one rounding instead of two), after the kernel on the fused path. Either way the result is
  // gelu_tanh(x W^T + b) within bf16 rounding; lazy and eager still agree bit for bit.
  const c10::Device gpu(c10::kCUDA, 0);
  const at::Tensor x = testing::RandomInput({300, kIn}, at::kBFloat16, gpu, 5);
  Fixture lazy = Load(GetParam(), LinearMode::kLazy, gpu, 0, /*fused_max_tokens=*/0);
  Fixture eager = Load(GetParam(), LinearMode::kEager, gpu, 0, 0);
  Fixture fused = Load(GetParam(), LinearMode::kLazy, gpu, 0, 1024);
  const at::Tensor want =
      at::gelu(at::linear(x.cpu().to(at::kFloat), lazy.ref_weight, lazy.ref_bias), "tanh");
  std::vector<at::Tensor> outs;
  for (Fixture* f : {&lazy, &eager, &fused}) {
    absl::StatusOr<QuantizedLinear> linear = f->store->Linear("w", "b", kOut, kIn);
    ASSERT_TRUE(linear.ok()) << linear.status();
    absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = f->store->NewWorkspace();
    ASSERT_TRUE(ws.ok()) << ws.status();
    absl::StatusOr<at::Tensor> plain = linear->Forward(x, ws->get());
    absl::StatusOr<at::Tensor> y =
        linear->Forward(x, ws->get(), nullptr, LinearActivation::kGeluTanh);
    ASSERT_TRUE(plain.ok() && y.ok()) << plain.status() << y.status();
    const at::Tensor two_roundings = at::gelu(*plain, "tanh");
    EXPECT_LT(testing::RelativeMaxError(*y, two_roundings), 1.6e-2);
    EXPECT_LT(testing::RelativeMaxError(*y, want), 2e-2);
    outs.push_back(*y);
  }
  EXPECT_TRUE(BitEqual(outs[0], outs[1]));
}

// Views that do not start on a 16-byte boundary (blocks at an odd byte, an output 2 bytes in)
// give the same bits as aligned tensors; the kernels' alignment is the ops layer's business, and
// used to come back as INTERNAL "misaligned address".
TEST_P(GpuLinearTest, MisalignedViewsGiveTheAlignedResult) {
  const c10::Device gpu(c10::kCUDA, 0);
  Fixture f = Load(GetParam(), LinearMode::kLazy, gpu);
  absl::StatusOr<std::shared_ptr<const QuantizedTensor>> q = f.store->Quantized("w");
  ASSERT_TRUE(q.ok()) << q.status();
  const at::Tensor& blocks = (*q)->blocks();
  const int64_t nbytes = blocks.numel();
  const at::Tensor odd_blocks = at::empty({nbytes + 1}, blocks.options()).narrow(0, 1, nbytes);
  odd_blocks.copy_(blocks);
  const int64_t n = kOut * kIn;
  const at::Tensor aligned = at::empty({n}, blocks.options().dtype(at::kBFloat16));
  const at::Tensor odd_out = at::empty({n + 1}, aligned.options()).narrow(0, 1, n);
  ASSERT_TRUE(ops::DequantizeInto(GetParam(), blocks, kOut, kIn, aligned).ok());
  const absl::Status s = ops::DequantizeInto(GetParam(), odd_blocks, kOut, kIn, odd_out);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(BitEqual(odd_out, aligned));

  if (!ops::HasFusedMatmul(GetParam())) return;
  const at::Tensor x = testing::RandomInput({33, kIn}, at::kBFloat16, gpu, 9);
  absl::StatusOr<at::Tensor> want = ops::FusedQuantMatmul(x, GetParam(), blocks, kOut, kIn, {});
  absl::StatusOr<at::Tensor> got = ops::FusedQuantMatmul(x, GetParam(), odd_blocks, kOut, kIn, {});
  ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
  EXPECT_TRUE(BitEqual(*got, *want));
}

INSTANTIATE_TEST_SUITE_P(Types, GpuLinearTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

}  // namespace
}  // namespace ovid
