// File: tests/pipeline/worker_pool_test.cc
// WorkerPool: each slot's workspace covers the largest layer any model it runs expands (the
// denoiser's, or a larger text encoder's), allocated at creation and counted by the store.
#include "engine/pipeline/worker_pool.h"

#include <gtest/gtest.h>

#include <memory>

#include "engine/tensor/weight_store.h"
#include "tests/pipeline/pipeline_test_util.h"

namespace ovid::pipeline {
namespace {

std::unique_ptr<WeightStore> TinyStore() {
  LoadOptions options;
  options.log = false;
  absl::StatusOr<std::unique_ptr<WeightStore>> store =
      WeightStore::Load(testing::TinyModelPath(), c10::kCPU, options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(WorkerPoolTest, SlotWorkspacesCoverTheLargestLayerOfEveryModelTheyRun) {
  std::unique_ptr<WeightStore> store = TinyStore();
  ASSERT_NE(store, nullptr);
  const int64_t denoiser = store->WorkspaceBytes();
  ASSERT_GT(denoiser, 0);
  // A text encoder with smaller layers changes nothing.
  absl::StatusOr<std::unique_ptr<WorkerPool>> small = WorkerPool::Create(*store, 2, denoiser / 2);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ((*small)->workspace_bytes(), 2 * denoiser);
  small->reset();
  // A larger one sizes every slot for itself, up front (a job must not grow a workspace).
  absl::StatusOr<std::unique_ptr<WorkerPool>> large = WorkerPool::Create(*store, 2, 3 * denoiser);
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_EQ((*large)->workspace_bytes(), 2 * 3 * denoiser);
  EXPECT_EQ(store->Accounting().workspace_bytes, 2 * 3 * denoiser);  // counted by the store
  large->reset();
  EXPECT_EQ(store->Accounting().workspace_bytes, 0);
}

}  // namespace
}  // namespace ovid::pipeline
