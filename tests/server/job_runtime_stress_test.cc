// File: tests/server/job_runtime_stress_test.cc
// The job runtime (Job, JobQueue, JobStore) under concurrent load, the way many gRPC reactions use
// it at once: clients submit with random priorities and queue limits into a short queue, follow
// their jobs from random event indices (the waiter form of Generate and the subscriber form of
// WatchJob), cancel their own and each other's jobs, ask for statuses and listings, while a store
// that keeps few finished jobs evicts under them and a VRAM budget lets only some workers run.
// The checks: every admitted job ends exactly once, with its own result, in an event log with no
// gap; what was refused never ran. The interleavings matter as much as the checks: the same
// binary built with -fsanitize=thread (ctest tsan.server_test) fails on any data race or
// lock-order inversion among these classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/job_queue.h"
#include "tests/server/fake_pipeline.h"

namespace ovid::server {
namespace {

using testing::FakePipeline;
using testing::FakePipelineOptions;

constexpr int kClients = 8;
constexpr int kJobsPerClient = 100;
constexpr uint32_t kWorkers = 3;
constexpr uint64_t kJobVram = 1000;
constexpr uint32_t kKeptFinished = 6;

// The fake pipeline, with the seeds of the runs in progress: what the engine holds right now.
class TrackingPipeline : public Pipeline {
 public:
  explicit TrackingPipeline(FakePipelineOptions options) : fake_(std::move(options)) {}
  absl::StatusOr<GenerationResult> Run(const GenerationRequest& request, ProgressSink& sink,
                                       const CancelToken& cancel) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_.insert(*request.seed);
    }
    absl::StatusOr<GenerationResult> result = fake_.Run(request, sink, cancel);
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(*request.seed);
    return result;
  }
  absl::StatusOr<uint64_t> EstimateVram(const GenerationRequest& request) const override {
    return fake_.EstimateVram(request);
  }
  bool Running(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mu_);
    return active_.count(seed) > 0;
  }
  const FakePipeline& fake() const { return fake_; }

 private:
  FakePipeline fake_;
  std::mutex mu_;
  std::set<uint64_t> active_;
};

// Counts what the runtime told its observer, per job id, from whatever thread it came, and
// catches a job reported finished while the engine still runs it (its VRAM not yet let go).
class CountingObserver : public JobObserver {
 public:
  explicit CountingObserver(TrackingPipeline& pipeline) : pipeline_(pipeline) {}
  void OnStarted(const Job& job, absl::Duration) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++started_[job.id()];
    seeds_[job.id()] = *job.request().seed;  // the request is let go when the job finishes
  }
  void OnFinished(const Job& job, const absl::Status&, const GenerationResult*,
                  absl::Duration) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++finished_[job.id()];
    auto seed = seeds_.find(job.id());
    if (seed != seeds_.end() && pipeline_.Running(seed->second)) ended_while_running_++;
  }
  int started(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return started_.count(id) ? started_[id] : 0;
  }
  int finished(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_.count(id) ? finished_[id] : 0;
  }
  int ended_while_running() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_while_running_;
  }

 private:
  TrackingPipeline& pipeline_;
  std::mutex mu_;
  std::map<std::string, int> started_, finished_;
  std::map<std::string, uint64_t> seeds_;
  int ended_while_running_ = 0;
};

// One admitted job as its client knows it.
struct Submitted {
  std::shared_ptr<Job> job;
  uint64_t seed = 0;
  uint32_t steps = 0;
  bool queue_limited = false;
};

// Ids every client has seen and the ones somebody asked to cancel, shared by all clients.
class Ledger {
 public:
  void Add(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    ids_.push_back(id);
  }
  std::string Pick(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ids_.empty()) return "";
    return ids_[std::uniform_int_distribution<size_t>(0, ids_.size() - 1)(rng)];
  }
  void MarkCancel(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_.insert(id);
  }
  bool CancelAsked(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_.count(id) > 0;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ids_;
  std::set<std::string> cancelled_;
};

// The waiter form (a Generate stream, or WatchJob's replay): every event from `from` to the end.
std::vector<v1::GenerateEvent> WaitToEnd(const Job& job, uint64_t from) {
  std::vector<v1::GenerateEvent> events;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline &&
         job.WaitForEvents(from + events.size(), absl::Milliseconds(200), &events)) {
  }
  return events;
}

