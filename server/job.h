// File: server/job.h
// One generation job: its request, state, cancel token and append-only event log. The log is
// what a Generate stream sends and what WatchJob replays: event i is log position i, so a client
// that re-attaches from index k sees exactly what a live follower saw from k on.
//
// Thread safety: every method may be called from any thread. Subscriber callbacks run with the
// job's lock held (that is what makes replay-then-follow gapless and ordered); they must return
// quickly and must not call back into this Job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ovid/engine.h"
#include "ovid/v1/generation.pb.h"

namespace ovid::server {

class Job {
 public:
  // Events are shared, immutable once logged: a stream that replays a job holds pointers, not
  // copies of its outputs (hundreds of MB for PNG frames), however many streams watch it.
  using EventPtr = std::shared_ptr<const v1::GenerateEvent>;
  using Subscriber = std::function<void(const EventPtr& event)>;

  using SteadyTime = std::chrono::steady_clock::time_point;
  // `queue_limit`: how long the job may wait in the queue (infinite: no limit); its deadline is
  // kept on the steady clock, so a step of the wall clock neither ends jobs early nor late.
  // `call_time_left`: time until the Generate call's deadline (JobSchedule), also kept on the
  // steady clock.
  Job(std::string id, GenerationRequest request, std::string client_request_id,
      uint64_t estimated_vram_bytes, absl::Time created, int32_t priority = 0,
      absl::Duration queue_limit = absl::InfiniteDuration(),
      absl::Duration call_time_left = absl::InfiniteDuration(), std::string tenant = "");
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  const std::string& id() const { return id_; }
  const std::string& client_request_id() const { return client_request_id_; }
  // Valid until the job finishes: the worker reads it only inside Pipeline::Run, and a finished
  // job lets go of it (first frames and embeddings may be megabytes, and finished jobs are kept
  // for --job-ttl).
  const GenerationRequest& request() const { return request_; }
  uint64_t estimated_vram_bytes() const { return estimated_vram_bytes_; }
  int32_t priority() const { return priority_; }
  // The submitting token's tenant (Caller); empty for a token without one or no tokens.
  const std::string& tenant() const { return tenant_; }
  absl::Duration queue_limit() const { return queue_limit_; }
  // When the job, still queued, ends with DEADLINE_EXCEEDED; SteadyTime::max() for none.
  SteadyTime queue_deadline() const { return queue_deadline_; }
  // When the job, queued or running, is stopped with DEADLINE_EXCEEDED (the Generate call's
  // deadline); SteadyTime::max() for none.
  SteadyTime call_deadline() const { return call_deadline_; }
  // The worker passes this to Pipeline::Run; Cancel paths set it.
  CancelToken& cancel_token() { return cancel_; }

  // Appends an event (filling job_id, index and client_request_id) unless the job has finished;
  // returns its index, or nullopt when it was dropped because a terminal event came first.
  std::optional<uint64_t> Append(v1::GenerateEvent event);

  // QUEUED -> RUNNING. False if the job is no longer queued (cancelled meanwhile).
  bool Start(absl::Time now);
  // Terminal transitions, each appending the last event. The first one wins; later calls return
  // false and change nothing, so no job is ever answered twice.
  bool Succeed(v1::Final final, absl::Time now);
  // CANCELLED, DEADLINE_EXCEEDED and the shutdown drain's UNAVAILABLE end in
  // JOB_STATE_CANCELLED, anything else in FAILED.
  // `only_if_queued`: change nothing (false) once the job has started.
  bool Fail(const absl::Status& status, absl::Time now, bool only_if_queued = false);

  // Calls `subscriber` for every event from `from_index` on: the ones logged so far at once, the
  // rest as they are appended. Returns an id for Unsubscribe. After the terminal event no more
  // calls come.
  uint64_t Subscribe(uint64_t from_index, Subscriber subscriber);
  void Unsubscribe(uint64_t subscription);

  // The waiter form: copies events from `from_index` into `out`, waiting up to `timeout` for at
  // least one. Returns false once the job has finished and nothing past `from_index` remains.
  bool WaitForEvents(uint64_t from_index, absl::Duration timeout,
                     std::vector<v1::GenerateEvent>* out) const;

  v1::JobState state() const;
  bool finished() const;
  absl::Time created() const { return created_; }
  absl::Time started() const;
  absl::Time finished_at() const;
  // Durations on the steady clock, so a step of the wall clock (NTP) never makes one negative
  // or wrong: time queued (until now while queued), time running (0 before the start, until now
  // while running) and time since creation (until the end once finished).
  absl::Duration queue_wait() const;
  absl::Duration run_time() const;
  absl::Duration age() const;
  uint64_t event_count() const;
  // The number of logged events and whether the last of them ended the job, read together (two
  // calls could see the terminal event appended between them).
  struct LogEnd {
    uint64_t events = 0;
    bool finished = false;
  };
  LogEnd log_end() const;
  // Serialized bytes of the logged events (the outputs, mostly): what keeping this job costs.
  uint64_t event_bytes() const;
  // The GetJob view; queue_position is filled by the caller that knows the queue.
  v1::JobStatus Status() const;

 private:
  bool FinishLocked(v1::JobState state, v1::GenerateEvent event, absl::Time now);
  uint64_t AppendLocked(v1::GenerateEvent event);

  const std::string id_;
  GenerationRequest request_;
  const std::string client_request_id_;
  const uint64_t estimated_vram_bytes_;
  const absl::Time created_;
  const int32_t priority_;
  const std::string tenant_;
  const absl::Duration queue_limit_;
  const SteadyTime queue_deadline_;
  const SteadyTime call_deadline_;
  CancelToken cancel_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  v1::JobState state_ = v1::JOB_STATE_QUEUED;
  absl::Time started_ = absl::InfinitePast();
  absl::Time finished_ = absl::InfinitePast();
  const SteadyTime created_steady_ = std::chrono::steady_clock::now();
  SteadyTime started_steady_{};   // set with started_
  SteadyTime finished_steady_{};  // set with finished_
  // finished_steady_ once finished, else now (the end of age() and run_time()).
  SteadyTime SteadyEndLocked() const;
  std::vector<EventPtr> events_;
  uint64_t event_bytes_ = 0;
  v1::Progress last_progress_;
  v1::JobError error_;
  std::map<uint64_t, Subscriber> subscribers_;
  uint64_t next_subscription_ = 1;
};

}  // namespace ovid::server
