// File: server/status_util.h
// The one place absl::Status becomes grpc::Status (docs/architecture.md, "Error classes"). The
// code numbers are the same in both (google.rpc.Code), so the mapping keeps code and message as
// they are; doing it here anyway keeps every RPC handler from inventing its own.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "ovid/v1/generation.pb.h"

namespace ovid::server {

grpc::Status ToGrpcStatus(const absl::Status& status);
// The reverse, for tests and for clients built on this library.
absl::Status FromGrpcStatus(const grpc::Status& status);
// The in-band form a stream's JobError event carries (code as google.rpc.Code).
ovid::v1::JobError ToJobError(const absl::Status& status);

}  // namespace ovid::server
