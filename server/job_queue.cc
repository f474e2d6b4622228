// File: server/job_queue.cc
#include "server/job_queue.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ovid/host_memory.h"
#include "server/events.h"
#include "server/metrics_reasons.h"
#include "server/opaque_ids.h"

namespace ovid::server {
namespace {

// Turns the engine's reports into events in the job's log, on the worker thread.
class JobSink : public ProgressSink {
 public:
  JobSink(Job& job, JobObserver& observer) : job_(job), observer_(observer) {}
  void OnProgress(const Progress& progress) override {
    observer_.OnProgress(job_, progress);
    job_.Append(ProgressEvent(progress));
  }
  void OnOutput(Output output) override {
    for (v1::GenerateEvent& event : OutputChunkEvents(output)) job_.Append(std::move(event));
  }

 private:
  Job& job_;
  JobObserver& observer_;
};

// Stands in when the options name no observer, so the code below need not check.
JobObserver& NoObserver() {
  static JobObserver none;
  return none;
}

}  // namespace

JobQueue::JobQueue(Pipeline& pipeline, JobStore& store, JobQueueOptions options)
    : pipeline_(pipeline),
      store_(store),
      options_(options),
      observer_(options.observer != nullptr ? *options.observer : NoObserver()) {
  workers_.reserve(options_.workers);
  for (uint32_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  expirer_ = std::thread([this] { ExpireLoop(); });
}

JobQueue::~JobQueue() { Drain(absl::ZeroDuration()); }

absl::StatusOr<std::shared_ptr<Job>> JobQueue::Submit(GenerationRequest request,
                                                      std::string client_request_id,
                                                      JobSchedule schedule, std::string_view peer) {
  absl::StatusOr<std::shared_ptr<Job>> job =
      Admit(std::move(request), std::move(client_request_id), schedule);
  if (job.ok()) {
    observer_.OnQueued(**job);
  } else {
    observer_.OnRejected(job.status(), peer);
  }
  return job;
}

absl::Status JobQueue::RoomLocked(const std::string& tenant) const {
  if (queue_.size() >= options_.max_queue) {
    return QueueFullError(queue_.size(), options_.max_queue, running_.size());
  }
  if (options_.max_queue_per_tenant != 0 && !tenant.empty()) {
    const size_t waiting = std::count_if(queue_.begin(), queue_.end(),
                                         [&](const auto& job) { return job->tenant() == tenant; });
    if (waiting >= options_.max_queue_per_tenant) {
      return TenantQueueFullError(tenant, waiting, options_.max_queue_per_tenant);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Job>> JobQueue::Admit(GenerationRequest request,
                                                     std::string client_request_id,
                                                     JobSchedule schedule) {
  if (draining()) {
    return absl::UnavailableError("the server is draining and accepts no new jobs");
  }
  if (!schedule.tenant.empty() && schedule.priority > options_.max_tenant_priority) {
    return absl::InvalidArgumentError(absl::StrCat(
        "priority: ", schedule.priority, " is above the highest a tenant may ask for (",
        options_.max_tenant_priority, ", --max-tenant-priority)"));
  }
  // Outside the lock: an estimate may take a moment, and it needs nothing of ours. It comes
  // before the queue-full check, so that an invalid request is told so (INVALID_ARGUMENT, not a
  // retryable queue_full), and it is cheap: a first frame's headers only, no inflate or decode.
  absl::StatusOr<uint64_t> estimate = pipeline_.EstimateVram(request);
  if (!estimate.ok()) return estimate.status();
  const uint64_t budget = options_.vram_budget_bytes;
  if (budget != 0 && *estimate > budget) {
    return VramBudgetError(*estimate, budget);
  }
  // A full queue refuses before the contents are checked (an image decode): a flood of requests
  // against a full queue costs no decoding. Checked again below, under the lock.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status room = RoomLocked(schedule.tenant); !room.ok()) return room;
  }
  if (absl::Status contents = pipeline_.CheckContents(request); !contents.ok()) return contents;
  absl::StatusOr<std::string> id = RandomJobId();
  if (!id.ok()) return id.status();
  // 128 random bits do not repeat; were they to, the job would take another's place in the store.
  if (store_.Get(*id).ok()) return absl::InternalError("a new job id repeated a kept job's id");
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return absl::UnavailableError("the server is draining and accepts no new jobs");
    if (absl::Status room = RoomLocked(schedule.tenant); !room.ok()) return room;
    const absl::Duration limit = std::min(schedule.max_queue_wait, options_.max_queue_wait);
    job = std::make_shared<Job>(*std::move(id), std::move(request), std::move(client_request_id),
                                *estimate, store_.clock()(), schedule.priority, limit,
                                schedule.call_time_left, std::move(schedule.tenant));
    // Behind every job of the same or a higher priority: the queue stays in arrival order within
    // a priority, and the start order takes the tenants' turns from there.
    const auto at = std::find_if(queue_.begin(), queue_.end(), [&](const auto& queued) {
      return queued->priority() < schedule.priority;
    });
    const size_t index = static_cast<size_t>(at - queue_.begin());
    // Nothing of this tenant waiting at this priority (new, back after a pause, or with jobs
    // only running): the turns raise its charge there to the floor. A job running does not
    // count as waiting: a tenant that keeps one job running and queues the next just before it
    // ends would otherwise bank the time it left to the others.
    if (std::none_of(queue_.begin(), queue_.end(), [&](const auto& other) {
          return other->tenant() == job->tenant() && other->priority() == job->priority();
        })) {
      turns_.Returned(job->tenant(), job->priority());
    }
    queue_.insert(at, job);
    // Accepted is logged before any worker can see the job (mu_ is held), so it is always
    // event 0.
    v1::GenerateEvent accepted;
    accepted.mutable_accepted()->set_queue_position(Positions(queue_, running_, turns_)[index]);
    accepted.mutable_accepted()->set_estimated_vram_bytes(*estimate);
    job->Append(std::move(accepted));
    store_.Add(job);
  }
  work_.notify_all();
  if (job->queue_deadline() != Job::SteadyTime::max() ||
      job->call_deadline() != Job::SteadyTime::max()) {
    expiry_.notify_all();
  }
  return job;
}

absl::StatusOr<v1::JobStatus> JobQueue::Cancel(std::string_view job_id, CancelReason reason,
                                               std::string message) {
  absl::StatusOr<std::shared_ptr<Job>> found = store_.Get(job_id);
  if (!found.ok()) return found.status();
  std::shared_ptr<Job> job = *std::move(found);
  const bool ours = job->cancel_token().Cancel(reason, std::move(message));
  bool was_queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) {
      queue_.erase(it);
      was_queued = true;
    }
  }
  if (!was_queued) {
    // Taken off the queue a moment ago (by the timer, Drain or a worker) but not yet ended or
    // started: end it here, so the answer is final rather than a QUEUED that no longer holds.
    // Whoever took it then finds it ended (Fail and Start refuse a finished job). Only when this
    // cancel won the token: otherwise the other party's reason is the job's.
    if (ours) FinishUnrun(job, job->cancel_token().status(), /*only_if_queued=*/true);
    return GetStatus(job_id);
  }
  // The head may have changed: the job behind a cancelled head may fit the budget now.
  work_.notify_all();
  FinishUnrun(job, job->cancel_token().status());
  // Read before eviction: with --job-ttl=0 the finished job leaves the store at once, and the
  // caller is still owed its final state.
  v1::JobStatus status = job->Status();
  status.set_queue_position(0);
  store_.Evict();
  return status;
}

absl::StatusOr<v1::JobStatus> JobQueue::GetStatus(std::string_view job_id) {
  absl::StatusOr<std::shared_ptr<Job>> job = store_.Get(job_id);
  if (!job.ok()) return job.status();
  return Statuses({*std::move(job)}).front();
}

std::vector<v1::JobStatus> JobQueue::Statuses(const std::vector<std::shared_ptr<Job>>& jobs) {
  std::vector<v1::JobStatus> out;
  out.reserve(jobs.size());
  for (const auto& job : jobs) out.push_back(job->Status());
  std::unordered_map<const Job*, uint32_t> positions;
  // The start order costs a pass over the whole queue: only worked out when a job asked about
  // is queued (a page of finished jobs needs none).
  const bool any_queued = std::any_of(out.begin(), out.end(), [](const v1::JobStatus& s) {
    return s.state() == v1::JOB_STATE_QUEUED;
  });
  if (any_queued) {
    // A copy under the lock (the jobs kept alive, so the order's views of their tenants stay
    // valid), the order worked out after it: GetJob and ListJobs do not hold up the workers and
    // Submit while it is.
    std::vector<std::shared_ptr<Job>> queued, running;
    TenantTurns turns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued.assign(queue_.begin(), queue_.end());
      running = running_;
      turns = turns_;
    }
    const std::vector<uint32_t> place = Positions(queued, running, turns);
    for (size_t i = 0; i < queued.size(); ++i) positions.emplace(queued[i].get(), place[i]);
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto it = positions.find(jobs[i].get());
    out[i].set_queue_position(it != positions.end() ? it->second : 0);
  }
  return out;
}

