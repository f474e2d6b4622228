// File: tests/server/metrics_test_util.h
// Helpers for the metrics tests: a raw-socket HTTP GET (the test must see what a Prometheus
// server sees, with no HTTP library in between) and reading one sample out of exposition text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovid::server::testing {

struct HttpResponse {
  int status = 0;       // from the status line
  std::string headers;  // everything between the status line and the blank line
  std::string body;
};

// GET `path` from 127.0.0.1:`port` over HTTP/1.0 (the server closes after answering), waiting
// at most 10 s for it.
absl::StatusOr<HttpResponse> HttpGet(int port, std::string_view path);

// The value of the sample written exactly as `series` (name plus labels as the text format
// prints them, e.g. `ovid_requests_total{outcome="rejected"}`); nullopt when absent.
std::optional<double> SampleValue(std::string_view text, std::string_view series);

}  // namespace ovid::server::testing
