// File: tools/ovid_gguf/key_report.cc
#include "tools/ovid_gguf/key_report.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ovid::tools {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

void CompareTensorSets(const std::vector<ExpectedTensor>& expected,
                       const std::vector<NamedShape>& actual, KeyReport* report) {
  std::map<std::string, const NamedShape*> present;
  for (const NamedShape& t : actual) present.emplace(t.name, &t);
  std::map<std::string, bool> known;  // every accepted name
  for (const ExpectedTensor& e : expected) {
    for (const std::string& n : e.names) known[n] = true;
    const NamedShape* found = nullptr;
    for (const std::string& n : e.names) {
      if (auto it = present.find(n); it != present.end()) {
        found = it->second;
        break;
      }
    }
    if (found == nullptr) {
      if (e.optional) continue;
      std::string name = e.names[0];
      if (e.names.size() > 1) {
        absl::StrAppend(&name, " (or ", absl::StrJoin(e.names.begin() + 1, e.names.end(), ", "),
                        ")");
      }
      report->missing.push_back({name, e.shapes.empty() ? std::vector<int64_t>{} : e.shapes[0]});
    } else if (std::find(e.shapes.begin(), e.shapes.end(), found->shape) == e.shapes.end()) {
      report->misshaped.push_back({found->name, found->shape, e.shapes[0]});
    }
  }
  report->recognized = 0;
  for (const NamedShape& t : actual) {
    if (known.count(t.name)) {
      ++report->recognized;
    } else {
      report->unexpected.push_back(t);
    }
  }
}

std::string KeyReport::Summary(std::string_view source, size_t max_listed) const {
  const std::string head = absl::StrCat(std::string(source), ": ");
  if (!error.empty()) return error.rfind(head, 0) == 0 ? error : head + error;
  auto list = [&](const std::vector<std::string>& items, const char* what) {
    std::vector<std::string> shown(items.begin(),
                                   items.begin() + std::min(items.size(), max_listed));
    std::string out = absl::StrCat(items.size(), " ", what, ": ", absl::StrJoin(shown, ", "));
    if (items.size() > max_listed)
      absl::StrAppend(&out, ", ... (", items.size() - max_listed, " more)");
    return out;
  };
  std::vector<std::string> parts;
  if (!missing.empty()) {
    std::vector<std::string> items;
    for (const MissingTensor& m : missing)
      items.push_back(absl::StrCat(m.name, " ", ShapeText(m.shape)));
    parts.push_back(list(items, "missing"));
  }
  if (!unexpected.empty()) {
    std::vector<std::string> items;
    for (const NamedShape& u : unexpected) items.push_back(u.name);
    parts.push_back(list(items, "unexpected"));
  }
  if (!misshaped.empty()) {
    std::vector<std::string> items;
    for (const MisshapedTensor& m : misshaped) {
      items.push_back(
          absl::StrCat(m.name, " ", ShapeText(m.shape), ", expected ", ShapeText(m.expected)));
    }
    parts.push_back(list(items, "misshaped"));
  }
  if (parts.empty())
    return absl::StrCat(head, "tensors match ", component, " (", layout, " layout)");
  return absl::StrCat(head, "tensors do not match ", component, " (", layout,
                      " layout): ", absl::StrJoin(parts, "; "));
}

}  // namespace ovid::tools
