// File: server/metrics_reasons.cc
#include "server/metrics_reasons.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "ovid/host_memory.h"

namespace ovid::server {
namespace {

constexpr char kQueueFullPayload[] = "queue_full";
constexpr char kVramBudgetPayload[] = "vram_budget";

absl::Status WithAdmissionPayload(absl::Status status, const char* which) {
  status.SetPayload(kAdmissionPayloadUrl, absl::Cord(which));
  return status;
}

// The codes every path shares; RESOURCE_EXHAUSTED is decided by the caller, which knows where
// the status came from.
FailureReason CommonReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return FailureReason::kInvalidArgument;
    case absl::StatusCode::kFailedPrecondition:
      return FailureReason::kFailedPrecondition;
    case absl::StatusCode::kDeadlineExceeded:
      return FailureReason::kDeadlineExceeded;
    case absl::StatusCode::kCancelled:
      return FailureReason::kCancelled;
    case absl::StatusCode::kUnavailable:
      return FailureReason::kUnavailable;
    // A caller without valid credentials and one whose credentials do not allow the call are
    // one operational signal (the auth setup), so they share the reason.
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return FailureReason::kUnauthenticated;
    default:
      return FailureReason::kInternal;
  }
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSucceeded:
      return "succeeded";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kRejected:
      return "rejected";
  }
  return "failed";
}

std::string_view FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kInvalidArgument:
      return "invalid_argument";
    case FailureReason::kFailedPrecondition:
      return "failed_precondition";
    case FailureReason::kQueueFull:
      return "queue_full";
    case FailureReason::kVramBudget:
      return "vram_budget";
    case FailureReason::kDeviceOom:
      return "device_oom";
    case FailureReason::kHostOom:
      return "host_oom";
    case FailureReason::kDeadlineExceeded:
      return "deadline_exceeded";
    case FailureReason::kQueueTimeout:
      return "queue_timeout";
    case FailureReason::kCancelled:
      return "cancelled";
    case FailureReason::kUnavailable:
      return "unavailable";
    case FailureReason::kUnauthenticated:
      return "unauthenticated";
    case FailureReason::kInternal:
      return "internal";
  }
  return "internal";
}

absl::Status QueueFullError(size_t waiting, uint32_t max_queue, size_t running) {
  return WithAdmissionPayload(
      absl::ResourceExhaustedError(absl::StrFormat(
          "queue full: %d of %d jobs waiting, %d running (--max-queue); retry later", waiting,
          max_queue, running)),
      kQueueFullPayload);
}

absl::Status TenantQueueFullError(std::string_view tenant, size_t waiting,
                                  uint32_t max_per_tenant) {
  return WithAdmissionPayload(
      absl::ResourceExhaustedError(absl::StrFormat(
          "queue full for tenant %s: %d of its %d jobs waiting (--max-queue-per-tenant); retry "
          "later",
          tenant, waiting, max_per_tenant)),
      kQueueFullPayload);
}

absl::Status VramBudgetError(uint64_t estimate_bytes, uint64_t budget_bytes) {
  return WithAdmissionPayload(
      absl::ResourceExhaustedError(absl::StrFormat(
          "the job needs an estimated %d bytes of VRAM; %d are available (--vram-budget)",
          estimate_bytes, budget_bytes)),
      kVramBudgetPayload);
}

absl::Status QueueTimeoutError(absl::Duration waited, absl::Duration limit) {
  absl::Status status = absl::DeadlineExceededError(absl::StrFormat(
      "max_queue_seconds: the job waited %.1f s in the queue without starting (limit %g s, the "
      "shorter of the request's max_queue_seconds and the server's --max-queue-wait)",
      absl::ToDoubleSeconds(waited), absl::ToDoubleSeconds(limit)));
  status.SetPayload(kQueueTimeoutPayloadUrl, absl::Cord("queue_timeout"));
  return status;
}

FailureReason RejectionReason(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return CommonReason(status.code());
  const auto payload = status.GetPayload(kAdmissionPayloadUrl);
  if (payload.has_value()) {
    return std::string(*payload) == kQueueFullPayload ? FailureReason::kQueueFull
                                                       : FailureReason::kVramBudget;
  }
  return absl::StartsWith(status.message(), "queue full") ? FailureReason::kQueueFull
                                                          : FailureReason::kVramBudget;
}

FailureReason FinishReason(const absl::Status& status) {
  if (IsHostOutOfMemory(status)) return FailureReason::kHostOom;
  if (status.code() == absl::StatusCode::kResourceExhausted) return FailureReason::kDeviceOom;
  if (status.code() == absl::StatusCode::kDeadlineExceeded &&
      status.GetPayload(kQueueTimeoutPayloadUrl).has_value()) {
    return FailureReason::kQueueTimeout;
  }
  return CommonReason(status.code());
}

Outcome FinishOutcome(const absl::Status& status, bool state_cancelled) {
  if (status.ok()) return Outcome::kSucceeded;
  if (state_cancelled) return Outcome::kCancelled;
  switch (status.code()) {
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return Outcome::kCancelled;
    default:
      return Outcome::kFailed;
  }
}

}  // namespace ovid::server
