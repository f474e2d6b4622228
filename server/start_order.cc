// File: server/start_order.cc
#include "server/start_order.h"

#include <deque>
#include <queue>
#include <tuple>
#include <unordered_map>
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

// A tenant's standing: jobs running and last start. Smaller goes first.
struct Standing {
  uint64_t running = 0;
  uint64_t last_start = 0;
  bool operator<(const Standing& o) const {
    return std::tie(running, last_start) < std::tie(o.running, o.last_start);
  }
};

// The tenants' standings, each looked up once (one hash per tenant, not per job).
class Standings {
 public:
  Standings(const TenantTurns& turns, const std::vector<std::string_view>& running)
      : turns_(turns), counter_(turns.last()) {
    for (std::string_view tenant : running) ++Of(tenant).running;
  }
  Standing& Of(std::string_view tenant) {
    auto [it, added] = by_tenant_.try_emplace(tenant);
    if (added) it->second.last_start = turns_.LastStart(tenant);
    return it->second;
  }
  void Started(std::string_view tenant) {
    Standing& s = Of(tenant);
    ++s.running;
    s.last_start = ++counter_;
  }

 private:
  const TenantTurns& turns_;
  uint64_t counter_;
  std::unordered_map<std::string_view, Standing> by_tenant_;
};

}  // namespace

size_t NextToStart(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                   const TenantTurns& turns, const std::vector<std::string_view>& running) {
  if (policy == TenantScheduling::kFifo || queue.empty()) return 0;
  Standings standings(turns, running);
  std::unordered_map<std::string_view, bool> seen;
  size_t best = 0;
  Standing best_standing = standings.Of(queue[0].tenant);
  seen.emplace(queue[0].tenant, true);
  // Only a tenant's oldest job of the level can be its pick, so each tenant is weighed once, at
  // its first job; the strict < keeps the earlier arrival on a tie.
  for (size_t i = 1; i < queue.size() && queue[i].priority == queue[0].priority; ++i) {
    if (!seen.emplace(queue[i].tenant, true).second) continue;
    const Standing s = standings.Of(queue[i].tenant);
    if (s < best_standing) {
      best = i;
      best_standing = s;
    }
  }
  return best;
}

std::vector<size_t> StartOrder(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                               const TenantTurns& turns,
                               const std::vector<std::string_view>& running, uint32_t workers) {
  std::vector<size_t> order;
  order.reserve(queue.size());
  if (policy == TenantScheduling::kFifo) {
    for (size_t i = 0; i < queue.size(); ++i) order.push_back(i);
    return order;
  }
  Standings standings(turns, running);
  std::deque<std::string_view> started(running.begin(), running.end());  // earliest first
  size_t free = workers > running.size() ? workers - running.size() : 0;
  for (size_t begin = 0; begin < queue.size();) {
    // Each tenant's jobs of this priority, oldest first.
    struct Line {
      std::string_view tenant;
      std::vector<size_t> jobs;
      size_t next = 0;
      uint64_t version = 0;  // heap entries of older versions are stale
    };
    std::vector<Line> lines;
    std::unordered_map<std::string_view, size_t> line_of;
    size_t end = begin;
    for (; end < queue.size() && queue[end].priority == queue[begin].priority; ++end) {
      auto [it, added] = line_of.try_emplace(queue[end].tenant, lines.size());
      if (added) lines.push_back({queue[end].tenant, {}, 0, 0});
      lines[it->second].jobs.push_back(end);
    }
    // A min-heap of the lines by (standing, oldest job): O(log T) a pick. A line's standing
    // changes when it is picked, or when one of its tenant's running jobs is taken to end; each
    // change pushes a new entry and makes the old one stale.
    using Entry = std::tuple<uint64_t, uint64_t, size_t, size_t, uint64_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    auto push = [&](size_t l) {
      Line& line = lines[l];
      if (line.next == line.jobs.size()) return;
      const Standing s = standings.Of(line.tenant);
      heap.emplace(s.running, s.last_start, line.jobs[line.next], l, ++line.version);
    };
    for (size_t l = 0; l < lines.size(); ++l) push(l);
    for (size_t picked = begin; picked < end; ++picked) {
      if (free > 0) {
        --free;
      } else if (!started.empty()) {  // (empty only for workers == 0, which JobQueue never has)
        // No worker free: the earliest-started job ends first.
        const std::string_view ended = started.front();
        started.pop_front();
        --standings.Of(ended).running;
        if (auto it = line_of.find(ended); it != line_of.end()) push(it->second);
      }
      while (std::get<4>(heap.top()) != lines[std::get<3>(heap.top())].version) heap.pop();
      Line& line = lines[std::get<3>(heap.top())];
      heap.pop();
      order.push_back(line.jobs[line.next++]);
      standings.Started(line.tenant);
      started.push_back(line.tenant);
      push(static_cast<size_t>(&line - lines.data()));
    }
    begin = end;
  }
  return order;
}

}  // namespace ovid::server
