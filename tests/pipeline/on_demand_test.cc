// File: tests/pipeline/on_demand_test.cc
// OnDemand (engine/pipeline/on_demand.h) on the CPU: concurrent Acquires share one load, an
// offloaded instance goes when its last holder lets go, Peek answers while a load is running
// instead of waiting seconds for it, and Inspect (what /metrics and GetModel call) never makes
// the observer an offloaded instance's last holder.
#include "engine/pipeline/on_demand.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace ovid::pipeline {
namespace {

TEST(OnDemandTest, PeekAnswersDuringALoadAndConcurrentAcquiresShareIt) {
  OnDemand<int> stage;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> loads{0};
  stage.Configure(
      [&]() -> absl::StatusOr<std::unique_ptr<int>> {
        ++loads;
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return release; });
        return std::make_unique<int>(7);
      },
      /*offload=*/true, c10::Device(c10::kCPU));
  std::shared_ptr<int> a, b;
  std::thread first([&] { a = *stage.Acquire(); });
  while (loads.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread second([&] { b = *stage.Acquire(); });

  std::future<std::shared_ptr<int>> peek =
      std::async(std::launch::async, [&] { return stage.Peek(); });
  const bool answered = peek.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  EXPECT_TRUE(answered) << "Peek waited for the load";
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(peek.get(), nullptr);  // nothing loaded yet when it answered
  first.join();
  second.join();

  EXPECT_EQ(loads.load(), 1);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(*a, 7);
  EXPECT_EQ(stage.Peek(), a);
  a.reset();
  b.reset();
  EXPECT_EQ(stage.Peek(), nullptr);  // offloaded: gone with its last holder
  EXPECT_EQ(*stage.Acquire().value(), 7);
  EXPECT_EQ(loads.load(), 2);
}

TEST(OnDemandTest, AResidentInstanceLoadsOnceAndAFailedLoadIsRetried) {
  OnDemand<int> stage;
  int calls = 0;
  stage.Configure(
      [&]() -> absl::StatusOr<std::unique_ptr<int>> {
        if (++calls == 1) return absl::UnavailableError("disk busy");
        return std::make_unique<int>(3);
      },
      /*offload=*/false, c10::Device(c10::kCPU));
  EXPECT_EQ(stage.Acquire().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(stage.Peek(), nullptr);
  std::shared_ptr<int> x = *stage.Acquire();
  x.reset();
  EXPECT_NE(stage.Peek(), nullptr);  // resident: kept without holders
  EXPECT_EQ(*stage.Acquire().value(), 3);
  EXPECT_EQ(calls, 2);
}

// Records the thread that frees it.
struct Stage {
  std::thread::id* freed_on;
  int value;
  ~Stage() { *freed_on = std::this_thread::get_id(); }
};

TEST(OnDemandTest, AnInspectorIsNeverTheLastHolderOfAnOffloadedInstance) {
  std::thread::id freed_on;
  OnDemand<Stage> stage;
  stage.Configure(
      [&]() -> absl::StatusOr<std::unique_ptr<Stage>> {
        return std::unique_ptr<Stage>(new Stage{&freed_on, 5});
      },
      /*offload=*/true, c10::Device(c10::kCPU));
  EXPECT_FALSE(stage.Inspect([](const Stage&) { ADD_FAILURE() << "nothing is loaded"; }));
  std::shared_ptr<Stage> job = *stage.Acquire();

  // The job lets go while an inspector is reading the instance: the release waits for the
  // inspector, and the instance is freed on the job's thread, not the inspector's.
  std::promise<void> inside, job_released;
  std::thread inspector([&] {
    const bool seen = stage.Inspect([&](const Stage& s) {
      EXPECT_EQ(s.value, 5);
      inside.set_value();
      // Give the job's release time to start waiting; it must not free the instance now.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      EXPECT_EQ(freed_on, std::thread::id());
    });
    EXPECT_TRUE(seen);
  });
  inside.get_future().wait();
  std::thread releaser([&] {
    job.reset();
    job_released.set_value();
  });
  job_released.get_future().wait();
  const std::thread::id releaser_id = releaser.get_id();
  inspector.join();
  releaser.join();
  EXPECT_EQ(freed_on, releaser_id);
  EXPECT_FALSE(stage.Inspect([](const Stage&) { ADD_FAILURE() << "the instance was freed"; }));

  // A new instance is observed again, and a resident one always is.
  std::shared_ptr<Stage> again = *stage.Acquire();
  int seen_value = 0;
  EXPECT_TRUE(stage.Inspect([&](const Stage& s) { seen_value = s.value; }));
  EXPECT_EQ(seen_value, 5);
}

}  // namespace
}  // namespace ovid::pipeline
