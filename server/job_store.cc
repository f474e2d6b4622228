// File: server/job_store.cc
#include "server/job_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::server {

absl::Duration SteadyTicks() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

JobStore::JobStore(absl::Duration ttl, uint32_t max_finished_kept, Clock clock,
                   uint64_t max_finished_bytes, Ticks ticks)
    : ttl_(ttl),
      max_finished_kept_(max_finished_kept),
      clock_(std::move(clock)),
      max_finished_bytes_(max_finished_bytes),
      ticks_(std::move(ticks)) {}

void JobStore::Add(std::shared_ptr<Job> job) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
  jobs_.emplace(job->id(), Kept{job, next_number_++});
  unfinished_.push_back(job);
  order_.push_back(std::move(job));
}

std::string JobIdForMessage(std::string_view id) {
  constexpr size_t kShown = 64;
  if (id.size() <= kShown) return absl::StrCat("\"", std::string(id), "\"");
  return absl::StrCat("\"", std::string(id.substr(0, kShown)), "...\" (", id.size(), " bytes)");
}

absl::StatusOr<std::shared_ptr<Job>> JobStore::Get(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return UnknownJobError(id);
  return it->second.job;
}

std::map<JobStore::FinishKey, JobStore::Finished>::iterator JobStore::VictimLocked(bool bytes) {
  // One group (no tenants, the common case): plain oldest-first.
  if (by_tenant_.size() <= 1) return finished_.begin();
  auto largest = by_tenant_.begin();
  for (auto it = by_tenant_.begin(); it != by_tenant_.end(); ++it) {
    const bool more = bytes ? it->second.bytes > largest->second.bytes
                            : it->second.keys.size() > largest->second.keys.size();
    if (more) largest = it;
  }
  return finished_.find(*largest->second.keys.begin());
}

void JobStore::DropFinishedLocked(std::map<FinishKey, Finished>::iterator it) {
  const auto group = by_tenant_.find(it->second.job->tenant());
  group->second.keys.erase(it->first);
  group->second.bytes -= it->second.bytes;
  if (group->second.keys.empty()) by_tenant_.erase(group);
  finished_bytes_ -= it->second.bytes;
  jobs_.erase(it->second.job->id());
  finished_.erase(it);
  ++dropped_in_order_;
}

absl::Status UnknownJobError(std::string_view id) {
  return absl::NotFoundError(absl::StrCat(
      "no job ", JobIdForMessage(id),
      " (unknown to this replica, or finished more than --job-ttl ago; a job lives in the "
      "replica that accepted it)"));
}

std::vector<std::shared_ptr<Job>> JobStore::List(const std::vector<v1::JobState>& states) {
  uint64_t next = 0;
  return ListPage(states, 0, SIZE_MAX, &next);
}

std::vector<std::shared_ptr<Job>> JobStore::ListPage(const std::vector<v1::JobState>& states,
                                                     uint64_t after, size_t limit, uint64_t* next,
                                                     std::string_view tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked();
  std::vector<std::shared_ptr<Job>> out;
  *next = 0;
  uint64_t last = 0;  // the page token of the last job taken
  for (const auto& job : order_) {
    // A dropped job may still sit in order_ (ids are unique, so its id is gone from jobs_).
    auto kept = jobs_.find(job->id());
    if (kept == jobs_.end()) continue;
    // Creation numbers start at 0; a page token counts from 1 so that 0 can mean "the start".
    const uint64_t number = kept->second.number + 1;
    if (number <= after) continue;
    if (!states.empty() && std::find(states.begin(), states.end(), job->state()) == states.end()) {
      continue;
    }
    if (!tenant.empty() && job->tenant() != tenant) continue;
    if (out.size() == limit) {
      *next = last;  // more follow
      break;
    }
    out.push_back(job);
    last = number;
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
  const absl::Duration now = ticks_();
  // File the jobs that finished since the last call by when they finished, so "oldest
  // finished first" holds even when a later job finished sooner than an earlier one.
  std::erase_if(unfinished_, [&](const std::shared_ptr<Job>& job) {
    if (!job->finished()) return false;
    const uint64_t bytes = job->event_bytes();
    const FinishKey key{now, job->finished_at(), jobs_.at(job->id()).number};
    finished_.emplace(key, Finished{job, bytes});
    finished_bytes_ += bytes;
    TenantKept& kept = by_tenant_[job->tenant()];
    kept.keys.insert(key);
    kept.bytes += bytes;
    return true;
  });
  while (!finished_.empty()) {
    const auto oldest = finished_.begin();
    if (std::get<0>(oldest->first) + ttl_ <= now) {
      DropFinishedLocked(oldest);
    } else if (finished_bytes_ > max_finished_bytes_) {
      DropFinishedLocked(VictimLocked(/*bytes=*/true));
    } else if (finished_.size() > max_finished_kept_) {
      DropFinishedLocked(VictimLocked(/*bytes=*/false));
    } else {
      break;
    }
  }
  // Compact the creation order once half of it is dropped jobs: amortised O(1) per job.
  if (dropped_in_order_ != 0 && 2 * dropped_in_order_ >= order_.size()) {
    std::erase_if(order_, [&](const auto& job) { return !jobs_.contains(job->id()); });
    dropped_in_order_ = 0;
  }
}

}  // namespace ovid::server
