// File: tools/ovidctl/args.h
// Command-line parsing for ovidctl: `--name value`, `--name=value` and boolean `--name`, in any
// order around the positional arguments, checked against the flags a command accepts. Anything
// malformed throws UsageError, which main() turns into exit code 2.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ovidctl {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `value` as is, or a UsageError naming `what` when it is not UTF-8. For text that travels in a
// proto string field: the server's gRPC refuses a whole call with invalid UTF-8 there before ovid
// sees it (UNIMPLEMENTED, without a message).
std::string RequireUtf8(std::string value, const std::string& what);

struct FlagSpec {
  std::string name;  // without the leading "--"
  bool takes_value = true;
  bool repeatable = false;
};

// The flags every command accepts (connection and authentication).
const std::vector<FlagSpec>& GlobalFlags();

class Args {
 public:
  // Parses `args` (no program name, no command) against `specs`; "--" ends the flags.
  static Args Parse(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  // Get, for a value sent in a proto string field: must be UTF-8 (RequireUtf8).
  std::optional<std::string> GetText(const std::string& name) const;
  std::vector<std::string> All(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // Typed values; a value that does not parse (or does not fit) is a UsageError naming the flag.
  std::optional<uint32_t> GetU32(const std::string& name) const;
  std::optional<int32_t> GetI32(const std::string& name) const;
  std::optional<uint64_t> GetU64(const std::string& name) const;
  std::optional<double> GetDouble(const std::string& name) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Splits argv into the command name and the remaining arguments. Global flags may come before
// the command (`ovidctl --address h:1 jobs`); they are kept in the remaining arguments.
// Returns an empty command when there is none.
std::string SplitCommand(int argc, char** argv, std::vector<std::string>* rest);

}  // namespace ovidctl
