// File: tests/server/job_queue_test.cc
// The job runtime against a fake Pipeline: queue bound, concurrent submitters, cancellation,
// VRAM admission, failures, and drain.
#include "server/job_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/metrics_reasons.h"
#include "tests/server/fake_pipeline.h"

namespace ovid::server {
namespace {

using testing::FakePipeline;
using testing::FakePipelineOptions;

constexpr absl::Duration kWait = absl::Seconds(20);

// Follows a job to its end the way a WatchJob stream would; returns every event.
std::vector<v1::GenerateEvent> FollowToEnd(const Job& job) {
  std::vector<v1::GenerateEvent> events;
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && job.WaitForEvents(events.size(), absl::Seconds(1), &events)) {
  }
  return events;
}

int TerminalEvents(const std::vector<v1::GenerateEvent>& events) {
  int n = 0;
  for (const auto& e : events) n += e.has_final() || e.has_error();
  return n;
}

struct Runtime {
  explicit Runtime(FakePipelineOptions pipeline_options, JobQueueOptions queue_options)
      : pipeline(std::move(pipeline_options)),
        store(absl::Hours(1), 1000),
        queue(pipeline, store, queue_options) {}
  FakePipeline pipeline;
  JobStore store;
  JobQueue queue;
};

TEST(JobQueueTest, RunsAJobToSuccessWithAcceptedProgressOutputFinal) {
  Runtime rt({.steps = 3}, {.max_queue = 4, .workers = 1});
  absl::StatusOr<std::shared_ptr<Job>> job = rt.queue.Submit({}, "client-7");
  ASSERT_TRUE(job.ok()) << job.status();
  std::vector<v1::GenerateEvent> events = FollowToEnd(**job);
  ASSERT_EQ(events.size(), 1u + 3u + 1u + 1u);
  EXPECT_TRUE(events[0].has_accepted());
  EXPECT_EQ(events[0].accepted().estimated_vram_bytes(), 1000u);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(events[i].progress().step(), static_cast<uint32_t>(i));
  EXPECT_EQ(events[4].chunk().data(), "latents");
  EXPECT_TRUE(events[4].chunk().last());
  EXPECT_EQ(events[5].final().seed(), 42u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].index(), i);
    EXPECT_EQ(events[i].job_id(), (*job)->id());
    EXPECT_EQ(events[i].client_request_id(), "client-7");
  }
  EXPECT_EQ((*job)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(JobQueueTest, FullQueueIsResourceExhaustedWithTheNumbers) {
  Runtime rt({.hold = true}, {.max_queue = 2, .workers = 1});
  auto running = rt.queue.Submit({}, "");
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  ASSERT_TRUE(rt.queue.Submit({}, "").ok());
  ASSERT_TRUE(rt.queue.Submit({}, "").ok());
  absl::StatusOr<std::shared_ptr<Job>> refused = rt.queue.Submit({}, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("2 of 2 jobs waiting, 1 running"),
            absl::string_view::npos)
      << refused.status();
  rt.pipeline.Release();
  EXPECT_EQ(FollowToEnd(**running).back().has_final(), true);
}

TEST(JobQueueTest, OneTenantCannotFillTheQueueForTheOthers) {
  Runtime rt({.hold = true}, {.max_queue = 5, .max_queue_per_tenant = 2, .workers = 1});
  auto submit = [&](const std::string& tenant) {
    return rt.queue.Submit({}, "", JobSchedule{.tenant = tenant});
  };
  auto running = submit("team-a");  // running jobs are not waiting: not counted
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  ASSERT_TRUE(submit("team-a").ok());
  ASSERT_TRUE(submit("team-a").ok());
  absl::StatusOr<std::shared_ptr<Job>> refused = submit("team-a");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find(
                "queue full for tenant team-a: 2 of its 2 jobs waiting (--max-queue-per-tenant)"),
            absl::string_view::npos)
      << refused.status();
  EXPECT_EQ(RejectionReason(refused.status()), FailureReason::kQueueFull);
  // Another tenant, and the operator's tokens (no tenant), still get in, up to --max-queue.
  ASSERT_TRUE(submit("team-b").ok());
  ASSERT_TRUE(submit("").ok());
  ASSERT_TRUE(submit("").ok());
  absl::StatusOr<std::shared_ptr<Job>> full = submit("team-b");
  EXPECT_NE(full.status().message().find("5 of 5 jobs waiting"), absl::string_view::npos)
      << full.status();
  rt.pipeline.Release();
  EXPECT_EQ(FollowToEnd(**running).back().has_final(), true);
}

