// File: engine/tensor/cache_planner.cc
#include "engine/tensor/cache_planner.h"

#include <algorithm>
#include <numeric>

namespace ovid {

double DecodeFactor(GgmlType type) {
  // Q4_K, Q6_K and Q8_0 measured at the same traffic rate on an H200 (factor 1). The formats
  // that gather high bits from a second array are unmeasured guesses; refine them with
  // CostModel::measured_seconds_per_element from ovid-bench-linear.
  switch (type) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
      return 1.3;
    case GgmlType::kQ5_K:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
      return 1.15;
    default:
      return 1.0;
  }
}

double EstimatedDequantSeconds(const CacheCandidate& c, const CostModel& model) {
  double once;
  if (c.measured_saved_seconds >= 0) {
    once = c.measured_saved_seconds;
  } else if (auto it = model.measured_seconds_per_element.find(c.type);
             it != model.measured_seconds_per_element.end()) {
    once = model.launch_seconds + it->second * static_cast<double>(c.elements);
  } else {
    const double traffic = static_cast<double>(c.block_bytes) + 2.0 * c.elements;
    once = model.launch_seconds + DecodeFactor(c.type) * traffic / model.bandwidth_bytes_per_second;
  }
  return once * c.calls_per_step;
}

CachePlan PlanCache(const std::vector<CacheCandidate>& candidates, int64_t budget_bytes,
                    const CostModel& model) {
  std::vector<double> saved(candidates.size());
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = 0; i < candidates.size(); ++i) {
    saved[i] = EstimatedDequantSeconds(candidates[i], model);
  }
  auto density = [&](size_t i) {
    const int64_t bytes = CacheBytes(candidates[i]);
    return bytes > 0 ? saved[i] / static_cast<double>(bytes) : 0.0;
  };
  // Ties (identical layers) keep file order, so the plan is deterministic.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return density(a) > density(b); });
  CachePlan plan;
  for (size_t i : order) {
    const int64_t bytes = CacheBytes(candidates[i]);
    if (bytes <= 0 || plan.bytes + bytes > budget_bytes) continue;
    plan.chosen.push_back(i);
    plan.bytes += bytes;
    plan.saved_seconds_per_step += saved[i];
  }
  return plan;
}

}  // namespace ovid
