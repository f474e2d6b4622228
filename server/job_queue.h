// File: server/job_queue.h
// The job runtime between the gRPC handlers and the engine: admission (draining, VRAM estimate
// against the budget, queue bound), the queue of waiting jobs (by priority, then arrival), N worker
// threads that run them through Pipeline::Run, a timer that ends jobs waiting past their queue
// limit, cancellation of queued and running jobs, and drain on shutdown. Which queued job starts
// next is start_order.h's business (priority, then the tenants' turns or arrival).
//
// Nothing here blocks a caller for long: Submit and Cancel only take a short lock, so gRPC
// reactions may call them; the waiting happens on the worker threads and in Drain.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ovid/engine.h"
#include "server/job.h"
#include "server/job_observer.h"
#include "server/job_schedule.h"
#include "server/job_store.h"
#include "server/start_order.h"

namespace ovid::server {

struct JobQueueOptions {
  uint32_t max_queue = 16;         // jobs waiting for a worker
  // --max-queue-per-tenant: jobs one tenant (JobSchedule::tenant) may have waiting, so that one
  // tenant cannot fill the queue for the others; 0 = only max_queue. Jobs without a tenant (the
  // operator's tokens, or no tokens) count against max_queue alone.
  uint32_t max_queue_per_tenant = 0;
  // --max-tenant-priority: the highest priority a tenant's job may ask for (INVALID_ARGUMENT
  // above it); jobs without a tenant may ask for any.
  int32_t max_tenant_priority = kMaxPriority;
  // --tenant-scheduling: within a priority, the tenants take turns (fair), share the worker time
  // (share), or arrival decides (fifo).
  TenantScheduling tenant_scheduling = TenantScheduling::kFair;
  uint32_t workers = 1;            // jobs running at once
  uint64_t vram_budget_bytes = 0;  // 0 = no budget
  // --max-queue-wait: the longest any job waits for a worker (infinite = no limit); a request's
  // own max_queue_seconds can only shorten it.
  absl::Duration max_queue_wait = absl::InfiniteDuration();
  // --drain-queued: what a drain does with the jobs still queued. true (run): workers go on
  // taking them while the drain timeout lasts; false (refuse): they end at once with
  // UNAVAILABLE, so their clients can retry on another replica instead of waiting for a job
  // that may be started and then cancelled at the timeout.
  bool drain_runs_queued = true;
  JobObserver* observer = nullptr; // metrics and logs; must outlive the queue; null = none
};

class JobQueue {
 public:
  // `pipeline` and `store` must outlive the queue. Starts the workers.
  JobQueue(Pipeline& pipeline, JobStore& store, JobQueueOptions options);
  // Drains with no grace: cancels everything, then joins the workers.
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Admits and queues a job behind every queued job of a higher priority (and, with fifo, of its
  // own); its first event is Accepted (with the jobs that would start before it). UNAVAILABLE while
  // draining; RESOURCE_EXHAUSTED when the VRAM estimate exceeds the budget or the queue is full
  // (the message gives the numbers); the estimate's own error otherwise. `peer`: the client's
  // address, for the observer's refusal line.
  absl::StatusOr<std::shared_ptr<Job>> Submit(GenerationRequest request,
                                              std::string client_request_id,
                                              JobSchedule schedule = {},
                                              std::string_view peer = {});

  // Stops a job: a queued one at once, a running one at its next step (the token). Finished
  // jobs are left as they are. NOT_FOUND for unknown ids. Returns the job's status after the
  // call (a running job still shows RUNNING until its worker sees the token).
  absl::StatusOr<v1::JobStatus> Cancel(std::string_view job_id,
                                       CancelReason reason = CancelReason::kCancelled,
                                       std::string message = "");

  // GetJob's view, with queue_position filled in: the jobs that would start before it if no job
  // arrived, left or finished meanwhile.
  absl::StatusOr<v1::JobStatus> GetStatus(std::string_view job_id);
  // The same for many jobs at once (ListJobs): one pass over the queue for all the positions,
  // not one store lookup and queue scan per job.
  std::vector<v1::JobStatus> Statuses(const std::vector<std::shared_ptr<Job>>& jobs);

  // Stops accepting (Submit -> UNAVAILABLE), lets running jobs (and queued ones, unless
  // JobQueueOptions::drain_runs_queued is off: those end at once) finish for up to `timeout`,
  // cancels whatever is left, and joins the workers. Idempotent.
  void Drain(absl::Duration timeout);

  size_t queued() const;
  size_t running() const;
  uint64_t vram_reserved_bytes() const;
  bool draining() const;

 private:
  absl::StatusOr<std::shared_ptr<Job>> Admit(GenerationRequest request,
                                             std::string client_request_id, JobSchedule schedule);
  // OK, or the queue_full a job of `tenant` meets now (--max-queue, --max-queue-per-tenant).
  absl::Status RoomLocked(const std::string& tenant) const;
  void WorkerLoop();
  // The queue-limit timer: sleeps until the earliest queued deadline and ends the jobs past it.
  void ExpireLoop();
  // Ends a job taken off the queue past its limit with QueueTimeoutError (unless a cancel came
  // first).
  void Expire(const std::shared_ptr<Job>& job, Job::SteadyTime now);
  // Ends a job that left the queue without running (cancelled, expired, drained) with `status`
  // and tells the observer; false if it had already ended (or, with `only_if_queued`, started).
  bool FinishUnrun(const std::shared_ptr<Job>& job, const absl::Status& status,
                   bool only_if_queued = false);
  // Takes every queued job out of the queue (needs mu_), and ends such jobs, never started,
  // UNAVAILABLE with `why` (without mu_): a drain's two ways of handing queued jobs back.
  std::vector<std::shared_ptr<Job>> TakeQueuedLocked();
  void EndNeverStarted(const std::vector<std::shared_ptr<Job>>& jobs, const char* why);
  void RunJob(const std::shared_ptr<Job>& job);
  // Each queued job's place in the start order (index in `queue` -> jobs that start before
  // it): of queue_, running_ and turns_ under mu_, or of a copy of them.
  template <typename Jobs>
  std::vector<uint32_t> Positions(const Jobs& queue,
                                  const std::vector<std::shared_ptr<Job>>& running,
                                  const TenantTurns& turns) const;
  // The next job to start, if the VRAM budget has room for it now: its index in queue_.
  bool NextFitsLocked(size_t* next) const;

  Pipeline& pipeline_;
  JobStore& store_;
  const JobQueueOptions options_;
  JobObserver& observer_;

  mutable std::mutex mu_;
  std::condition_variable work_;  // a job was queued, VRAM was freed, or stop
  std::condition_variable idle_;  // a job left the queue or finished (for Drain)
  std::condition_variable expiry_;  // a job with a queue deadline was queued, or stop
  std::deque<std::shared_ptr<Job>> queue_;  // by priority (highest first), then arrival
  std::vector<std::shared_ptr<Job>> running_;
  TenantTurns turns_;  // when each tenant's last job started, and its worker time
  uint64_t vram_reserved_ = 0;
  bool draining_ = false;
  bool stop_ = false;
  std::vector<std::thread> workers_;
  std::thread expirer_;
};

}  // namespace ovid::server
