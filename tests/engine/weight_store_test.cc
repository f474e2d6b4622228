// File: tests/engine/weight_store_test.cc
// WeightStore: exact accounting, named errors, plain tensor conversion, and (on a GPU) the
// pinned upload, allocator figures, no VRAM growth over 1000 forwards, OOM as a Status, and a
// bare "cuda" device.
#include "engine/tensor/weight_store.h"

#include <ATen/ops/empty.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "engine/ops/device_index.h"
#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_gguf.h"

namespace ovid {
namespace {

using testing::TensorBytes;
using testing::TestTensor;

std::vector<TestTensor> SmallModel() {
  return {
      {"blk.0.q.weight", GgmlType::kQ4_K, {128, 256}},
      {"blk.0.q.bias", GgmlType::kF32, {128}},
      {"blk.0.o.weight", GgmlType::kQ8_0, {256, 128}},
      {"blk.0.ffn.weight", GgmlType::kQ6_K, {512, 256}},
      {"norm.weight", GgmlType::kF32, {256}},
      {"patch.weight", GgmlType::kF16, {8, 4, 2, 2, 2}},
  };
}

std::unique_ptr<WeightStore> LoadSmall(
    LinearMode mode, c10::Device device, int64_t cache_budget = 0,
    std::function<LayerUsage(std::string_view)> layer_usage = nullptr) {
  absl::StatusOr<std::string> path = testing::WriteTestGguf("small_model.gguf", SmallModel());
  EXPECT_TRUE(path.ok()) << path.status();
  LoadOptions options;
  options.mode = mode;
  options.cache_budget_bytes = cache_budget;
  options.layer_usage = std::move(layer_usage);
  absl::StatusOr<std::unique_ptr<WeightStore>> store = WeightStore::Load(*path, device, options);
  std::remove(path->c_str());  // the mapping stays valid; nothing piles up in /tmp
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

const int64_t kQ4kBytes = TensorBytes(GgmlType::kQ4_K, {128, 256});
const int64_t kQ80Bytes = TensorBytes(GgmlType::kQ8_0, {256, 128});
const int64_t kQ6kBytes = TensorBytes(GgmlType::kQ6_K, {512, 256});
const int64_t kElements = 128 * 256 + 128 + 256 * 128 + 512 * 256 + 256 + 8 * 4 * 2 * 2 * 2;

TEST(WeightStoreTest, LazyAccountingIsExact) {
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kLazy, c10::kCPU);
  ASSERT_NE(store, nullptr);
  VramAccounting a = store->Accounting();
  EXPECT_EQ(a.tensors, 6);
  EXPECT_EQ(a.quantized, 3);
  EXPECT_EQ(a.bytes_by_type["q4_K"], kQ4kBytes);
  EXPECT_EQ(a.bytes_by_type["q8_0"], kQ80Bytes);
  EXPECT_EQ(a.bytes_by_type["q6_K"], kQ6kBytes);
  // Plain floats are stored in the compute dtype (f32 on the CPU), f16 included.
  EXPECT_EQ(a.bytes_by_type["f32"], 4 * (128 + 256 + 8 * 4 * 2 * 2 * 2));
  EXPECT_EQ(a.bytes_by_type.size(), 4u);
  EXPECT_EQ(a.weight_bytes, kQ4kBytes + kQ80Bytes + kQ6kBytes + 4 * (128 + 256 + 256));
  EXPECT_EQ(a.bf16_equivalent_bytes, 2 * kElements);
  EXPECT_EQ(a.largest_layer_elements, 512 * 256);
  auto align = [](int64_t n) { return (n + 255) / 256 * 256; };
  EXPECT_EQ(a.arena_bytes, align(kQ4kBytes) + align(kQ80Bytes) + align(kQ6kBytes));
  EXPECT_EQ(a.workspace_bytes, 0);
  EXPECT_EQ(a.cache_bytes, 0);
  {
    absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store->NewWorkspace();
    ASSERT_TRUE(ws.ok());
    a = store->Accounting();
    EXPECT_EQ(a.workspace_bytes, 512 * 256 * 4);  // the largest layer in f32 (CPU compute)
    EXPECT_EQ(a.workspaces, 1);
  }
  EXPECT_EQ(store->Accounting().workspace_bytes, 0);  // released with the worker
  EXPECT_NE(a.Summary().find("quantized 3/6 tensors"), std::string::npos) << a.Summary();
}

TEST(WeightStoreTest, EagerAccountingCountsDenseCopies) {
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kEager, c10::kCPU);
  ASSERT_NE(store, nullptr);
  const VramAccounting a = store->Accounting();
  EXPECT_EQ(a.quantized, 0);
  EXPECT_EQ(a.arena_bytes, 0);  // blocks are freed once expanded
  EXPECT_EQ(a.weight_bytes, 4 * kElements);
  EXPECT_EQ(a.bytes_by_type.size(), 1u);
  absl::StatusOr<std::shared_ptr<const QuantizedTensor>> q = store->Quantized("blk.0.q.weight");
  EXPECT_EQ(q.status().code(), absl::StatusCode::kFailedPrecondition);
  // Eager layers never expand blocks: their workers' workspaces start empty.
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ((*ws)->capacity_bytes(), 0);
  EXPECT_EQ(store->Accounting().workspace_bytes, 0);
}

TEST(WeightStoreTest, CacheModePicksWithinBudget) {
  // Room for the two small layers' f32 copies (128x256 and 256x128), not the 512x256 one: per
  // byte, smaller layers save more (the launch cost is spread over fewer bytes).
  const int64_t budget = 4 * (128 * 256 + 256 * 128) + 100;
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kCache, c10::kCPU, budget);
  ASSERT_NE(store, nullptr);
  const VramAccounting a = store->Accounting();
  EXPECT_LE(a.cache_bytes, budget);
  EXPECT_GT(a.cache_bytes, 0);
  EXPECT_EQ(a.quantized, 3);
  absl::StatusOr<QuantizedLinear> ffn = store->Linear("blk.0.ffn.weight", "", 512, 256);
  ASSERT_TRUE(ffn.ok());
  EXPECT_FALSE(ffn->has_dense());
}

