// File: server/log.cc
#include "server/log.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdio>
#include <mutex>

#include "absl/strings/ascii.h"
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

// JSON's own number grammar (RFC 8259 section 6): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
// A looser parser (SimpleAtod) also takes "NaN", "inf", "+1", ".5", "007" and surrounding
// whitespace such as "1\n", which written bare would break the line's JSON, or the line itself.
bool IsNumber(absl::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto digits = [&] {
    const size_t from = i;
    while (i < n && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) ++i;
    return i - from;
  };
  if (i < n && text[i] == '-') ++i;
  if (i < n && text[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return false;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == n;
}

// A JSON number that a double-based reader (Python, Go, most log pipelines) gets back as written:
// at most 15 significant digits, and neither overflowing ("1e999" -> inf) nor underflowing to 0.
bool IsExactNumber(absl::string_view text) {
  if (!IsNumber(text)) return false;
  int significant = 0;
  bool nonzero = false;
  for (const char c : text) {
    if (c == 'e' || c == 'E') break;
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) continue;
    nonzero = nonzero || c != '0';
    if (nonzero) ++significant;
  }
  double value = 0;
  return significant <= 15 && absl::SimpleAtod(text, &value) && std::isfinite(value) &&
         !(nonzero && value == 0.0);
}

// Fields that hold a client's text or an identifier are always JSON strings, so a field keeps
// one type from line to line (a client_request_id of "123" is not a number) and a 64-bit seed
// keeps every digit.
bool AlwaysText(absl::string_view key) {
  static constexpr absl::string_view kKeys[] = {"client_request_id", "job", "seed",
                                               "error",             "model", "address"};
  return std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys);
}

// Text values with spaces, quotes or control characters are quoted (and escaped) so that k=v
// pairs stay parseable and a client's text cannot start a line of its own.
std::string TextValue(absl::string_view value) {
  const bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '"' || c == '=';
  });
  return plain ? std::string(value) : JsonString(value);
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
                      !AlwaysText(key) && IsExactNumber(value) ? value : JsonString(value));
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
