// The pipeline on a CUDA device (skipped without one): device figures in Vram() and the result,
// determinism on the device, and no growth of allocated device memory from one job to the next,
// also when jobs come from more threads than there are worker slots, and an offloaded
// denoiser's reloads that take startup's fused dispatch instead of measuring it again.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/pipeline/device_util.h"
#include "ovid/engine_log.h"
#include "tests/pipeline/pipeline_test_util.h"

namespace ovid {
namespace {

using ::ovid::testing::LoadTiny;
using ::ovid::testing::RecordingSink;
using ::ovid::testing::TinyModelPath;
using ::ovid::testing::TinyRequest;

std::unique_ptr<LoadedPipeline> TinyOnCuda() {
  PipelineOptions o;
  o.workers = 2;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o, "cuda");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

bool HaveCuda() { return pipeline::ResolveDevice("cuda").ok(); }

TEST(PipelineCudaTest, ReportsDeviceMemoryAndDoesNotGrow) {
  if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  std::unique_ptr<LoadedPipeline> p = TinyOnCuda();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Describe().device, "cuda:0");
  ASSERT_TRUE(p->Warmup().ok());
  std::string first, second;
  uint64_t allocated_after_first = 0;
  for (std::string* out : {&first, &second}) {
    RecordingSink sink;
    CancelToken cancel;
    absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, 9), sink, cancel);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT(r->peak_vram_bytes, 0u);
    ASSERT_EQ(r->stages.size(), 1u);
    EXPECT_EQ(r->stages[0].peak_vram_bytes, r->peak_vram_bytes);
    ASSERT_EQ(sink.outputs().size(), 1u);
    *out = sink.outputs()[0].data;
    const VramSnapshot v = p->Vram();
    EXPECT_GT(v.device_total_bytes, 0u);
    EXPECT_GT(v.device_used_bytes, 0u);
    EXPECT_GT(v.torch_allocated_bytes, v.weights_resident_bytes / 2);
    if (out == &first) {
      allocated_after_first = v.torch_allocated_bytes;
    } else {
      EXPECT_EQ(v.torch_allocated_bytes, allocated_after_first);  // the job left nothing behind
    }
  }
  EXPECT_EQ(first, second);  // same seed, same device: same bits
}

// LibTorch keeps a cuBLAS workspace per (thread's handle, stream) pair and never frees it. Jobs
// that ran on their caller's thread added one per new (caller, slot) pair after the warm-up: the
// GPU soak ended 66 MiB above its idle level. Each slot's work runs on the slot's own thread,
// whose workspaces the warm-up made.
TEST(PipelineCudaTest, JobsFromNewThreadsAddNoDeviceMemoryAfterTheWarmup) {
  if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  std::unique_ptr<LoadedPipeline> p = TinyOnCuda();
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->Warmup().ok());
  auto run = [&p](uint64_t seed) {
    RecordingSink sink;
    CancelToken cancel;
    absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, seed), sink, cancel);
    EXPECT_TRUE(r.ok()) << r.status();
  };
  run(1);  // per-size state (the RoPE tables of this latent size) is made once
  const uint64_t steady = p->Vram().torch_allocated_bytes;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> callers;
    for (int i = 0; i < 4; ++i) callers.emplace_back(run, 10 * round + i);
    for (std::thread& t : callers) t.join();
    EXPECT_EQ(p->Vram().torch_allocated_bytes, steady) << "after round " << round;
  }
}

// Counts the engine's log lines about the tiny model's loads while it is alive.
class LoadLogCounter {
 public:
  LoadLogCounter() {
    SetEngineLogSink([this](EngineLogLevel, std::string_view message) {
      const std::lock_guard<std::mutex> lock(mu_);
      auto contains = [message](std::string_view s) {
        return message.find(s) != std::string_view::npos;
      };
      if (!contains(TinyModelPath())) return;
      if (contains("resident vs")) ++loads_;
      if (contains("fused dispatch measured")) ++measured_;
    });
  }
  ~LoadLogCounter() { SetEngineLogSink(nullptr); }
  int loads() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return loads_;
  }
  int measured() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return measured_;
  }

 private:
  mutable std::mutex mu_;
  int loads_ = 0;
  int measured_ = 0;  // "measured on this card" and an accounting line's "measured in N s"
};

// An offloaded denoiser is uploaded again for every job. The fused dispatch is measured once, at
// startup: each reload dispatches by that table (measured again, a near tie could fall the
// other way and change the paths, and the cache plan, under startup's VRAM estimates), and pays
// no measuring time per job.
TEST(PipelineCudaTest, AnOffloadedDenoiserIsMeasuredAtStartupOnlyNotPerJob) {
  if (!HaveCuda()) GTEST_SKIP() << "no CUDA device";
  LoadLogCounter log;
  PipelineOptions o;
  o.offload.denoiser = true;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o, "cuda");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->Describe().fused_dispatch, "measured");
  const int startup_loads = log.loads();
  ASSERT_GE(startup_loads, 1);
  // The "measured on this card" line and its accounting line's "measured in N s".
  EXPECT_EQ(log.measured(), 2);
  std::string outputs[2];
  for (std::string& out : outputs) {
    RecordingSink sink;
    CancelToken cancel;
    absl::StatusOr<GenerationResult> r = (*p)->Run(TinyRequest(2, 5), sink, cancel);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(sink.outputs().size(), 1u);
    out = sink.outputs()[0].data;
  }
  EXPECT_EQ(log.loads(), startup_loads + 2);  // reloaded for each job (and logged)...
  EXPECT_EQ(log.measured(), 2);               // ...without measuring
  EXPECT_EQ(outputs[0], outputs[1]);          // the same table each time: the same paths
}

}  // namespace
}  // namespace ovid
