// File: tests/pipeline/slot_thread_test.cc
// Each worker slot runs its jobs on a thread of its own (engine/pipeline/slot_thread.h), so
// LibTorch's per-thread library handles, and their per-(handle, stream) workspaces on a GPU,
// stay one per slot. SlotThread alone, then whole jobs on the tiny model (CPU) from more caller
// threads than there are slots.
#include "engine/pipeline/slot_thread.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/pipeline/pipeline_test_util.h"

namespace ovid {
namespace {

using ::ovid::pipeline::SlotThread;
using ::ovid::testing::LoadTiny;
using ::ovid::testing::RecordingSink;
using ::ovid::testing::TinyRequest;

TEST(SlotThreadTest, EveryCallerRunsOnTheSameOtherThreadAndExceptionsComeBack) {
  SlotThread slot;
  std::mutex mu;
  std::set<std::thread::id> ran_on, callers;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) {
        slot.Run([&] {
          std::lock_guard<std::mutex> lock(mu);
          ran_on.insert(std::this_thread::get_id());
        });
      }
      std::lock_guard<std::mutex> lock(mu);
      callers.insert(std::this_thread::get_id());
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(ran_on.size(), 1u);
  EXPECT_EQ(callers.count(*ran_on.begin()), 0u);
  EXPECT_NE(*ran_on.begin(), std::this_thread::get_id());

  EXPECT_THROW(slot.Run([] { throw std::runtime_error("task failed"); }), std::runtime_error);
  int after = 0;
  slot.Run([&] { after = 1; });  // the thread survives a task's exception
  EXPECT_EQ(after, 1);
}

TEST(SlotThreadTest, JobsFromManyThreadsRunOnOneThreadPerSlot) {
  PipelineOptions o;
  o.workers = 2;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o);
  ASSERT_TRUE(p.ok()) << p.status();
  std::mutex mu;
  std::set<std::thread::id> job_threads, callers;
  std::vector<std::string> outputs;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 2; ++k) {
        RecordingSink sink;
        sink.on_progress = [&](const Progress&) {
          std::lock_guard<std::mutex> lock(mu);
          job_threads.insert(std::this_thread::get_id());
        };
        CancelToken cancel;
        absl::StatusOr<GenerationResult> r = (*p)->Run(TinyRequest(1, 5), sink, cancel);
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_TRUE(r.ok()) << r.status();
        if (r.ok() && sink.outputs().size() == 1) outputs.push_back(sink.outputs()[0].data);
      }
      std::lock_guard<std::mutex> lock(mu);
      callers.insert(std::this_thread::get_id());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GE(job_threads.size(), 1u);
  EXPECT_LE(job_threads.size(), 2u);  // one thread per slot, whoever called
  for (const std::thread::id& id : job_threads) EXPECT_EQ(callers.count(id), 0u);
  ASSERT_EQ(outputs.size(), 8u);
  for (const std::string& out : outputs) EXPECT_EQ(out, outputs[0]);  // same request, same bytes
}

}  // namespace
}  // namespace ovid
