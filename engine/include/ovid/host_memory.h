// File: engine/include/ovid/host_memory.h
// Out of host memory, told apart from out of device memory. Both are RESOURCE_EXHAUSTED; a failed
// host allocation also carries kHostMemoryPayloadUrl, so that the engine does not empty the
// device cache for it and the server counts it under its own reason (no GPU alert for host RAM).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace ovid {

inline constexpr absl::string_view kHostMemoryPayloadUrl = "type.ovid.dev/host-memory";

inline absl::Status HostOutOfMemoryError(absl::string_view message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kHostMemoryPayloadUrl, absl::Cord("1"));
  return status;
}

inline bool IsHostOutOfMemory(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         status.GetPayload(kHostMemoryPayloadUrl).has_value();
}

}  // namespace ovid
