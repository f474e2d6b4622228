// File: tests/server/status_util_test.cc
// Each failure class keeps its own code through the one absl -> gRPC mapping.
#include "server/status_util.h"

#include <gtest/gtest.h>

namespace ovid::server {
namespace {

TEST(StatusUtilTest, OkIsOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusUtilTest, EveryFailureClassKeepsItsCodeAndMessage) {
  const std::vector<std::pair<absl::Status, grpc::StatusCode>> cases = {
      {absl::InvalidArgumentError("steps: 0 not in 1..200"), grpc::INVALID_ARGUMENT},
      {absl::FailedPreconditionError("no text encoder"), grpc::FAILED_PRECONDITION},
      {absl::ResourceExhaustedError("queue full: 2 of 2"), grpc::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("draining"), grpc::UNAVAILABLE},
      {absl::UnauthenticatedError("bad token"), grpc::UNAUTHENTICATED},
      {absl::NotFoundError("no job"), grpc::NOT_FOUND},
      {absl::CancelledError("cancelled"), grpc::CANCELLED},
      {absl::DeadlineExceededError("deadline"), grpc::DEADLINE_EXCEEDED},
      {absl::InternalError("bug"), grpc::INTERNAL},
  };
  for (const auto& [status, code] : cases) {
    grpc::Status g = ToGrpcStatus(status);
    EXPECT_EQ(g.error_code(), code) << status;
    EXPECT_EQ(g.error_message(), status.message());
    EXPECT_EQ(FromGrpcStatus(g), status);
    v1::JobError error = ToJobError(status);
    EXPECT_EQ(error.code(), static_cast<int>(code));
    EXPECT_EQ(error.message(), status.message());
  }
}

}  // namespace
}  // namespace ovid::server
