// File: server/event_stream.cc
#include "server/event_stream.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/status_util.h"

namespace ovid::server {
namespace {

// The call's end status that a terminal event stands for.
std::optional<grpc::Status> EndStatus(const v1::GenerateEvent& event) {
  if (event.has_final()) return grpc::Status::OK;
  if (event.has_error()) {
    return grpc::Status(static_cast<grpc::StatusCode>(event.error().code()),
                        event.error().message());
  }
  return std::nullopt;
}

std::string StalledMessage(absl::Duration limit) {
  return absl::StrCat("the client read nothing for ", absl::FormatDuration(limit),
                      " (--stream-stall-timeout)");
}

}  // namespace

EventStream* EventStream::Refuse(const grpc::Status& status, DoneCallback done) {
  auto* stream = new EventStream();
  stream->done_ = std::move(done);
  std::lock_guard<std::mutex> lock(stream->mu_);
  stream->FinishLocked(status);
  return stream;
}

EventStream* EventStream::Follow(grpc::CallbackServerContext* context, std::shared_ptr<Job> job,
                                 uint64_t from_index, JobQueue* queue, Ownership ownership,
                                 DoneCallback done, StreamWatchdog* watchdog) {
  auto* stream = new EventStream();
  stream->done_ = std::move(done);
  stream->context_ = context;
  stream->job_ = std::move(job);
  stream->queue_ = queue;
  stream->ownership_ = ownership;
  stream->watchdog_ = watchdog;
  if (watchdog != nullptr) watchdog->Add(stream);
  // Replays what is logged, then follows live; the job's lock makes the hand-over gapless.
  stream->subscription_ = stream->job_->Subscribe(
      from_index, [stream](const Job::EventPtr& e) { stream->Push(e); });
  return stream;
}

void EventStream::Push(const Job::EventPtr& event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || broken_) return;
  pending_.push_back(event);
  if (std::optional<grpc::Status> end = EndStatus(*event)) end_status_ = std::move(end);
  PumpLocked();
}

void EventStream::PumpLocked() {
  if (writing_ || finished_) return;
  if (broken_) {
    // As the client sees it end, and as ovid_grpc_requests_total counts it. Either OnCancel or a
    // failed write may get here first.
    FinishLocked(
        stalled_ ? grpc::Status(grpc::StatusCode::CANCELLED, StalledMessage(*stalled_))
        : AtDeadline()
            ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the call's deadline passed")
            : grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call"));
    return;
  }
  if (!pending_.empty()) {
    in_flight_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    StartWrite(in_flight_.get());
    return;
  }
  if (end_status_) FinishLocked(*end_status_);
}

void EventStream::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  finish_status_ = status;
  Finish(status);
}

void EventStream::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  writing_ = false;
  if (!ok) broken_ = true;
  PumpLocked();
}

void EventStream::CancelIfStalled(std::chrono::steady_clock::time_point now, absl::Duration limit) {
  {
    const std::lock_guard<std::mutex> lock(mu_);
    if (!writing_ || finished_ || broken_ || stalled_ ||
        now - write_started_ < absl::ToChronoNanoseconds(limit)) {
      return;
    }
    stalled_ = limit;
  }
  context_->TryCancel();  // OnCancel follows on a gRPC thread
}

void EventStream::OnCancel() {
  // The call is over for the client (it cancelled, went away, or its deadline passed). What
  // happens to the job depends on who owns it; the queue takes its own locks, so ours is not held.
  // A job kept on disconnect is left alone: the call's deadline travels with it (the queue's
  // timer stops it then), so neither a cancel nor a lost connection shortens it.
  if (job_ != nullptr && queue_ != nullptr && ownership_ == Ownership::kCancelJobOnDisconnect) {
    // NOT_FOUND (evicted meanwhile) leaves nothing to stop.
    std::optional<absl::Duration> stalled;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      stalled = stalled_;
    }
    if (stalled) {
      (void)queue_->Cancel(job_->id(), CancelReason::kCancelled,
                           StalledMessage(*stalled) + " (keep_on_disconnect not set)");
    } else if (AtDeadline()) {
      (void)queue_->Cancel(job_->id(), CancelReason::kDeadlineExceeded,
                           "the Generate call's deadline passed before the job finished");
    } else {
      (void)queue_->Cancel(job_->id(), CancelReason::kCancelled,
                           "the client cancelled the Generate stream (keep_on_disconnect not set)");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  broken_ = true;
  PumpLocked();
}

bool EventStream::AtDeadline() const {
  // The client's own deadline timer usually fires first and cancels the call a moment before the
  // server's does, so "cancelled within a second of the deadline" is taken as the deadline.
  const auto deadline =
      context_ != nullptr ? context_->deadline() : std::chrono::system_clock::time_point::max();
  return deadline != std::chrono::system_clock::time_point::max() &&
         deadline - std::chrono::system_clock::now() <= std::chrono::seconds(1);
}

void EventStream::OnDone() {
  // After Unsubscribe returns no callback is running or will come (the job's lock guards both),
  // so deleting is safe.
  if (watchdog_ != nullptr) watchdog_->Remove(this);
  if (subscription_) job_->Unsubscribe(*subscription_);
  if (done_) done_(finish_status_);
  delete this;
}

}  // namespace ovid::server
