// File: tests/engine/fused_dispatch_test.cc
// FusedDispatch: the path it picks per token count from measured points, what it tells the cache
// planner, QuantizedPathFor following it, and (on a GPU) the load-time measurement itself: every
// point timed, layers taking the measured path, reloads reusing startup's table, and the cases that
// must not measure.
#include "engine/tensor/fused_dispatch.h"

#include <ATen/ops/empty.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/ops/quant_ops.h"
#include "engine/tensor/weight_store.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/test_gguf.h"

namespace ovid {
namespace {

using testing::HaveCuda;

const LinearShape kSquare{GgmlType::kQ4_K, 3072, 3072};

DispatchPoint Point(int64_t tokens, double fused, double dequant, double dense) {
  return DispatchPoint{tokens, fused, dequant, dense};
}

TEST(FusedDispatchTest, EachCountTakesTheNextMeasuredCountsFasterPath) {
  FusedDispatch d;
  // Given out of order. The H200's Q4_K [3072, 3072] pattern: a narrow loss at 256 and a win
  // again at 314 (cuBLAS changes tiles there), then losses.
  d.Set(kSquare,
        {Point(256, 17.7, 17.4, 11.5), Point(16, 9.8, 14.9, 10.4), Point(157, 13.4, 16.3, 10.1),
         Point(314, 19.2, 22.0, 15.6), Point(512, 29.8, 22.8, 16.3)});
  EXPECT_EQ(d.points().at(kSquare).front().tokens, 16);  // kept sorted
  EXPECT_EQ(d.Fuses(kSquare, 1), true);
  EXPECT_EQ(d.Fuses(kSquare, 16), true);
  EXPECT_EQ(d.Fuses(kSquare, 100), true);  // follows 157
  EXPECT_EQ(d.Fuses(kSquare, 157), true);
  EXPECT_EQ(d.Fuses(kSquare, 200), false);  // follows 256
  EXPECT_EQ(d.Fuses(kSquare, 256), false);
  EXPECT_EQ(d.Fuses(kSquare, 300), true);  // follows 314
  EXPECT_EQ(d.Fuses(kSquare, 314), true);
  EXPECT_EQ(d.Fuses(kSquare, 512), false);
  EXPECT_EQ(d.Fuses(kSquare, 513), false);  // past the largest measured count
  EXPECT_FALSE(d.Fuses(LinearShape{GgmlType::kQ6_K, 3072, 3072}, 16).has_value());
  EXPECT_FALSE(d.Fuses(LinearShape{GgmlType::kQ4_K, 3072, 14336}, 16).has_value());

  // A tie dequantizes; a type without a fused kernel is measured without it and never fuses.
  const LinearShape tie{GgmlType::kQ6_K, 3072, 3072};
  d.Set(tie, {Point(16, 9, 9, 6)});
  EXPECT_EQ(d.Fuses(tie, 16), false);
  const LinearShape no_kernel{GgmlType::kQ3_K, 256, 512};
  d.Set(no_kernel, {Point(16, -1, 9, 6)});
  EXPECT_EQ(d.Fuses(no_kernel, 16), false);
  // Set replaces a shape's points.
  d.Set(tie, {Point(16, 5, 9, 6)});
  EXPECT_EQ(d.Fuses(tie, 16), true);
}

// Within 5% the fixed limits' choice stands, so that a near tie does not fall one way on one
// load and the other way on the next (the two paths' bits differ within bf16 rounding).
TEST(FusedDispatchTest, NearTiesTakeTheFixedLimitsChoice) {
  auto point = [](int64_t tokens, double fused, double dequant, bool fixed_fuses) {
    DispatchPoint p{tokens, fused, dequant, 10};
    p.fixed_fuses = fixed_fuses;
    return p;
  };
  FusedDispatch d;
  d.Set(kSquare, {point(16, 10.4, 10.0, true), point(64, 9.6, 10.0, false),
                  point(128, 10.6, 10.0, true), point(157, 9.4, 10.0, false)});
  EXPECT_EQ(d.Fuses(kSquare, 16), true);    // fused 4% slower: still the fixed choice
  EXPECT_EQ(d.Fuses(kSquare, 64), false);   // fused 4% faster: not enough to leave it
  EXPECT_EQ(d.Fuses(kSquare, 128), false);  // 6% slower: the measurement decides
  EXPECT_EQ(d.Fuses(kSquare, 157), true);   // 6% faster
  // The dense-copy saving follows the path taken.
  EXPECT_NEAR(*d.SavedSecondsByDenseCopy(kSquare, 16), 0.4e-6, 1e-12);
  EXPECT_NEAR(*d.SavedSecondsByDenseCopy(kSquare, 64), 0.0, 1e-12);
}

TEST(FusedDispatchTest, DenseCopySavesThePathTakenMinusTheGemm) {
  FusedDispatch d;
  d.Set(kSquare, {Point(157, 13, 17, 10), Point(314, 26, 22, 18), Point(512, 30, 31, 35)});
  // Fused at 157: 13 - 10 us. Dequantized at 314: 22 - 18 us.
  EXPECT_NEAR(*d.SavedSecondsByDenseCopy(kSquare, 157), 3e-6, 1e-12);
  EXPECT_NEAR(*d.SavedSecondsByDenseCopy(kSquare, 314), 4e-6, 1e-12);
  // Never negative: a copy that would be slower saves nothing.
  EXPECT_EQ(*d.SavedSecondsByDenseCopy(kSquare, 512), 0.0);
  // Only at a measured count, only for a measured shape.
  EXPECT_FALSE(d.SavedSecondsByDenseCopy(kSquare, 200).has_value());
  EXPECT_FALSE(d.SavedSecondsByDenseCopy(LinearShape{GgmlType::kQ8_0, 1, 1}, 157).has_value());
}

TEST(FusedDispatchTest, SummaryNamesShapeLimitAndEveryPoint) {
  FusedDispatch d;
  d.Set(kSquare, {Point(16, 5.04, 9, 6), Point(157, 13.1, 17.25, 10.2), Point(256, 20, 19, 12),
                  Point(314, 21, 23, 15)});
  d.Set(LinearShape{GgmlType::kQ6_K, 3072, 3072}, {Point(16, 9, 8, 6)}, /*gelu=*/true);
  const std::vector<std::string> lines = d.SummaryLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "q4_K [3072 x 3072]: fused at 16,157,314 tokens; us fused/dequant+gemm/bf16 "
            "@16 5.0/9.0/6.0 @157 13.1/17.2/10.2 @256 20.0/19.0/12.0 @314 21.0/23.0/15.0");
  EXPECT_EQ(lines[1],
            "q6_K [3072 x 3072]: fused at no tokens; us fused/dequant+gemm/bf16 (each with its "
            "GELU) @16 9.0/8.0/6.0");
}

TEST(FusedDispatchTest, PathFollowsTheMeasurementForMeasuredShapesOnly) {
  auto measured = std::make_shared<FusedDispatch>();
  measured->Set(kSquare, {Point(16, 5, 9, 6), Point(64, 8, 12, 7), Point(157, 20, 17, 10)});
  LinearOptions options;
  options.measured_dispatch = measured;
  const c10::Device cuda(c10::kCUDA, 0);
  const c10::Device cpu(c10::kCPU);
  // The CPU never fuses, measured or not.
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 3072, 16, cpu, options),
            LinearPath::kDequantGemm);
  if (!ops::HasFusedMatmul(GgmlType::kQ4_K)) {
    // A build without the CUDA kernels has no fused path to choose.
    EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 3072, 16, cuda, options),
              LinearPath::kDequantGemm);
    return;
  }
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 3072, 64, cuda, options), LinearPath::kFused);
  // Measured slower at 157, although the fixed Q4_K limit (314) would fuse it.
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 3072, 157, cuda, options),
            LinearPath::kDequantGemm);
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 3072, 100, cuda, options),
            LinearPath::kDequantGemm);
  // exact_f32 is the reference path: never fused.
  LinearOptions exact = options;
  exact.exact_f32 = true;
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 3072, 16, cuda, exact),
            LinearPath::kDequantGemm);
  // Another shape keeps the fixed limits: the portable kernel's 32 tokens or the panel's 314.
  const bool panel = ops::HasPanelFusedMatmul(GgmlType::kQ4_K, 14336);
  const LinearOptions fixed;
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 14336, 157, cuda, options),
            QuantizedPathFor(GgmlType::kQ4_K, 3072, 14336, 157, cuda, fixed));
  EXPECT_EQ(QuantizedPathFor(GgmlType::kQ4_K, 3072, 14336, 157, cuda, options),
            panel ? LinearPath::kFused : LinearPath::kDequantGemm);
}

