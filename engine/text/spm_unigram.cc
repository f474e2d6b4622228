// File: engine/text/spm_unigram.cc
#include "engine/text/spm_unigram.h"

#include <algorithm>
#include <cfloat>
#include <cstdio>
#include <deque>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::text {
namespace {

// SentencePiece's penalty under the lowest score for covering a character with <unk>.
constexpr float kUnkPenalty = 10.0f;

// Pieces that text can produce; the rest (CONTROL, UNKNOWN, BYTE) are reserved.
bool Matchable(SpmPieceType type) {
  return type == SpmPieceType::kNormal || type == SpmPieceType::kUserDefined ||
         type == SpmPieceType::kUnused;
}

size_t CharLength(char lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[static_cast<uint8_t>(lead) >> 4];
}

}  // namespace

absl::StatusOr<SpmUnigram> SpmUnigram::Create(std::vector<SpmPiece> pieces, bool byte_fallback,
                                              std::string_view origin) {
  auto error = [&](std::string why) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": ", why));
  };
  SpmUnigram m;
  m.pieces_ = std::move(pieces);
  m.byte_fallback_ = byte_fallback;
  m.min_score_ = FLT_MAX;
  m.max_score_ = FLT_MIN;  // SentencePiece's start value: the smallest positive float, not -max
  for (size_t i = 0; i < m.pieces_.size(); ++i) {
    const SpmPiece& p = m.pieces_[i];
    if (p.piece.empty()) return error(absl::StrCat("piece ", i, " is empty"));
    if (p.type == SpmPieceType::kUnknown) {
      if (m.unk_id_ >= 0) {
        return error(absl::StrCat("pieces ", m.unk_id_, " and ", i, " are both UNKNOWN"));
      }
      m.unk_id_ = static_cast<int>(i);
    }
    if (p.type == SpmPieceType::kByte && !byte_fallback) {
      return error(absl::StrCat("byte piece ", p.piece, " (", i, ") but byte_fallback is off"));
    }
    if (p.type == SpmPieceType::kNormal) {
      m.min_score_ = std::min(m.min_score_, p.score);
      m.max_score_ = std::max(m.max_score_, p.score);
    }
  }
  if (m.unk_id_ < 0) return error("no UNKNOWN (<unk>) piece");

  // Sorted by piece, matchable pieces before reserved ones of the same text: Find then prefers
  // them, as SentencePiece's PieceToId looks in its piece map before the reserved one.
  m.sorted_ids_.resize(m.pieces_.size());
  for (size_t i = 0; i < m.pieces_.size(); ++i) m.sorted_ids_[i] = static_cast<int>(i);
  auto key = [&m](int id) {
    return std::make_tuple(std::string_view(m.pieces_[id].piece), !Matchable(m.pieces_[id].type),
                           id);
  };
  std::sort(m.sorted_ids_.begin(), m.sorted_ids_.end(),
            [&](int a, int b) { return key(a) < key(b); });
  for (size_t k = 1; k < m.sorted_ids_.size(); ++k) {
    const int a = m.sorted_ids_[k - 1];
    const int b = m.sorted_ids_[k];
    if (m.pieces_[a].piece == m.pieces_[b].piece &&
        Matchable(m.pieces_[a].type) == Matchable(m.pieces_[b].type)) {
      return error(absl::StrCat("piece ", m.pieces_[b].piece, " is defined twice (ids ", a, " and ",
                                b, ")"));
    }
  }
  m.BuildTrie();
  return m;
}

void SpmUnigram::BuildTrie() {
  // The matchable pieces in byte order (sorted_ids_ order, reserved ones left out). Breadth
  // first over ranges of pieces sharing a prefix, so each node's children are adjacent.
  std::vector<int> ids;
  for (int id : sorted_ids_) {
    if (Matchable(pieces_[id].type)) ids.push_back(id);
  }
  nodes_.assign(1, Node{});
  struct Range {
    uint32_t node;
    size_t begin, end, depth;
  };
  std::deque<Range> queue = {{0, 0, ids.size(), 0}};
  while (!queue.empty()) {
    const Range r = queue.front();
    queue.pop_front();
    size_t i = r.begin;
    if (i < r.end && pieces_[ids[i]].piece.size() == r.depth) nodes_[r.node].id = ids[i++];
    nodes_[r.node].first_child = static_cast<uint32_t>(nodes_.size());
    while (i < r.end) {
      const char label = pieces_[ids[i]].piece[r.depth];
      size_t j = i;
      while (j < r.end && pieces_[ids[j]].piece[r.depth] == label) ++j;
      Node child;
      child.label = static_cast<uint8_t>(label);
      nodes_.push_back(child);
      ++nodes_[r.node].child_count;
      queue.push_back({static_cast<uint32_t>(nodes_.size() - 1), i, j, r.depth + 1});
      i = j;
    }
  }
}