bool HasCopy(const WeightStore& store, const char* name, int64_t out, int64_t in) {
  absl::StatusOr<QuantizedLinear> l = store.Linear(name, "", out, in);
  EXPECT_TRUE(l.ok()) << l.status();
  return l.ok() && l->has_dense();
}

TEST(WeightStoreTest, CacheModeRanksLayersByHowOftenTheyDequantize) {
  // Room for one of the two equal-sized layers (f32 copies on the CPU).
  const int64_t budget = 4 * 128 * 256 + 100;
  // Without usage figures the Q8_0 layer wins: more traffic per weight, more saved per byte.
  std::unique_ptr<WeightStore> plain = LoadSmall(LinearMode::kCache, c10::kCPU, budget);
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(HasCopy(*plain, "blk.0.o.weight", 256, 128));
  EXPECT_FALSE(HasCopy(*plain, "blk.0.q.weight", 128, 256));
  // Once per request against twice per step: the per-step layer gets the copy.
  auto usage = [](std::string_view name) {
    return name == "blk.0.o.weight" ? LayerUsage{512, 2.0 / 50} : LayerUsage{4096, 2};
  };
  std::unique_ptr<WeightStore> ranked = LoadSmall(LinearMode::kCache, c10::kCPU, budget, usage);
  ASSERT_NE(ranked, nullptr);
  EXPECT_TRUE(HasCopy(*ranked, "blk.0.q.weight", 128, 256));
  EXPECT_FALSE(HasCopy(*ranked, "blk.0.o.weight", 256, 128));
  EXPECT_EQ(ranked->Accounting().cached_layers, 1);
}