TEST(JobQueueTest, ATenantMayNotAskForMoreThanTheTenantPriorityLimit) {
  Runtime rt({.steps = 1}, {.max_queue = 4, .max_tenant_priority = 5});
  auto submit = [&](const std::string& tenant, int32_t priority) {
    return rt.queue.Submit({}, "", JobSchedule{.priority = priority, .tenant = tenant});
  };
  absl::StatusOr<std::shared_ptr<Job>> refused = submit("team-a", 6);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find(
                "priority: 6 is above the highest a tenant may ask for (5, --max-tenant-priority)"),
            absl::string_view::npos)
      << refused.status();
  for (auto [tenant, priority] :
       std::vector<std::pair<std::string, int32_t>>{{"team-a", 5}, {"team-a", -100}, {"", 100}}) {
    absl::StatusOr<std::shared_ptr<Job>> job = submit(tenant, priority);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_TRUE(FollowToEnd(**job).back().has_final());
  }
}

TEST(JobQueueTest, EightSubmittersQueueOfTwoOneWorkerNoneLostNoneAnsweredTwice) {
  Runtime rt({.steps = 3, .step_delay = absl::Milliseconds(5)}, {.max_queue = 2, .workers = 1});
  std::atomic<int> succeeded{0}, refused{0}, other{0};
  std::vector<std::thread> submitters;
  for (int i = 0; i < 8; ++i) {
    submitters.emplace_back([&, i] {
      auto job = rt.queue.Submit({}, absl::StrCat("c", i));
      if (!job.ok()) {
        (job.status().code() == absl::StatusCode::kResourceExhausted ? refused : other)++;
        return;
      }
      std::vector<v1::GenerateEvent> events = FollowToEnd(**job);
      if (TerminalEvents(events) == 1 && events.back().has_final() &&
          (*job)->state() == v1::JOB_STATE_SUCCEEDED) {
        succeeded++;
      } else {
        other++;
      }
    });
  }
  for (auto& t : submitters) t.join();
  EXPECT_EQ(succeeded + refused, 8);
  EXPECT_EQ(other, 0);
  EXPECT_GE(succeeded, 1);
  // Every accepted job ran exactly once; nothing ran that was refused.
  EXPECT_EQ(rt.pipeline.runs_started(), succeeded.load());
  EXPECT_EQ(rt.pipeline.max_concurrent(), 1);
  EXPECT_EQ(rt.store.size(), static_cast<size_t>(succeeded.load()));
}

