// File: tools/ovidctl/follow.h
// Follows one job's event stream to its end: Generate (a new job) or WatchJob (an existing one),
// and when the stream breaks with UNAVAILABLE after the job id is known, WatchJob again from the
// next event index, so no event is lost or handled twice.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "ovid/v1/generation.grpc.pb.h"
#include "tools/ovidctl/connection.h"

namespace ovidctl {

struct FollowHooks {
  // Every event, once, in index order. A non-OK status stops following (the call is cancelled)
  // and becomes the result's error.
  std::function<absl::Status(const ovid::v1::GenerateEvent&)> on_event;
  std::function<void(int attempt, uint64_t from_event, const grpc::Status& why)> on_reattach;
};

struct FollowResult {
  std::string job_id;
  std::optional<ovid::v1::Final> final;
  // Set when the job or the call failed: a google.rpc.Code number and the message.
  int error_code = 0;
  std::string error_message;
  bool job_failed = false;  // the error is the job's own (its JobError event)
  bool refused = false;     // the error is a hook's: it refused an event (ovidctl's side)
  uint64_t events = 0;
  int reattached = 0;
};

struct FollowOptions {
  int max_reattach = 8;           // consecutive failed attempts before giving up
  double first_backoff_s = 0.25;  // doubled per consecutive failure, capped at 4 s
};

// `request` non-null: starts the job with Generate. Otherwise re-attaches to `job_id` from event 0.
FollowResult FollowJob(const Connection& conn, ovid::v1::Generation::Stub& stub,
                       const ovid::v1::GenerateRequest* request, const std::string& job_id,
                       const FollowHooks& hooks, const FollowOptions& options = {});

}  // namespace ovidctl
