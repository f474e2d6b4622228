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

double TenantTurns::Started(std::string_view tenant, int32_t priority) {
  const double charge = ExpectedSeconds(tenant);
  Account& account = Of(tenant);
  account.last_start = ++counter_;
  double& charged = account.charged[priority];
  double& floor = floor_[priority];
  floor = std::max(floor, charged);
  charged += charge;
  return charge;
}

void TenantTurns::Ended(std::string_view tenant, int32_t priority, double charged, double seconds,
                        bool succeeded) {
  Account& account = Of(tenant);
  account.charged[priority] += seconds - charged;
  if (!succeeded) return;
  // A quarter for the newest job: a tenant's next job is most like its last few.
  double& mean = account.mean_seconds;
  mean = mean < 0 ? seconds : mean + 0.25 * (seconds - mean);
  std::vector<double> means;
  for (const auto& [name, other] : accounts_) {
    if (other.mean_seconds >= 0) means.push_back(other.mean_seconds);
  }
  auto lower_median = means.begin() + static_cast<std::ptrdiff_t>((means.size() - 1) / 2);
  std::nth_element(means.begin(), lower_median, means.end());
  typical_seconds_ = *lower_median;
}

void TenantTurns::Returned(std::string_view tenant, int32_t priority) {
  double& charged = Of(tenant).charged[priority];
  charged = std::max(charged, floor_[priority]);
}

uint64_t TenantTurns::LastStart(std::string_view tenant) const {
  const Account* account = Find(tenant);
  return account == nullptr ? 0 : account->last_start;
}

double TenantTurns::Charged(std::string_view tenant, int32_t priority) const {
  const Account* account = Find(tenant);
  if (account == nullptr) return 0;
  auto it = account->charged.find(priority);
  return it == account->charged.end() ? 0 : it->second;
}

double TenantTurns::ExpectedSeconds(std::string_view tenant) const {
  const Account* account = Find(tenant);
  return account != nullptr && account->mean_seconds >= 0 ? account->mean_seconds
                                                          : typical_seconds_;
}

namespace {

// A tenant's standing at one priority: what the policy compares first (fair: jobs running;
// share: worker seconds charged there), then its last start. Smaller goes first.
struct Standing {
  double first = 0;
  uint64_t last_start = 0;
  bool operator<(const Standing& o) const {
    return std::tie(first, last_start) < std::tie(o.first, o.last_start);
  }
};

// The tenants' standings as the picks are played out, each tenant looked up in `turns` once.
class Standings {
 public:
  Standings(TenantScheduling policy, const TenantTurns& turns,
            const std::vector<std::string_view>& running)
      : share_(policy == TenantScheduling::kShare), turns_(turns), counter_(turns.last()) {
    for (std::string_view tenant : running) ++Of(tenant).running;
  }
  Standing At(std::string_view tenant, int32_t priority) {
    const Tenant& t = Of(tenant);
    return {share_ ? Charged(tenant, priority) : static_cast<double>(t.running), t.last_start};
  }
  void Started(std::string_view tenant, int32_t priority) {
    Tenant& t = Of(tenant);
    ++t.running;
    t.last_start = ++counter_;
    if (share_) charged_[{tenant, priority}] = Charged(tenant, priority) + t.expected;
  }
  // One of the tenant's running jobs is taken to have ended (share: its charge stays, as if it
  // took the time expected).
  void Ended(std::string_view tenant) { --Of(tenant).running; }

 private:
  struct Tenant {
    uint64_t running = 0;
    uint64_t last_start = 0;
    double expected = 0;
  };
  Tenant& Of(std::string_view tenant) {
    auto [it, added] = by_tenant_.try_emplace(tenant);
    if (added) {
      it->second.last_start = turns_.LastStart(tenant);
      it->second.expected = turns_.ExpectedSeconds(tenant);
    }
    return it->second;
  }
  double Charged(std::string_view tenant, int32_t priority) {
    auto it = charged_.find({tenant, priority});
    return it != charged_.end() ? it->second : turns_.Charged(tenant, priority);
  }

  const bool share_;
  const TenantTurns& turns_;
  uint64_t counter_;
  std::unordered_map<std::string_view, Tenant> by_tenant_;
  // share: the charges the played-out starts changed, by (tenant, priority).
  std::map<std::pair<std::string_view, int32_t>, double> charged_;
};

}  // namespace

size_t NextToStart(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                   const TenantTurns& turns, const std::vector<std::string_view>& running) {
  if (policy == TenantScheduling::kFifo || queue.empty()) return 0;
  Standings standings(policy, turns, running);
  std::unordered_map<std::string_view, bool> seen;
  size_t best = 0;
  const int32_t level = queue[0].priority;
  Standing best_standing = standings.At(queue[0].tenant, level);
  seen.emplace(queue[0].tenant, true);
  // Only a tenant's oldest job of the level can be its pick, so each tenant is weighed once, at
  // its first job; the strict < keeps the earlier arrival on a tie.
  for (size_t i = 1; i < queue.size() && queue[i].priority == level; ++i) {
    if (!seen.emplace(queue[i].tenant, true).second) continue;
    const Standing s = standings.At(queue[i].tenant, level);
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
    const int32_t level = queue[begin].priority;
    size_t end = begin;
    for (; end < queue.size() && queue[end].priority == level; ++end) {
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
      const Standing s = standings.At(line.tenant, level);
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
      standings.Started(line.tenant, level);
      started.push_back(line.tenant);
      push(static_cast<size_t>(&line - lines.data()));
    }
    begin = end;
  }
  return order;
}

}  // namespace ovid::server
