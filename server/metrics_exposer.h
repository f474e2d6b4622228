// File: server/metrics_exposer.h
// Starting prometheus-cpp's HTTP server (civetweb) as a Status instead of an exception:
// prometheus-cpp throws (CivetException) when it cannot bind or start its threads, and the
// daemon turns start-up failures into a message and a non-zero exit, never a crash.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace ovid::server {

// INVALID_ARGUMENT unless `address` is "PORT", "IPV4:PORT" or "[IPV6]:PORT" with PORT in
// 0..65535 (civetweb would read a comma as a second address and a trailing 's' as TLS).
absl::Status ValidateMetricsAddress(const std::string& address);

// Serves `collectables` at http://ADDRESS/metrics; port 0 picks a free port (see
// Exposer::GetListeningPorts). UNAVAILABLE, naming the address, when civetweb cannot start
// (address in use, not a local address, no threads).
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartExposer(
    const std::string& address,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

}  // namespace ovid::server
