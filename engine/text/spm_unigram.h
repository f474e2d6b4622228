// File: engine/text/spm_unigram.h
// SentencePiece's unigram segmentation of normalized text (encoding only, no training): the
// Viterbi path that maximizes the sum of the pieces' scores, as SentencePiece computes it.
//   - Candidates are the NORMAL and USER_DEFINED pieces that start at a character boundary
//     (UNUSED pieces are in the dictionary but skipped; CONTROL, UNKNOWN and BYTE pieces are never
//     matched in text). A USER_DEFINED piece of n bytes scores n * max_score - 0.1, where
//     max_score is the highest NORMAL score (at least FLT_MIN), so it nearly always wins.
//   - A character that starts no single-character piece may also be covered by <unk> alone,
//     scoring min_score - 10 (min_score: the lowest NORMAL score).
//   - Path scores are float sums, compared strictly, so of equal paths the first candidate (in
//     order of start, then length) stays; summing in double instead changes which of two paths
//     that differ only by rounding wins (test_spm_vs_python.py's "permutations" model).
// Afterwards, consecutive <unk>s merge into one (SentencePiece merges their surfaces), or, with
// byte_fallback, each <unk>'s UTF-8 bytes become the <0xXX> byte pieces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/spm_model_proto.h"

namespace ovid::text {

class SpmUnigram {
 public:
  // INVALID_ARGUMENT naming `origin` for an empty or repeated piece, no or two UNKNOWN pieces,
  // or BYTE pieces without byte_fallback (SentencePiece refuses the same models).
  static absl::StatusOr<SpmUnigram> Create(std::vector<SpmPiece> pieces, bool byte_fallback,
                                           std::string_view origin);

  // Appends the ids of `normalized` (the normalizer's output) to *ids.
  void Encode(std::string_view normalized, std::vector<int>* ids) const;

  // The id of a piece of any type, -1 if none.
  int Find(std::string_view piece) const;
  const std::vector<SpmPiece>& pieces() const { return pieces_; }
  std::vector<std::string> UserDefinedSymbols() const;
  int unk_id() const { return unk_id_; }

 private:
  // A byte trie of the matchable pieces; a node's children are contiguous and sorted by label.
  struct Node {
    int32_t id = -1;  // the piece ending here, -1 if none
    uint32_t first_child = 0;
    uint32_t child_count = 0;
    uint8_t label = 0;
  };
  SpmUnigram() = default;
  void BuildTrie();
  int Child(int node, uint8_t label) const;
  // Viterbi: the pieces' (begin, id) in order.
  void Segment(std::string_view text, std::vector<std::pair<size_t, int>>* path) const;

  std::vector<SpmPiece> pieces_;
  std::vector<Node> nodes_;
  std::vector<int> sorted_ids_;  // all pieces' ids sorted by piece, for Find
  int unk_id_ = -1;
  bool byte_fallback_ = false;
  float min_score_ = 0;
  float max_score_ = 0;
};

}  // namespace ovid::text
