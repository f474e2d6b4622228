// File: tests/server/stop_signal_test.cc
// StopSignal (server/stop_signal.h) with real signals sent to this process: a signal taken before
// the exit-before-ready callback is set still ends the startup at once, and SIGHUP is ignored
// instead of killing the process. Its own binary: every thread must block the signals, so the
// mask is set before main, before any thread exists.
#include "server/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace ovid::server {
namespace {

const bool kBlocked = [] {
  StopSignal::BlockSignals();
  return true;
}();

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

TEST(StopSignalTest, ASignalBeforeTheCallbackIsSetCallsItAtOnce) {
  ASSERT_TRUE(kBlocked);
  StopSignal stop;
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return stop.stopping(); }));
  std::string heard;
  stop.SetExitBeforeReady([&heard](const std::string& signal) { heard = signal; });
  EXPECT_EQ(heard, "SIGTERM");  // before: nothing until the load (minutes) had finished
  stop.SetExitBeforeReady(nullptr);
  std::string detail;
  EXPECT_EQ(stop.Wait(&detail), StopSignal::Reason::kSignal);
  EXPECT_EQ(detail, "SIGTERM");
}

TEST(StopSignalTest, AFatalStopDoesNotCallTheSignalCallback) {
  StopSignal stop;
  stop.Fatal("device error");
  bool called = false;
  stop.SetExitBeforeReady([&called](const std::string&) { called = true; });
  EXPECT_FALSE(called);
  stop.SetExitBeforeReady(nullptr);
}

TEST(StopSignalTest, SighupIsReportedAndIgnored) {
  std::atomic<int> ignored{0};
  StopSignal stop([&ignored](const std::string& signal) {
    if (signal == "SIGHUP") ++ignored;
  });
  ASSERT_EQ(kill(getpid(), SIGHUP), 0);  // before: the default action ended the process
  ASSERT_TRUE(WaitFor([&] { return ignored.load() == 1; }));
  EXPECT_FALSE(stop.stopping());
}

}  // namespace
}  // namespace ovid::server