void JobQueue::Drain(absl::Duration timeout) {
  std::vector<std::shared_ptr<Job>> dropped;
  {
    std::unique_lock<std::mutex> lock(mu_);
    draining_ = true;
    if (!options_.drain_runs_queued) {
      // Refused at once: the queued jobs end before the wait, and only the running ones get it.
      const std::vector<std::shared_ptr<Job>> refused = TakeQueuedLocked();
      lock.unlock();
      EndNeverStarted(refused,
                      "the server is draining (--drain-queued=refuse); the job never started: "
                      "retry on another replica");
      lock.lock();
    }
    idle_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                   [&] { return queue_.empty() && running_.empty(); });
    dropped = TakeQueuedLocked();
    // UNAVAILABLE, as the proto has it for a draining server: the client may retry elsewhere
    // (CANCELLED is for CancelJob and clients that left).
    for (const auto& job : running_) {
      job->cancel_token().Cancel(CancelReason::kShutdown,
                                 "the server is shutting down (--drain-timeout passed)");
    }
    stop_ = true;
  }
  work_.notify_all();
  expiry_.notify_all();
  EndNeverStarted(dropped, "the server is shutting down; the job never started");
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  if (expirer_.joinable()) expirer_.join();
}

std::vector<std::shared_ptr<Job>> JobQueue::TakeQueuedLocked() {
  std::vector<std::shared_ptr<Job>> taken(queue_.begin(), queue_.end());
  queue_.clear();
  return taken;
}

