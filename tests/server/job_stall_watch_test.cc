// File: tests/server/job_stall_watch_test.cc
// The wedged-worker watch: a running job silent for the limit is reported once, with the stage
// it was last in; progress restarts its clock, a finished job is forgotten, and the periodic
// thread finds a stall by itself.
#include "server/job_stall_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "server/job.h"

namespace ovid::server {
namespace {

using Clock = JobStallWatch::Clock;

std::shared_ptr<Job> NewJob(const std::string& id) {
  return std::make_shared<Job>(id, GenerationRequest(), "", 0, absl::Now());
}

Progress Step(uint32_t step, uint32_t total) {
  Progress p;
  p.stage = "denoise";
  p.step = step;
  p.total = total;
  return p;
}

class Reports {
 public:
  std::function<void(const JobStallWatch::Stall&)> Sink() {
    return [this](const JobStallWatch::Stall& s) {
      const std::lock_guard<std::mutex> lock(mu_);
      stalls_.push_back(s);
    };
  }
  std::vector<JobStallWatch::Stall> Get() {
    const std::lock_guard<std::mutex> lock(mu_);
    return stalls_;
  }

 private:
  std::mutex mu_;
  std::vector<JobStallWatch::Stall> stalls_;
};

TEST(JobStallWatchTest, ReportsTheSilentJobOnceWithItsLastStage) {
  Reports reports;
  // An hour: the periodic thread's own checks never find anything; Check is driven here.
  JobStallWatch watch(absl::Hours(1), reports.Sink());
  auto busy = NewJob("busy"), stuck = NewJob("stuck");
  watch.OnStarted(*busy, absl::ZeroDuration());
  watch.OnStarted(*stuck, absl::ZeroDuration());
  watch.OnProgress(*stuck, Step(3, 30));
  const Clock::time_point t0 = Clock::now();
  watch.Check(t0 + std::chrono::minutes(59));
  EXPECT_TRUE(reports.Get().empty());  // under the limit
  // Forty minutes on, `busy` reports a step; `stuck` stays silent.
  watch.OnProgress(*busy, Step(1, 30));
  const Clock::time_point busy_step = Clock::now();
  watch.Check(busy_step + std::chrono::minutes(61));
  ASSERT_EQ(reports.Get().size(), 1u);
  const JobStallWatch::Stall s = reports.Get()[0];
  // Both are past the hour at that instant; the report names the one silent longest.
  EXPECT_EQ(s.job_id, "stuck");
  EXPECT_EQ(s.stage, "denoise");
  EXPECT_EQ(s.step, 3u);
  EXPECT_EQ(s.total, 30u);
  EXPECT_GE(s.silent, absl::Minutes(61));
  // Once only: the daemon is stopping after the first.
  watch.Check(busy_step + std::chrono::hours(5));
  EXPECT_EQ(reports.Get().size(), 1u);
}

TEST(JobStallWatchTest, ProgressRestartsTheClockAndFinishedJobsAreForgotten) {
  Reports reports;
  JobStallWatch watch(absl::Hours(1), reports.Sink());
  auto job = NewJob("j");
  watch.OnStarted(*job, absl::ZeroDuration());
  watch.OnProgress(*job, Step(1, 2));
  watch.Check(Clock::now() + std::chrono::minutes(59));
  EXPECT_TRUE(reports.Get().empty());
  watch.OnFinished(*job, absl::OkStatus(), nullptr, absl::Seconds(1));
  watch.Check(Clock::now() + std::chrono::hours(3));
  EXPECT_TRUE(reports.Get().empty());  // it ended: silence after that is no stall
  // A job that started and never reported is named with no stage.
  auto silent = NewJob("silent");
  watch.OnStarted(*silent, absl::ZeroDuration());
  watch.Check(Clock::now() + std::chrono::hours(2));
  ASSERT_EQ(reports.Get().size(), 1u);
  EXPECT_EQ(reports.Get()[0].job_id, "silent");
  EXPECT_EQ(reports.Get()[0].stage, "");
}

TEST(JobStallWatchTest, ThePeriodicCheckFindsAStallByItself) {
  Reports reports;
  JobStallWatch watch(absl::Milliseconds(500), reports.Sink());
  auto job = NewJob("wedged");
  watch.OnStarted(*job, absl::ZeroDuration());
  // Reporting progress every 20 ms keeps it quiet.
  for (int i = 0; i < 40; ++i) {
    watch.OnProgress(*job, Step(i, 100));
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(reports.Get().empty());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (reports.Get().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(reports.Get().size(), 1u);
  EXPECT_EQ(reports.Get()[0].job_id, "wedged");
  EXPECT_EQ(reports.Get()[0].step, 39u);
  EXPECT_GE(reports.Get()[0].silent, absl::Milliseconds(500));
}

}  // namespace
}  // namespace ovid::server
