// File: server/request_convert.h
// ovid.v1.GenerateRequest -> ovid::GenerationRequest: the only place the wire request meets the
// engine's struct on the way in. Checks what only the wire can get wrong (enum numbers the
// schema does not define, duplicated outputs, an over-long client id); everything that depends
// on the loaded model (sizes, ranges, embedding dims, stages) is the engine's to check, so the
// two cannot disagree.
#pragma once

#include "absl/status/statusor.h"
#include "ovid/engine.h"
#include "ovid/v1/generation.pb.h"
#include "server/job_schedule.h"

namespace ovid::server {

// Longest GenerateRequest.client_request_id accepted (proto: "at most 128 bytes").
inline constexpr size_t kMaxClientRequestIdBytes = 128;

// INVALID_ARGUMENT naming the field (as spelled in generation.proto) and what is allowed.
absl::StatusOr<GenerationRequest> ToGenerationRequest(const v1::GenerateRequest& request);

// priority and max_queue_seconds, the queue's part of the request; INVALID_ARGUMENT naming the
// field and its range.
absl::StatusOr<JobSchedule> ToJobSchedule(const v1::GenerateRequest& request);

}  // namespace ovid::server
