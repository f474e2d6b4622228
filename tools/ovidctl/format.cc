// File: tools/ovidctl/format.cc
#include "tools/ovidctl/format.h"

#include <cmath>
#include <cstdio>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace ovidctl {

std::string StatusCodeName(int code) {
  // google.rpc.Code, the numbering grpc::StatusCode and JobError.code share.
  static const char* const kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return absl::StrCat("CODE_", code);
}

namespace {

// Enum value name without its prefix, lower-cased: JOB_STATE_RUNNING -> running.
std::string Short(const std::string& full, const std::string& prefix) {
  if (full.empty()) return "unknown";
  return absl::AsciiStrToLower(full.rfind(prefix, 0) == 0 ? full.substr(prefix.size()) : full);
}

}  // namespace

std::string JobStateName(ovid::v1::JobState state) {
  return Short(ovid::v1::JobState_Name(state), "JOB_STATE_");
}

std::string OutputFormatName(ovid::v1::OutputFormat format) {
  return Short(ovid::v1::OutputFormat_Name(format), "OUTPUT_FORMAT_");
}

std::string OutputExtension(ovid::v1::OutputFormat format) {
  switch (format) {
    case ovid::v1::OUTPUT_FORMAT_LATENTS: return "safetensors";
    case ovid::v1::OUTPUT_FORMAT_MP4: return "mp4";
    case ovid::v1::OUTPUT_FORMAT_WAV: return "wav";
    case ovid::v1::OUTPUT_FORMAT_PNG_FRAMES: return "tar";
    default: return absl::StrCat("format", static_cast<int>(format));
  }
}

ovid::v1::OutputFormat OutputFormatForPath(const std::string& path) {
  for (ovid::v1::OutputFormat f :
       {ovid::v1::OUTPUT_FORMAT_LATENTS, ovid::v1::OUTPUT_FORMAT_MP4, ovid::v1::OUTPUT_FORMAT_WAV,
        ovid::v1::OUTPUT_FORMAT_PNG_FRAMES}) {
    if (absl::EndsWithIgnoreCase(path, absl::StrCat(".", OutputExtension(f)))) return f;
  }
  return ovid::v1::OUTPUT_FORMAT_UNSPECIFIED;
}

std::string SolverName(ovid::v1::Solver solver) {
  return Short(ovid::v1::Solver_Name(solver), "SOLVER_");
}

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.2f %s", v, kUnits[unit]);
}

std::string Clock(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "--:--";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string TimestampText(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

bool PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, opts).ok()) return false;
  std::fputs(json.c_str(), stdout);
  return true;
}

}  // namespace ovidctl
