// File: tests/server/job_store_test.cc
// Finished jobs kept for the TTL within the max-kept bounds (count and bytes), oldest finished
// evicted first; unfinished jobs never evicted; a finished job lets go of its request.
#include "server/job_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ovid::server {
namespace {

struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1000000);
  absl::Duration ticks = absl::Hours(5);  // the steady clock: moves with `now` unless a test steps
  Clock AsClock() {
    return [this] { return now; };
  }
  Ticks AsTicks() {
    return [this] { return ticks; };
  }
  void Advance(absl::Duration d) {
    now += d;
    ticks += d;
  }
};

std::shared_ptr<Job> NewJob(const std::string& id, absl::Time created) {
  return std::make_shared<Job>(id, GenerationRequest{}, "", 0, created);
}

TEST(JobStoreTest, UnknownIdIsNotFound) {
  JobStore store(absl::Minutes(1), 10);
  absl::Status status = store.Get("job-x").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("job-x"), absl::string_view::npos);
}

TEST(JobStoreTest, FinishedJobsExpireAfterTheTtlUnfinishedStay) {
  FakeClock clock;
  JobStore store(absl::Minutes(10), 100, clock.AsClock(), UINT64_MAX, clock.AsTicks());
  auto done = NewJob("done", clock.now);
  auto running = NewJob("running", clock.now);
  store.Add(done);
  store.Add(running);
  running->Start(clock.now);
  done->Succeed({}, clock.now);
  store.Evict();  // as the runtime does when a job finishes
  clock.Advance(absl::Minutes(10) - absl::Seconds(1));
  EXPECT_TRUE(store.Get("done").ok());
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(store.Get("done").status().code(), absl::StatusCode::kNotFound);
  clock.Advance(absl::Hours(24));
  EXPECT_TRUE(store.Get("running").ok());
  EXPECT_EQ(store.size(), 1u);
}

