// File: server/log.h
// The daemon's log: one line per event on stderr, as text ("2026-11-26T07:00:00Z INFO msg k=v")
// or JSON ({"time":..., "level":..., "msg":..., k: v}) for log collectors. Lines from different
// threads never interleave.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/config.h"

namespace ovid::server {

// A value is written as a JSON number when it parses as one, else as a string.
using LogFields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  explicit Logger(LogFormat format) : format_(format) {}
  void Info(absl::string_view message, const LogFields& fields = {}) const;
  void Warn(absl::string_view message, const LogFields& fields = {}) const;
  void Error(absl::string_view message, const LogFields& fields = {}) const;
  // The line Log would write, without the trailing newline (for tests).
  std::string Format(absl::string_view level, absl::string_view message,
                     const LogFields& fields) const;

 private:
  void Log(absl::string_view level, absl::string_view message, const LogFields& fields) const;
  const LogFormat format_;
};

}  // namespace ovid::server
