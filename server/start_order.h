// File: server/start_order.h
// Which queued job starts next, and the order the whole queue would start in: priority first;
// within one priority, with --tenant-scheduling=fair, the tenants take turns (the one with the
// fewest jobs running, then the one whose last job started longest ago, then arrival), so a
// tenant that queued fifty jobs does not hold back another tenant's one for fifty jobs' time;
// with share, the tenant that has used the least worker time goes first (then the one whose last
// job started longest ago, then arrival), so a tenant of long jobs does not get more of the GPU
// than one of short jobs; with fifo, arrival alone. Jobs without a tenant (the operator's tokens)
// count as one more tenant. Plain data in, indices out: the queue's lock and jobs stay in
// JobQueue.
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

// What each tenant has had of the workers: when its last job started (a counter, not a clock:
// only the order matters) and, for share, the worker seconds it is charged at each priority
// (priorities are strict, so the tenants share each level's time among themselves: time a tenant
// had at priority 5 is not held against its jobs at 0).
// A job is charged when it starts, at its tenant's expected job time (so the order of the jobs
// queued behind it can be worked out before it ends), and settled at its real time when it ends.
// A tenant that queues a job at a priority where it has none waiting (a new tenant, one back
// after a pause, or one with jobs only running) is raised to that priority's floor: the highest
// charge a tenant had when it was picked there. Time not asked for is then not credit to spend
// later, which would let the tenant hold the workers until it had caught up with the others.
// Only differences matter, so the floor's growth over a daemon's life is harmless.
class TenantTurns {
 public:
  // A job of `tenant` at `priority` starts. Returns the seconds charged for it (ExpectedSeconds),
  // which Ended settles.
  double Started(std::string_view tenant, int32_t priority);
  // The job that Started charged `charged` ended after `seconds` on its worker. `succeeded`: its
  // time also updates what this tenant's jobs are expected to take (a job that failed or was
  // cancelled part way says little about the next; its time is charged all the same).
  void Ended(std::string_view tenant, int32_t priority, double charged, double seconds,
             bool succeeded);
  // A job of `tenant` was queued at `priority`, where it had none waiting: its charge there is
  // raised to the floor.
  void Returned(std::string_view tenant, int32_t priority);
  uint64_t LastStart(std::string_view tenant) const;  // 0: never
  uint64_t last() const { return counter_; }          // the latest start of any tenant
  // Worker seconds charged at `priority`, running jobs' included.
  double Charged(std::string_view tenant, int32_t priority) const;
  // A job's expected time: a moving average of the tenant's recent jobs that succeeded; before
  // its first, the typical tenant's (the lower median of those averages; 0 before any job).
  // Neither moves when a job takes exactly its expected time (a median is not moved by one more
  // value equal to it, where an average over every job would move whenever another tenant's job
  // ended), so the order the queue was told holds while the jobs it starts take their expected
  // time. A running job charged before its tenant's average last moved can still move it.
  double ExpectedSeconds(std::string_view tenant) const;

 private:
  struct Account {
    uint64_t last_start = 0;
    double mean_seconds = -1;           // < 0: none of its jobs has succeeded yet
    std::map<int32_t, double> charged;  // by priority
  };
  const Account* Find(std::string_view tenant) const;
  Account& Of(std::string_view tenant);
  std::map<std::string, Account, std::less<>> accounts_;
  std::map<int32_t, double> floor_;  // by priority
  uint64_t counter_ = 0;
  double typical_seconds_ = 0;  // ExpectedSeconds of a tenant without a job of its own
};

// The index into `queue` of the job that starts next, given the jobs running now (`running`:
// each one's tenant; share needs only `turns`, whose charges count the running jobs). `queue` may
// be only its first priority level: nothing below it is looked at. 0 for fifo or an empty queue.
size_t NextToStart(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                   const TenantTurns& turns, const std::vector<std::string_view>& running);

// Every index into `queue`, in the order the jobs would start if no job arrived or left the
// queue meanwhile: `workers` run at once, `running` holds the running jobs' tenants in the order
// they started, and running jobs are taken to end in that order (each pick beyond the free
// workers waits for the earliest-started one to end). With share each job is taken to be charged
// its tenant's ExpectedSeconds. An estimate after the first place, since jobs end when they end
// and take what they take; the first is NextToStart's pick once a worker is free.
std::vector<size_t> StartOrder(const std::vector<QueueSlot>& queue, TenantScheduling policy,
                               const TenantTurns& turns,
                               const std::vector<std::string_view>& running, uint32_t workers);

}  // namespace ovid::server