TEST(WeightStoreTest, CacheModeCountsBatchedGuidanceAsOneDequantizePerStep) {
  const int64_t budget = 4 * 128 * 256 + 100;  // one of the two equal-sized layers
  // q runs once per guidance pass; o 1.5 times a step in calls that batching does not merge.
  // Two passes a step give q the copy; both passes in one forward dequantize q once, so o wins.
  auto usage = [](bool batched) {
    return [batched](std::string_view name) {
      if (name == "blk.0.o.weight") return LayerUsage{512, 1.5};
      LayerUsage per_pass{4096, 2};
      per_pass.passes_in_one_call = batched;
      return per_pass;
    };
  };
  std::unique_ptr<WeightStore> apart =
      LoadSmall(LinearMode::kCache, c10::kCPU, budget, usage(false));
  std::unique_ptr<WeightStore> batched =
      LoadSmall(LinearMode::kCache, c10::kCPU, budget, usage(true));
  ASSERT_NE(apart, nullptr);
  ASSERT_NE(batched, nullptr);
  EXPECT_TRUE(HasCopy(*apart, "blk.0.q.weight", 128, 256));
  EXPECT_FALSE(HasCopy(*apart, "blk.0.o.weight", 256, 128));
  EXPECT_TRUE(HasCopy(*batched, "blk.0.o.weight", 256, 128));
  EXPECT_FALSE(HasCopy(*batched, "blk.0.q.weight", 128, 256));
  // The plan's estimate: q's two dequantizes a step against o's one and a half.
  const double q_apart = apart->Accounting().cache_saved_seconds_per_step;
  const double o_batched = batched->Accounting().cache_saved_seconds_per_step;
  EXPECT_GT(q_apart, 0);
  EXPECT_GT(o_batched, 0.7 * q_apart);
  EXPECT_LT(o_batched, 0.8 * q_apart);
  EXPECT_TRUE(absl::StrContains(apart->Accounting().Summary(),
                                "cache 0.1 MB (1 layers) saving an estimated"))
      << apart->Accounting().Summary();
}

TEST(WeightStoreTest, PlainTensorsKeepShapeAndValues) {
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kLazy, c10::kCPU);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<at::Tensor> patch = store->Tensor("patch.weight", {8, 4, 2, 2, 2});
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_EQ(patch->scalar_type(), at::kFloat);
  const gguf::TensorInfo* info = store->file().FindTensor("patch.weight");
  const at::Tensor want =
      testing::ReferenceWeight(GgmlType::kF16, store->file().TensorData(*info).data(), 1, 256);
  EXPECT_TRUE(testing::BitEqual(patch->reshape({1, 256}), want));
}

TEST(WeightStoreTest, ErrorsNameTheTensor) {
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kLazy, c10::kCPU);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<QuantizedLinear> missing = store->Linear("blk.9.q.weight", "", 128, 256);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'blk.9.q.weight'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("small_model.gguf"), std::string::npos);

  absl::StatusOr<QuantizedLinear> shape = store->Linear("blk.0.q.weight", "", 256, 128);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shape.status().message().find("[128, 256]"), std::string::npos) << shape.status();
  EXPECT_NE(shape.status().message().find("expected [256, 128]"), std::string::npos);

  absl::StatusOr<QuantizedLinear> bias = store->Linear("blk.0.o.weight", "blk.0.q.bias", 256, 128);
  EXPECT_EQ(bias.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bias.status().message().find("'blk.0.q.bias'"), std::string::npos) << bias.status();
}

TEST(WeightStoreTest, UnsupportedTypeIsRefusedAtLoadByName) {
  absl::StatusOr<std::string> path = testing::WriteTestGguf(
      "unsupported.gguf", {{"ok.weight", GgmlType::kQ4_0, {4, 32}},
                           {"odd.weight", GgmlType::kIQ2_XXS, {4, 256}, {}, true}});
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::unique_ptr<WeightStore>> store = WeightStore::Load(*path, c10::kCPU, {});
  std::remove(path->c_str());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(store.status().message().find("'odd.weight' (iq2_xxs)"), std::string::npos)
      << store.status();
}

