#include "tools/ovid_gguf/tool_args.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovid::tools {

std::optional<std::string> ParsedArgs::Get(const std::string& option) const {
  auto it = options.find(option);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const Args& args, const std::set<std::string>& value_options,
                                     const std::set<std::string>& bool_flags) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out.positional.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (const size_t eq = arg.find('='); eq != std::string::npos && arg.starts_with("--")) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (bool_flags.count(name)) {
      if (value)
        return absl::InvalidArgumentError(absl::StrCat("option ", name, " takes no value"));
      out.flags.insert(name);
      continue;
    }
    if (!value_options.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option '", name, "'"));
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("option ", name, " needs a value"));
      }
      value = args[++i];
    }
    if (out.options.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("option ", name, " given twice"));
    }
    out.options[name] = *value;
  }
  return out;
}

absl::StatusOr<int64_t> ParseInt(const std::string& option, const std::string& text,
                                 int64_t min_value, int64_t max_value) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min_value || v > max_value) {
    // The bounds always: a seed of 2^63 "is not an integer >= 0" read as nonsense.
    return absl::InvalidArgumentError(absl::StrCat(option, ": '", text, "' is not an integer in [",
                                                   min_value, ", ", max_value, "]"));
  }
  return v;
}

absl::StatusOr<double> ParseDouble(const std::string& option, const std::string& text) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(option, ": '", text, "' is not a number"));
  }
  return v;
}

absl::StatusOr<int> ThreadsOption(const ParsedArgs& args) {
  if (std::optional<std::string> t = args.Get("--threads")) {
    absl::StatusOr<int64_t> n = ParseInt("--threads", *t, 1);
    if (!n.ok()) return n.status();
    return static_cast<int>(std::min<int64_t>(*n, 1024));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

absl::StatusOr<uint64_t> SeedOption(const ParsedArgs& args) {
  std::optional<std::string> s = args.Get("--seed");
  if (!s) return uint64_t{0};
  absl::StatusOr<int64_t> v = ParseInt("--seed", *s, 0);
  if (!v.ok()) return v.status();
  return static_cast<uint64_t>(*v);
}

bool PresetStartsWith(const Args& args, const std::string& prefix) {
  const std::string joined = "--preset=" + prefix;  // ParseArgs takes --opt=value too
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].compare(0, joined.size(), joined) == 0) return true;
    if (args[i] == "--preset" && i + 1 < args.size() &&
        args[i + 1].compare(0, prefix.size(), prefix) == 0) {
      return true;
    }
  }
  return false;
}

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "ovid-gguf %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

int UsageError(const char* command, const std::string& message, const char* usage) {
  std::fprintf(stderr, "ovid-gguf %s: %s\n\n%s", command, message.c_str(), usage);
  return 2;
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return absl::StrFormat(u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
}

}  // namespace ovid::tools
