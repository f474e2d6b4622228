// The pipeline on a CUDA device (skipped without one): device figures in Vram() and the result,
// determinism on the device, and no growth of allocated device memory from one job to the next,
// also when jobs come from more threads than there are worker slots.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "engine/pipeline/device_util.h"
#include "tests/pipeline/pipeline_test_util.h"

namespace ovid {
namespace {

using ::ovid::testing::LoadTiny;
using ::ovid::testing::RecordingSink;
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

}  // namespace
}  // namespace ovid