TEST(JobQueueTest, CancelQueuedJobNeverRuns) {
  Runtime rt({.hold = true}, {.max_queue = 2, .workers = 1});
  auto first = rt.queue.Submit({}, "");
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto second = rt.queue.Submit({}, "");
  ASSERT_TRUE(second.ok());
  absl::StatusOr<v1::JobStatus> status = rt.queue.Cancel((*second)->id());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(status->error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(rt.queue.queued(), 0u);
  std::vector<v1::GenerateEvent> events = FollowToEnd(**second);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[1].has_error());
  rt.pipeline.Release();
  FollowToEnd(**first);
  EXPECT_EQ(rt.pipeline.runs_started(), 1);
  // Cancelling a finished job is not an error and changes nothing.
  absl::StatusOr<v1::JobStatus> again = rt.queue.Cancel((*first)->id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(JobQueueTest, ABlockedHeadThatLeavesStartsTheJobBehindItThatFits) {
  // Budget 1000, two workers: A (600) runs; B (600) waits at the head for A's VRAM; C (300)
  // waits behind B. When B leaves the queue, cancelled or past its queue limit, C must start at
  // once, not when A ends.
  for (const bool expire : {false, true}) {
    SCOPED_TRACE(expire ? "B expires" : "B is cancelled");
    Runtime rt({.estimate_from_seed = true, .hold = true},
               {.max_queue = 4, .workers = 2, .vram_budget_bytes = 1000});
    GenerationRequest a, b, c;
    a.seed = 600;
    b.seed = 600;
    c.seed = 300;
    auto running = rt.queue.Submit(a, "");
    ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
    const JobSchedule limit = {.max_queue_wait = absl::Milliseconds(expire ? 400 : 60000)};
    auto head = rt.queue.Submit(b, "", limit);
    auto behind = rt.queue.Submit(c, "");
    ASSERT_TRUE(head.ok() && behind.ok());
    EXPECT_FALSE(rt.pipeline.WaitForRunsStarted(2, absl::Milliseconds(100)));  // B does not fit
    if (!expire) {
      ASSERT_TRUE(rt.queue.Cancel((*head)->id()).ok());
    }
    EXPECT_TRUE(rt.pipeline.WaitForRunsStarted(2, absl::Seconds(5)));
    EXPECT_EQ(rt.queue.vram_reserved_bytes(), 900u);
    FollowToEnd(**head);  // C may start a moment before B's end is logged
    EXPECT_EQ((*head)->state(), v1::JOB_STATE_CANCELLED);
    rt.pipeline.Release();
    FollowToEnd(**running);
    FollowToEnd(**behind);
    EXPECT_EQ((*behind)->state(), v1::JOB_STATE_SUCCEEDED);
  }
}

TEST(JobQueueTest, CancelAnswersWithTheFinalStateEvenWhenFinishedJobsAreNotKept) {
  FakePipeline pipeline({.hold = true});
  JobStore store(absl::ZeroDuration(), 100);  // --job-ttl=0: a finished job leaves at once
  JobQueue queue(pipeline, store, {.max_queue = 2, .workers = 1});
  auto first = queue.Submit({}, "");
  ASSERT_TRUE(pipeline.WaitForRunsStarted(1, kWait));
  auto second = queue.Submit({}, "");
  ASSERT_TRUE(second.ok());
  absl::StatusOr<v1::JobStatus> status = queue.Cancel((*second)->id());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->job_id(), (*second)->id());
  EXPECT_EQ(status->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(queue.GetStatus((*second)->id()).status().code(), absl::StatusCode::kNotFound);
  pipeline.Release();
  FollowToEnd(**first);
}

TEST(JobQueueTest, StatusesGiveEveryJobItsStateAndQueuePosition) {
  Runtime rt({.hold = true}, {.max_queue = 4, .workers = 1});
  std::vector<std::shared_ptr<Job>> jobs;
  jobs.push_back(*rt.queue.Submit({}, ""));
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  for (int i = 0; i < 3; ++i) jobs.push_back(*rt.queue.Submit({}, ""));
  ASSERT_TRUE(rt.queue.Cancel(jobs[2]->id()).ok());  // the others move up
  const std::vector<v1::JobStatus> got = rt.queue.Statuses(rt.store.List({}));
  ASSERT_EQ(got.size(), 4u);
  const v1::JobState want_state[] = {v1::JOB_STATE_RUNNING, v1::JOB_STATE_QUEUED,
                                     v1::JOB_STATE_CANCELLED, v1::JOB_STATE_QUEUED};
  const uint32_t want_position[] = {0, 0, 0, 1};
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].job_id(), jobs[i]->id());
    EXPECT_EQ(got[i].state(), want_state[i]) << i;
    EXPECT_EQ(got[i].queue_position(), want_position[i]) << i;
    EXPECT_EQ(got[i].queue_position(), rt.queue.GetStatus(jobs[i]->id())->queue_position()) << i;
  }
  rt.pipeline.Release();
  for (const auto& job : jobs) FollowToEnd(*job);
}

