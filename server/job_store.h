// File: server/job_store.h
// Every job the daemon knows by id: queued, running, and finished ones kept for --job-ttl so that
// WatchJob and GetJob still find them. Memory stays bounded by --max-jobs-kept and by
// --max-kept-bytes (the finished jobs' logged events, their outputs mostly: one PNG-frames output
// can be hundreds of MB): past either, the oldest finished jobs go first. Unfinished jobs are
// never evicted (the queue bounds them).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/job.h"

namespace ovid::server {

using Clock = std::function<absl::Time()>;
// A monotonic time (the steady clock since an arbitrary origin), for ages that a step of the wall
// clock must not change.
using Ticks = std::function<absl::Duration()>;
absl::Duration SteadyTicks();

// A client's job id as error messages quote it: whole up to 64 bytes, else its start and length.
// Ids come from clients and may be as long as a request may be; echoed whole, a long one made
// the status message overflow gRPC's metadata limit (RESOURCE_EXHAUSTED instead of NOT_FOUND).
std::string JobIdForMessage(std::string_view id);

// NOT_FOUND naming the id (shortened if long): what a job no longer kept, never created, or
// kept for another tenant (the caller must not learn which) is answered with.
absl::Status UnknownJobError(std::string_view id);

class JobStore {
 public:
  // `clock` stamps the jobs (the times clients see); `ticks` measures how long a finished job has
  // been kept, so that a step of the wall clock (NTP, a resumed VM) never evicts jobs early.
  JobStore(absl::Duration ttl, uint32_t max_finished_kept, Clock clock = absl::Now,
           uint64_t max_finished_bytes = UINT64_MAX, Ticks ticks = SteadyTicks);

  void Add(std::shared_ptr<Job> job);
  // UnknownJobError for unknown or evicted jobs.
  absl::StatusOr<std::shared_ptr<Job>> Get(std::string_view id);
  // Jobs in creation order, only those in `states` (empty = all).
  std::vector<std::shared_ptr<Job>> List(const std::vector<v1::JobState>& states);
  // One page of that list: up to `limit` jobs created after creation number `after` (0: from
  // the first), of tenant `tenant` only unless it is empty. `*next` is the number to pass as
  // `after` for the next page, 0 on the last.
  std::vector<std::shared_ptr<Job>> ListPage(const std::vector<v1::JobState>& states,
                                             uint64_t after, size_t limit, uint64_t* next,
                                             std::string_view tenant = {});
  // Drops finished jobs past their TTL, then the oldest finished beyond the bounds. Called on
  // every Add/Get/List, and by the runtime when a job finishes. Costs the jobs not yet seen
  // finished plus a log per job it files or drops, not a pass over every kept job: a daemon
  // may keep up to 100,000 of them, and every call holds the store's lock.
  void Evict();
  size_t size();

  const Clock& clock() const { return clock_; }

 private:
  void EvictLocked();

  const absl::Duration ttl_;
  const uint32_t max_finished_kept_;
  const Clock clock_;
  const uint64_t max_finished_bytes_;
  const Ticks ticks_;
  // A finished job's place in eviction order: when the store filed it (ticks; the runtime calls
  // Evict as each job finishes), then when it finished (wall time, for jobs filed together), then
  // its creation number (ties in creation order). Its event bytes no longer change.
  using FinishKey = std::tuple<absl::Duration, absl::Time, uint64_t>;
  struct Finished {
    std::shared_ptr<Job> job;
    uint64_t bytes = 0;
  };

  std::mutex mu_;
  struct Kept {
    std::shared_ptr<Job> job;
    uint64_t number = 0;  // creation order
  };
  std::map<std::string, Kept, std::less<>> jobs_;
  std::deque<std::shared_ptr<Job>> order_;  // creation order; may hold dropped jobs (see List)
  size_t dropped_in_order_ = 0;             // of those, compacted away once they are half
  std::vector<std::shared_ptr<Job>> unfinished_;  // not yet seen finished
  std::map<FinishKey, Finished> finished_;        // the oldest finished first
  uint64_t finished_bytes_ = 0;
  // The same jobs per tenant (Job::tenant; "" for jobs without one). Over a count or byte
  // bound, the tenant keeping the most gives up its oldest, so one tenant's burst of jobs
  // cannot push out another's outputs; the TTL still goes by finishing order alone.
  struct TenantKept {
    std::set<FinishKey> keys;
    uint64_t bytes = 0;
  };
  std::map<std::string, TenantKept, std::less<>> by_tenant_;
  // The finished job to drop next while over a bound (`bytes`: the byte bound, else the count).
  std::map<FinishKey, Finished>::iterator VictimLocked(bool bytes);
  void DropFinishedLocked(std::map<FinishKey, Finished>::iterator it);
  uint64_t next_number_ = 0;
};

}  // namespace ovid::server
