// File: tests/engine/cache_planner_test.cc
#include "engine/tensor/cache_planner.h"

#include <gtest/gtest.h>

namespace ovid {
namespace {

TEST(CachePlannerTest, RespectsBudgetAndPrefersSavingsPerByte) {
  const std::vector<CacheCandidate> c = {
      {"big_q4", GgmlType::kQ4_0, 1 << 24, GgmlRowBytes(GgmlType::kQ4_0, 1 << 24)},
      {"small_q4", GgmlType::kQ4_0, 1 << 16, GgmlRowBytes(GgmlType::kQ4_0, 1 << 16)},
      {"big_q3k", GgmlType::kQ3_K, 1 << 24, GgmlRowBytes(GgmlType::kQ3_K, 1 << 24)},
  };
  // Everything fits.
  EXPECT_EQ(PlanCache(c, int64_t{1} << 40).chosen.size(), 3u);
  // Nothing fits.
  EXPECT_TRUE(PlanCache(c, 1000).chosen.empty());
  // Room for one big layer: the costlier format saves more per byte.
  const std::vector<CacheCandidate> bigs = {c[0], c[2]};
  CachePlan one_big = PlanCache(bigs, 2 * (1 << 24));
  ASSERT_EQ(one_big.chosen.size(), 1u);
  EXPECT_EQ(bigs[one_big.chosen[0]].name, "big_q3k");
  // Room for one big layer plus the small one: the small one (launch cost per byte) comes first.
  CachePlan plan = PlanCache(c, 2 * (1 << 24) + 2 * (1 << 16));
  ASSERT_EQ(plan.chosen.size(), 2u);
  EXPECT_EQ(c[plan.chosen[0]].name, "small_q4");
  EXPECT_EQ(c[plan.chosen[1]].name, "big_q3k");
  EXPECT_EQ(plan.bytes, 2 * (1 << 24) + 2 * (1 << 16));
}

TEST(CachePlannerTest, MeasuredCostsOverrideTheModel) {
  std::vector<CacheCandidate> c = {
      {"a", GgmlType::kQ4_0, 1 << 20, GgmlRowBytes(GgmlType::kQ4_0, 1 << 20)},
      {"b", GgmlType::kQ3_K, 1 << 20, GgmlRowBytes(GgmlType::kQ3_K, 1 << 20)},
  };
  CostModel model;
  model.measured_seconds_per_element[GgmlType::kQ4_0] = 1e-9;  // pretend Q4_0 is the slow one
  model.measured_seconds_per_element[GgmlType::kQ3_K] = 1e-12;
  CachePlan plan = PlanCache(c, 2 * (1 << 20), model);
  ASSERT_EQ(plan.chosen.size(), 1u);
  EXPECT_EQ(c[plan.chosen[0]].name, "a");
}

}  // namespace
}  // namespace ovid