TEST(FusedDispatchTest, MeasuringOffTheGpuIsRefusedByName) {
  absl::StatusOr<QuantizedTensor> q = QuantizedTensor::FromBlocks(
      "blk.0.q.weight", GgmlType::kQ4_K, {16, 256}, at::empty({16 * 144}, at::kByte));
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<FusedDispatch> d = MeasureFusedDispatch(
      {DispatchTarget{std::make_shared<const QuantizedTensor>(*std::move(q)), {157}}});
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("'blk.0.q.weight'"), std::string::npos) << d.status();
  EXPECT_EQ(MeasureFusedDispatch({DispatchTarget{nullptr, {157}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FusedDispatchTest, PlannerTakesTheMeasuredSaving) {
  // Two equal layers: the analytic estimate would tie them (file order); the measured saving of
  // a fused-path layer (a slow fused kernel) puts it first.
  std::vector<CacheCandidate> c = {
      {"a", GgmlType::kQ4_K, 1 << 20, GgmlRowBytes(GgmlType::kQ4_K, 1 << 20), 2},
      {"b", GgmlType::kQ4_K, 1 << 20, GgmlRowBytes(GgmlType::kQ4_K, 1 << 20), 2},
  };
  c[1].measured_saved_seconds = 1e-3;  // far more than a 1M-weight dequantize (~5 us)
  CachePlan plan = PlanCache(c, 2 * (1 << 20));
  ASSERT_EQ(plan.chosen.size(), 1u);
  EXPECT_EQ(c[plan.chosen[0]].name, "b");
  EXPECT_NEAR(plan.saved_seconds_per_step, 2e-3, 1e-12);
  // A measured zero (a copy would not be faster) is not outranked by its estimate.
  c[1].measured_saved_seconds = 0;
  plan = PlanCache(c, 2 * (1 << 20));
  ASSERT_EQ(plan.chosen.size(), 1u);
  EXPECT_EQ(c[plan.chosen[0]].name, "a");
}

TEST(FusedDispatchTest, TheCachePlanTakesAMeasuredSavingOverTheEstimate) {
  // Two layers of equal f32 copy size; room for one. Unmeasured, the Q8_0 one wins (more
  // traffic per weight, more saved per byte); a measurement (here given, as a reload gets
  // startup's) saying the Q4_K layer's path is 1 ms slower than a copy at its token count
  // gives the copy to it. The CPU store plans with a given table like the GPU's own.
  absl::StatusOr<std::string> path = testing::WriteTestGguf(
      "dispatch_cache.gguf",
      {{"a.weight", GgmlType::kQ4_K, {128, 256}}, {"b.weight", GgmlType::kQ8_0, {256, 128}}});
  ASSERT_TRUE(path.ok()) << path.status();
  auto load = [&](std::shared_ptr<const FusedDispatch> measured) {
    LoadOptions options;
    options.mode = LinearMode::kCache;
    options.cache_budget_bytes = 4 * 128 * 256 + 100;
    options.layer_usage = [](std::string_view) { return LayerUsage{64, 2}; };
    options.linear.measured_dispatch = std::move(measured);
    options.log = false;
    absl::StatusOr<std::unique_ptr<WeightStore>> store =
        WeightStore::Load(*path, c10::kCPU, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  };
  auto cached = [](const WeightStore& store, std::string_view name, int64_t out, int64_t in) {
    absl::StatusOr<QuantizedLinear> l = store.Linear(name, "", out, in);
    return l.ok() && l->has_dense();
  };
  std::unique_ptr<WeightStore> plain = load(nullptr);
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(cached(*plain, "b.weight", 256, 128));
  EXPECT_FALSE(cached(*plain, "a.weight", 128, 256));
  auto measured = std::make_shared<FusedDispatch>();
  measured->Set(LinearShape{GgmlType::kQ4_K, 128, 256}, {Point(64, 1005, 2000, 5)});
  std::unique_ptr<WeightStore> ranked = load(measured);
  std::remove(path->c_str());
  ASSERT_NE(ranked, nullptr);
  EXPECT_TRUE(cached(*ranked, "a.weight", 128, 256));
  EXPECT_FALSE(cached(*ranked, "b.weight", 256, 128));
  EXPECT_EQ(ranked->measured_dispatch(), measured);
}

// --- On a GPU: the measurement at load. ---

std::unique_ptr<WeightStore> LoadOnGpu(LinearMode mode, bool measure,
                                       std::shared_ptr<const FusedDispatch> preset = nullptr,
                                       int64_t tokens = 40, c10::DeviceIndex device = 0) {
  absl::StatusOr<std::string> path = testing::WriteTestGguf(
      "dispatch_model.gguf", {{"blk.0.q.weight", GgmlType::kQ4_K, {256, 512}},
                              {"blk.1.q.weight", GgmlType::kQ4_K, {256, 512}},
                              {"blk.0.ffn.weight", GgmlType::kQ6_K, {512, 256}},
                              {"blk.0.gate.weight", GgmlType::kQ3_K, {256, 512}}});
  EXPECT_TRUE(path.ok()) << path.status();
  LoadOptions options;
  options.mode = mode;
  options.cache_budget_bytes = mode == LinearMode::kCache ? int64_t{1} << 20 : 0;
  options.measure_dispatch = measure;
  options.layer_usage = [tokens](std::string_view) { return LayerUsage{tokens, 2}; };
  options.linear.measured_dispatch = std::move(preset);
  options.log = false;
  absl::StatusOr<std::unique_ptr<WeightStore>> store =
      WeightStore::Load(*path, c10::Device(c10::kCUDA, device), options);
  std::remove(path->c_str());
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(FusedDispatchGpuTest, LoadMeasuresEveryShapeAndLayersFollowIt) {
  if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  std::unique_ptr<WeightStore> store = LoadOnGpu(LinearMode::kLazy, true);
  ASSERT_NE(store, nullptr);
  const std::shared_ptr<const FusedDispatch>& d = store->measured_dispatch();
  ASSERT_NE(d, nullptr);
  // The accounting line says what the measurement cost the load.
  const VramAccounting a = store->Accounting();
  EXPECT_GT(a.dispatch_seconds, 0);
  EXPECT_LE(a.dispatch_seconds, a.load_seconds);
  EXPECT_NE(a.Summary().find("fused dispatch measured in"), std::string::npos) << a.Summary();
  // One entry per (type, out, in) with a fused kernel: the two q layers share one; the Q3_K
  // gate has q's dimensions but is its own entry where its type has a kernel.
  const LinearShape q{GgmlType::kQ4_K, 256, 512}, ffn{GgmlType::kQ6_K, 512, 256},
      gate{GgmlType::kQ3_K, 256, 512};
  ASSERT_TRUE(d->Has(q) && d->Has(ffn));
  EXPECT_EQ(d->Has(gate), ops::HasFusedMatmul(GgmlType::kQ3_K));
  EXPECT_EQ(d->points().size(), ops::HasFusedMatmul(GgmlType::kQ3_K) ? 3u : 2u);
  for (const auto& [shape, points] : d->points()) {
    SCOPED_TRACE(LinearShapeName(shape));
    std::set<int64_t> counts;
    for (const DispatchPoint& p : points) {
      counts.insert(p.tokens);
      EXPECT_GT(p.fused_us, 0);
      EXPECT_GT(p.dequant_gemm_us, 0);
      EXPECT_GT(p.dense_us, 0);
      // A GEMM on a resident copy cannot be slower than expanding that copy and then the same
      // GEMM, beyond timing noise.
      EXPECT_LT(p.dense_us, 1.5 * p.dequant_gemm_us) << p.tokens;
      // The tie-breaker: what the fixed limits (the store's default LinearOptions) choose.
      const int64_t fixed = LinearOptions{}.FusedMaxTokens(
          shape.type, ops::HasPanelFusedMatmul(shape.type, shape.in));
      EXPECT_EQ(p.fixed_fuses, p.tokens <= fixed) << p.tokens;
    }
    // The ladder plus the model's 40 tokens per pass and 80 for both passes in one batch.
    EXPECT_EQ(counts, (std::set<int64_t>{16, 40, 64, 80, 128, 256, 512}));
  }
  // Each layer takes the measured path on both sides of its limit.
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store->NewWorkspace();
  ASSERT_TRUE(ws.ok()) << ws.status();
  absl::StatusOr<QuantizedLinear> layer = store->Linear("blk.1.q.weight", "", 256, 512);
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (int64_t tokens : {int64_t{16}, int64_t{40}, int64_t{512}}) {
    const at::Tensor x = testing::RandomInput({tokens, 512}, at::kBFloat16, store->device(), 5);
    LinearPath path = LinearPath::kNone;
    absl::StatusOr<at::Tensor> y = layer->Forward(x, ws->get(), &path);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(path, *d->Fuses(q, tokens) ? LinearPath::kFused : LinearPath::kDequantGemm)
        << tokens << " tokens";
  }
}

TEST(FusedDispatchGpuTest, AGeluLayersFusedPathPaysItsActivation) {
  if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  std::unique_ptr<WeightStore> store = LoadOnGpu(LinearMode::kLazy, false);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::shared_ptr<const QuantizedTensor>> q = store->Quantized("blk.0.q.weight");
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<FusedDispatch> plain = MeasureFusedDispatch({DispatchTarget{*q, {40}, false}});
  absl::StatusOr<FusedDispatch> gelu = MeasureFusedDispatch({DispatchTarget{*q, {40}, true}});
  ASSERT_TRUE(plain.ok() && gelu.ok()) << plain.status() << gelu.status();
  const LinearShape shape{GgmlType::kQ4_K, 256, 512};
  const std::vector<DispatchPoint>& p = plain->points().at(shape);
  const std::vector<DispatchPoint>& g = gelu->points().at(shape);
  ASSERT_EQ(p.size(), g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_GT(g[i].fused_us, 0);
    EXPECT_GT(g[i].dequant_gemm_us, 0);
    EXPECT_GT(g[i].dense_us, 0);
  }
  // The fused path pays its GELU as a kernel of its own: never cheaper than without it, beyond
  // noise, summed over the counts.
  double fused_plain = 0, fused_gelu = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    fused_plain += p[i].fused_us;
    fused_gelu += g[i].fused_us;
  }
  EXPECT_GT(fused_gelu, 0.95 * fused_plain);
}

TEST(FusedDispatchGpuTest, ReloadsReuseTheTableAndSomeLoadsNeverMeasure) {
  if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  auto preset = std::make_shared<FusedDispatch>();
  preset->Set(LinearShape{GgmlType::kQ4_K, 256, 512}, {Point(16, 1, 2, 1)});
  std::unique_ptr<WeightStore> reload = LoadOnGpu(LinearMode::kLazy, true, preset);
  ASSERT_NE(reload, nullptr);
  EXPECT_EQ(reload->measured_dispatch(), preset);  // not measured again
  std::unique_ptr<WeightStore> off = LoadOnGpu(LinearMode::kLazy, false);
  ASSERT_NE(off, nullptr);
  EXPECT_EQ(off->measured_dispatch(), nullptr);
  EXPECT_EQ(off->Accounting().dispatch_seconds, 0);
  std::unique_ptr<WeightStore> eager = LoadOnGpu(LinearMode::kEager, true);
  ASSERT_NE(eager, nullptr);
  EXPECT_EQ(eager->measured_dispatch(), nullptr);
  // Token counts beyond what is ever measured: nothing to measure.
  std::unique_ptr<WeightStore> big = LoadOnGpu(LinearMode::kLazy, true, nullptr, 4096);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->measured_dispatch(), nullptr);
  // The cache mode measures too, and plans with it.
  std::unique_ptr<WeightStore> cache = LoadOnGpu(LinearMode::kCache, true);
  ASSERT_NE(cache, nullptr);
  EXPECT_NE(cache->measured_dispatch(), nullptr);
}

// Two measurements of one shape on two cards of the same kind: the same counts, and the times of
// all paths summed within a factor of 1.5 of each other (timed on the wrong device, they were
// empty intervals).
void ExpectSameReading(const std::vector<DispatchPoint>& a, const std::vector<DispatchPoint>& b) {
  ASSERT_EQ(a.size(), b.size());
  double sum_a = 0, sum_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    sum_a += a[i].fused_us + a[i].dequant_gemm_us + a[i].dense_us;
    sum_b += b[i].fused_us + b[i].dequant_gemm_us + b[i].dense_us;
  }
  EXPECT_GT(sum_b, 0.67 * sum_a);
  EXPECT_LT(sum_b, 1.5 * sum_a);
}

// A store on cuda:1, loaded from a thread whose current device is 0 (the daemon's main thread
// with --device=cuda:1), is timed on cuda:1. Timed on device 0's stream, its intervals were
// empty: every path a tie, every count dequantized. Its measurement must read as device 0's
// does (the same kind of card), its layers must give device 0's bits, and the thread must
// still be on device 0 afterwards.
TEST(FusedDispatchGpuTest, AStoreOnTheSecondGpuIsTimedThere) {
  if (testing::CudaDeviceCount() < 2) GTEST_SKIP() << "needs two CUDA devices";
  const c10::impl::DeviceGuardImplInterface* cuda = c10::impl::getDeviceGuardImpl(c10::kCUDA);
  cuda->setDevice(c10::Device(c10::kCUDA, 0));
  std::unique_ptr<WeightStore> on0 = LoadOnGpu(LinearMode::kLazy, true, nullptr, 40, 0);
  std::unique_ptr<WeightStore> on1 = LoadOnGpu(LinearMode::kLazy, true, nullptr, 40, 1);
  ASSERT_NE(on0, nullptr);
  ASSERT_NE(on1, nullptr);
  EXPECT_EQ(cuda->getDevice().index(), 0);
  EXPECT_EQ(on1->device(), c10::Device(c10::kCUDA, 1));
  const std::shared_ptr<const FusedDispatch>& d0 = on0->measured_dispatch();
  const std::shared_ptr<const FusedDispatch>& d1 = on1->measured_dispatch();
  ASSERT_NE(d0, nullptr);
  ASSERT_NE(d1, nullptr);
  const LinearShape q{GgmlType::kQ4_K, 256, 512};
  ASSERT_TRUE(d0->Has(q));
  // One kernel against two at 16 tokens: where device 0 finds the fused path clearly faster,
  // device 1 must too (timed empty, every path was a tie and dequantized).
  const DispatchPoint& at16 = d0->points().at(q).front();
  ASSERT_EQ(at16.tokens, 16);
  if (at16.fused_us < 0.8 * at16.dequant_gemm_us) {
    EXPECT_EQ(d0->Fuses(q, 16), true);
    EXPECT_EQ(d1->Fuses(q, 16), true);
  }
  for (const auto& [shape, points0] : d0->points()) {
    SCOPED_TRACE(LinearShapeName(shape));
    ASSERT_TRUE(d1->Has(shape));
    ExpectSameReading(points0, d1->points().at(shape));
  }
  for (int64_t tokens : {int64_t{16}, int64_t{512}}) {
    SCOPED_TRACE(tokens);
    at::Tensor y[2];
    LinearPath paths[2] = {LinearPath::kNone, LinearPath::kNone};
    for (int i = 0; i < 2; ++i) {
      WeightStore& store = i == 0 ? *on0 : *on1;
      absl::StatusOr<std::shared_ptr<DequantWorkspace>> ws = store.NewWorkspace();
      ASSERT_TRUE(ws.ok()) << ws.status();
      absl::StatusOr<QuantizedLinear> layer = store.Linear("blk.1.q.weight", "", 256, 512);
      ASSERT_TRUE(layer.ok()) << layer.status();
      const at::Tensor x = testing::RandomInput({tokens, 512}, at::kBFloat16, store.device(), 9);
      absl::StatusOr<at::Tensor> out = layer->Forward(x, ws->get(), &paths[i]);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(out->device(), store.device());
      y[i] = *out;
    }
    if (paths[0] == paths[1]) EXPECT_TRUE(testing::BitEqual(y[0], y[1]));
  }
  // MeasureFusedDispatch on its own (its guard, not the store's), from device 0 with cuda:1
  // weights: the same reading as device 0's.
  absl::StatusOr<std::shared_ptr<const QuantizedTensor>> w1 = on1->Quantized("blk.0.q.weight");
  ASSERT_TRUE(w1.ok()) << w1.status();
  absl::StatusOr<FusedDispatch> direct =
      MeasureFusedDispatch({DispatchTarget{*w1, {40, 80}, false}});  // the store's counts
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(cuda->getDevice().index(), 0);
  ExpectSameReading(d0->points().at(q), direct->points().at(q));
  EXPECT_EQ(cuda->getDevice().index(), 0);
}

}  // namespace
}  // namespace ovid
