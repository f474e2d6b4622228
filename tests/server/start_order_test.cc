// File: tests/server/start_order_test.cc
// The start order of queued jobs: priority first; within a priority the tenants take turns
// (fewest running, then longest since the last start, then arrival), share the worker time
// (least worker time, then the same) or, with fifo, arrival.
#include "server/start_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ovid::server {
namespace {

using Order = std::vector<size_t>;

std::vector<QueueSlot> Queue(const std::vector<std::pair<int32_t, std::string_view>>& jobs) {
  std::vector<QueueSlot> slots;
  for (const auto& [priority, tenant] : jobs) slots.push_back({priority, tenant});
  return slots;
}

TEST(StartOrderTest, ABurstOfOneTenantDoesNotHoldBackAnothersJob) {
  // Tenant a queued three jobs, then b one, then the operator (no tenant) one.
  const auto q = Queue({{0, "a"}, {0, "a"}, {0, "a"}, {0, "b"}, {0, ""}});
  const TenantTurns none;
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, none, {}, 1), (Order{0, 3, 4, 1, 2}));
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFair, none, {}), 0u);
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFifo, none, {}, 1), (Order{0, 1, 2, 3, 4}));
}

TEST(StartOrderTest, ATenantWithAJobRunningWaitsForTheOthers) {
  const auto q = Queue({{0, "a"}, {0, "a"}, {0, "b"}});
  TenantTurns turns;
  turns.Started("a");
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFair, turns, {"a"}), 2u);
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {"a"}, 1), (Order{2, 0, 1}));
  // Two of b's running against one of a's: a goes first even though it started last.
  turns.Started("b");
  turns.Started("b");
  turns.Started("a");
  const auto q2 = Queue({{0, "b"}, {0, "a"}});
  EXPECT_EQ(NextToStart(q2, TenantScheduling::kFair, turns, {"b", "a", "b"}), 1u);
  // fifo looks at none of it.
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFifo, turns, {"a"}), 0u);
}

TEST(StartOrderTest, WithNoneRunningTheTenantServedLongestAgoGoesFirst) {
  const auto q = Queue({{0, "c"}, {0, "a"}, {0, "b"}});
  TenantTurns turns;
  turns.Started("b");
  turns.Started("a");
  turns.Started("c");
  EXPECT_EQ(turns.LastStart("b"), 1u);
  EXPECT_EQ(turns.LastStart("c"), 3u);
  EXPECT_EQ(turns.LastStart("never"), 0u);
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {}, 1), (Order{2, 1, 0}));
  // A tenant never served goes before all of them.
  const auto q2 = Queue({{0, "c"}, {0, "a"}, {0, "new"}});
  EXPECT_EQ(NextToStart(q2, TenantScheduling::kFair, turns, {}), 2u);
}

TEST(StartOrderTest, PriorityComesBeforeTurns) {
  // A higher priority starts first whoever its tenant is; turns apply within each priority.
  const auto q = Queue({{5, "a"}, {5, "a"}, {0, "a"}, {0, "b"}, {-3, "b"}, {-3, "a"}});
  TenantTurns turns;
  turns.Started("b");
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {}, 1), (Order{0, 1, 3, 2, 4, 5}));
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFair, turns, {"a", "a"}), 0u);
}

TEST(StartOrderTest, WithSeveralWorkersAPickWaitsForTheEarliestStartedJobToEnd) {
  // Two workers, both running b's jobs; b, c, c queued. When b's first job ends, c goes (b still
  // has one running); when b's second ends, b's turn comes before c's second.
  const auto q = Queue({{0, "b"}, {0, "c"}, {0, "c"}});
  TenantTurns turns;
  turns.Started("b");
  turns.Started("b");
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {"b", "b"}, 2), (Order{1, 0, 2}));
  // With a worker free, c starts at once, and b's next when b's first job ends.
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {"b", "b"}, 3), (Order{1, 0, 2}));
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {"b"}, 2), (Order{1, 0, 2}));
}

TEST(StartOrderTest, NoWorkersAndNothingRunningIsStillAnOrder) {
  // JobQueue always has a worker; the function must not read past its own state without one.
  const auto q = Queue({{0, "a"}, {0, "b"}, {0, "a"}});
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, TenantTurns(), {}, 0), (Order{0, 1, 2}));
}

// One job of `tenant` that ran for `seconds`.
void Ran(TenantTurns& turns, std::string_view tenant, double seconds) {
  const double charged = turns.Started(tenant);
  turns.Ended(tenant, charged, seconds, /*ran=*/true);
}