void JobQueue::EndNeverStarted(const std::vector<std::shared_ptr<Job>>& jobs, const char* why) {
  for (const auto& job : jobs) {
    job->cancel_token().Cancel(CancelReason::kShutdown, why);
    FinishUnrun(job, job->cancel_token().status());
  }
}

bool JobQueue::FinishUnrun(const std::shared_ptr<Job>& job, const absl::Status& status,
                           bool only_if_queued) {
  const absl::Time now = store_.clock()();
  if (!job->Fail(status, now, only_if_queued)) return false;
  observer_.OnFinished(*job, status, nullptr, job->age());
  idle_.notify_all();
  return true;
}

void JobQueue::ExpireLoop() {
  // A call deadline still to enforce: not yet stopped by anyone (a stopped running job stays in
  // running_ until its worker sees the token; without this it would be found again at once).
  auto call_deadline = [](const std::shared_ptr<Job>& job) {
    return job->cancel_token().cancelled() ? Job::SteadyTime::max() : job->call_deadline();
  };
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    Job::SteadyTime next = Job::SteadyTime::max();
    for (const auto& job : queue_) {
      next = std::min({next, job->queue_deadline(), call_deadline(job)});
    }
    for (const auto& job : running_) next = std::min(next, call_deadline(job));
    if (next == Job::SteadyTime::max()) {
      expiry_.wait(lock);  // Admit wakes us for a job with a deadline, Drain for the stop
      continue;
    }
    const Job::SteadyTime now = std::chrono::steady_clock::now();
    if (next > now) {
      // Woken early by a new job (its deadline may be sooner) or spuriously: look again.
      expiry_.wait_until(lock, next);
      continue;
    }
    // Each job ends by whichever of its deadlines came first: the queue limit (queue_timeout)
    // or the call's (deadline_exceeded, through Cancel, which also takes it off the queue).
    std::vector<std::shared_ptr<Job>> expired, past_call;
    for (auto it = queue_.begin(); it != queue_.end();) {
      const Job::SteadyTime call = call_deadline(*it);
      if (call <= now && call <= (*it)->queue_deadline()) {
        past_call.push_back(*it);
        ++it;
      } else if ((*it)->queue_deadline() <= now) {
        expired.push_back(*it);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& job : running_) {
      if (call_deadline(job) <= now) past_call.push_back(job);
    }
    lock.unlock();
    // The head may have gone: the job behind it may fit the budget now.
    work_.notify_all();
    for (const auto& job : expired) Expire(job, now);
    for (const auto& job : past_call) {
      // NOT_FOUND cannot happen (unfinished jobs stay in the store); a job that ended meanwhile
      // is left as it is.
      (void)Cancel(job->id(), CancelReason::kDeadlineExceeded,
                   "the Generate call's deadline passed before the job finished");
    }
    store_.Evict();
    lock.lock();
  }
}

