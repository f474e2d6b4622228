// File: server/metrics_process.cc
#include "server/metrics_process.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace ovid::server {
namespace {

absl::StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(std::string("cannot read ") + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<double> ProcessStartUnixSeconds() {
  absl::StatusOr<std::string> stat = ReadFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
  // from the last ')'. The token after it is field 3 (state); starttime is field 22.
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos) return absl::DataLossError("/proc/self/stat has no ')'");
  std::vector<std::string> fields =
      absl::StrSplit(absl::string_view(*stat).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t start_ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start_ticks)) {
    return absl::DataLossError("/proc/self/stat: no start time in field 22");
  }

  absl::StatusOr<std::string> proc_stat = ReadFile("/proc/stat");
  if (!proc_stat.ok()) return proc_stat.status();
  uint64_t boot_time = 0;
  for (absl::string_view line : absl::StrSplit(*proc_stat, '\n')) {
    if (line.rfind("btime ", 0) == 0 && absl::SimpleAtoi(line.substr(6), &boot_time)) {
      const long ticks_per_second = sysconf(_SC_CLK_TCK);
      if (ticks_per_second <= 0) return absl::InternalError("sysconf(_SC_CLK_TCK) failed");
      return static_cast<double>(boot_time) +
             static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
    }
  }
  return absl::DataLossError("/proc/stat has no btime line");
}

}  // namespace ovid::server
