// File: server/metrics_process.h
// The process start time for ovid_process_start_time_seconds: a restart shows as a jump, and
// counter resets line up with it.
#pragma once

#include "absl/status/statusor.h"

namespace ovid::server {

// Unix time (seconds) when this process started, from /proc/self/stat (start time in clock
// ticks after boot) and /proc/stat (boot time). An error where /proc is unreadable.
absl::StatusOr<double> ProcessStartUnixSeconds();

}  // namespace ovid::server
