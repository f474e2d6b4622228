// File: server/log.cc
#include "server/log.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ovid::server {
namespace {

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

bool IsNumber(absl::string_view text) {
  double ignored;
  return !text.empty() && absl::SimpleAtod(text, &ignored) && text != "inf" && text != "nan" &&
         text.find_first_of("xX") == absl::string_view::npos;
}

// Text values with spaces or quotes are quoted so that k=v pairs stay parseable.
std::string TextValue(absl::string_view value) {
  if (!value.empty() && value.find_first_of(" \"=\n\t") == absl::string_view::npos) {
    return std::string(value);
  }
  return JsonString(value);
}

std::mutex& OutputMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

}  // namespace

std::string Logger::Format(absl::string_view level, absl::string_view message,
                           const LogFields& fields) const {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (format_ == LogFormat::kJson) {
    std::string line =
        absl::StrCat("{\"time\":", JsonString(time), ",\"level\":", JsonString(level),
                     ",\"msg\":", JsonString(message));
    for (const auto& [key, value] : fields) {
      absl::StrAppend(&line, ",", JsonString(key), ":",
                      IsNumber(value) ? value : JsonString(value));
    }
    return line + "}";
  }
  std::string line = absl::StrCat(time, " ", level, " ", message);
  for (const auto& [key, value] : fields) absl::StrAppend(&line, " ", key, "=", TextValue(value));
  return line;
}

void Logger::Log(absl::string_view level, absl::string_view message,
                 const LogFields& fields) const {
  const std::string line = Format(level, message, fields) + "\n";
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void Logger::Info(absl::string_view message, const LogFields& fields) const {
  Log("INFO", message, fields);
}
void Logger::Warn(absl::string_view message, const LogFields& fields) const {
  Log("WARN", message, fields);
}
void Logger::Error(absl::string_view message, const LogFields& fields) const {
  Log("ERROR", message, fields);
}

}  // namespace ovid::server
