// File: tests/server/start_order_test.cc
// The start order of queued jobs: priority first; within a priority the tenants take turns
// (fewest running, then longest since the last start, then arrival) or, with fifo, arrival.
#include "server/start_order.h"

#include <gtest/gtest.h>

#include <algorithm>
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
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, none, {}), (Order{0, 3, 4, 1, 2}));
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFair, none, {}), 0u);
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFifo, none, {}), (Order{0, 1, 2, 3, 4}));
}

TEST(StartOrderTest, ATenantWithAJobRunningWaitsForTheOthers) {
  const auto q = Queue({{0, "a"}, {0, "a"}, {0, "b"}});
  TenantTurns turns;
  turns.Started("a");
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFair, turns, {"a"}), 2u);
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {"a"}), (Order{2, 0, 1}));
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
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {}), (Order{2, 1, 0}));
  // A tenant never served goes before all of them.
  const auto q2 = Queue({{0, "c"}, {0, "a"}, {0, "new"}});
  EXPECT_EQ(NextToStart(q2, TenantScheduling::kFair, turns, {}), 2u);
}

TEST(StartOrderTest, PriorityComesBeforeTurns) {
  // A higher priority starts first whoever its tenant is; turns apply within each priority.
  const auto q = Queue({{5, "a"}, {5, "a"}, {0, "a"}, {0, "b"}, {-3, "b"}, {-3, "a"}});
  TenantTurns turns;
  turns.Started("b");
  EXPECT_EQ(StartOrder(q, TenantScheduling::kFair, turns, {}), (Order{0, 1, 3, 2, 4, 5}));
  EXPECT_EQ(NextToStart(q, TenantScheduling::kFair, turns, {"a", "a"}), 0u);
}

TEST(StartOrderTest, TheNextToStartIsAlwaysTheHeadOfTheStartOrder) {
  // Random queues, standings and policies: the worker's pick and the positions GetJob reports
  // must agree, or a job reported next would be overtaken.
  std::mt19937 rng(11);
  const std::vector<std::string_view> tenants = {"", "a", "b", "c"};
  for (int round = 0; round < 2000; ++round) {
    const int n = 1 + static_cast<int>(rng() % 12);
    std::vector<std::pair<int32_t, std::string_view>> jobs;
    for (int i = 0; i < n; ++i) {
      jobs.push_back({static_cast<int32_t>(rng() % 3) - 1, tenants[rng() % tenants.size()]});
    }
    std::stable_sort(jobs.begin(), jobs.end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
    const auto q = Queue(jobs);
    TenantTurns turns;
    for (unsigned s = rng() % 6; s > 0; --s) turns.Started(tenants[rng() % tenants.size()]);
    std::vector<std::string_view> running;
    for (unsigned r = rng() % 4; r > 0; --r) running.push_back(tenants[rng() % tenants.size()]);
    for (TenantScheduling policy : {TenantScheduling::kFair, TenantScheduling::kFifo}) {
      const Order order = StartOrder(q, policy, turns, running);
      ASSERT_EQ(order.size(), q.size());
      EXPECT_EQ(order.front(), NextToStart(q, policy, turns, running)) << round;
      // A permutation that keeps priority order and each tenant's own arrival order.
      std::vector<bool> seen(q.size(), false);
      for (size_t i = 0; i < order.size(); ++i) {
        ASSERT_FALSE(seen[order[i]]);
        seen[order[i]] = true;
        if (i == 0) continue;
        const QueueSlot& before = q[order[i - 1]];
        const QueueSlot& after = q[order[i]];
        EXPECT_GE(before.priority, after.priority) << round;
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

}  // namespace
}  // namespace ovid::server
