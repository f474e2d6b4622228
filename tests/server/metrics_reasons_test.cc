// File: tests/server/metrics_reasons_test.cc
// The closed label sets of the request counters and the status -> reason/outcome mapping.
#include "server/metrics_reasons.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ovid/host_memory.h"

namespace ovid::server {
namespace {

TEST(MetricsReasonsTest, NamesAreTheDocumentedSnakeCaseValuesAndDistinct) {
  std::set<std::string> reasons;
  for (FailureReason reason : kAllFailureReasons) reasons.emplace(FailureReasonName(reason));
  EXPECT_EQ(reasons, (std::set<std::string>{"invalid_argument", "failed_precondition",
                                            "queue_full", "vram_budget", "device_oom", "host_oom",
                                            "deadline_exceeded", "queue_timeout", "cancelled",
                                            "unavailable", "unauthenticated", "internal"}));
  std::set<std::string> outcomes;
  for (Outcome outcome : kAllOutcomes) outcomes.emplace(OutcomeName(outcome));
  EXPECT_EQ(outcomes, (std::set<std::string>{"succeeded", "failed", "cancelled", "rejected"}));
}

TEST(MetricsReasonsTest, AdmissionHelpersCarryThePayloadAndTheQueuesWording) {
  const absl::Status full = QueueFullError(16, 16, 2);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "queue full: 16 of 16 jobs waiting, 2 running (--max-queue); retry later");
  EXPECT_EQ(RejectionReason(full), FailureReason::kQueueFull);

  const absl::Status vram = VramBudgetError(100, 50);
  EXPECT_EQ(vram.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(vram.message(),
            "the job needs an estimated 100 bytes of VRAM; 50 are available (--vram-budget)");
  EXPECT_EQ(RejectionReason(vram), FailureReason::kVramBudget);
}

TEST(MetricsReasonsTest, AQueueTimeoutIsToldFromACallsDeadlineByItsPayload) {
  const absl::Status timeout = QueueTimeoutError(absl::Milliseconds(30500), absl::Seconds(30));
  EXPECT_EQ(timeout.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(timeout.message().find("max_queue_seconds: the job waited 30.5 s"),
            absl::string_view::npos)
      << timeout;
  EXPECT_NE(timeout.message().find("limit 30 s"), absl::string_view::npos) << timeout;
  EXPECT_EQ(FinishReason(timeout), FailureReason::kQueueTimeout);
  EXPECT_EQ(FinishOutcome(timeout, false), Outcome::kCancelled);
  // The same code without the payload, even with the same words, is a call's deadline.
  EXPECT_EQ(FinishReason(absl::DeadlineExceededError(timeout.message())),
            FailureReason::kDeadlineExceeded);
}

TEST(MetricsReasonsTest, ThePayloadWinsOverTheMessage) {
  absl::Status odd = absl::ResourceExhaustedError("queue full, so to speak");
  odd.SetPayload(kAdmissionPayloadUrl, absl::Cord("vram_budget"));
  EXPECT_EQ(RejectionReason(odd), FailureReason::kVramBudget);
}

TEST(MetricsReasonsTest, WithoutPayloadTheQueuesMessagesAreToldApart) {
  // The two messages server/job_queue.cc writes today, built by hand (no payload).
  EXPECT_EQ(RejectionReason(absl::ResourceExhaustedError(
                "queue full: 4 of 4 jobs waiting, 1 running (--max-queue); retry later")),
            FailureReason::kQueueFull);
  EXPECT_EQ(RejectionReason(absl::ResourceExhaustedError(
                "the job needs an estimated 9 bytes of VRAM; 8 are available (--vram-budget)")),
            FailureReason::kVramBudget);
}

TEST(MetricsReasonsTest, ResourceExhaustedAtTheEndOfAJobIsDeviceOom) {
  EXPECT_EQ(FinishReason(absl::ResourceExhaustedError("CUDA out of memory")),
            FailureReason::kDeviceOom);
  // Even with admission's wording: a job that ran cannot have been refused by admission.
  EXPECT_EQ(FinishReason(QueueFullError(1, 1, 1)), FailureReason::kDeviceOom);
  // Host RAM is not the GPU: its own reason, so the device-OOM alert does not fire for it.
  EXPECT_EQ(FinishReason(HostOutOfMemoryError("out of host memory while running the job")),
            FailureReason::kHostOom);
}

TEST(MetricsReasonsTest, OtherCodesMapTheSameWayWhereverTheyComeFrom) {
  struct Case {
    absl::Status status;
    FailureReason reason;
  };
  const Case cases[] = {
      {absl::InvalidArgumentError("x"), FailureReason::kInvalidArgument},
      {absl::OutOfRangeError("x"), FailureReason::kInvalidArgument},
      {absl::FailedPreconditionError("x"), FailureReason::kFailedPrecondition},
      {absl::DeadlineExceededError("x"), FailureReason::kDeadlineExceeded},
      {absl::CancelledError("x"), FailureReason::kCancelled},
      {absl::UnavailableError("x"), FailureReason::kUnavailable},
      {absl::UnauthenticatedError("x"), FailureReason::kUnauthenticated},
      {absl::PermissionDeniedError("x"), FailureReason::kUnauthenticated},
      {absl::InternalError("x"), FailureReason::kInternal},
      {absl::UnknownError("x"), FailureReason::kInternal},
      {absl::DataLossError("x"), FailureReason::kInternal},
      {absl::NotFoundError("x"), FailureReason::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RejectionReason(c.status), c.reason) << c.status;
    EXPECT_EQ(FinishReason(c.status), c.reason) << c.status;
  }
}

TEST(MetricsReasonsTest, CancelledAndDeadlineEndAsCancelledLikeTheJobState) {
  EXPECT_EQ(FinishOutcome(absl::OkStatus(), false), Outcome::kSucceeded);
  EXPECT_EQ(FinishOutcome(absl::CancelledError("x"), false), Outcome::kCancelled);
  EXPECT_EQ(FinishOutcome(absl::DeadlineExceededError("x"), false), Outcome::kCancelled);
  EXPECT_EQ(FinishOutcome(absl::ResourceExhaustedError("x"), false), Outcome::kFailed);
  EXPECT_EQ(FinishOutcome(absl::InternalError("x"), false), Outcome::kFailed);
  // The drain's UNAVAILABLE in state CANCELLED is cancelled; a success stays a success.
  EXPECT_EQ(FinishOutcome(absl::UnavailableError("draining"), true), Outcome::kCancelled);
  EXPECT_EQ(FinishOutcome(absl::UnavailableError("x"), false), Outcome::kFailed);
  EXPECT_EQ(FinishOutcome(absl::OkStatus(), true), Outcome::kSucceeded);
}

}  // namespace
}  // namespace ovid::server