// The TTL runs on the steady clock: a forward step of the wall clock (NTP, a resumed VM) used to
// evict every finished job at once, so GetJob and WatchJob answered NOT_FOUND long before
// --job-ttl.
TEST(JobStoreTest, AWallClockStepDoesNotEvictEarly) {
  FakeClock clock;
  JobStore store(absl::Minutes(10), 100, clock.AsClock(), UINT64_MAX, clock.AsTicks());
  auto done = NewJob("done", clock.now);
  store.Add(done);
  done->Succeed({}, clock.now);
  store.Evict();
  clock.now += absl::Hours(3);  // the wall clock only
  EXPECT_TRUE(store.Get("done").ok());
  clock.ticks += absl::Minutes(10);
  EXPECT_EQ(store.Get("done").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobStoreTest, MaxKeptEvictsTheOldestFinishedFirst) {
  FakeClock clock;
  JobStore store(absl::Hours(1), 2, clock.AsClock(), UINT64_MAX, clock.AsTicks());
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(NewJob(absl::StrCat("j", i), clock.now));
    store.Add(jobs.back());
  }
  // Finish in the order j2, j0, j3 (j1 keeps running).
  for (int i : {2, 0, 3}) {
    clock.Advance(absl::Seconds(1));
    jobs[i]->Fail(absl::InternalError("x"), clock.now);
  }
  store.Evict();
  EXPECT_EQ(store.Get("j2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get("j0").ok());
  EXPECT_TRUE(store.Get("j3").ok());
  EXPECT_TRUE(store.Get("j1").ok());  // unfinished: never evicted
  EXPECT_EQ(store.size(), 3u);
}

// A job that logged one output event of `bytes` payload bytes, then succeeded.
void FinishWithOutput(Job& job, size_t bytes, absl::Time now) {
  job.Start(now);
  v1::GenerateEvent out;
  out.mutable_chunk()->set_data(std::string(bytes, 'x'));
  job.Append(std::move(out));
  job.Succeed({}, now);
}

TEST(JobStoreTest, MaxKeptBytesEvictsTheOldestFinishedFirst) {
  FakeClock clock;
  JobStore store(absl::Hours(1), 100, clock.AsClock(), 2500, clock.AsTicks());
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(NewJob(absl::StrCat("j", i), clock.now));
    store.Add(jobs.back());
  }
  // j1 runs on; j0, j2, j3 finish in that order with 1000-byte outputs: 3000+ bytes > 2500.
  jobs[1]->Start(clock.now);
  for (int i : {0, 2, 3}) {
    clock.Advance(absl::Seconds(1));
    FinishWithOutput(*jobs[i], 1000, clock.now);
    EXPECT_GT(jobs[i]->event_bytes(), 1000u);
  }
  store.Evict();
  EXPECT_EQ(store.Get("j0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get("j2").ok());
  EXPECT_TRUE(store.Get("j3").ok());
  EXPECT_TRUE(store.Get("j1").ok());
}

TEST(JobStoreTest, OverABoundTheTenantKeepingMostGivesUpItsOldest) {
  FakeClock clock;
  JobStore store(absl::Hours(1), 3, clock.AsClock(), 3500, clock.AsTicks());
  auto finish = [&](const std::string& id, const std::string& tenant, size_t bytes) {
    auto job = std::make_shared<Job>(id, GenerationRequest{}, "", 0, clock.now, 0,
                                     absl::InfiniteDuration(), absl::InfiniteDuration(), tenant);
    store.Add(job);
    clock.Advance(absl::Seconds(1));
    FinishWithOutput(*job, bytes, clock.now);
    store.Evict();
  };
  // b finishes first; then a finishes four jobs. Oldest-first alone would drop b's job at a's
  // third; instead a's own oldest go, and b's output stays.
  finish("b0", "team-b", 10);
  for (int i = 0; i < 4; ++i) finish(absl::StrCat("a", i), "team-a", 10);
  EXPECT_TRUE(store.Get("b0").ok());
  EXPECT_EQ(store.Get("a0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Get("a1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get("a2").ok());
  EXPECT_TRUE(store.Get("a3").ok());
  // The byte bound the same way: a's large output puts a over it, and a gives up its oldest
  // until the store fits again (a2, a3, then a4 itself); b's older small output stays.
  finish("a4", "team-a", 3600);
  EXPECT_TRUE(store.Get("b0").ok());
  for (const char* id : {"a2", "a3", "a4"}) {
    EXPECT_EQ(store.Get(id).status().code(), absl::StatusCode::kNotFound) << id;
  }
  // The TTL goes by finishing order alone.
  finish("a5", "team-a", 10);
  clock.Advance(absl::Hours(1) - absl::Seconds(1));
  store.Evict();
  EXPECT_EQ(store.Get("b0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get("a5").ok());
}

TEST(JobStoreTest, AFinishedJobLetsGoOfItsRequest) {
  GenerationRequest request;
  request.first_frame = std::string(1 << 20, 'p');
  Job job("j", std::move(request), "", 0, absl::Now());
  EXPECT_EQ(job.request().first_frame.size(), 1u << 20);
  job.Fail(absl::CancelledError("client went away"), absl::Now());
  EXPECT_TRUE(job.request().first_frame.empty());
}

TEST(JobStoreTest, ListFiltersByStateInCreationOrder) {
  JobStore store(absl::Hours(1), 10);
  auto a = NewJob("a", absl::Now());
  auto b = NewJob("b", absl::Now());
  auto c = NewJob("c", absl::Now());
  for (const auto& j : {a, b, c}) store.Add(j);
  b->Start(absl::Now());
  c->Fail(absl::CancelledError(), absl::Now());
  EXPECT_EQ(store.List({}).size(), 3u);
  auto queued_or_cancelled = store.List({v1::JOB_STATE_QUEUED, v1::JOB_STATE_CANCELLED});
  ASSERT_EQ(queued_or_cancelled.size(), 2u);
  EXPECT_EQ(queued_or_cancelled[0]->id(), "a");
  EXPECT_EQ(queued_or_cancelled[1]->id(), "c");
}

// Pages of the listing: creation order, each job once, the filter applied before the page is
// cut, and the last page says so (next 0).
TEST(JobStoreTest, PagesCoverTheListOnceInCreationOrder) {
  JobStore store(absl::Hours(1), 100);
  std::vector<std::string> ids, cancelled;
  for (int i = 0; i < 25; ++i) {
    auto job = NewJob(absl::StrCat("job-", i), absl::Now());
    store.Add(job);
    ids.push_back(job->id());
    if (i % 3 == 0) {
      job->Fail(absl::CancelledError(), absl::Now());
      cancelled.push_back(job->id());
    }
  }
  for (const auto& [states, want] :
       {std::pair{std::vector<v1::JobState>{}, ids},
        std::pair{std::vector<v1::JobState>{v1::JOB_STATE_CANCELLED}, cancelled}}) {
    std::vector<std::string> seen;
    uint64_t after = 0;
    int pages = 0;
    do {
      uint64_t next = 0;
      const auto page = store.ListPage(states, after, 4, &next);
      EXPECT_LE(page.size(), 4u);
      for (const auto& j : page) seen.push_back(j->id());
      after = next;
      ASSERT_LT(++pages, 100);
    } while (after != 0);
    EXPECT_EQ(seen, want);
    EXPECT_EQ(pages, static_cast<int>((want.size() + 3) / 4));
  }
}

// Ties of the finishing time go in creation order; the listing stays in creation order, without
// the dropped jobs, across many evictions (the creation order is compacted now and then).
TEST(JobStoreTest, TiesGoInCreationOrderAndListingSkipsDroppedJobs) {
  FakeClock clock;
  JobStore store(absl::Hours(1), 3, clock.AsClock(), UINT64_MAX, clock.AsTicks());
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 10; ++i) {
    jobs.push_back(NewJob(absl::StrCat("j", i), clock.now));
    store.Add(jobs.back());
  }
  // j9 and j1 finish at one instant, j7 and j5 at the next: four finished, three kept, and of
  // the tie the job created first goes.
  clock.Advance(absl::Seconds(1));
  for (int i : {9, 1}) jobs[i]->Fail(absl::InternalError("x"), clock.now);
  clock.Advance(absl::Seconds(1));
  for (int i : {7, 5}) jobs[i]->Fail(absl::InternalError("x"), clock.now);
  EXPECT_EQ(store.Get("j1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get("j9").ok());
  // Two more: j9 goes, then j5 of the j7/j5 tie.
  clock.Advance(absl::Seconds(1));
  for (int i : {4, 2}) jobs[i]->Fail(absl::InternalError("x"), clock.now);
  std::vector<std::string> listed;
  for (const auto& job : store.List({})) listed.push_back(job->id());
  EXPECT_EQ(listed, (std::vector<std::string>{"j0", "j2", "j3", "j4", "j6", "j7", "j8"}));
  // More jobs come and finish; the list keeps creation order and the three newest finished.
  for (int i = 10; i < 40; ++i) {
    jobs.push_back(NewJob(absl::StrCat("j", i), clock.now));
    store.Add(jobs.back());
    clock.Advance(absl::Seconds(1));
    jobs.back()->Succeed({}, clock.now);
  }
  listed.clear();
  for (const auto& job : store.List({})) listed.push_back(job->id());
  EXPECT_EQ(listed, (std::vector<std::string>{"j0", "j3", "j6", "j8", "j37", "j38", "j39"}));
  EXPECT_EQ(store.size(), 7u);
}

// A daemon may keep up to 100,000 finished jobs (--max-jobs-kept), and every Add, Get and List
// holds the store's lock: none of them may cost a pass over every kept job. With a sort of all
// finished jobs per call (the old code) the calls below took over five minutes.
TEST(JobStoreTest, CallsStayCheapWithFiftyThousandJobsKept) {
  FakeClock clock;
  constexpr int kKept = 50000;
  JobStore store(absl::Hours(1), kKept, clock.AsClock(), UINT64_MAX, clock.AsTicks());
  for (int i = 0; i < kKept; ++i) {
    auto job = NewJob(absl::StrCat("j", i), clock.now);
    store.Add(job);
    job->Succeed({}, clock.now);
  }
  const absl::Time start = absl::Now();
  for (int i = kKept; i < kKept + 2000; ++i) {
    auto job = NewJob(absl::StrCat("j", i), clock.now);
    store.Add(job);  // drops the oldest finished job once this one has finished
    clock.Advance(absl::Milliseconds(1));
    job->Succeed({}, clock.now);
    EXPECT_TRUE(store.Get(absl::StrCat("j", i)).ok());
    EXPECT_EQ(store.Get(absl::StrCat("j", i - kKept)).status().code(),
              absl::StatusCode::kNotFound);
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(5)) << took;
  EXPECT_EQ(store.size(), static_cast<size_t>(kKept));
}

}  // namespace
}  // namespace ovid::server
