// File: server/job_store.cc
#include "server/job_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::server {

JobStore::JobStore(absl::Duration ttl, uint32_t max_finished_kept, Clock clock,
                   uint64_t max_finished_bytes)
    : ttl_(ttl),
      max_finished_kept_(max_finished_kept),
      clock_(std::move(clock)),
      max_finished_bytes_(max_finished_bytes) {}

void JobStore::Add(std::shared_ptr<Job> job) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
  jobs_.emplace(job->id(), job);
  order_.push_back(std::move(job));
}

absl::StatusOr<std::shared_ptr<Job>> JobStore::Get(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("no job \"", std::string(id),
                                            "\" (unknown, or finished more than --job-ttl ago)"));
  }
  return it->second;
}

std::vector<std::shared_ptr<Job>> JobStore::List(const std::vector<v1::JobState>& states) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
  std::vector<std::shared_ptr<Job>> out;
  for (const auto& job : order_) {
    if (states.empty() || std::find(states.begin(), states.end(), job->state()) != states.end()) {
      out.push_back(job);
    }
  }
  return out;
}

void JobStore::Evict() {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
}

size_t JobStore::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void JobStore::EvictLocked() {
  const absl::Time now = clock_();
  // Finished jobs in finishing order, so "oldest finished first" holds even when a later job
  // finished sooner than an earlier one.
  std::vector<std::shared_ptr<Job>> finished;
  for (const auto& job : order_) {
    if (job->finished()) finished.push_back(job);
  }
  std::stable_sort(finished.begin(), finished.end(), [](const auto& a, const auto& b) {
    return a->finished_at() < b->finished_at();
  });
  uint64_t bytes = 0;
  for (const auto& job : finished) bytes += job->event_bytes();
  size_t drop = 0;
  while (drop < finished.size() &&
         (finished[drop]->finished_at() + ttl_ <= now ||
          finished.size() - drop > max_finished_kept_ || bytes > max_finished_bytes_)) {
    bytes -= finished[drop]->event_bytes();
    ++drop;
  }
  if (drop == 0) return;
  for (size_t i = 0; i < drop; ++i) jobs_.erase(finished[i]->id());
  std::erase_if(order_, [&](const auto& job) { return !jobs_.contains(job->id()); });
}

}  // namespace ovid::server
