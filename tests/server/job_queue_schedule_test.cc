// File: tests/server/job_queue_schedule_test.cc
// The job runtime's scheduling against a fake Pipeline: priorities order the queue (FIFO within
// one), and a job waiting past its queue limit (the request's or the server's, the shorter one)
// ends with DEADLINE_EXCEEDED without running, reported as a queue timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/job_queue.h"
#include "server/metrics_reasons.h"
#include "tests/server/fake_pipeline.h"

namespace ovid::server {
namespace {

using testing::FakePipeline;
using testing::FakePipelineOptions;

constexpr absl::Duration kWait = absl::Seconds(20);

void WaitUntilFinished(const Job& job) {
  std::vector<v1::GenerateEvent> events;
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && job.WaitForEvents(events.size(), absl::Seconds(1), &events)) {
  }
}

// Records the status and reason of every job that ends, as the metrics observer sees them.
class RecordingObserver : public JobObserver {
 public:
  void OnFinished(const Job& job, const absl::Status& status, const GenerationResult*,
                  absl::Duration) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back({job.id(), status});
    }
    reported_.notify_all();
  }
  // The status the observer got for `id`, waiting for it (the job's terminal event is logged
  // just before the observer hears of it); UNKNOWN when none came.
  absl::Status StatusOf(const std::string& id) {
    std::unique_lock<std::mutex> lock(mu_);
    absl::Status found = absl::UnknownError("not reported");
    reported_.wait_for(lock, absl::ToChronoNanoseconds(kWait), [&] {
      for (const auto& [job_id, status] : finished_) {
        if (job_id == id) found = status;
      }
      return !absl::IsUnknown(found);
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable reported_;
  std::vector<std::pair<std::string, absl::Status>> finished_;
};

struct Runtime {
  Runtime(FakePipelineOptions pipeline_options, JobQueueOptions queue_options)
      : pipeline(std::move(pipeline_options)), store(absl::Hours(1), 1000) {
    queue_options.observer = &observer;
    queue = std::make_unique<JobQueue>(pipeline, store, queue_options);
  }
  FakePipeline pipeline;
  JobStore store;
  RecordingObserver observer;
  std::unique_ptr<JobQueue> queue;
};

std::shared_ptr<Job> SubmitOk(JobQueue& queue, JobSchedule schedule) {
  absl::StatusOr<std::shared_ptr<Job>> job = queue.Submit({}, "", schedule);
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *job : nullptr;
}

TEST(JobQueueScheduleTest, HigherPriorityStartsFirstAndEqualOnesInArrivalOrder) {
  Runtime rt({.steps = 2, .hold = true}, {.max_queue = 8, .workers = 1});
  auto running = SubmitOk(*rt.queue, {});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto b = SubmitOk(*rt.queue, {.priority = 0});
  auto c = SubmitOk(*rt.queue, {.priority = 5});
  auto d = SubmitOk(*rt.queue, {.priority = 5});
  auto e = SubmitOk(*rt.queue, {.priority = -1});
  auto f = SubmitOk(*rt.queue, {.priority = 0});
  // Accepted counts the jobs ahead at submission: c jumps b, d queues behind c, e goes last,
  // f behind b (same priority, later) but ahead of e.
  auto accepted_position = [](const Job& job) {
    std::vector<v1::GenerateEvent> events;
    job.WaitForEvents(0, absl::ZeroDuration(), &events);
    return events.at(0).accepted().queue_position();
  };
  EXPECT_EQ(accepted_position(*b), 0u);
  EXPECT_EQ(accepted_position(*c), 0u);
  EXPECT_EQ(accepted_position(*d), 1u);
  EXPECT_EQ(accepted_position(*e), 3u);
  EXPECT_EQ(accepted_position(*f), 3u);
  // The live positions: c, d, b, f, e.
  const std::vector<std::shared_ptr<Job>> want_order = {c, d, b, f, e};
  for (size_t i = 0; i < want_order.size(); ++i) {
    absl::StatusOr<v1::JobStatus> status = rt.queue->GetStatus(want_order[i]->id());
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->queue_position(), i) << i;
    EXPECT_EQ(status->priority(), want_order[i]->priority());
  }
  rt.pipeline.Release();
  for (const auto& job : want_order) WaitUntilFinished(*job);
  for (size_t i = 0; i < want_order.size(); ++i) {
    EXPECT_EQ(want_order[i]->state(), v1::JOB_STATE_SUCCEEDED) << i;
    if (i > 0) {
      EXPECT_LT(want_order[i - 1]->started(), want_order[i]->started()) << i;
    }
  }
}

// Tenant a's job runs; a queues three more, then b one, then the operator (no tenant) one.
// Returns the queued jobs in submission order, after checking that the positions they were
// given (Accepted, then GetJob) and the order they start in are `want` (indices into them).
void ExpectStartOrder(TenantScheduling policy, const std::vector<size_t>& want) {
  Runtime rt({.steps = 1, .hold = true},
             {.max_queue = 8, .tenant_scheduling = policy, .workers = 1});
  auto running = SubmitOk(*rt.queue, {.tenant = "a"});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  std::vector<std::shared_ptr<Job>> queued;
  std::vector<uint32_t> accepted;
  for (const char* tenant : {"a", "a", "a", "b", ""}) {
    queued.push_back(SubmitOk(*rt.queue, {.tenant = tenant}));
    std::vector<v1::GenerateEvent> events;
    queued.back()->WaitForEvents(0, absl::ZeroDuration(), &events);
    accepted.push_back(events.at(0).accepted().queue_position());
  }
  // When each was accepted, it went behind what was queued and would start first.
  std::vector<uint32_t> want_accepted(queued.size());
  for (size_t job = 0; job < queued.size(); ++job) {
    for (size_t place = 0; place < want.size(); ++place) {
      if (want[place] == job) break;
      if (want[place] < job) ++want_accepted[job];
    }
  }
  EXPECT_EQ(accepted, want_accepted);
  for (size_t place = 0; place < want.size(); ++place) {
    EXPECT_EQ(rt.queue->GetStatus(queued[want[place]]->id())->queue_position(), place) << place;
  }
  rt.pipeline.Release();
  WaitUntilFinished(*running);
  for (const auto& job : queued) WaitUntilFinished(*job);
  for (size_t place = 0; place < want.size(); ++place) {
    EXPECT_EQ(queued[want[place]]->state(), v1::JOB_STATE_SUCCEEDED) << place;
    if (place > 0) {
      EXPECT_LT(queued[want[place - 1]]->started(), queued[want[place]]->started()) << place;
    }
  }
}

TEST(JobQueueScheduleTest, TenantsTakeTurnsSoABurstDoesNotHoldBackAnotherTenantsJob) {
  // b and the operator have nothing running and were never served: they go before a's queue.
  ExpectStartOrder(TenantScheduling::kFair, {3, 4, 0, 1, 2});
}

TEST(JobQueueScheduleTest, FifoStartsInArrivalOrderWhateverTheTenant) {
  ExpectStartOrder(TenantScheduling::kFifo, {0, 1, 2, 3, 4});
}

// One worker. long's first job (20 steps of 20 ms) runs while long queues two more and short
// six of 2 steps. Returns the tenants of the queued jobs in the order they started.
std::vector<std::string> StartsOfLongAndShortJobs(TenantScheduling policy) {
  Runtime rt({.step_delay = absl::Milliseconds(20)},
             {.max_queue = 8, .tenant_scheduling = policy, .workers = 1});
  auto submit = [&](const char* tenant, uint32_t steps) {
    GenerationRequest request;
    request.steps = steps;
    absl::StatusOr<std::shared_ptr<Job>> job = rt.queue->Submit(request, "", {.tenant = tenant});
    EXPECT_TRUE(job.ok()) << job.status();
    return *job;
  };
  auto first = submit("long", 20);
  EXPECT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  std::vector<std::shared_ptr<Job>> queued;
  for (int i = 0; i < 2; ++i) queued.push_back(submit("long", 20));
  for (int i = 0; i < 6; ++i) queued.push_back(submit("short", 2));
  WaitUntilFinished(*first);
  for (const auto& job : queued) WaitUntilFinished(*job);
  std::sort(queued.begin(), queued.end(),
            [](const auto& x, const auto& y) { return x->started() < y->started(); });
  std::vector<std::string> tenants;
  for (const auto& job : queued) {
    EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
    tenants.push_back(job->tenant());
  }
  return tenants;
}

TEST(JobQueueScheduleTest, ShareGivesATenantOfShortJobsAsMuchWorkerTimeAsOneOfLongJobs) {
  // long's first job took ~0.4 s; short's take ~0.04 s, so short runs about ten before long's
  // second (all six here). Turns by jobs alternate: short, long, short, long, short...
  const std::vector<std::string> share = StartsOfLongAndShortJobs(TenantScheduling::kShare);
  const std::vector<std::string> want_share = {"short", "short", "short", "short",
                                               "short", "short", "long",  "long"};
  EXPECT_EQ(share, want_share);
  const std::vector<std::string> fair = StartsOfLongAndShortJobs(TenantScheduling::kFair);
  const std::vector<std::string> want_fair = {"short", "long",  "short", "long",
                                              "short", "short", "short", "short"};
  EXPECT_EQ(fair, want_fair);
}

// One worker, share, jobs of ~50 ms. a runs ten jobs alone (b perhaps with one job parked at
// priority -1 behind them), then both queue six at priority 0. Returns the tenants of the first
// six of those twelve to start.
std::vector<std::string> FirstStartsAfterAnotherTenantsRun(bool b_parks_a_low_priority_job) {
  Runtime rt({.step_delay = absl::Milliseconds(10)},
             {.max_queue = 64, .tenant_scheduling = TenantScheduling::kShare, .workers = 1});
  auto submit = [&](const char* tenant, int32_t priority) {
    GenerationRequest request;
    request.steps = 5;
    absl::StatusOr<std::shared_ptr<Job>> job =
        rt.queue->Submit(request, "", {.priority = priority, .tenant = tenant});
    EXPECT_TRUE(job.ok()) << job.status();
    return *job;
  };
  for (int i = 0; i < 10; ++i) submit("a", 0);
  if (b_parks_a_low_priority_job) submit("b", -1);
  EXPECT_TRUE(rt.pipeline.WaitForRunsStarted(9, kWait));
  std::vector<std::shared_ptr<Job>> burst;
  for (int i = 0; i < 6; ++i) burst.push_back(submit("a", 0));
  for (int i = 0; i < 6; ++i) burst.push_back(submit("b", 0));
  for (const auto& job : burst) WaitUntilFinished(*job);
  std::sort(burst.begin(), burst.end(),
            [](const auto& x, const auto& y) { return x->started() < y->started(); });
  std::vector<std::string> first;
  for (size_t i = 0; i < 6; ++i) first.push_back(burst[i]->tenant());
  return first;
}

TEST(JobQueueScheduleTest, ShareGivesNoCreditForTimeAwayEvenWithAJobParkedAtAnotherPriority) {
  // b comes back to priority 0 at the floor, level with a, so the two share the worker from
  // there: neither gets the first six starts alone. A job b keeps queued at -1 the whole time
  // does not make it count as present at 0 (it used to: b then had banked all of a's ~0.5 s
  // and took all six).
  for (const bool park : {false, true}) {
    SCOPED_TRACE(park ? "b has a job parked at -1" : "b has nothing queued");
    const std::vector<std::string> first = FirstStartsAfterAnotherTenantsRun(park);
    const auto of_a = std::count(first.begin(), first.end(), "a");
    EXPECT_GE(of_a, 2);
    EXPECT_LE(of_a, 4);
  }
}

TEST(JobQueueScheduleTest, ShareGivesNoCreditToATenantThatKeptOnlyOneJobRunning) {
  // Three workers, jobs of ~100 ms. a keeps jobs queued; c runs one job at a time and queues
  // the next shortly before the last ends, so that it has one running but none waiting: a uses
  // two workers and more. When c then queues ten at once, it comes in at the floor, level with
  // a (which then gets about half of the next eight starts), instead of with the ~1 s it did
  // not ask for as credit to take all of them (as it did when a running job counted as
  // waiting).
  Runtime rt({.step_delay = absl::Milliseconds(20)},
             {.max_queue = 64, .tenant_scheduling = TenantScheduling::kShare, .workers = 3});
  auto submit = [&](const char* tenant) {
    GenerationRequest request;
    request.steps = 5;
    absl::StatusOr<std::shared_ptr<Job>> job = rt.queue->Submit(request, "", {.tenant = tenant});
    EXPECT_TRUE(job.ok()) << job.status();
    return *job;
  };
  std::vector<std::shared_ptr<Job>> all;
  for (int i = 0; i < 40; ++i) all.push_back(submit("a"));
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(3, kWait));
  for (int i = 0; i < 9; ++i) {
    all.push_back(submit("c"));
    const absl::Time deadline = absl::Now() + kWait;
    while (all.back()->state() == v1::JOB_STATE_QUEUED && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    absl::SleepFor(absl::Milliseconds(70));  // most of its ~100 ms
  }
  std::vector<std::shared_ptr<Job>> burst;
  const absl::Time burst_at = absl::Now();
  for (int i = 0; i < 10; ++i) burst.push_back(submit("c"));
  for (const auto& job : all) WaitUntilFinished(*job);
  for (const auto& job : burst) WaitUntilFinished(*job);
  std::vector<std::shared_ptr<Job>> after;
  for (const auto& list : {all, burst}) {
    for (const auto& job : list) {
      if (job->started() > burst_at) after.push_back(job);
    }
  }
  std::sort(after.begin(), after.end(),
            [](const auto& x, const auto& y) { return x->started() < y->started(); });
  ASSERT_GE(after.size(), 8u);
  const auto of_a = std::count_if(after.begin(), after.begin() + 8,
                                  [](const auto& job) { return job->tenant() == "a"; });
  EXPECT_GE(of_a, 2) << "a got " << of_a << " of the eight starts after c's burst";
}

TEST(JobQueueScheduleTest, TheNextTenantsJobWaitsForVramAndIsNotOvertaken) {
  // Budget 1000, three workers. a's job (600) and c's (400) run and fill the budget; a's second
  // job (300) and then b's (600) queue. b's turn comes first (nothing of b's running), so when
  // VRAM frees, b's job starts before a's smaller one, which would have fit first whichever
  // running job ends first (and does start first with fifo: arrival order).
  // With share the same holds: nothing has ended, so no tenant has used any worker time and the
  // last starts decide, as with fair.
  for (const TenantScheduling policy :
       {TenantScheduling::kFair, TenantScheduling::kShare, TenantScheduling::kFifo}) {
    const bool fair = policy != TenantScheduling::kFifo;
    SCOPED_TRACE(TenantSchedulingName(policy));
    Runtime rt({.estimate_from_seed = true, .hold = true},
               {.max_queue = 4, .tenant_scheduling = policy, .workers = 3,
                .vram_budget_bytes = 1000});
    auto submit = [&](uint64_t bytes, const char* tenant) {
      GenerationRequest request;
      request.seed = bytes;
      absl::StatusOr<std::shared_ptr<Job>> job = rt.queue->Submit(request, "", {.tenant = tenant});
      EXPECT_TRUE(job.ok()) << job.status();
      return *job;
    };
    auto a_running = submit(600, "a");
    auto c_running = submit(400, "c");
    ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(2, kWait));
    auto a_small = submit(300, "a");
    auto b_big = submit(600, "b");
    EXPECT_EQ(rt.queue->GetStatus(b_big->id())->queue_position(), fair ? 0u : 1u);
    EXPECT_EQ(rt.queue->GetStatus(a_small->id())->queue_position(), fair ? 1u : 0u);
    EXPECT_EQ(rt.pipeline.runs_started(), 2);
    rt.pipeline.Release();
    for (const auto& job : {a_running, c_running, b_big, a_small}) WaitUntilFinished(*job);
    EXPECT_EQ(b_big->state(), v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(a_small->state(), v1::JOB_STATE_SUCCEEDED);
    if (fair) {
      EXPECT_LT(b_big->started(), a_small->started());
    } else {
      EXPECT_LT(a_small->started(), b_big->started());
    }
  }
}

TEST(JobQueueScheduleTest, AJobWaitingPastItsLimitEndsWithDeadlineExceededWithoutRunning) {
  Runtime rt({.hold = true}, {.max_queue = 4, .workers = 1});
  auto running = SubmitOk(*rt.queue, {});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto waiting = SubmitOk(*rt.queue, {.max_queue_wait = absl::Milliseconds(100)});
  auto patient = SubmitOk(*rt.queue, {});
  WaitUntilFinished(*waiting);
  EXPECT_EQ(waiting->state(), v1::JOB_STATE_CANCELLED);
  const v1::JobStatus status = waiting->Status();
  EXPECT_EQ(status.error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_NE(status.error().message().find("max_queue_seconds"), std::string::npos)
      << status.error().message();
  EXPECT_GE(waiting->finished_at() - waiting->created(), absl::Milliseconds(100));
  EXPECT_LT(waiting->finished_at() - waiting->created(), absl::Seconds(5));
  // The observer (the metrics) tells it from a call's deadline.
  EXPECT_EQ(FinishReason(rt.observer.StatusOf(waiting->id())), FailureReason::kQueueTimeout);
  // The job behind it moved up, and nothing but the first job ran.
  EXPECT_EQ(rt.queue->GetStatus(patient->id())->queue_position(), 0u);
  EXPECT_EQ(rt.pipeline.runs_started(), 1);
  rt.pipeline.Release();
  WaitUntilFinished(*patient);
  EXPECT_EQ(patient->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(JobQueueScheduleTest, TheShorterOfTheRequestsAndTheServersLimitApplies) {
  Runtime rt({.hold = true},
             {.max_queue = 4, .workers = 1, .max_queue_wait = absl::Milliseconds(150)});
  auto running = SubmitOk(*rt.queue, {});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  // The server's 150 ms beats the request's hour; the request's 50 ms beats the server's.
  auto server_limited = SubmitOk(*rt.queue, {.max_queue_wait = absl::Hours(1)});
  auto request_limited = SubmitOk(*rt.queue, {.max_queue_wait = absl::Milliseconds(50)});
  EXPECT_EQ(server_limited->queue_limit(), absl::Milliseconds(150));
  EXPECT_EQ(request_limited->queue_limit(), absl::Milliseconds(50));
  WaitUntilFinished(*request_limited);
  WaitUntilFinished(*server_limited);
  EXPECT_EQ(request_limited->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(server_limited->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_LT(request_limited->finished_at(), server_limited->finished_at());
  rt.pipeline.Release();
  WaitUntilFinished(*running);
  EXPECT_EQ(running->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(JobQueueScheduleTest, TheLimitDoesNotBoundAJobThatHasStarted) {
  // Five 60 ms steps: the run outlasts the 100 ms queue limit, which no longer applies.
  Runtime rt({.steps = 5, .step_delay = absl::Milliseconds(60)}, {.max_queue = 4, .workers = 1});
  auto job = SubmitOk(*rt.queue, {.max_queue_wait = absl::Milliseconds(100)});
  WaitUntilFinished(*job);
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_GT(job->finished_at() - job->created(), absl::Milliseconds(100));
}

TEST(JobQueueScheduleTest, AStepOfTheWallClockMovesNoQueueLimit) {
  // The store's clock (the wall clock the jobs' timestamps come from) jumps an hour ahead right
  // after the job is queued: its 300 ms limit must still mean 300 ms.
  std::atomic<int64_t> offset_s{0};
  FakePipeline pipeline({.hold = true});
  JobStore store(absl::Hours(2), 100, [&] { return absl::Now() + absl::Seconds(offset_s.load()); });
  JobQueue queue(pipeline, store, {.max_queue = 4, .workers = 1});
  auto running = SubmitOk(queue, {});
  ASSERT_TRUE(pipeline.WaitForRunsStarted(1, kWait));
  const absl::Time start = absl::Now();
  auto limited = SubmitOk(queue, {.max_queue_wait = absl::Milliseconds(300)});
  offset_s = 3600;
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(limited->state(), v1::JOB_STATE_QUEUED);  // not ended by the jump
  WaitUntilFinished(*limited);
  EXPECT_EQ(limited->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // nor kept an hour by a jump back
  const std::string message = limited->Status().error().message();
  EXPECT_NE(message.find("waited 0."), std::string::npos) << message;  // not 3600 s
  pipeline.Release();
  WaitUntilFinished(*running);
}

TEST(JobQueueScheduleTest, ACancelThatCameFirstIsWhatTheJobReports) {
  Runtime rt({.hold = true}, {.max_queue = 4, .workers = 1});
  auto running = SubmitOk(*rt.queue, {});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto job = SubmitOk(*rt.queue, {.max_queue_wait = absl::Milliseconds(200)});
  ASSERT_TRUE(rt.queue->Cancel(job->id()).ok());
  absl::SleepFor(absl::Milliseconds(300));  // past the limit: the timer must not answer again
  EXPECT_EQ(job->Status().error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(FinishReason(rt.observer.StatusOf(job->id())), FailureReason::kCancelled);
  rt.pipeline.Release();
  WaitUntilFinished(*running);
}

TEST(JobQueueScheduleTest, DrainWithJobsThatHaveLimitsStopsTheTimer) {
  Runtime rt({.steps = 1000000, .step_delay = absl::Milliseconds(1)},
             {.max_queue = 4, .workers = 1});
  auto running = SubmitOk(*rt.queue, {});
  ASSERT_TRUE(rt.pipeline.WaitForRunsStarted(1, kWait));
  auto queued = SubmitOk(*rt.queue, {.max_queue_wait = absl::Hours(1)});
  const absl::Time start = absl::Now();
  rt.queue->Drain(absl::ZeroDuration());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // the timer's hour-long sleep was woken
  EXPECT_EQ(queued->state(), v1::JOB_STATE_CANCELLED);
}

}  // namespace
}  // namespace ovid::server
