// File: server/start_order.h
// Which queued job starts next, and the order the whole queue would start in: priority first;
// within one priority, with --tenant-scheduling=fair, the tenants take turns (the one with the
// fewest jobs running, then the one whose last job started longest ago, then arrival), so a
// tenant that queued fifty jobs does not hold back another tenant's one for fifty jobs' time;
// with fifo, arrival alone. Jobs without a tenant (the operator's tokens) take turns as one
// more tenant. Plain data in, indices out: the queue's lock and jobs stay in JobQueue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/job_schedule.h"

namespace ovid::server {

// One queued job, as the order sees it. The queue holds them highest priority first, then in
// arrival order.
struct QueueSlot {
  int32_t priority = 0;
  std::string_view tenant;
};

// When each tenant's last job started (a counter, not a clock: only the order matters).
class TenantTurns {
 public:
  void Started(std::string_view tenant);
  uint64_t LastStart(std::string_view tenant) const;  // 0: never
  uint64_t last() const { return counter_; }          // the latest start of any tenant

 private:
  std::map<std::string, uint64_t, std::less<>> last_start_;
  uint64_t counter_ = 0;
};

// The index into `queue` of the job that starts next, given the jobs running now (`running`:
// each one's tenant). `queue` may be only its first priority level: nothing below it is looked
// at. 0 for fifo or an empty queue.
size_t NextToStart(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                   const TenantTurns& turns, const std::vector<std::string_view>& running);

// Every index into `queue`, in the order the jobs would start if no job arrived or left the
// queue meanwhile: `workers` run at once, `running` holds the running jobs' tenants in the order
// they started, and running jobs are taken to end in that order (each pick beyond the free
// workers waits for the earliest-started one to end). An estimate after the first place, since
// jobs end when they end; the first is NextToStart's pick once a worker is free.
std::vector<size_t> StartOrder(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                               const TenantTurns& turns,
                               const std::vector<std::string_view>& running, uint32_t workers);

}  // namespace ovid::server
