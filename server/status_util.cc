// File: server/status_util.cc
#include "server/status_util.h"

#include <string>

namespace ovid::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share google.rpc.Code's numbers (0..16).
  return grpc::Status(static_cast<grpc::StatusCode>(status.raw_code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

ovid::v1::JobError ToJobError(const absl::Status& status) {
  ovid::v1::JobError error;
  error.set_code(status.raw_code());
  error.set_message(std::string(status.message()));
  return error;
}

}  // namespace ovid::server