TEST(StartOrderTest, ShareChargesAJobItsTenantsExpectedTimeAndSettlesItWhenItEnds) {
  TenantTurns turns;
  // Nothing has ended yet: a job is expected to take nothing.
  EXPECT_EQ(turns.Started("a"), 0.0);
  turns.Ended("a", 0.0, 10.0, true);
  EXPECT_DOUBLE_EQ(turns.Charged("a"), 10.0);
  EXPECT_DOUBLE_EQ(turns.ExpectedSeconds("a"), 10.0);
  // A tenant without a job of its own is expected to take what every tenant's jobs took.
  EXPECT_DOUBLE_EQ(turns.ExpectedSeconds("b"), 10.0);
  // Charged at the expectation when it starts, settled at its own time when it ends; the
  // expectation moves a quarter of the way to the newest job.
  EXPECT_DOUBLE_EQ(turns.Started("a"), 10.0);
  EXPECT_DOUBLE_EQ(turns.Charged("a"), 20.0);
  turns.Ended("a", 10.0, 2.0, true);
  EXPECT_DOUBLE_EQ(turns.Charged("a"), 12.0);
  EXPECT_DOUBLE_EQ(turns.ExpectedSeconds("a"), 8.0);
  // A job cancelled on its way to the worker costs what it used and moves no expectation.
  const double charged = turns.Started("a");
  turns.Ended("a", charged, 0.0, /*ran=*/false);
  EXPECT_DOUBLE_EQ(turns.Charged("a"), 12.0);
  EXPECT_DOUBLE_EQ(turns.ExpectedSeconds("a"), 8.0);
}

TEST(StartOrderTest, ShareLetsATenantOfShortJobsRunUntilItHasHadAsMuchTime) {
  // long's jobs took 10 s, short's 2 s. The tenant with less worker time goes first, each pick
  // charged the tenant's expected time; a tie goes to the one whose last job started longest ago.
  TenantTurns turns;
  Ran(turns, "long", 10.0);
  Ran(turns, "short", 2.0);
  const auto q = Queue({{0, "long"},
                        {0, "long"},
                        {0, "short"},
                        {0, "short"},
                        {0, "short"},
                        {0, "short"},
                        {0, "short"},
                        {0, "short"}});
  // short: 2 -> 4 -> 6 -> 8 -> 10 (tie with long, whose last start is older) ... long: 10 -> 20.
  EXPECT_EQ(StartOrder(q, TenantScheduling::kShare, turns, {}, 1), (Order{2, 3, 4, 5, 0, 6, 7, 1}));
  EXPECT_EQ(NextToStart(q, TenantScheduling::kShare, turns, {}), 2u);
  // Turns by jobs alternate instead (short's last start is the newer one).
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {}, 1), (Order{0, 2, 1, 3, 4, 5, 6, 7}));
  // share compares worker time only: jobs running are already in it.
  EXPECT_EQ(NextToStart(q, TenantScheduling::kShare, turns, {"short", "short"}), 2u);
  EXPECT_EQ(StartOrder(q, TenantScheduling::kShare, turns, {"short"}, 1),
            (Order{2, 3, 4, 5, 0, 6, 7, 1}));
}

TEST(StartOrderTest, ShareGivesNoCreditForTimeAway) {
  // a ran five 10 s jobs while b had nothing queued. When b comes back, its time is raised to
  // the floor (a's time when a was picked last, 40 s), so b does not get five jobs in a row.
  TenantTurns turns;
  for (int i = 0; i < 5; ++i) Ran(turns, "a", 10.0);
  EXPECT_DOUBLE_EQ(turns.Charged("a"), 50.0);
  turns.Returned("b");
  EXPECT_DOUBLE_EQ(turns.Charged("b"), 40.0);
  const auto q = Queue({{0, "a"}, {0, "b"}, {0, "b"}, {0, "b"}});
  // b 40 -> 50 (ties a at 50; a started longer ago) -> a 60 -> b 60 ...
  EXPECT_EQ(StartOrder(q, TenantScheduling::kShare, turns, {}, 1), (Order{1, 0, 2, 3}));
  // A tenant that used more than the floor keeps what it used.
  turns.Returned("a");
  EXPECT_DOUBLE_EQ(turns.Charged("a"), 50.0);
  // A new tenant starts at the floor too, not at zero.
  turns.Returned("c");
  EXPECT_DOUBLE_EQ(turns.Charged("c"), 40.0);
}