// The subscriber form: replay from `from`, then live events, until the terminal one.
std::vector<v1::GenerateEvent> SubscribeToEnd(Job& job, uint64_t from) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<v1::GenerateEvent> events;
  bool ended = false;
  const uint64_t subscription = job.Subscribe(from, [&](const Job::EventPtr& event) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(*event);
    ended = ended || event->has_final() || event->has_error();
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(60), [&] { return ended; });
  }
  job.Unsubscribe(subscription);
  std::lock_guard<std::mutex> lock(mu);
  return events;
}

// A whole log (from 0) that is gapless, names its job, starts with Accepted and ends once.
void ExpectWholeLog(const Submitted& s, const std::vector<v1::GenerateEvent>& events,
                    const std::string& crid) {
  ASSERT_FALSE(events.empty()) << s.job->id();
  EXPECT_TRUE(events.front().has_accepted()) << s.job->id();
  int terminal = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].index(), i) << s.job->id();
    EXPECT_EQ(events[i].job_id(), s.job->id());
    EXPECT_EQ(events[i].client_request_id(), crid);
    terminal += events[i].has_final() || events[i].has_error();
  }
  EXPECT_EQ(terminal, 1) << s.job->id();
  const v1::GenerateEvent& last = events.back();
  if (last.has_final()) {
    // Its own result: the fake pipeline echoes the seed and runs the steps it was asked for.
    EXPECT_EQ(last.final().seed(), s.seed) << s.job->id();
    EXPECT_EQ(last.final().parameters().steps(), s.steps) << s.job->id();
    uint32_t step = 0;
    for (const auto& e : events) {
      if (e.has_progress() && e.progress().stage() == "denoise") {
        EXPECT_EQ(e.progress().step(), ++step) << s.job->id();
      }
    }
    EXPECT_EQ(step, s.steps) << s.job->id();
  } else if (last.has_error()) {
    const auto code = static_cast<absl::StatusCode>(last.error().code());
    // A job the shutdown drain stopped or dropped ends UNAVAILABLE (retry elsewhere).
    EXPECT_TRUE(code == absl::StatusCode::kCancelled ||
                code == absl::StatusCode::kDeadlineExceeded ||
                code == absl::StatusCode::kUnavailable)
        << s.job->id() << ": " << last.error().message();
  }
}

