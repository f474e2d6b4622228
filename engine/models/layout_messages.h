// File: engine/models/layout_messages.h
// How the components' tensor-set checks word their errors: shapes as "[80, 384, 3]" and long
// name lists capped at 40 per category, so one broken file gives one readable message.
// Header-only and torch-free (shared by the Wan VAE and audio layout libraries).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ovid::models {

inline std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Appends "N WHAT: a, b, ... (M more)" to `parts`; nothing for an empty list.
inline void AppendCapped(const std::vector<std::string>& items, const char* what,
                         std::vector<std::string>* parts) {
  if (items.empty()) return;
  constexpr size_t kCap = 40;
  std::vector<std::string> shown(items.begin(), items.begin() + std::min(items.size(), kCap));
  std::string part = absl::StrCat(items.size(), " ", what, ": ", absl::StrJoin(shown, ", "));
  if (items.size() > kCap) absl::StrAppend(&part, ", ... (", items.size() - kCap, " more)");
  parts->push_back(std::move(part));
}

}  // namespace ovid::models
