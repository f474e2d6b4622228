// File: tests/server/periodic_test.cc
// The daemon's periodic check: it ticks every interval, and its destruction neither waits out
// an interval nor leaves a tick running.
#include "server/periodic.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/time/clock.h"

namespace ovid::server {
namespace {

TEST(PeriodicTest, TicksEveryIntervalUntilDestroyed) {
  std::atomic<int> ticks{0};
  {
    Periodic periodic(absl::Milliseconds(10), [&ticks] { ++ticks; });
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (ticks.load() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    EXPECT_GE(ticks.load(), 3);
  }
  const int after = ticks.load();
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(ticks.load(), after);  // joined: nothing ticks after the destructor
}

TEST(PeriodicTest, DestructionDoesNotWaitOutTheInterval) {
  std::atomic<int> ticks{0};
  const absl::Time start = absl::Now();
  { Periodic periodic(absl::Hours(1), [&ticks] { ++ticks; }); }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(ticks.load(), 0);  // the first tick is one interval after the start
}

}  // namespace
}  // namespace ovid::server