TEST(WeightStoreTest, MissingFileIsAnError) {
  absl::StatusOr<std::unique_ptr<WeightStore>> store =
      WeightStore::Load("/nonexistent/model.gguf", c10::kCPU, {});
  EXPECT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

// A bare "cuda" on a machine (or a LibTorch) without CUDA: WithIndex leaves it as it is instead
// of throwing, and the load reports the missing device as a Status.
TEST(WeightStoreTest, ABareCudaDeviceWithoutCudaIsAStatus) {
  if (testing::HaveCuda()) GTEST_SKIP() << "this machine has CUDA";
  const c10::Device bare(c10::kCUDA);
  EXPECT_EQ(ops::WithIndex(bare), bare);
  absl::StatusOr<std::string> path = testing::WriteTestGguf("bare_cuda.gguf", SmallModel());
  ASSERT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::unique_ptr<WeightStore>> store = WeightStore::Load(*path, bare, {});
  std::remove(path->c_str());
  EXPECT_FALSE(store.ok());
}

TEST(TorchStatusTest, ExceptionsMapToCodes) {
  EXPECT_EQ(ops::GuardTorch("t", [] { TORCH_CHECK_WITH(OutOfMemoryError, false, "x"); }).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ops::GuardTorch("t", [] { TORCH_CHECK_VALUE(false, "x"); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ops::GuardTorch("t", [] { TORCH_CHECK(false, "x"); }).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ops::GuardTorch("t", [] { ops::ThrowStatus(absl::NotFoundError("n")); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ops::GuardTorch("t", [] { throw std::bad_alloc(); }).code(),
            absl::StatusCode::kResourceExhausted);
  // The CPU allocator's failure is a plain enforce failure, which read as INTERNAL (a bug).
  const absl::Status host =
      ops::GuardTorch("t", [] { (void)at::empty({int64_t{1} << 52}, at::kByte); });
  EXPECT_EQ(host.code(), absl::StatusCode::kResourceExhausted) << host;
  EXPECT_TRUE(absl::StrContains(host.message(), "out of host memory")) << host;
}

// ---- GPU ----

class GpuStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveCuda()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(GpuStoreTest, LazyAccountingAndAllocatorFigures) {
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kLazy, c10::Device(c10::kCUDA, 0));
  ASSERT_NE(store, nullptr);
  const VramAccounting a = store->Accounting();
  EXPECT_EQ(a.quantized, 3);
  EXPECT_EQ(a.bytes_by_type.at("bf16"), 2 * (128 + 256 + 256));  // plain floats -> bf16
  EXPECT_EQ(a.weight_bytes, kQ4kBytes + kQ80Bytes + kQ6kBytes + 2 * (128 + 256 + 256));
  EXPECT_TRUE(a.allocator.valid);
  EXPECT_GE(a.allocator.allocated, a.weight_bytes);
  EXPECT_GE(a.allocator.reserved, a.allocator.allocated);
  EXPECT_GT(a.upload_gbps, 0);
}

TEST_F(GpuStoreTest, NoVramGrowthOver1000Forwards) {
  const c10::Device gpu(c10::kCUDA, 0);
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kLazy, gpu);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<QuantizedLinear> ffn = store->Linear("blk.0.ffn.weight", "", 512, 256);
  ASSERT_TRUE(ffn.ok());
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store->NewWorkspace();
  ASSERT_TRUE(ws.ok());
  const at::Tensor small = testing::RandomInput({16, 256}, at::kBFloat16, gpu, 1);
  const at::Tensor large = testing::RandomInput({2048, 256}, at::kBFloat16, gpu, 2);
  auto run = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(ffn->Forward(small, ws->get()).ok());  // fused (if built) path
      ASSERT_TRUE(ffn->Forward(large, ws->get()).ok());  // dequantize + GEMM path
    }
  };
  run(5);  // warm up cuBLAS workspaces and allocator pools
  const int64_t before = QueryAllocatorStats(0).allocated;
  run(1000);
  const int64_t after = QueryAllocatorStats(0).allocated;
  EXPECT_EQ(after, before);
  EXPECT_EQ((*ws)->capacity_bytes(), 512 * 256 * 2);
}

// "cuda" without an index is the current device. Tensors made there report "cuda:0", so a
// store that kept the bare device refused its own uploads ("upload destination must be ... on
// cuda") and its workspace refused its own weights.
// This build has kernel code for the test card, so loads are not refused; the CPU never is.
TEST_F(GpuStoreTest, TheKernelsRunOnTheTestCard) {
  EXPECT_TRUE(ops::CheckKernelsRunOn(c10::Device(c10::kCUDA, 0)).ok());
  EXPECT_TRUE(ops::CheckKernelsRunOn(c10::Device(c10::kCPU)).ok());
}

TEST_F(GpuStoreTest, ABareCudaDeviceLoadsAndRuns) {
  std::unique_ptr<WeightStore> store = LoadSmall(LinearMode::kLazy, c10::Device(c10::kCUDA));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Accounting().device, "cuda:0");
  absl::StatusOr<QuantizedLinear> ffn = store->Linear("blk.0.ffn.weight", "", 512, 256);
  ASSERT_TRUE(ffn.ok()) << ffn.status();
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ((*ws)->device(), c10::Device(c10::kCUDA, 0));
  const at::Tensor large =
      testing::RandomInput({2048, 256}, at::kBFloat16, c10::Device(c10::kCUDA, 0), 3);
  absl::StatusOr<at::Tensor> y = ffn->Forward(large, ws->get());  // dequantize + GEMM
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->size(1), 512);
  EXPECT_EQ(ops::WithIndex(c10::Device(c10::kCPU)), c10::Device(c10::kCPU));
}

