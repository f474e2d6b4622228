// File: engine/text/spm_prefix_matcher.cc
#include "engine/text/spm_prefix_matcher.h"

#include <algorithm>
#include <deque>

namespace ovid::text {

SpmPrefixMatcher::SpmPrefixMatcher(std::vector<std::string> keys) {
  // std::string orders bytes as unsigned char, the order Child's binary search assumes.
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::erase(keys, std::string());
  if (keys.empty()) return;
  // Breadth first over ranges of sorted keys that share a prefix of `depth` bytes, so that each
  // node's children are appended one after another.
  struct Range {
    uint32_t node;
    size_t begin, end, depth;
  };
  nodes_.assign(1, Node{});
  std::deque<Range> queue = {{0, 0, keys.size(), 0}};
  while (!queue.empty()) {
    const Range r = queue.front();
    queue.pop_front();
    size_t i = r.begin;
    if (keys[i].size() == r.depth) {  // the shortest key of the range sorts first
      nodes_[r.node].key_ends = true;
      ++i;
    }
    nodes_[r.node].first_child = static_cast<uint32_t>(nodes_.size());
    while (i < r.end) {
      const auto label = static_cast<uint8_t>(keys[i][r.depth]);
      size_t j = i;
      while (j < r.end && static_cast<uint8_t>(keys[j][r.depth]) == label) ++j;
      Node child;
      child.label = label;
      nodes_.push_back(child);
      ++nodes_[r.node].child_count;
      queue.push_back({static_cast<uint32_t>(nodes_.size() - 1), i, j, r.depth + 1});
      i = j;
    }
  }
}

int SpmPrefixMatcher::Child(int node, uint8_t label) const {
  const auto begin = nodes_.begin() + nodes_[node].first_child;
  const auto end = begin + nodes_[node].child_count;
  const auto it =
      std::lower_bound(begin, end, label, [](const Node& n, uint8_t l) { return n.label < l; });
  return it != end && it->label == label ? static_cast<int>(it - nodes_.begin()) : -1;
}

size_t SpmPrefixMatcher::LongestPrefix(std::string_view text) const {
  if (nodes_.empty()) return 0;
  size_t longest = 0;
  int node = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    node = Child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    if (nodes_[node].key_ends) longest = i + 1;
  }
  return longest;
}

}  // namespace ovid::text