TEST(StartOrderTest, TheOrderIsWhatTheWorkersStartWhenJobsEndInTheOrderTheyStarted) {
  // Random queues, standings, worker counts and policies, against the queue itself played out:
  // a worker takes NextToStart's pick whenever one is free, the running job that started first
  // ends first, and (share) each start is charged its tenant's expected time. GetJob's positions
  // must be that order, or a job reported ahead of another would start after it.
  std::mt19937 rng(11);
  const std::vector<std::string_view> tenants = {"", "a", "b", "c"};
  for (int round = 0; round < 3000; ++round) {
    const int n = 1 + static_cast<int>(rng() % 12);
    std::vector<std::pair<int32_t, std::string_view>> jobs;
    for (int i = 0; i < n; ++i) {
      jobs.push_back({static_cast<int32_t>(rng() % 3) - 1, tenants[rng() % tenants.size()]});
    }
    std::stable_sort(jobs.begin(), jobs.end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
    const auto q = Queue(jobs);
    const uint32_t workers = 1 + rng() % 4;
    TenantTurns turns;
    std::vector<std::string_view> running;
    for (unsigned r = rng() % (workers + 1); r > 0; --r) {
      running.push_back(tenants[rng() % tenants.size()]);
      turns.Started(running.back());
    }
    // Jobs that ended, with times that make share's charges and expectations differ by tenant.
    for (unsigned s = rng() % 6; s > 0; --s) {
      Ran(turns, tenants[rng() % tenants.size()], static_cast<double>(rng() % 20));
    }
    for (unsigned s = rng() % 3; s > 0; --s) turns.Returned(tenants[rng() % tenants.size()]);
    for (TenantScheduling policy :
         {TenantScheduling::kFair, TenantScheduling::kShare, TenantScheduling::kFifo}) {
      // Played out.
      std::vector<QueueSlot> left = q;
      std::vector<size_t> index(q.size());
      for (size_t i = 0; i < index.size(); ++i) index[i] = i;
      TenantTurns played_turns = turns;
      std::deque<std::string_view> played_running(running.begin(), running.end());
      Order played;
      while (!left.empty()) {
        if (played_running.size() == workers) played_running.pop_front();
        const size_t pick = NextToStart(
            left, policy, played_turns,
            std::vector<std::string_view>(played_running.begin(), played_running.end()));
        played.push_back(index[pick]);
        played_turns.Started(left[pick].tenant);
        played_running.push_back(left[pick].tenant);
        left.erase(left.begin() + static_cast<std::ptrdiff_t>(pick));
        index.erase(index.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      const Order order = StartOrder(q, policy, turns, running, workers);
      ASSERT_EQ(order, played) << "round " << round << " workers " << workers;
      // Priority order holds, and each tenant's own jobs keep their arrival order.
      for (size_t i = 1; i < order.size(); ++i) {
        EXPECT_GE(q[order[i - 1]].priority, q[order[i]].priority) << round;
      }
      for (size_t i = 0; i < order.size(); ++i) {
        for (size_t j = i + 1; j < order.size(); ++j) {
          if (q[order[i]].tenant == q[order[j]].tenant &&
              q[order[i]].priority == q[order[j]].priority) {
            EXPECT_LT(order[i], order[j]) << round;
          }
        }
      }
    }
  }
}

TEST(StartOrderTest, ALongQueueIsOrderedInLinearishTime) {
  // --max-queue allows 100,000 jobs, and the order is worked out under the queue's lock on every
  // Submit and GetJob of a queued job: one hash per job and a heap over the tenants, not a scan
  // of every tenant per pick (that took 0.3 s at 100 tenants).
  std::vector<std::string> names;
  for (int t = 0; t < 1000; ++t) names.push_back("tenant-" + std::to_string(t));
  std::vector<QueueSlot> q;
  for (int i = 0; i < 100000; ++i) q.push_back({0, names[(i * 7919) % names.size()]});
  const TenantTurns turns;
  for (const TenantScheduling policy : {TenantScheduling::kFair, TenantScheduling::kShare}) {
    const auto start = std::chrono::steady_clock::now();
    const Order order = StartOrder(q, policy, turns, {}, 4);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(order.size(), q.size());
    // Tenants never served, none running: one job of each in turn, in order of their first job.
    EXPECT_EQ(q[order[0]].tenant, q[0].tenant);
    EXPECT_EQ(q[order[1]].tenant, q[1].tenant);
    EXPECT_LT(ms, 1000.0) << "100,000 jobs of 1,000 tenants took " << ms << " ms";
  }
}

}  // namespace
}  // namespace ovid::server
