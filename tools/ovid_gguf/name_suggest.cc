#include "tools/ovid_gguf/name_suggest.h"

#include <algorithm>
#include <utility>

namespace ovid::tools {
namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::vector<std::string> SuggestNames(std::string_view query,
                                      const std::vector<std::string>& candidates,
                                      size_t max_results) {
  const size_t limit = std::max<size_t>(3, query.size() / 3);
  std::vector<std::pair<size_t, const std::string*>> scored;
  for (const std::string& c : candidates) {
    // A substring hit ranks before any edit-distance hit.
    const size_t d =
        (!query.empty() && c.find(query) != std::string::npos) ? 0 : EditDistance(query, c) + 1;
    if (d <= limit + 1) scored.emplace_back(d, &c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < max_results; ++i) out.push_back(*scored[i].second);
  return out;
}

}  // namespace ovid::tools
