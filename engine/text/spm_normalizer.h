// File: engine/text/spm_normalizer.h
// SentencePiece's text normalizer, as encoding runs it (spec: the NormalizerSpec of the model).
//
// 1. Character rules from `precompiled_charsmap` (empty for the "identity" normalizer). The blob
//    is a little-endian uint32 byte size of a Darts-clone double-array trie, that trie (uint32
//    units) over the UTF-8 bytes of the source strings, then the replacement strings, each ended
//    by NUL; a key's value is its replacement's offset in that part. At each position the longest
//    key that prefixes the rest of the text (among the trie's first 32 prefix matches) is
//    replaced; where none matches, one UTF-8 character is copied unchanged, and a malformed byte
//    becomes U+FFFD, consuming that one byte (Tokenizer only passes valid UTF-8, so this is for
//    other callers). A user-defined symbol at the position wins over the rules and is copied
//    verbatim (the longest one first).
// 2. Whitespace, on the replaced pieces:
//    - remove_extra_whitespaces: leading pieces that are exactly " " are dropped; a piece's
//      leading spaces are dropped while the text so far ends in a space (so runs collapse to
//      one); trailing spaces (U+2581 when escaping) are trimmed at the end;
//    - add_dummy_prefix: one space before the text (after it with treat_whitespace_as_suffix),
//      unless the text normalizes to nothing;
//    - escape_whitespaces: every ' ' becomes U+2581 "▁".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/text/spm_model_proto.h"
#include "engine/text/spm_prefix_matcher.h"

namespace ovid::text {

class SpmNormalizer {
 public:
  // INVALID_ARGUMENT naming `origin` when the charsmap is malformed: too short, a trie size past
  // the blob, a trie key whose replacement offset lies outside the strings or is not NUL-ended,
  // a cycle in the trie, or a rule key (or path) longer than 256 bytes, which would make every
  // prompt byte walk that far (spm_normalizer.cc, CheckTrie).
  static absl::StatusOr<SpmNormalizer> Create(const SpmNormalizerSpec& spec,
                                              bool treat_whitespace_as_suffix,
                                              std::vector<std::string> user_defined_symbols,
                                              std::string_view origin);

  std::string Normalize(std::string_view text) const;

 private:
  SpmNormalizer() = default;

  // The replacement of the text's prefix and the bytes it consumes.
  std::string_view NormalizePrefix(std::string_view text, size_t* consumed) const;
  // Length of the longest charsmap key that prefixes `text`, 0 if none; *value its string offset.
  size_t LongestRule(std::string_view text, uint32_t* value) const;

  SpmNormalizerSpec spec_;
  bool suffix_ = false;
  std::vector<uint32_t> trie_;  // Darts-clone units; empty without character rules
  size_t longest_key_ = 0;      // bytes of the longest rule key (CheckTrie bounds it)
  std::string replacements_;    // NUL-ended replacement strings
  SpmPrefixMatcher user_;       // user-defined symbols
};

}  // namespace ovid::text