TEST(JobRuntimeStressTest, ConcurrentClientsEndEveryJobOnceWithItsOwnResult) {
  TrackingPipeline pipeline({.step_delay = absl::Microseconds(300)});
  JobStore store(absl::Hours(1), kKeptFinished);
  CountingObserver observer(pipeline);
  // Two jobs' worth of VRAM for three workers: admission by budget and by queue length at once.
  JobQueue queue(pipeline, store,
                 {.max_queue = 4, .workers = kWorkers, .vram_budget_bytes = 2 * kJobVram + 500,
                  .observer = &observer});
  Ledger ledger;
  std::vector<std::vector<Submitted>> submitted(kClients);
  std::atomic<int> refused{0};

  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(1234 + c);
      auto roll = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
      for (int n = 0; n < kJobsPerClient; ++n) {
        Submitted s;
        s.seed = static_cast<uint64_t>(c) * 1000000 + n;
        s.steps = 1 + roll(4);
        GenerationRequest request;
        request.seed = s.seed;
        request.steps = s.steps;
        JobSchedule schedule{.priority = roll(7) - 3};
        if (roll(4) == 0) {
          schedule.max_queue_wait = absl::Milliseconds(1 + roll(5));
          s.queue_limited = true;
        }
        const std::string crid = absl::StrCat("c", c, "-", n);
        absl::StatusOr<std::shared_ptr<Job>> job = queue.Submit(request, crid, schedule);
        if (!job.ok()) {
          EXPECT_EQ(job.status().code(), absl::StatusCode::kResourceExhausted) << job.status();
          ++refused;
          continue;
        }
        s.job = *job;
        ledger.Add(s.job->id());
        switch (roll(6)) {
          case 0:  // cancel its own job at once or a moment later
            if (roll(2)) std::this_thread::sleep_for(std::chrono::microseconds(roll(800)));
            ledger.MarkCancel(s.job->id());
            if (absl::StatusOr<v1::JobStatus> status = queue.Cancel(s.job->id()); !status.ok()) {
              // Only a job that already ended can have left the store (it keeps few).
              EXPECT_TRUE(absl::IsNotFound(status.status()) && s.job->finished()) << status.status();
            }
            break;
          case 1:  // cancel somebody's job, which may be gone from the store by now
            if (std::string other = ledger.Pick(rng); !other.empty()) {
              ledger.MarkCancel(other);
              absl::StatusOr<v1::JobStatus> status = queue.Cancel(other);
              EXPECT_TRUE(status.ok() || absl::IsNotFound(status.status())) << status.status();
              if (status.ok()) {
                EXPECT_EQ(status->job_id(), other);
              }
            }
            break;
          case 2:  // statuses of everything the store keeps, as ListJobs asks for them
            for (const v1::JobStatus& status : queue.Statuses(store.List({}))) {
              EXPECT_FALSE(status.job_id().empty());
            }
            break;
          case 3:  // one job's status by id
            if (std::string other = ledger.Pick(rng); !other.empty()) {
              absl::StatusOr<v1::JobStatus> status = queue.GetStatus(other);
              EXPECT_TRUE(status.ok() || absl::IsNotFound(status.status())) << status.status();
              if (status.ok()) {
                EXPECT_EQ(status->job_id(), other);
              }
            }
            break;
          default:
            break;
        }
        // Follow it to the end: the whole log, and a re-attach from a random index within it
        // that must see the same events from there on.
        std::vector<v1::GenerateEvent> whole =
            roll(2) ? WaitToEnd(*s.job, 0) : SubscribeToEnd(*s.job, 0);
        ExpectWholeLog(s, whole, crid);
        ASSERT_FALSE(whole.empty());
        const uint64_t from = roll(static_cast<int>(whole.size()));
        std::vector<v1::GenerateEvent> tail =
            roll(2) ? WaitToEnd(*s.job, from) : SubscribeToEnd(*s.job, from);
        ASSERT_EQ(tail.size(), whole.size() - from) << s.job->id() << " from " << from;
        for (size_t i = 0; i < tail.size(); ++i) {
          EXPECT_EQ(tail[i].SerializeAsString(), whole[from + i].SerializeAsString());
        }
        submitted[c].push_back(std::move(s));
      }
    });
  }
  for (std::thread& t : clients) t.join();
  queue.Drain(absl::Seconds(30));

  int admitted = 0, ran = 0, reached_pipeline = 0, succeeded = 0, cancelled = 0, timed_out = 0;
  for (const auto& mine : submitted) {
    for (const Submitted& s : mine) {
      ++admitted;
      const std::string& id = s.job->id();
      ASSERT_TRUE(s.job->finished()) << id;
      EXPECT_EQ(observer.finished(id), 1) << id;
      const bool started = s.job->started() != absl::InfinitePast();
      EXPECT_EQ(observer.started(id), started ? 1 : 0) << id;
      ran += started;
      std::vector<v1::GenerateEvent> events = WaitToEnd(*s.job, 0);
      ASSERT_FALSE(events.empty()) << id;
      reached_pipeline += std::any_of(events.begin(), events.end(), [](const auto& e) {
        return e.has_progress() || e.has_final();
      });
      const v1::GenerateEvent& last = events.back();
      if (last.has_final()) {
        ++succeeded;
        EXPECT_TRUE(started) << id;
      } else if (last.error().code() == static_cast<int>(absl::StatusCode::kDeadlineExceeded)) {
        // Only a job with a queue limit may time out, and only before it started.
        ++timed_out;
        EXPECT_TRUE(s.queue_limited) << id;
        EXPECT_FALSE(started) << id;
      } else {
        ++cancelled;
        EXPECT_TRUE(ledger.CancelAsked(id)) << id << " was cancelled without being asked";
      }
    }
  }
  EXPECT_EQ(admitted + refused.load(), kClients * kJobsPerClient);
  EXPECT_EQ(succeeded + cancelled + timed_out, admitted);
  // What was refused never ran and nothing ran twice: the pipeline saw every job that reported
  // progress and at most the ones that started (one cancelled as a worker took it never reaches
  // the pipeline). Never more at once than the budget allows.
  EXPECT_GE(pipeline.fake().runs_started(), reached_pipeline);
  EXPECT_LE(pipeline.fake().runs_started(), ran);
  EXPECT_LE(pipeline.fake().max_concurrent(), 2);
  // A cancelled running job ends when the engine returns, not when the cancel comes.
  EXPECT_EQ(observer.ended_while_running(), 0);
  EXPECT_EQ(queue.queued(), 0u);
  EXPECT_EQ(queue.running(), 0u);
  EXPECT_EQ(queue.vram_reserved_bytes(), 0u);
  EXPECT_LE(store.size(), kKeptFinished);
  // The mix did what it is for: jobs of every ending and refusals all happened.
  EXPECT_GT(succeeded, 0);
  EXPECT_GT(cancelled, 0);
  EXPECT_GT(refused.load(), 0);
  std::printf("stress: %d admitted (%d ran: %d succeeded; %d cancelled, %d timed out), %d refused\n",
              admitted, ran, succeeded, cancelled, timed_out, refused.load());
}


