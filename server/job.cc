// File: server/job.cc
#include "server/job.h"

#include <algorithm>
#include <utility>

#include "server/status_util.h"

namespace ovid::server {
namespace {

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  if (t == absl::InfinitePast()) return ts;
  const int64_t nanos = absl::ToUnixNanos(t);
  ts.set_seconds(nanos / 1000000000);
  ts.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return ts;
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

// Now + `left` on the steady clock; SteadyTime::max() for an infinite (or absurdly long) time.
Job::SteadyTime SteadyDeadline(absl::Duration left) {
  if (left >= absl::Hours(24 * 365)) return Job::SteadyTime::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             absl::ToChronoNanoseconds(std::max(left, absl::ZeroDuration())));
}

}  // namespace

Job::Job(std::string id, GenerationRequest request, std::string client_request_id,
         uint64_t estimated_vram_bytes, absl::Time created, int32_t priority,
         absl::Duration queue_limit, absl::Duration call_time_left, std::string tenant)
    : id_(std::move(id)),
      request_(std::move(request)),
      client_request_id_(std::move(client_request_id)),
      estimated_vram_bytes_(estimated_vram_bytes),
      created_(created),
      priority_(priority),
      tenant_(std::move(tenant)),
      queue_limit_(queue_limit),
      queue_deadline_(SteadyDeadline(queue_limit)),
      call_deadline_(SteadyDeadline(call_time_left)) {}

std::optional<uint64_t> Job::Append(v1::GenerateEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (IsTerminal(state_)) return std::nullopt;
  if (event.has_progress()) last_progress_ = event.progress();
  return AppendLocked(std::move(event));
}

uint64_t Job::AppendLocked(v1::GenerateEvent event) {
  const uint64_t index = events_.size();
  event.set_job_id(id_);
  event.set_index(index);
  event.set_client_request_id(client_request_id_);
  event_bytes_ += event.ByteSizeLong();
  events_.push_back(std::make_shared<const v1::GenerateEvent>(std::move(event)));
  for (auto& [id, subscriber] : subscribers_) subscriber(events_.back());
  changed_.notify_all();
  return index;
}

bool Job::Start(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != v1::JOB_STATE_QUEUED) return false;
  state_ = v1::JOB_STATE_RUNNING;
  started_ = now;
  started_steady_ = std::chrono::steady_clock::now();
  return true;
}

bool Job::Succeed(v1::Final final, absl::Time now) {
  v1::GenerateEvent event;
  *event.mutable_final() = std::move(final);
  std::lock_guard<std::mutex> lock(mu_);
  return FinishLocked(v1::JOB_STATE_SUCCEEDED, std::move(event), now);
}

bool Job::Fail(const absl::Status& status, absl::Time now, bool only_if_queued) {
  v1::GenerateEvent event;
  *event.mutable_error() = ToJobError(status);
  // A job the shutdown drain stopped (UNAVAILABLE, so its client retries elsewhere) was stopped,
  // not failed, like one cancelled or past its deadline.
  const bool stopped = absl::IsCancelled(status) || absl::IsDeadlineExceeded(status) ||
                       (absl::IsUnavailable(status) &&
                        cancel_.reason() == CancelReason::kShutdown);
  std::lock_guard<std::mutex> lock(mu_);
  if (IsTerminal(state_)) return false;
  if (only_if_queued && state_ != v1::JOB_STATE_QUEUED) return false;
  error_ = event.error();
  return FinishLocked(stopped ? v1::JOB_STATE_CANCELLED : v1::JOB_STATE_FAILED, std::move(event),
                      now);
}

bool Job::FinishLocked(v1::JobState state, v1::GenerateEvent event, absl::Time now) {
  if (IsTerminal(state_)) return false;
  state_ = state;
  finished_ = now;
  finished_steady_ = std::chrono::steady_clock::now();
  AppendLocked(std::move(event));
  // Nothing follows a terminal event: subscribers can be let go now, and the request too (no
  // worker reads it any more: a running job finishes only after Run returned).
  subscribers_.clear();
  request_ = GenerationRequest();
  return true;
}

uint64_t Job::Subscribe(uint64_t from_index, Subscriber subscriber) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint64_t i = from_index; i < events_.size(); ++i) subscriber(events_[i]);
  const uint64_t id = next_subscription_++;
  if (!IsTerminal(state_)) subscribers_.emplace(id, std::move(subscriber));
  return id;
}

void Job::Unsubscribe(uint64_t subscription) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(subscription);
}

bool Job::WaitForEvents(uint64_t from_index, absl::Duration timeout,
                        std::vector<v1::GenerateEvent>* out) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                    [&] { return events_.size() > from_index || IsTerminal(state_); });
  for (uint64_t i = from_index; i < events_.size(); ++i) out->push_back(*events_[i]);
  return events_.size() > from_index || !IsTerminal(state_);
}

v1::JobState Job::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

bool Job::finished() const { return IsTerminal(state()); }

absl::Time Job::started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

absl::Time Job::finished_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

Job::SteadyTime Job::SteadyEndLocked() const {
  return finished_ != absl::InfinitePast() ? finished_steady_ : std::chrono::steady_clock::now();
}

absl::Duration Job::queue_wait() const {
  std::lock_guard<std::mutex> lock(mu_);
  const SteadyTime end = started_ != absl::InfinitePast() ? started_steady_ : SteadyEndLocked();
  return absl::FromChrono(end - created_steady_);
}

absl::Duration Job::run_time() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ == absl::InfinitePast()) return absl::ZeroDuration();
  return absl::FromChrono(SteadyEndLocked() - started_steady_);
}

absl::Duration Job::age() const {
  std::lock_guard<std::mutex> lock(mu_);
  return absl::FromChrono(SteadyEndLocked() - created_steady_);
}

uint64_t Job::event_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return event_bytes_;
}

Job::LogEnd Job::log_end() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {events_.size(), IsTerminal(state_)};
}

uint64_t Job::event_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

v1::JobStatus Job::Status() const {
  v1::JobStatus status;
  status.set_job_id(id_);
  status.set_client_request_id(client_request_id_);
  status.set_priority(priority_);
  status.set_tenant(tenant_);
  *status.mutable_created() = ToTimestamp(created_);
  std::lock_guard<std::mutex> lock(mu_);
  status.set_state(state_);
  *status.mutable_started() = ToTimestamp(started_);
  *status.mutable_finished() = ToTimestamp(finished_);
  *status.mutable_progress() = last_progress_;
  if (error_.code() != 0) *status.mutable_error() = error_;
  status.set_event_count(events_.size());
  return status;
}

}  // namespace ovid::server
