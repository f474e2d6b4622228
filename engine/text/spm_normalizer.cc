// File: engine/text/spm_normalizer.cc
#include "engine/text/spm_normalizer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/text/utf8.h"

namespace ovid::text {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581
// SentencePiece looks at no more than this many prefix matches of the charsmap trie.
constexpr int kMaxRuleMatches = 32;
// The longest normalization rule key (source string) accepted, in bytes. SentencePiece's own rule
// sets have keys of a few characters (the longest in nmt_nfkc, nfkc and their _cf forms is 12
// bytes); see CheckTrie for why there is a limit at all.
constexpr size_t kMaxRuleKeyBytes = 256;

// Darts-clone's unit layout: bit 8 says the node has a leaf (a key ends here), whose value unit
// sits at the node's offset; a value unit has bit 31 set, so its "label" never equals a byte.
bool HasLeaf(uint32_t unit) { return (unit >> 8) & 1; }
uint32_t Value(uint32_t unit) { return unit & 0x7FFFFFFFu; }
uint32_t Label(uint32_t unit) { return unit & 0x800000FFu; }
uint32_t Offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

uint32_t LittleEndian32(const char* p) {
  uint8_t b[4];
  std::memcpy(b, p, 4);
  return b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
}

// Walks every state reachable from the root (over all 256 labels, so also what a NUL byte could
// reach), checks each leaf's replacement offset, so Normalize never reads outside the blob, and
// returns the longest key in bytes. LongestRule follows the text's bytes through the trie until
// they leave it, so a cycle (a state reachable from itself, which no real trie has) or a very
// deep chain made every position of the text walk to its end: a 400-byte charsmap with one
// looping unit took 16 s for a 64 KiB prompt of one letter. Refusing cycles and keys longer
// than kMaxRuleKeyBytes, and stopping the walk at the longest key, bound a prompt's
// normalization to kMaxRuleKeyBytes steps per byte whatever the model.
absl::StatusOr<size_t> CheckTrie(const std::vector<uint32_t>& trie, std::string_view strings,
                                 std::string_view origin) {
  auto error = [&](std::string why) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(origin), ": malformed precompiled_charsmap (normalizer rules): ", why));
  };
  // A state is the base a walk stands on; its children are the units base ^ label. Only bases
  // below the trie rounded up to 256 units have any, so the rest are dead ends.
  const size_t states = (trie.size() + 255) / 256 * 256;
  enum : uint8_t { kNew, kOnPath, kDone };
  std::vector<uint8_t> mark(states, kNew);
  std::vector<int32_t> deepest(states, -1);  // the longest key below a state, -1 for none
  struct Frame {
    uint32_t base;
    uint32_t label;  // the next label to try
  };
  // `base` has a child whose state has keys of up to `below` more bytes (-1: none), or a leaf (0).
  auto extend = [&deepest](uint32_t base, int32_t below) {
    if (below >= 0) deepest[base] = std::max(deepest[base], below + 1);
  };
  const uint32_t root = Offset(trie[0]);
  if (root >= states) return 0;
  std::vector<Frame> path = {{root, 0}};
  mark[root] = kOnPath;
  while (!path.empty()) {
    Frame& frame = path.back();
    if (frame.label == 256) {
      mark[frame.base] = kDone;
      const int32_t below = deepest[frame.base];
      path.pop_back();
      if (!path.empty()) extend(path.back().base, below);
      continue;
    }
    const uint32_t label = frame.label++;
    const uint32_t child = frame.base ^ label;
    if (child >= trie.size() || Label(trie[child]) != label) continue;
    const uint32_t next = child ^ Offset(trie[child]);
    if (HasLeaf(trie[child])) {
      if (next >= trie.size()) return error(absl::StrCat("trie unit ", child, " has no value"));
      const uint32_t value = Value(trie[next]);
      if (value >= strings.size() || strings.find('\0', value) == std::string_view::npos) {
        return error(absl::StrCat("trie unit ", next, " points at byte ", value,
                                  " of the replacement strings, which are ", strings.size(),
                                  " bytes with no NUL after it"));
      }
      extend(frame.base, 0);
    }
    if (next >= states) continue;
    if (mark[next] == kOnPath) {
      return error(absl::StrCat("trie unit ", child, " leads back to a state on its own path"));
    }
    if (mark[next] == kDone) {  // shared by two paths (Darts-clone merges common suffixes)
      extend(frame.base, deepest[next]);
      continue;
    }
    mark[next] = kOnPath;
    path.push_back({next, 0});
    if (path.size() > kMaxRuleKeyBytes + 1) {
      return error(absl::StrCat("a path longer than ", kMaxRuleKeyBytes,
                                " bytes (the longest rule key accepted)"));
    }
  }
  const int32_t longest = deepest[root];
  if (longest > static_cast<int32_t>(kMaxRuleKeyBytes)) {
    return error(absl::StrCat("a rule key of ", longest, " bytes, longer than ", kMaxRuleKeyBytes,
                              " bytes (the longest accepted)"));
  }
  return static_cast<size_t>(std::max(longest, 0));
}

}  // namespace