// SIGTERM under load: Drain starts while clients are still submitting and following. Every job
// admitted before it ends exactly once (finished or cancelled for the shutdown), every later
// Submit is refused with UNAVAILABLE, and nothing is left running or reserved.
TEST(JobRuntimeStressTest, DrainUnderLoadEndsEveryAdmittedJobAndRefusesTheRest) {
  TrackingPipeline pipeline({.step_delay = absl::Milliseconds(2)});
  JobStore store(absl::Hours(1), kKeptFinished);
  CountingObserver observer(pipeline);
  JobQueue queue(pipeline, store,
                 {.max_queue = 8, .workers = kWorkers, .observer = &observer});
  std::atomic<int> refused_full{0}, refused_draining{0};
  std::vector<std::vector<Submitted>> submitted(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(99 + c);
      for (int n = 0;; ++n) {
        Submitted s{.seed = static_cast<uint64_t>(c) * 1000000 + n,
                    .steps = 1 + static_cast<uint32_t>(rng() % 4)};
        GenerationRequest request;
        request.seed = s.seed;
        request.steps = s.steps;
        absl::StatusOr<std::shared_ptr<Job>> job =
            queue.Submit(request, absl::StrCat("d", c, "-", n),
                         {.priority = static_cast<int32_t>(rng() % 5) - 2});
        if (job.ok()) {
          s.job = *job;
          // Half the clients follow each job to its end before the next; the rest fire away.
          if (c % 2 == 0) ExpectWholeLog(s, WaitToEnd(*s.job, 0), absl::StrCat("d", c, "-", n));
          submitted[c].push_back(std::move(s));
        } else if (absl::IsUnavailable(job.status())) {
          ++refused_draining;
          return;  // the server is going away: this client stops
        } else {
          EXPECT_EQ(job.status().code(), absl::StatusCode::kResourceExhausted) << job.status();
          ++refused_full;
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A short grace: some jobs finish in it, the rest are cancelled for the shutdown.
  queue.Drain(absl::Milliseconds(5));
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(absl::IsUnavailable(queue.Submit({}, "late").status()));

  int admitted = 0, succeeded = 0, shut_down = 0;
  for (const auto& mine : submitted) {
    for (const Submitted& s : mine) {
      ++admitted;
      ASSERT_TRUE(s.job->finished()) << s.job->id();
      EXPECT_EQ(observer.finished(s.job->id()), 1) << s.job->id();
      std::vector<v1::GenerateEvent> events = WaitToEnd(*s.job, 0);
      ExpectWholeLog(s, events, s.job->client_request_id());
      if (events.back().has_final()) {
        ++succeeded;
      } else {
        ++shut_down;
        EXPECT_EQ(events.back().error().code(),
                  static_cast<int>(absl::StatusCode::kUnavailable));
      }
    }
  }
  EXPECT_EQ(refused_draining.load(), kClients);  // every client saw the refusal and stopped
  EXPECT_EQ(observer.ended_while_running(), 0);
  EXPECT_EQ(queue.queued(), 0u);
  EXPECT_EQ(queue.running(), 0u);
  EXPECT_EQ(queue.vram_reserved_bytes(), 0u);
  EXPECT_GT(succeeded, 0);
  EXPECT_GT(shut_down, 0);
  std::printf("drain: %d admitted (%d succeeded, %d cancelled by the drain), %d refused full\n",
              admitted, succeeded, shut_down, refused_full.load());
}

}  // namespace
}  // namespace ovid::server