// A model's own workspace, for callers that bind none: they take turns on it (two threads once
// expanded their weights into one buffer at once), a nested call does not lock it again, and a
// caller with its own workspace neither waits nor uses the model's.
TEST(DequantWorkspaceTest, OwnWorkspaceCallersTakeTurns) {
  std::unique_ptr<DequantWorkspace> own = *DequantWorkspace::Create(c10::kCPU, 0);
  std::unique_ptr<DequantWorkspace> theirs = *DequantWorkspace::Create(c10::kCPU, 0);
  std::mutex mu;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  auto call = [&] {
    OwnOrBoundWorkspace bind(own.get(), mu);
    EXPECT_EQ(DequantWorkspace::Current(), own.get());
    if (++inside > 1) overlapped = true;
    {
      OwnOrBoundWorkspace nested(own.get(), mu);  // would deadlock if it locked again
      EXPECT_EQ(DequantWorkspace::Current(), own.get());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --inside;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(call);
  {
    ScopedWorkspace mine(theirs.get());
    const std::lock_guard<std::mutex> held(mu);  // the own-workspace lock is taken: no waiting
    OwnOrBoundWorkspace bind(own.get(), mu);
    EXPECT_EQ(DequantWorkspace::Current(), theirs.get());
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(overlapped.load());
  EXPECT_EQ(DequantWorkspace::Current(), nullptr);
}

TEST(DequantWorkspaceTest, GrowsForALargerLayerAndReportsItsCapacityFromAnyThread) {
  absl::StatusOr<std::unique_ptr<DequantWorkspace>> ws =
      DequantWorkspace::Create(c10::Device(c10::kCPU), 1024);
  ASSERT_TRUE(ws.ok()) << ws.status();
  std::atomic<bool> done{false};
  std::atomic<int64_t> seen_max{0};
  // VRAM accounting reads the capacity on another thread while the worker grows the buffer.
  std::thread reader([&] {
    while (!done.load()) seen_max = std::max<int64_t>(seen_max.load(), (*ws)->capacity_bytes());
  });
  for (int64_t side = 16; side <= 512; side *= 2) {
    absl::StatusOr<at::Tensor> view = (*ws)->View(side, side, at::kFloat);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->sizes(), (std::vector<int64_t>{side, side}));
    EXPECT_GE((*ws)->capacity_bytes(), side * side * 4);
  }
  done = true;
  reader.join();
  EXPECT_EQ((*ws)->capacity_bytes(), 512 * 512 * 4);
  EXPECT_LE(seen_max.load(), 512 * 512 * 4);
  // A growth that fails frees the old buffer: the capacity says so (it kept the old size, and
  // the VRAM accounting with it).
  absl::StatusOr<at::Tensor> huge = (*ws)->View(int64_t{1} << 25, int64_t{1} << 25, at::kFloat);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_EQ((*ws)->capacity_bytes(), 0);
  absl::StatusOr<at::Tensor> again = (*ws)->View(16, 16, at::kFloat);  // usable again
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*ws)->capacity_bytes(), 16 * 16 * 4);
}

TEST_F(GpuStoreTest, OutOfMemoryIsResourceExhausted) {
  absl::StatusOr<std::unique_ptr<DequantWorkspace>> ws =
      DequantWorkspace::Create(c10::Device(c10::kCUDA, 0), int64_t{1} << 50);  // 1 PiB
  EXPECT_EQ(ws.status().code(), absl::StatusCode::kResourceExhausted) << ws.status();
}

}  // namespace
}  // namespace ovid
