// File: server/start_order.cc
#include "server/start_order.h"

#include <tuple>
#include <utility>

namespace ovid::server {

void TenantTurns::Started(std::string_view tenant) {
  const uint64_t now = ++counter_;
  auto it = last_start_.find(tenant);
  if (it == last_start_.end()) {
    last_start_.emplace(std::string(tenant), now);
  } else {
    it->second = now;
  }
}

uint64_t TenantTurns::LastStart(std::string_view tenant) const {
  auto it = last_start_.find(tenant);
  return it == last_start_.end() ? 0 : it->second;
}

namespace {

// The tenants' standing while picks are made: jobs running and last start, both moved on by
// each pick that StartOrder imagines starting.
class Standing {
 public:
  Standing(const TenantTurns& turns, const std::vector<std::string_view>& running)
      : turns_(turns), counter_(turns.last()) {
    for (std::string_view tenant : running) ++running_[tenant];
  }
  // Smaller goes first: fewest running, then longest since its last start.
  std::pair<uint64_t, uint64_t> Key(std::string_view tenant) const {
    auto r = running_.find(tenant);
    auto l = picked_.find(tenant);
    return {r == running_.end() ? 0 : r->second,
            l == picked_.end() ? turns_.LastStart(tenant) : l->second};
  }
  void Pick(std::string_view tenant) {
    ++running_[tenant];
    picked_[tenant] = ++counter_;
  }

 private:
  const TenantTurns& turns_;
  uint64_t counter_;
  std::map<std::string_view, uint64_t> running_;
  std::map<std::string_view, uint64_t> picked_;
};

// The end of the run of jobs with queue[begin]'s priority.
size_t LevelEnd(const std::vector<QueueSlot>& queue, size_t begin) {
  size_t end = begin;
  while (end < queue.size() && queue[end].priority == queue[begin].priority) ++end;
  return end;
}

}  // namespace

size_t NextToStart(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                   const TenantTurns& turns, const std::vector<std::string_view>& running) {
  if (policy == TenantScheduling::kFifo || queue.empty()) return 0;
  const Standing standing(turns, running);
  const size_t end = LevelEnd(queue, 0);
  size_t best = 0;
  auto best_key = standing.Key(queue[0].tenant);
  // Only a tenant's oldest job of the level can be its pick, and later jobs of a tenant have the
  // same key, so the strict < keeps the oldest.
  for (size_t i = 1; i < end; ++i) {
    const auto key = standing.Key(queue[i].tenant);
    if (key < best_key) {
      best = i;
      best_key = key;
    }
  }
  return best;
}

std::vector<size_t> StartOrder(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                               const TenantTurns& turns,
                               const std::vector<std::string_view>& running) {
  std::vector<size_t> order;
  order.reserve(queue.size());
  Standing standing(turns, running);
  for (size_t begin = 0; begin < queue.size();) {
    const size_t end = LevelEnd(queue, begin);
    if (policy == TenantScheduling::kFifo) {
      for (size_t i = begin; i < end; ++i) order.push_back(i);
      begin = end;
      continue;
    }
    // Each tenant's jobs of this level, oldest first.
    struct Line {
      std::string_view tenant;
      std::vector<size_t> jobs;
      size_t next = 0;
    };
    std::vector<Line> lines;
    std::map<std::string_view, size_t> line_of;
    for (size_t i = begin; i < end; ++i) {
      auto [it, added] = line_of.emplace(queue[i].tenant, lines.size());
      if (added) lines.push_back({queue[i].tenant, {}, 0});
      lines[it->second].jobs.push_back(i);
    }
    for (size_t picked = begin; picked < end; ++picked) {
      Line* best = nullptr;
      std::tuple<uint64_t, uint64_t, size_t> best_key;
      for (Line& line : lines) {
        if (line.next == line.jobs.size()) continue;
        const auto [run, last] = standing.Key(line.tenant);
        const std::tuple<uint64_t, uint64_t, size_t> key{run, last, line.jobs[line.next]};
        if (best == nullptr || key < best_key) {
          best = &line;
          best_key = key;
        }
      }
      order.push_back(best->jobs[best->next++]);
      standing.Pick(best->tenant);
    }
    begin = end;
  }
  return order;
}

}  // namespace ovid::server