int SpmUnigram::Child(int node, uint8_t label) const {
  const Node& n = nodes_[node];
  const auto begin = nodes_.begin() + n.first_child;
  const auto end = begin + n.child_count;
  const auto it =
      std::lower_bound(begin, end, label, [](const Node& c, uint8_t l) { return c.label < l; });
  return it != end && it->label == label ? static_cast<int>(it - nodes_.begin()) : -1;
}

int SpmUnigram::Find(std::string_view piece) const {
  const auto it = std::lower_bound(
      sorted_ids_.begin(), sorted_ids_.end(), piece,
      [this](int id, std::string_view p) { return std::string_view(pieces_[id].piece) < p; });
  return it != sorted_ids_.end() && pieces_[*it].piece == piece ? *it : -1;
}

std::vector<std::string> SpmUnigram::UserDefinedSymbols() const {
  std::vector<std::string> out;
  for (const SpmPiece& p : pieces_) {
    if (p.type == SpmPieceType::kUserDefined) out.push_back(p.piece);
  }
  return out;
}

void SpmUnigram::Segment(std::string_view text, std::vector<std::pair<size_t, int>>* path) const {
  struct Best {
    int id = -1;
    float score = 0;  // the best path's score up to this byte (float, as SentencePiece keeps it)
    int64_t start = -1;
  };
  const size_t size = text.size();
  const float unk_score = min_score_ - kUnkPenalty;
  std::vector<Best> best(size + 1);
  for (size_t start = 0; start < size;) {
    const float so_far = best[start].score;
    const size_t char_len = std::min(CharLength(text[start]), size - start);
    bool has_char_piece = false;
    int node = 0;
    for (size_t end = start + 1; end <= size; ++end) {
      node = Child(node, static_cast<uint8_t>(text[end - 1]));
      if (node < 0) break;
      const int id = nodes_[node].id;
      if (id < 0 || pieces_[id].type == SpmPieceType::kUnused) continue;
      const size_t length = end - start;
      // Float sums, as SentencePiece keeps them: in double, paths of equal real score that
      // round differently would break ties otherwise than it does.
      const float score = pieces_[id].type == SpmPieceType::kUserDefined
                              ? static_cast<float>(static_cast<float>(length) * max_score_ - 0.1)
                              : pieces_[id].score;
      const float candidate = score + so_far;
      Best& target = best[end];
      if (target.start < 0 || candidate > target.score) {
        target = {id, candidate, static_cast<int64_t>(start)};
      }
      if (length == char_len) has_char_piece = true;
    }
    if (!has_char_piece) {
      const float candidate = unk_score + so_far;
      Best& target = best[start + char_len];
      if (target.start < 0 || candidate > target.score) {
        target = {unk_id_, candidate, static_cast<int64_t>(start)};
      }
    }
    start += char_len;
  }
  path->clear();
  for (size_t end = size; end > 0; end = static_cast<size_t>(best[end].start)) {
    path->emplace_back(static_cast<size_t>(best[end].start), best[end].id);
  }
  std::reverse(path->begin(), path->end());
}

void SpmUnigram::Encode(std::string_view normalized, std::vector<int>* ids) const {
  std::vector<std::pair<size_t, int>> path;
  Segment(normalized, &path);
  bool prev_unk = false;
  for (size_t k = 0; k < path.size(); ++k) {
    const auto [begin, id] = path[k];
    const bool unk = id == unk_id_;
    if (unk && byte_fallback_) {
      const size_t end = k + 1 < path.size() ? path[k + 1].first : normalized.size();
      for (size_t i = begin; i < end; ++i) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<uint8_t>(normalized[i]));
        const int byte_id = Find(name);
        ids->push_back(byte_id >= 0 ? byte_id : unk_id_);
      }
    } else if (!(unk && prev_unk)) {
      ids->push_back(id);  // a run of <unk>s stays one <unk>
    }
    prev_unk = unk;
  }
}

}  // namespace ovid::text