void JobQueue::Expire(const std::shared_ptr<Job>& job, Job::SteadyTime now) {
  const absl::Duration late = absl::FromChrono(now - job->queue_deadline());
  absl::Status timeout = QueueTimeoutError(job->queue_limit() + late, job->queue_limit());
  // A client's cancel or the call's deadline that came first is what the job reports.
  const bool ours =
      job->cancel_token().Cancel(CancelReason::kDeadlineExceeded, std::string(timeout.message()));
  FinishUnrun(job, ours ? timeout : job->cancel_token().status());
}

void JobQueue::WorkerLoop() {
  while (true) {
    std::shared_ptr<Job> job;
    double charged = 0;  // the worker seconds the tenant's turns were charged for it
    {
      std::unique_lock<std::mutex> lock(mu_);
      size_t next = 0;
      work_.wait(lock, [&] { return stop_ || NextFitsLocked(&next); });
      if (stop_) return;
      job = queue_[next];
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(next));
      // A head past its limit that the timer has not reached yet is not started late.
      const Job::SteadyTime now = std::chrono::steady_clock::now();
      if (job->queue_deadline() <= now) {
        lock.unlock();
        work_.notify_all();
        Expire(job, now);
        store_.Evict();
        continue;
      }
      running_.push_back(job);
      charged = turns_.Started(job->tenant(), job->priority());
      vram_reserved_ += job->estimated_vram_bytes();
    }
    const auto started = std::chrono::steady_clock::now();
    RunJob(job);
    const bool succeeded = job->state() == v1::JOB_STATE_SUCCEEDED;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      turns_.Ended(job->tenant(), job->priority(), charged, seconds, succeeded);
      running_.erase(std::find(running_.begin(), running_.end(), job));
      vram_reserved_ -= job->estimated_vram_bytes();
    }
    // Freed VRAM may let the next job start; Drain may be waiting for the last one.
    work_.notify_all();
    idle_.notify_all();
    store_.Evict();
  }
}

