// File: tests/server/job_test.cc
// The per-job event log: indices, replay from 0 and from k equal to the live sequence, one
// terminal event, subscribers released at the end.
#include "server/job.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "server/events.h"
#include "server/job_queue.h"
#include "server/job_store.h"
#include "tests/server/fake_pipeline.h"

namespace ovid::server {
namespace {

std::vector<std::string> Serialized(const std::vector<v1::GenerateEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.SerializeAsString());
  return out;
}

TEST(JobTest, AppendNumbersEventsAndStopsAfterTheTerminalOne) {
  Job job("job-1", {}, "c", 0, absl::Now());
  v1::GenerateEvent progress;
  progress.mutable_progress()->set_step(1);
  EXPECT_EQ(job.Append(progress), 0u);
  EXPECT_EQ(job.Append(progress), 1u);
  EXPECT_EQ(job.log_end().events, 2u);
  EXPECT_FALSE(job.log_end().finished);
  EXPECT_TRUE(job.Fail(absl::InternalError("boom"), absl::Now()));
  // Read together: WatchJob's "past the end" test must not see the count before the terminal
  // event and `finished` after it.
  EXPECT_EQ(job.log_end().events, 3u);
  EXPECT_TRUE(job.log_end().finished);
  EXPECT_FALSE(job.Succeed({}, absl::Now()));  // never answered twice
  EXPECT_FALSE(job.Fail(absl::CancelledError(), absl::Now()));
  EXPECT_EQ(job.Append(progress), std::nullopt);
  EXPECT_EQ(job.event_count(), 3u);
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.Status().error().message(), "boom");
  EXPECT_EQ(job.Status().progress().step(), 1u);
}

// Queue, run and total times come from the steady clock: a wall clock stepped back by NTP
// during a job made them negative (and decremented the histograms' sums).
TEST(JobTest, DurationsFollowTheSteadyClockNotTheWallClock) {
  const absl::Time t = absl::Now();
  Job job("job-1", {}, "", 0, t);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(job.Start(t - absl::Seconds(10)));  // the wall clock stepped back 10 s
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(job.Succeed({}, t - absl::Seconds(20)));
  EXPECT_GE(job.queue_wait(), absl::Milliseconds(15));
  EXPECT_LT(job.queue_wait(), absl::Seconds(5));
  EXPECT_GE(job.run_time(), absl::Milliseconds(15));
  EXPECT_LT(job.run_time(), absl::Seconds(5));
  EXPECT_GE(job.age(), job.queue_wait() + job.run_time() - absl::Milliseconds(1));
  const absl::Duration age = job.age();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(job.age(), age);  // finished: it stops
}

TEST(JobTest, StartOnlyFromQueued) {
  Job job("job-1", {}, "", 0, absl::Now());
  EXPECT_TRUE(job.Start(absl::Now()));
  EXPECT_FALSE(job.Start(absl::Now()));
  EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING);
}

// A live subscriber attached before the job runs, then re-attachments from 0 and from k after
// it finished, and one attached mid-run: all see the same events at the same indices.
TEST(JobTest, ReplayFromZeroAndFromKEqualsLive) {
  testing::FakePipeline pipeline({.steps = 6,
                                  .step_delay = absl::Milliseconds(2),
                                  .output = std::string(2 * kMaxChunkBytes + 123, 'x'),
                                  .hold = true});
  JobStore store(absl::Hours(1), 10);
  JobQueue queue(pipeline, store, {.workers = 1});
  std::shared_ptr<Job> job = *queue.Submit({}, "replay");

  std::mutex mu;
  std::vector<v1::GenerateEvent> live, mid;
  job->Subscribe(0, [&](const Job::EventPtr& e) {
    std::lock_guard<std::mutex> lock(mu);
    live.push_back(*e);
  });
  pipeline.Release();
  // Attach mid-run from index 2 once a few events exist.
  std::vector<v1::GenerateEvent> first;
  while (first.size() < 3) job->WaitForEvents(first.size(), absl::Seconds(10), &first);
  job->Subscribe(2, [&](const Job::EventPtr& e) { mid.push_back(*e); });

  std::vector<v1::GenerateEvent> waited;
  while (job->WaitForEvents(waited.size(), absl::Seconds(10), &waited)) {
  }
  ASSERT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  // accepted + 6 steps + 3 chunks + final
  ASSERT_EQ(live.size(), 11u);
  for (size_t i = 0; i < live.size(); ++i) EXPECT_EQ(live[i].index(), i);
  EXPECT_EQ(live[9].chunk().total_bytes(), 2 * kMaxChunkBytes + 123);

  std::vector<v1::GenerateEvent> replay0, replay5;
  job->Subscribe(0, [&](const Job::EventPtr& e) { replay0.push_back(*e); });
  job->Subscribe(5, [&](const Job::EventPtr& e) { replay5.push_back(*e); });
  EXPECT_EQ(Serialized(replay0), Serialized(live));
  EXPECT_EQ(Serialized(waited), Serialized(live));
  EXPECT_EQ(Serialized(replay5), Serialized({live.begin() + 5, live.end()}));
  EXPECT_EQ(Serialized(mid), Serialized({live.begin() + 2, live.end()}));

  // Every subscriber is handed the log's own events, not copies: a replaying stream costs
  // pointers, whatever the outputs weigh.
  std::vector<Job::EventPtr> a, b;
  job->Subscribe(0, [&](const Job::EventPtr& e) { a.push_back(e); });
  job->Subscribe(0, [&](const Job::EventPtr& e) { b.push_back(e); });
  ASSERT_EQ(a.size(), live.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].get(), b[i].get()) << i;
}

TEST(JobTest, UnsubscribedCallbackGetsNothingMore) {
  Job job("job-1", {}, "", 0, absl::Now());
  int calls = 0;
  const uint64_t id = job.Subscribe(0, [&](const Job::EventPtr&) { ++calls; });
  job.Append({});
  job.Unsubscribe(id);
  job.Append({});
  EXPECT_EQ(calls, 1);
}

TEST(JobTest, WaiterWakesOnAppendAndEndsAfterTerminal) {
  Job job("job-1", {}, "", 0, absl::Now());
  std::thread appender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    job.Append({});
    job.Succeed({}, absl::Now());
  });
  std::vector<v1::GenerateEvent> events;
  while (job.WaitForEvents(events.size(), absl::Seconds(10), &events)) {
  }
  appender.join();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[1].has_final());
}

}  // namespace
}  // namespace ovid::server
