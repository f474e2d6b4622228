// File: tools/ovidctl/args.cc
#include "tools/ovidctl/args.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/text/utf8.h"

namespace ovidctl {

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"address"}, {"token"}, {"token-file"}, {"tls-ca"},
      {"tls-cert"}, {"tls-key"}, {"timeout"}, {"help", false},
  };
  return flags;
}

Args Args::Parse(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs) {
  Args out;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    // "-o FILE" is the one short option: --output, as compilers and curl spell it.
    const std::string a = (!flags_done && args[i] == "-o") ? std::string("--output") : args[i];
    if (flags_done || a.size() < 2 || a.rfind("--", 0) != 0) {
      if (!flags_done && a.size() > 1 && a[0] == '-') {
        throw UsageError(absl::StrCat("unknown option '", a, "' (options are --long-names)"));
      }
      out.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const auto spec = std::find_if(specs.begin(), specs.end(),
                                   [&](const FlagSpec& s) { return s.name == name; });
    if (spec == specs.end()) throw UsageError(absl::StrCat("unknown option --", name));
    if (!spec->takes_value) {
      if (value) throw UsageError(absl::StrCat("--", name, " takes no value"));
      value = "";
    } else if (!value) {
      if (i + 1 >= args.size()) throw UsageError(absl::StrCat("--", name, " needs a value"));
      // "--steps --seed 3" is a forgotten value, not 30 steps named "--seed": the next word
      // names one of this command's options. (--name=VALUE still takes any value.)
      const std::string& next = args[i + 1];
      if (next.rfind("--", 0) == 0) {
        const std::string next_name = next.substr(2, next.find('=') - 2);
        if (std::any_of(specs.begin(), specs.end(),
                        [&](const FlagSpec& s) { return s.name == next_name; })) {
          throw UsageError(absl::StrCat("--", name, " needs a value, got the option ", next,
                                        " (write --", name, "=VALUE for a value starting --)"));
        }
      }
      value = args[++i];
    }
    auto& slot = out.values_[name];
    if (!slot.empty() && !spec->repeatable) {
      throw UsageError(absl::StrCat("--", name, " given more than once"));
    }
    slot.push_back(*value);
  }
  return out;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::optional<std::string> Args::GetText(const std::string& name) const {
  std::optional<std::string> value = Get(name);
  if (value) value = RequireUtf8(*std::move(value), "--" + name);
  return value;
}

std::string RequireUtf8(std::string value, const std::string& what) {
  const absl::Status valid = ovid::text::ValidateUtf8(value, what);
  if (!valid.ok()) throw UsageError(std::string(valid.message()));
  return value;
}

std::vector<std::string> Args::All(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

template <typename T, typename Parse>
std::optional<T> Typed(const Args& args, const std::string& name, const char* what, Parse parse) {
  const auto text = args.Get(name);
  if (!text) return std::nullopt;
  T value{};
  if (!parse(*text, &value)) {
    throw UsageError(absl::StrCat("--", name, ": '", *text, "' is not ", what));
  }
  return value;
}

}  // namespace

std::optional<uint32_t> Args::GetU32(const std::string& name) const {
  return Typed<uint32_t>(*this, name, "an unsigned 32-bit integer",
                         [](const std::string& s, uint32_t* v) { return absl::SimpleAtoi(s, v); });
}

std::optional<int32_t> Args::GetI32(const std::string& name) const {
  return Typed<int32_t>(*this, name, "a 32-bit integer",
                        [](const std::string& s, int32_t* v) { return absl::SimpleAtoi(s, v); });
}

std::optional<uint64_t> Args::GetU64(const std::string& name) const {
  return Typed<uint64_t>(*this, name, "an unsigned 64-bit integer",
                         [](const std::string& s, uint64_t* v) { return absl::SimpleAtoi(s, v); });
}

std::optional<double> Args::GetDouble(const std::string& name) const {
  return Typed<double>(*this, name, "a number",
                       [](const std::string& s, double* v) { return absl::SimpleAtod(s, v); });
}

std::string SplitCommand(int argc, char** argv, std::vector<std::string>* rest) {
  std::string command;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (!command.empty() || a.rfind("--", 0) != 0) {
      if (command.empty()) {
        command = a;
      } else {
        rest->push_back(a);
      }
      continue;
    }
    rest->push_back(a);
    // A global flag's value belongs with it, not taken for the command name.
    const std::string name = a.substr(2);
    const auto& globals = GlobalFlags();
    const bool takes_value = std::any_of(globals.begin(), globals.end(), [&](const FlagSpec& s) {
      return s.name == name && s.takes_value;
    });
    if (takes_value && i + 1 < argc) rest->push_back(argv[++i]);
  }
  return command;
}

}  // namespace ovidctl
