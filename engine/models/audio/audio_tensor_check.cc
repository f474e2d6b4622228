#include "engine/models/audio/audio_tensor_check.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/models/layout_messages.h"

namespace ovid::audio {
namespace {

using models::AppendCapped;

std::string ShapesString(const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<std::string> s;
  for (const auto& shape : shapes) s.push_back(ShapeString(shape));
  return absl::StrJoin(s, " or ");
}

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) { return models::ShapeString(shape); }

absl::Status CheckTensorSet(const std::vector<NamedShape>& actual,
                            const std::vector<ExpectedTensor>& expected,
                            const std::vector<std::string>& ignored_prefixes,
                            absl::string_view source, absl::string_view model,
                            std::vector<std::string>* ignored) {
  std::map<std::string, const ExpectedTensor*> by_name;
  for (const ExpectedTensor& e : expected) by_name[e.file] = &e;
  std::set<std::string> seen;
  std::vector<std::string> missing, unexpected, misshaped;
  for (const NamedShape& a : actual) {
    auto it = by_name.find(a.name);
    if (it == by_name.end()) {
      const bool skip = std::any_of(ignored_prefixes.begin(), ignored_prefixes.end(),
                                    [&](const std::string& p) { return absl::StartsWith(a.name, p); });
      if (skip) {
        if (ignored != nullptr) ignored->push_back(a.name);
      } else {
        unexpected.push_back(a.name);
      }
      continue;
    }
    seen.insert(a.name);
    const auto& shapes = it->second->shapes;
    if (std::find(shapes.begin(), shapes.end(), a.shape) == shapes.end()) {
      misshaped.push_back(
          absl::StrCat(a.name, " is ", ShapeString(a.shape), ", expected ", ShapesString(shapes)));
    }
  }
  for (const ExpectedTensor& e : expected) {
    if (!e.optional && !seen.count(e.file)) {
      missing.push_back(absl::StrCat(e.file, " ", ShapeString(e.shapes.front())));
    }
  }
  if (missing.empty() && unexpected.empty() && misshaped.empty()) return absl::OkStatus();
  std::vector<std::string> parts;
  AppendCapped(missing, "missing", &parts);
  AppendCapped(unexpected, "unexpected", &parts);
  AppendCapped(misshaped, "misshaped", &parts);
  return absl::InvalidArgumentError(absl::StrCat(source, ": tensors do not match the ", model,
                                                 ": ", absl::StrJoin(parts, "; ")));
}

}  // namespace ovid::audio
