// File: tools/ovid_gguf/tool_args.h
// Command-line parsing shared by the subcommands: positionals, `--opt value` / `--opt=value`,
// boolean flags. Unknown options and missing values are usage errors that name the option.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/ovid_gguf/commands.h"

namespace ovid::tools {

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // "--type" -> "Q4_K_M"
  std::set<std::string> flags;                 // "--plan"
  bool help = false;                           // -h / --help anywhere

  std::optional<std::string> Get(const std::string& option) const;
  bool Has(const std::string& flag) const { return flags.count(flag) > 0; }
};

// `value_options` take one value each ("-o" is accepted where listed); `bool_flags` none.
absl::StatusOr<ParsedArgs> ParseArgs(const Args& args, const std::set<std::string>& value_options,
                                     const std::set<std::string>& bool_flags);

// Whole-string numeric parses; InvalidArgument naming the option and the bad text.
absl::StatusOr<int64_t> ParseInt(const std::string& option, const std::string& text,
                                 int64_t min_value,
                                 int64_t max_value = std::numeric_limits<int64_t>::max());
absl::StatusOr<double> ParseDouble(const std::string& option, const std::string& text);

// The worker count for --threads: the given value, or every core when absent.
absl::StatusOr<int> ThreadsOption(const ParsedArgs& args);
// --seed N (N >= 0), 0 when absent.
absl::StatusOr<uint64_t> SeedOption(const ParsedArgs& args);
// True if `--preset P` is in `args` with P starting with `prefix`: how `synth` picks the file
// that builds a family of presets (umt5-*, wan-vae-*) before any parsing.
bool PresetStartsWith(const Args& args, const std::string& prefix);

// Prints "ovid-gguf CMD: message" to stderr; returns exit code 1.
int Fail(const char* command, const absl::Status& status);
// Prints the usage error and the command's usage to stderr; returns exit code 2.
int UsageError(const char* command, const std::string& message, const char* usage);

// "1.23 GiB" style sizes for summaries.
std::string HumanBytes(double bytes);

}  // namespace ovid::tools
