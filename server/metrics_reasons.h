// File: server/metrics_reasons.h
// The closed label sets of the request counters (docs/metrics.md) and how a status maps onto
// them. Prometheus-free and gRPC-free on purpose: the job queue can build its admission errors
// with the helpers below (so the metrics can tell "queue full" from "over the VRAM budget"
// without parsing prose), without linking the metrics library.
#pragma once

#include <array>
#include <cstdint>
#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ovid::server {

// How a request ended: label `outcome` of ovid_requests_total. CANCELLED and DEADLINE_EXCEEDED
// are `cancelled`, as the job state is (Job::Fail ends both in JOB_STATE_CANCELLED).
enum class Outcome { kSucceeded, kFailed, kCancelled, kRejected };
inline constexpr std::array<Outcome, 4> kAllOutcomes = {Outcome::kSucceeded, Outcome::kFailed,
                                                        Outcome::kCancelled, Outcome::kRejected};
std::string_view OutcomeName(Outcome outcome);

// Why a request did not succeed: label `reason` of ovid_request_failures_total. Every request
// that is not `succeeded` counts under exactly one reason.
enum class FailureReason {
  kInvalidArgument,
  kFailedPrecondition,
  kQueueFull,
  kVramBudget,
  kDeviceOom,
  kHostOom,
  kDeadlineExceeded,
  kQueueTimeout,
  kCancelled,
  kUnavailable,
  kUnauthenticated,
  kInternal,
};
inline constexpr size_t kFailureReasonCount = 12;
inline constexpr std::array<FailureReason, kFailureReasonCount> kAllFailureReasons = {
    FailureReason::kInvalidArgument, FailureReason::kFailedPrecondition,
    FailureReason::kQueueFull,       FailureReason::kVramBudget,
    FailureReason::kDeviceOom,       FailureReason::kHostOom,
    FailureReason::kDeadlineExceeded,
    FailureReason::kQueueTimeout,    FailureReason::kCancelled,
    FailureReason::kUnavailable,     FailureReason::kUnauthenticated,
    FailureReason::kInternal,
};
std::string_view FailureReasonName(FailureReason reason);

// Admission's two RESOURCE_EXHAUSTED errors. Each carries a payload (kAdmissionPayloadUrl =
// "queue_full" / "vram_budget") that RejectionReason reads, so the wording of the message may
// change freely. The messages are the ones server/job_queue.cc writes today.
inline constexpr char kAdmissionPayloadUrl[] = "type.ovid.dev/admission";
absl::Status QueueFullError(size_t waiting, uint32_t max_queue, size_t running);
// The queue_full of one tenant at its --max-queue-per-tenant (same reason and payload).
absl::Status TenantQueueFullError(std::string_view tenant, size_t waiting, uint32_t max_per_tenant);
absl::Status VramBudgetError(uint64_t estimate_bytes, uint64_t budget_bytes);

// A queued job that waited past its limit (GenerateRequest.max_queue_seconds or --max-queue-wait):
// DEADLINE_EXCEEDED naming the limit, with a payload (kQueueTimeoutPayloadUrl) so FinishReason
// tells it from a call's deadline: the first means too few workers, the second a client's choice.
inline constexpr char kQueueTimeoutPayloadUrl[] = "type.ovid.dev/queue_timeout";
absl::Status QueueTimeoutError(absl::Duration waited, absl::Duration limit);

// The reason for a request refused before it became a job (JobObserver::OnRejected).
// RESOURCE_EXHAUSTED here is admission's: the payload above decides; without one (a queue that
// builds its own errors) a message starting "queue full" is kQueueFull and anything else
// kVramBudget, which is what job_queue.cc's two messages give.
FailureReason RejectionReason(const absl::Status& status);

// The reason for a job that ended without success (JobObserver::OnFinished, status not OK).
// RESOURCE_EXHAUSTED here can only come from the engine: device OOM (ovid/engine.h, Run).
// DEADLINE_EXCEEDED is kQueueTimeout with QueueTimeoutError's payload, else kDeadlineExceeded.
FailureReason FinishReason(const absl::Status& status);

// Succeeded / failed / cancelled for a job's end (never kRejected). A job whose state is CANCELLED
// is `cancelled` whatever its code: the shutdown drain ends jobs UNAVAILABLE (retry elsewhere) in
// that state, and counting them as failed fed the error-rate alert during rollouts. The metrics
// and the job log both take their outcome from here.
Outcome FinishOutcome(const absl::Status& status, bool state_cancelled);

}  // namespace ovid::server