namespace {

// Pipeline::Run behind a catch: an engine that throws (a bug, or a host allocation that failed
// outside its own guards) fails its job instead of ending the daemon through std::terminate on
// a worker thread.
absl::StatusOr<GenerationResult> RunContained(Pipeline& pipeline, Job& job, ProgressSink& sink) {
  try {
    return pipeline.Run(job.request(), sink, job.cancel_token());
  } catch (const std::bad_alloc&) {
    return HostOutOfMemoryError("out of host memory while running the job");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("the engine failed unexpectedly: ", e.what()));
  } catch (...) {
    return absl::InternalError("the engine failed unexpectedly (a non-standard exception)");
  }
}

}  // namespace

void JobQueue::RunJob(const std::shared_ptr<Job>& job) {
  const absl::Time started = store_.clock()();
  if (!job->Start(started)) return;  // cancelled between the pop and here
  observer_.OnStarted(*job, job->queue_wait());
  // A job cancelled while it was being handed over never reaches the device.
  if (job->cancel_token().cancelled()) {
    if (job->Fail(job->cancel_token().status(), started)) {
      observer_.OnFinished(*job, job->cancel_token().status(), nullptr, job->age());
    }
    return;
  }
  JobSink sink(*job, observer_);
  absl::StatusOr<GenerationResult> result = RunContained(pipeline_, *job, sink);
  const absl::Time now = store_.clock()();
  if (!result.ok()) {
    if (job->Fail(result.status(), now)) {
      observer_.OnFinished(*job, result.status(), nullptr, job->age());
    }
    return;
  }
  if (job->Succeed(FinalFromResult(*result, absl::ToDoubleSeconds(job->queue_wait()),
                                   absl::ToDoubleSeconds(job->age())),
                   now)) {
    observer_.OnFinished(*job, absl::OkStatus(), &*result, job->age());
  }
}

namespace {

// The queue (highest priority first, then arrival) as start_order.h sees it: views into the jobs,
// which the caller keeps alive. first_priority_only: only the first priority level (all
// NextToStart looks at).
template <typename Jobs>
std::vector<QueueSlot> Slots(const Jobs& queue, bool first_priority_only) {
  std::vector<QueueSlot> slots;
  for (const auto& job : queue) {
    if (first_priority_only && job->priority() != queue.front()->priority()) break;
    slots.push_back({job->priority(), job->tenant()});
  }
  return slots;
}

// The running jobs' tenants, in the order the jobs started (running_ keeps that order).
std::vector<std::string_view> Tenants(const std::vector<std::shared_ptr<Job>>& running) {
  std::vector<std::string_view> tenants;
  tenants.reserve(running.size());
  for (const auto& job : running) tenants.push_back(job->tenant());
  return tenants;
}

}  // namespace

template <typename Jobs>
std::vector<uint32_t> JobQueue::Positions(const Jobs& queue,
                                          const std::vector<std::shared_ptr<Job>>& running,
                                          const TenantTurns& turns) const {
  const std::vector<size_t> order =
      StartOrder(Slots(queue, /*first_priority_only=*/false), options_.tenant_scheduling, turns,
                 Tenants(running), options_.workers);
  std::vector<uint32_t> place(queue.size());
  for (size_t i = 0; i < order.size(); ++i) place[order[i]] = static_cast<uint32_t>(i);
  return place;
}

// The next job waits for VRAM rather than being overtaken, so a large job cannot starve behind
// small ones.
bool JobQueue::NextFitsLocked(size_t* next) const {
  if (queue_.empty()) return false;
  // Called on every wake-up of every worker: fifo needs nothing but the head, fair only the
  // first priority level.
  *next = options_.tenant_scheduling == TenantScheduling::kFifo
              ? 0
              : NextToStart(Slots(queue_, /*first_priority_only=*/true), options_.tenant_scheduling,
                            turns_, Tenants(running_));
  const uint64_t budget = options_.vram_budget_bytes;
  return budget == 0 || vram_reserved_ + queue_[*next]->estimated_vram_bytes() <= budget;
}

size_t JobQueue::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t JobQueue::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

uint64_t JobQueue::vram_reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return vram_reserved_;
}

bool JobQueue::draining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return draining_;
}

}  // namespace ovid::server
