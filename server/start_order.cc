// File: server/start_order.cc
#include "server/start_order.h"

#include <algorithm>
#include <deque>
#include <queue>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace ovid::server {

const TenantTurns::Account* TenantTurns::Find(std::string_view tenant) const {
  auto it = accounts_.find(tenant);
  return it == accounts_.end() ? nullptr : &it->second;
}

TenantTurns::Account& TenantTurns::Of(std::string_view tenant) {
  auto it = accounts_.find(tenant);
  if (it == accounts_.end()) it = accounts_.emplace(std::string(tenant), Account{}).first;
  return it->second;
}

double TenantTurns::Started(std::string_view tenant) {
  const double charge = ExpectedSeconds(tenant);
  Account& account = Of(tenant);
  account.last_start = ++counter_;
  floor_ = std::max(floor_, account.charged);
  account.charged += charge;
  return charge;
}

void TenantTurns::Ended(std::string_view tenant, double charged, double seconds, bool ran) {
  Account& account = Of(tenant);
  account.charged += seconds - charged;
  if (!ran) return;
  // A quarter for the newest job: a tenant's next job is most like its last few.
  auto average = [seconds](double& mean) {
    mean = mean < 0 ? seconds : mean + 0.25 * (seconds - mean);
  };
  average(account.mean_seconds);
  average(mean_seconds_);
}

void TenantTurns::Returned(std::string_view tenant) {
  Account& account = Of(tenant);
  account.charged = std::max(account.charged, floor_);
}

uint64_t TenantTurns::LastStart(std::string_view tenant) const {
  const Account* account = Find(tenant);
  return account == nullptr ? 0 : account->last_start;
}

double TenantTurns::Charged(std::string_view tenant) const {
  const Account* account = Find(tenant);
  return account == nullptr ? 0 : account->charged;
}

double TenantTurns::ExpectedSeconds(std::string_view tenant) const {
  const Account* account = Find(tenant);
  if (account != nullptr && account->mean_seconds >= 0) return account->mean_seconds;
  return mean_seconds_ >= 0 ? mean_seconds_ : 0;
}

namespace {

// A tenant's standing: what the policy compares first (fair: jobs running; share: worker
// seconds charged), then its last start. Smaller goes first.
struct Standing {
  double first = 0;
  uint64_t last_start = 0;
  bool operator<(const Standing& o) const {
    return std::tie(first, last_start) < std::tie(o.first, o.last_start);
  }
};

// The tenants' standings, each looked up once (one hash per tenant, not per job).
class Standings {
 public:
  Standings(TenantScheduling policy, const TenantTurns& turns,
            const std::vector<std::string_view>& running)
      : share_(policy == TenantScheduling::kShare), turns_(turns), counter_(turns.last()) {
    if (!share_) {
      for (std::string_view tenant : running) ++Of(tenant).first;
    }
  }
  Standing& Of(std::string_view tenant) {
    auto [it, added] = by_tenant_.try_emplace(tenant);
    if (added) {
      it->second.last_start = turns_.LastStart(tenant);
      if (share_) it->second.first = turns_.Charged(tenant);
    }
    return it->second;
  }
  void Started(std::string_view tenant) {
    Standing& s = Of(tenant);
    s.first += share_ ? turns_.ExpectedSeconds(tenant) : 1;
    s.last_start = ++counter_;
  }
  // One of the tenant's running jobs is taken to have ended (share: its charge stays).
  void Ended(std::string_view tenant) {
    if (!share_) --Of(tenant).first;
  }

 private:
  const bool share_;
  const TenantTurns& turns_;
  uint64_t counter_;
  std::unordered_map<std::string_view, Standing> by_tenant_;
};

}  // namespace

size_t NextToStart(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                   const TenantTurns& turns, const std::vector<std::string_view>& running) {
  if (policy == TenantScheduling::kFifo || queue.empty()) return 0;
  Standings standings(policy, turns, running);
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
  Standings standings(policy, turns, running);
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
    using Entry = std::tuple<double, uint64_t, size_t, size_t, uint64_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    auto push = [&](size_t l) {
      Line& line = lines[l];
      if (line.next == line.jobs.size()) return;
      const Standing s = standings.Of(line.tenant);
      heap.emplace(s.first, s.last_start, line.jobs[line.next], l, ++line.version);
    };
    for (size_t l = 0; l < lines.size(); ++l) push(l);
    for (size_t picked = begin; picked < end; ++picked) {
      if (free > 0) {
        --free;
      } else if (!started.empty()) {  // (empty only for workers == 0, which JobQueue never has)
        // No worker free: the earliest-started job ends first.
        const std::string_view ended = started.front();
        started.pop_front();
        standings.Ended(ended);
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
