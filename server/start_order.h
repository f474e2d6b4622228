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
// only the order matters) and the worker seconds it is charged (what share compares).
// A job is charged when it starts, at the tenant's expected job time (so the order of the jobs
// queued behind it can be worked out before it ends), and settled at its real time when it ends.
// The charges of a tenant that comes back after a pause start from a floor, the charge of the
// tenant served last when it was picked: time away is not credit to spend later, which would let
// a returning tenant hold the workers until it had caught up with the others. Only the
// differences matter, so the floor's growth over a daemon's life is harmless.
class TenantTurns {
 public:
  // A job of `tenant` starts. Returns the seconds charged for it (ExpectedSeconds), which Ended
  // settles.
  double Started(std::string_view tenant);
  // The job that Started charged `charged` ended after `seconds` on its worker. `ran`: it
  // reached the engine, so its time also updates what this tenant's jobs are expected to take (a
  // job cancelled on its way to the worker used none and says nothing about the next).
  void Ended(std::string_view tenant, double charged, double seconds, bool ran);
  // A job of `tenant` was queued while it had none queued or running: its charges are raised to
  // the floor.
  void Returned(std::string_view tenant);
  uint64_t LastStart(std::string_view tenant) const;  // 0: never
  uint64_t last() const { return counter_; }          // the latest start of any tenant
  double Charged(std::string_view tenant) const;      // worker seconds, running jobs' included
  // A job's expected time: a moving average of the tenant's recent jobs, else of every
  // tenant's, else 0 (then share falls back on the last starts, as fair does with none running).
  double ExpectedSeconds(std::string_view tenant) const;

 private:
  struct Account {
    uint64_t last_start = 0;
    double charged = 0;
    double mean_seconds = -1;  // < 0: no job has ended yet
  };
  const Account* Find(std::string_view tenant) const;
  Account& Of(std::string_view tenant);
  std::map<std::string, Account, std::less<>> accounts_;
  uint64_t counter_ = 0;
  double floor_ = 0;
  double mean_seconds_ = -1;  // every tenant's jobs
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
