// `ovid-gguf keys FILE --expect COMPONENT [--select KEY] [--json]`: FILE's tensors (a torch.save
// checkpoint, safetensors or GGUF) against what COMPONENT expects: the detected source layout,
// then every missing, unexpected and misshaped tensor, one per line (or as one JSON object).
// Exit 0 when the set matches, 1 when it does not or cannot be read, 2 for usage errors.
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "tools/ovid_gguf/commands.h"
#include "tools/ovid_gguf/components.h"
#include "tools/ovid_gguf/tensor_source.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "keys";
constexpr char kUsage[] =
    "usage: ovid-gguf keys FILE --expect COMPONENT [--select KEY] [--head-dim N] [--json]\n"
    "  FILE: a torch.save checkpoint (.pth/.pt), .safetensors or .gguf.\n"
    "  COMPONENT: one of the components below. --select as for convert; --head-dim for ovi.\n"
    "  Lists missing, unexpected and misshaped tensors; exit 0 when the set matches.\n";

void PrintText(const TensorSource& src, const KeyReport& r) {
  std::printf("%s: %s, %zu tensors\n", src.path.c_str(), src.format.c_str(), src.tensors.size());
  std::printf("component: %s\n", r.component.c_str());
  if (!r.error.empty()) {
    std::printf("error: %s\n", r.error.c_str());
    return;
  }
  std::printf("layout: %s\n", r.layout.c_str());
  if (!r.config.empty()) std::printf("config: %s\n", r.config.c_str());
  std::printf("missing: %zu\n", r.missing.size());
  for (const MissingTensor& m : r.missing) {
    std::printf("  %s %s\n", m.name.c_str(), ShapeText(m.shape).c_str());
  }
  std::printf("unexpected: %zu\n", r.unexpected.size());
  for (const NamedShape& u : r.unexpected) {
    std::printf("  %s %s\n", u.name.c_str(), ShapeText(u.shape).c_str());
  }
  std::printf("misshaped: %zu\n", r.misshaped.size());
  for (const MisshapedTensor& m : r.misshaped) {
    std::printf("  %s %s, expected %s\n", m.name.c_str(), ShapeText(m.shape).c_str(),
                ShapeText(m.expected).c_str());
  }
  std::printf("%s\n", r.ok() ? "OK" : "MISMATCH");
}

void PrintJson(const TensorSource& src, const KeyReport& r) {
  nlohmann::ordered_json j;
  j["file"] = src.path;
  j["format"] = src.format;
  j["tensors"] = src.tensors.size();
  j["component"] = r.component;
  j["ok"] = r.ok();
  if (!r.error.empty()) j["error"] = r.error;
  j["layout"] = r.layout;
  j["config"] = r.config;
  j["missing"] = nlohmann::ordered_json::array();
  for (const MissingTensor& m : r.missing)
    j["missing"].push_back({{"name", m.name}, {"shape", m.shape}});
  j["unexpected"] = nlohmann::ordered_json::array();
  for (const NamedShape& u : r.unexpected) {
    j["unexpected"].push_back({{"name", u.name}, {"shape", u.shape}});
  }
  j["misshaped"] = nlohmann::ordered_json::array();
  for (const MisshapedTensor& m : r.misshaped) {
    j["misshaped"].push_back({{"name", m.name}, {"shape", m.shape}, {"expected", m.expected}});
  }
  // Names are the file's bytes, not necessarily UTF-8: shown with U+FFFD rather than thrown on.
  std::printf("%s\n",
              j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

std::string ComponentList() {
  std::string out = "components:\n";
  for (const Component& c : Components()) {
    absl::StrAppend(&out, absl::StrFormat("  %-12s %s\n", c.name, c.description));
  }
  return out;
}

}  // namespace

int RunKeys(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args, {"--expect", "--select", "--head-dim"}, {"--json"});
  const std::string usage = absl::StrCat(kUsage, ComponentList());
  if (!parsed.ok()) {
    return UsageError(kCommand, std::string(parsed.status().message()), usage.c_str());
  }
  if (parsed->help) {
    std::fputs(usage.c_str(), stdout);
    return 0;
  }
  if (parsed->positional.size() != 1) return UsageError(kCommand, "expected FILE", usage.c_str());
  const std::optional<std::string> expect = parsed->Get("--expect");
  if (!expect) return UsageError(kCommand, "--expect COMPONENT is required", usage.c_str());
  const Component* component = FindComponent(*expect);
  if (component == nullptr) {
    return UsageError(kCommand, absl::StrCat("--expect: unknown component '", *expect, "'"),
                      usage.c_str());
  }
  ComponentOptions options;
  if (std::optional<std::string> v = parsed->Get("--head-dim")) {
    // As convert refuses it: silently ignored, it suggested the check had used it.
    if (std::string_view(component->name) != "ovi") {
      return UsageError(kCommand,
                        absl::StrCat("--head-dim applies to --expect ovi only, not ", *expect),
                        usage.c_str());
    }
    absl::StatusOr<int64_t> n = ParseInt("--head-dim", *v, 1);
    if (!n.ok()) return UsageError(kCommand, std::string(n.status().message()), usage.c_str());
    options.ovi_head_dim = *n;
  }
  const std::string& path = parsed->positional[0];
  absl::StatusOr<TensorSource> src = OpenTensorSource(path, parsed->Get("--select").value_or(""));
  if (!src.ok()) return Fail(kCommand, src.status());
  const KeyReport report = component->check(src->Shapes(), path, options);
  if (parsed->Has("--json")) {
    PrintJson(*src, report);
  } else {
    PrintText(*src, report);
  }
  return report.ok() ? 0 : 1;
}

}  // namespace ovid::tools
