// File: tests/server/metrics_step_timer_test.cc
// Step times from consecutive denoise reports.
#include "server/metrics_step_timer.h"

#include <gtest/gtest.h>

namespace ovid::server {
namespace {

Progress Denoise(uint32_t step, double elapsed) { return Progress{"denoise", step, 50, elapsed, 0}; }

TEST(DenoiseStepTimerTest, ConsecutiveReportsGiveTheStepTime) {
  DenoiseStepTimer timer;
  EXPECT_EQ(timer.OnProgress("a", Denoise(0, 4.0)).steps, 0u);  // the anchor
  StepTimes first = timer.OnProgress("a", Denoise(1, 6.5));
  EXPECT_EQ(first.steps, 1u);
  EXPECT_DOUBLE_EQ(first.seconds, 2.5);
  StepTimes second = timer.OnProgress("a", Denoise(2, 9.5));
  EXPECT_EQ(second.steps, 1u);
  EXPECT_DOUBLE_EQ(second.seconds, 3.0);
}

TEST(DenoiseStepTimerTest, ASkippedReportSplitsTheTimeOverItsSteps) {
  DenoiseStepTimer timer;
  timer.OnProgress("a", Denoise(2, 10.0));
  StepTimes times = timer.OnProgress("a", Denoise(5, 16.0));
  EXPECT_EQ(times.steps, 3u);
  EXPECT_DOUBLE_EQ(times.seconds, 2.0);
}

TEST(DenoiseStepTimerTest, JobsAreTimedSeparately) {
  DenoiseStepTimer timer;
  timer.OnProgress("a", Denoise(0, 0.0));
  timer.OnProgress("b", Denoise(0, 100.0));
  EXPECT_DOUBLE_EQ(timer.OnProgress("a", Denoise(1, 1.0)).seconds, 1.0);
  EXPECT_DOUBLE_EQ(timer.OnProgress("b", Denoise(1, 104.0)).seconds, 4.0);
  EXPECT_EQ(timer.tracked(), 2u);
}

TEST(DenoiseStepTimerTest, OtherStagesAreIgnoredAndDoNotMoveTheMark) {
  DenoiseStepTimer timer;
  EXPECT_EQ(timer.OnProgress("a", Progress{"text_encode", 1, 1, 3.0, 0}).steps, 0u);
  EXPECT_EQ(timer.tracked(), 0u);
  timer.OnProgress("a", Denoise(0, 3.0));
  timer.OnProgress("a", Progress{"video_decode", 0, 1, 50.0, 0});
  EXPECT_DOUBLE_EQ(timer.OnProgress("a", Denoise(1, 5.0)).seconds, 2.0);
}

TEST(DenoiseStepTimerTest, BackwardsReportsResetTheMarkInsteadOfObserving) {
  DenoiseStepTimer timer;
  timer.OnProgress("a", Denoise(3, 10.0));
  EXPECT_EQ(timer.OnProgress("a", Denoise(3, 11.0)).steps, 0u);  // same step again
  EXPECT_EQ(timer.OnProgress("a", Denoise(1, 12.0)).steps, 0u);  // step went back
  EXPECT_EQ(timer.OnProgress("a", Denoise(2, 11.0)).steps, 0u);  // time went back
  StepTimes times = timer.OnProgress("a", Denoise(3, 12.5));     // from the (2, 11.0) mark
  EXPECT_EQ(times.steps, 1u);
  EXPECT_DOUBLE_EQ(times.seconds, 1.5);
}

TEST(DenoiseStepTimerTest, AnAbsurdJumpIsNotObserved) {
  DenoiseStepTimer timer;
  timer.OnProgress("a", Denoise(0, 0.0));
  EXPECT_EQ(timer.OnProgress("a", Denoise(5000, 10.0)).steps, 0u);
}

TEST(DenoiseStepTimerTest, ForgetDropsTheJobsMark) {
  DenoiseStepTimer timer;
  timer.OnProgress("a", Denoise(0, 0.0));
  timer.Forget("a");
  EXPECT_EQ(timer.tracked(), 0u);
  // The next report is a first report again: it anchors, nothing is observed.
  EXPECT_EQ(timer.OnProgress("a", Denoise(1, 2.0)).steps, 0u);
}

}  // namespace
}  // namespace ovid::server