absl::StatusOr<SpmNormalizer> SpmNormalizer::Create(const SpmNormalizerSpec& spec,
                                                    bool treat_whitespace_as_suffix,
                                                    std::vector<std::string> user_defined_symbols,
                                                    std::string_view origin) {
  SpmNormalizer n;
  n.spec_ = spec;
  n.spec_.precompiled_charsmap.clear();  // kept decoded in trie_ and replacements_
  n.suffix_ = treat_whitespace_as_suffix;
  // A trie, not a list to try in turn: that cost every prompt byte one comparison per symbol.
  n.user_ = SpmPrefixMatcher(std::move(user_defined_symbols));
  const std::string_view blob = spec.precompiled_charsmap;
  if (blob.empty()) return n;
  auto error = [&](std::string why) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(origin), ": malformed precompiled_charsmap (normalizer rules): ", why));
  };
  if (blob.size() <= 4) return error(absl::StrCat("only ", blob.size(), " bytes"));
  const uint32_t trie_bytes = LittleEndian32(blob.data());
  if (trie_bytes > blob.size() - 4 || trie_bytes == 0 || trie_bytes % 4 != 0) {
    return error(absl::StrCat("trie size ", trie_bytes, " does not fit the ", blob.size(),
                              "-byte blob in whole 4-byte units"));
  }
  n.trie_.resize(trie_bytes / 4);
  for (size_t i = 0; i < n.trie_.size(); ++i) n.trie_[i] = LittleEndian32(blob.data() + 4 + 4 * i);
  n.replacements_.assign(blob.substr(4 + trie_bytes));
  absl::StatusOr<size_t> longest_key = CheckTrie(n.trie_, n.replacements_, origin);
  if (!longest_key.ok()) return longest_key.status();
  n.longest_key_ = *longest_key;
  return n;
}

size_t SpmNormalizer::LongestRule(std::string_view text, uint32_t* value) const {
  if (trie_.empty()) return 0;
  // Darts-clone's common-prefix search: follow the text's bytes; every node with a leaf on the
  // way is a key that prefixes the text.
  size_t longest = 0;
  int matches = 0;
  uint32_t pos = Offset(trie_[0]);
  // No key is longer than longest_key_, so no match lies further (CheckTrie says why it matters).
  const size_t end = std::min(text.size(), longest_key_);
  for (size_t i = 0; i < end && matches < kMaxRuleMatches; ++i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    pos ^= byte;
    if (pos >= trie_.size() || Label(trie_[pos]) != byte) break;
    const uint32_t unit = trie_[pos];
    pos ^= Offset(unit);
    if (HasLeaf(unit)) {
      if (pos >= trie_.size()) break;  // CheckTrie ruled this out
      longest = i + 1;
      *value = Value(trie_[pos]);
      ++matches;
    }
  }
  return longest;
}

std::string_view SpmNormalizer::NormalizePrefix(std::string_view text, size_t* consumed) const {
  if (const size_t n = user_.LongestPrefix(text); n > 0) {
    *consumed = n;
    return text.substr(0, n);
  }
  uint32_t value = 0;
  if (const size_t n = LongestRule(text, &value); n > 0) {
    *consumed = n;
    if (value >= replacements_.size()) return {};            // CheckTrie ruled this out
    return std::string_view(replacements_.c_str() + value);  // NUL-ended
  }
  // No rule: the character as it is; a malformed byte becomes U+FFFD, one byte at a time.
  *consumed = ValidSequenceLength(text, 0);
  if (*consumed == 0) {
    *consumed = 1;
    return "\xEF\xBF\xBD";
  }
  return text.substr(0, *consumed);
}

std::string SpmNormalizer::Normalize(std::string_view text) const {
  std::string out;
  size_t consumed = 0;
  if (spec_.remove_extra_whitespaces) {
    while (!text.empty()) {
      if (NormalizePrefix(text, &consumed) != " ") break;
      text.remove_prefix(consumed);
    }
  }
  if (text.empty()) return out;
  const std::string_view space = spec_.escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
  if (spec_.add_dummy_prefix && !suffix_) out.append(space);
  bool prev_space = spec_.remove_extra_whitespaces;
  while (!text.empty()) {
    std::string_view piece = NormalizePrefix(text, &consumed);
    text.remove_prefix(consumed);
    while (prev_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    if (!piece.empty()) {
      for (const char c : piece) {
        if (c == ' ' && spec_.escape_whitespaces) {
          out.append(kSpaceSymbol);
        } else {
          out.push_back(c);
        }
      }
      prev_space = piece.back() == ' ';
    }
    if (!spec_.remove_extra_whitespaces) prev_space = false;
  }
  if (spec_.remove_extra_whitespaces) {
    while (out.size() >= space.size() &&
           std::string_view(out).substr(out.size() - space.size()) == space) {
      out.resize(out.size() - space.size());
    }
  }
  if (spec_.add_dummy_prefix && suffix_) out.append(space);
  return out;
}

}  // namespace ovid::text
