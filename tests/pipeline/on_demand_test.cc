// File: tests/pipeline/on_demand_test.cc
// OnDemand (engine/pipeline/on_demand.h) on the CPU: concurrent Acquires share one load, an
// offloaded instance goes when its last holder lets go, and Peek (what /metrics and GetModel
// call) answers while a load is running instead of waiting seconds for it.
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

}  // namespace
}  // namespace ovid::pipeline