TEST(JobQueueTest, CancelRunningJobStopsWithinOneStep) {
  Runtime rt({.steps = 100000, .step_delay = absl::Milliseconds(2)}, {.workers = 1});
  auto job = rt.queue.Submit({}, "");
  ASSERT_TRUE(job.ok());
  std::vector<v1::GenerateEvent> seen;
  while (seen.size() < 4) (*job)->WaitForEvents(seen.size(), kWait, &seen);
  const absl::StatusOr<v1::JobStatus> at_cancel = rt.queue.Cancel((*job)->id());
  ASSERT_TRUE(at_cancel.ok());
  const uint32_t step_at_cancel = at_cancel->progress().step();
  std::vector<v1::GenerateEvent> events = FollowToEnd(**job);
  EXPECT_EQ((*job)->state(), v1::JOB_STATE_CANCELLED);
  ASSERT_TRUE(events.back().has_error());
  EXPECT_EQ(events.back().error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_LE(rt.pipeline.last_steps_done(), step_at_cancel + 1);
}

TEST(JobQueueTest, DeadlineCancelReportsDeadlineExceeded) {
  Runtime rt({.hold = true}, {.workers = 1});
  auto job = rt.queue.Submit({}, "");
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  ASSERT_TRUE(rt.queue.Cancel((*job)->id(), CancelReason::kDeadlineExceeded).ok());
  std::vector<v1::GenerateEvent> events = FollowToEnd(**job);
  EXPECT_EQ(events.back().error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ((*job)->state(), v1::JOB_STATE_CANCELLED);
}

// The Generate call's deadline travels with the job (JobSchedule::call_time_left): the queue's
// timer stops it, running or queued, with no stream left to do it.
TEST(JobQueueTest, TheCallDeadlineStopsRunningAndQueuedJobsWithDeadlineExceeded) {
  Runtime rt({.steps = 100000, .step_delay = absl::Milliseconds(2)},
             {.max_queue = 4, .workers = 1});
  const absl::Time start = absl::Now();
  auto running = rt.queue.Submit({}, "", {.call_time_left = absl::Milliseconds(400)});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  // Queued behind it: the call's deadline (200 ms) comes before its queue limit (60 s).
  auto queued = rt.queue.Submit(
      {}, "", {.max_queue_wait = absl::Seconds(60), .call_time_left = absl::Milliseconds(200)});
  // And one whose queue limit comes first: still a queue timeout.
  auto queue_first = rt.queue.Submit(
      {}, "", {.max_queue_wait = absl::Milliseconds(100), .call_time_left = absl::Seconds(60)});
  ASSERT_TRUE(running.ok() && queued.ok() && queue_first.ok());

  std::vector<v1::GenerateEvent> events = FollowToEnd(**queued);
  ASSERT_TRUE(events.back().has_error());
  EXPECT_EQ(events.back().error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_NE(events.back().error().message().find("call's deadline"), std::string::npos)
      << events.back().error().message();
  events = FollowToEnd(**queue_first);
  EXPECT_NE(events.back().error().message().find("max_queue_seconds"), std::string::npos)
      << events.back().error().message();
  events = FollowToEnd(**running);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(events.back().has_error());
  EXPECT_EQ(events.back().error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ((*running)->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_GE(took, absl::Milliseconds(390));
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(rt.pipeline.runs_started(), 1);  // the queued ones never ran
}

// An engine that throws fails its job (a worker thread's uncaught exception would end the
// daemon through std::terminate) and the queue goes on with the next one.
TEST(JobQueueTest, AnEngineThatThrowsFailsTheJobAndTheQueueGoesOn) {
  for (const bool bad_alloc : {false, true}) {
    SCOPED_TRACE(bad_alloc ? "std::bad_alloc" : "std::runtime_error");
    Runtime rt({.steps = 3, .throw_at_step = 2, .throw_bad_alloc = bad_alloc}, {.workers = 1});
    auto thrown = rt.queue.Submit({}, "");
    ASSERT_TRUE(thrown.ok());
    std::vector<v1::GenerateEvent> events = FollowToEnd(**thrown);
    ASSERT_TRUE(events.back().has_error());
    EXPECT_EQ((*thrown)->state(), v1::JOB_STATE_FAILED);
    EXPECT_EQ(events.back().error().code(),
              static_cast<int>(bad_alloc ? absl::StatusCode::kResourceExhausted
                                         : absl::StatusCode::kInternal));
    EXPECT_NE(events.back().error().message().find(bad_alloc ? "host memory" : "fake engine bug"),
              std::string::npos)
        << events.back().error().message();
    GenerationRequest short_job;
    short_job.steps = 1;  // before the step that throws
    auto next = rt.queue.Submit(short_job, "");
    ASSERT_TRUE(next.ok());
    FollowToEnd(**next);
    EXPECT_EQ((*next)->state(), v1::JOB_STATE_SUCCEEDED);
  }
}

TEST(JobQueueTest, CancelUnknownJobIsNotFound) {
  Runtime rt({}, {});
  EXPECT_EQ(rt.queue.Cancel("job-nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobQueueTest, OomInsideTheJobFailsItWithResourceExhausted) {
  Runtime rt({.steps = 5, .oom_at_step = 2}, {.workers = 1});
  auto job = rt.queue.Submit({}, "");
  std::vector<v1::GenerateEvent> events = FollowToEnd(**job);
  EXPECT_EQ((*job)->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(events.back().error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(events.size(), 1u + 1u + 1u);  // accepted, step 1, error
  // The worker survives: the next job runs too.
  auto next = rt.queue.Submit({}, "");
  FollowToEnd(**next);
  EXPECT_EQ(rt.pipeline.runs_started(), 2);
}

TEST(JobQueueTest, EstimateErrorIsReturnedAsIs) {
  Runtime rt({.estimate_error = absl::InvalidArgumentError("width: 5000 not in 128..1920")}, {});
  EXPECT_EQ(rt.queue.Submit({}, "").status().code(), absl::StatusCode::kInvalidArgument);
}

// The content check (a first frame's decode) refuses at admission, after the cheap refusals:
// neither a request over the VRAM budget nor one against a full queue pays for it.
TEST(JobQueueTest, TheContentCheckRefusesAfterTheCheapRefusals) {
  Runtime bad({.contents_error = absl::InvalidArgumentError("first_frame: the JPEG decoder ...")},
              {});
  EXPECT_EQ(bad.queue.Submit({}, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.pipeline.contents_checked(), 1);
  EXPECT_EQ(bad.store.size(), 0u);
  Runtime over({.vram_bytes = 2000}, {.vram_budget_bytes = 1500});
  EXPECT_EQ(over.queue.Submit({}, "").status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(over.pipeline.contents_checked(), 0);
  Runtime full({.hold = true}, {.max_queue = 1, .workers = 1});
  auto running = full.queue.Submit({}, "");
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(full.pipeline.WaitForRunsStarted(1, kWait));
  ASSERT_TRUE(full.queue.Submit({}, "").ok());
  EXPECT_EQ(full.pipeline.contents_checked(), 2);
  EXPECT_EQ(full.queue.Submit({}, "").status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(full.pipeline.contents_checked(), 2);
  full.pipeline.Release();
  EXPECT_TRUE(FollowToEnd(**running).back().has_final());
}

TEST(JobQueueTest, VramEstimateOverBudgetIsRefusedWithNeededAndAvailable) {
  Runtime rt({.vram_bytes = 2000}, {.vram_budget_bytes = 1500});
  absl::Status status = rt.queue.Submit({}, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("2000"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("1500"), absl::string_view::npos) << status;
  EXPECT_EQ(rt.store.size(), 0u);
}

TEST(JobQueueTest, JobsThatDoNotFitTogetherRunOneAtATime) {
  Runtime rt({.steps = 3, .step_delay = absl::Milliseconds(5), .vram_bytes = 600},
             {.max_queue = 8, .workers = 2, .vram_budget_bytes = 1000});
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) jobs.push_back(*rt.queue.Submit({}, ""));
  for (const auto& job : jobs) FollowToEnd(*job);
  for (const auto& job : jobs) EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(rt.pipeline.max_concurrent(), 1);
  // A worker releases its reservation just after the terminal event; Drain joins the workers.
  rt.queue.Drain(kWait);
  EXPECT_EQ(rt.queue.vram_reserved_bytes(), 0u);
}

TEST(JobQueueTest, JobsThatFitTogetherRunConcurrently) {
  Runtime rt({.vram_bytes = 400, .hold = true},
             {.max_queue = 8, .workers = 2, .vram_budget_bytes = 1000});
  auto a = rt.queue.Submit({}, "");
  auto b = rt.queue.Submit({}, "");
  EXPECT_TRUE(rt.pipeline.WaitForRunsStarted(2, kWait));
  EXPECT_EQ(rt.queue.vram_reserved_bytes(), 800u);
  rt.pipeline.Release();
  FollowToEnd(**a);
  FollowToEnd(**b);
}

TEST(JobQueueTest, DrainLetsJobsFinishAndRefusesNewOnes) {
  Runtime rt({.steps = 3, .step_delay = absl::Milliseconds(5)}, {.max_queue = 4, .workers = 1});
  auto a = rt.queue.Submit({}, "");
  auto b = rt.queue.Submit({}, "");
  rt.queue.Drain(kWait);
  EXPECT_EQ((*a)->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ((*b)->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(rt.queue.Submit({}, "").status().code(), absl::StatusCode::kUnavailable);
}

// What the drain stops ends UNAVAILABLE (the proto's code for a draining server: retry
// elsewhere), in state CANCELLED; CANCELLED as a code is for CancelJob and clients that left.
TEST(JobQueueTest, DrainTimeoutCancelsRunningAndQueued) {
  Runtime rt({.steps = 1000000, .step_delay = absl::Milliseconds(1)},
             {.max_queue = 4, .workers = 1});
  auto running = rt.queue.Submit({}, "");
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto queued = rt.queue.Submit({}, "");
  const absl::Time start = absl::Now();
  rt.queue.Drain(absl::Milliseconds(50));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ((*running)->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ((*queued)->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(rt.pipeline.runs_started(), 1);
  const std::vector<v1::GenerateEvent> ran = FollowToEnd(**running);
  const std::vector<v1::GenerateEvent> waited = FollowToEnd(**queued);
  EXPECT_EQ(TerminalEvents(waited), 1);
  ASSERT_TRUE(!ran.empty() && ran.back().has_error() && !waited.empty() &&
              waited.back().has_error());
  EXPECT_EQ(ran.back().error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(waited.back().error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_NE(waited.back().error().message().find("never started"), std::string::npos);
}

// --drain-queued=refuse: the queued jobs end at once with UNAVAILABLE (their clients retry on
// another replica) while the running one still finishes within the drain timeout.
TEST(JobQueueTest, ADrainThatRefusesQueuedJobsEndsThemAtOnceAndFinishesTheRunningOne) {
  Runtime rt({.steps = 3, .step_delay = absl::Milliseconds(5), .hold = true},
             {.max_queue = 4, .workers = 1, .drain_runs_queued = false});
  auto running = rt.queue.Submit({}, "");
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto queued = rt.queue.Submit({}, "");
  auto also_queued = rt.queue.Submit({}, "");
  std::thread drain([&] { rt.queue.Drain(kWait); });
  // Ended while the running job is still held, long before the drain's timeout.
  for (int i = 0; i < 500 && (*also_queued)->state() != v1::JOB_STATE_CANCELLED; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ((*queued)->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ((*also_queued)->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ((*running)->state(), v1::JOB_STATE_RUNNING);
  rt.pipeline.Release();
  drain.join();
  EXPECT_EQ((*running)->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(rt.pipeline.runs_started(), 1);
  const std::vector<v1::GenerateEvent> waited = FollowToEnd(**queued);
  ASSERT_TRUE(!waited.empty() && waited.back().has_error());
  EXPECT_EQ(waited.back().error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_NE(waited.back().error().message().find("--drain-queued=refuse"), std::string::npos);
}

}  // namespace
}  // namespace ovid::server
