// File: server/event_stream.h
// The server side of one Generate or WatchJob stream: follows a job's event log from an index
// and writes each event in order, one write in flight at a time (the callback API allows no
// more), then ends the call with the job's outcome: OK after Final, the job's error status after
// JobError. Events arrive on whatever thread appended them (a worker); the reactor only queues
// them and starts writes, so no gRPC thread ever waits on the model.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "ovid/v1/generation.pb.h"
#include "server/job.h"
#include "server/job_queue.h"
#include "server/stream_watchdog.h"

namespace ovid::server {

class EventStream final : public grpc::ServerWriteReactor<v1::GenerateEvent> {
 public:
  // What the stream's end means for its job. A Generate stream cancels its job unless the client
  // asked to keep it; a kept job (its own call deadline still stops it, see
  // JobSchedule::call_time_left) and a WatchJob stream's job are left alone.
  enum class Ownership { kLeaveJob, kCancelJobOnDisconnect };

  // Told the call's final status once it is over (metrics); may be empty.
  using DoneCallback = std::function<void(const grpc::Status& status)>;

  // A stream that ends at once with `status` (refused before any job existed).
  static EventStream* Refuse(const grpc::Status& status, DoneCallback done = nullptr);
  // Follows `job` from event `from_index` (which must be <= the events logged so far).
  // `watchdog` (may be null: never) cancels the call if its client stops reading.
  static EventStream* Follow(grpc::CallbackServerContext* context, std::shared_ptr<Job> job,
                             uint64_t from_index, JobQueue* queue, Ownership ownership,
                             DoneCallback done = nullptr, StreamWatchdog* watchdog = nullptr);

  // Cancels the call if its write in flight started more than `limit` before `now`: the client
  // stopped reading. It then ends CANCELLED ("the client read nothing for ..."), and a Generate
  // stream that owns its job cancels the job with that message. StreamWatchdog calls it.
  void CancelIfStalled(std::chrono::steady_clock::time_point now, absl::Duration limit);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  EventStream() = default;
  void Push(const Job::EventPtr& event);
  // Starts the next write, or ends the call once the terminal event went out. Needs mu_.
  void PumpLocked();
  // Whether the call is ending at (within a second of) its deadline.
  bool AtDeadline() const;
  void FinishLocked(const grpc::Status& status);

  grpc::CallbackServerContext* context_ = nullptr;
  std::shared_ptr<Job> job_;
  JobQueue* queue_ = nullptr;
  Ownership ownership_ = Ownership::kLeaveJob;
  std::optional<uint64_t> subscription_;

  std::mutex mu_;
  std::deque<Job::EventPtr> pending_;  // shared with the job's log: no copies of outputs
  Job::EventPtr in_flight_;
  bool writing_ = false;
  bool finished_ = false;
  bool broken_ = false;                     // the client is gone: write nothing more
  std::optional<grpc::Status> end_status_;  // set by the terminal event
  std::chrono::steady_clock::time_point write_started_;  // of in_flight_
  std::optional<absl::Duration> stalled_;  // set when the watchdog cancels: the limit passed
  StreamWatchdog* watchdog_ = nullptr;
  grpc::Status finish_status_;              // what Finish was called with
  DoneCallback done_;
};

}  // namespace ovid::server
