// File: engine/text/html_unescape.cc
// Matches what Python's html.unescape matches: after '&', the first of
//   '#' decimal digits [';'],  '#' ('x'|'X') hex digits [';'],
//   1 to 32 code points other than TAB LF FF space '<' '&' '#' ';', then [';'];
// anything else leaves the '&' as it is. The tables come from Python's own (html_entities.inc).
#include "engine/text/html_unescape.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "engine/text/utf8.h"

namespace ovid::text {
namespace {

struct NamedEntity {
  const char* name;
  const char* value;
};
struct RemappedCharref {
  char32_t code_point;
  const char* value;
};

#include "engine/text/html_entities.inc"

// The longest name Python's pattern takes, in code points.
constexpr int kMaxNameCodePoints = 32;
constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kMaxCodePoint = 0x10FFFF;

const char* FindNamed(std::string_view name) {
  const auto* end = std::end(kNamedEntities);
  const auto* it = std::lower_bound(
      std::begin(kNamedEntities), end, name,
      [](const NamedEntity& e, std::string_view key) { return std::string_view(e.name) < key; });
  return it != end && std::string_view(it->name) == name ? it->value : nullptr;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

// Python's int() has no limit; every value past U+10FFFF decodes the same, so saturate there.
void AppendNumeric(std::string& out, char32_t num) {
  for (const RemappedCharref& r : kRemappedCharrefs) {
    if (r.code_point == num) {
      out += r.value;
      return;
    }
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > kMaxCodePoint) {
    AppendUtf8(out, kReplacement);
    return;
  }
  if (std::binary_search(std::begin(kDroppedCodepoints), std::end(kDroppedCodepoints), num)) {
    return;
  }
  AppendUtf8(out, num);
}

// A numeric reference at s[pos] == '#'; returns the bytes consumed after '&', 0 if none matches.
size_t NumericRef(std::string_view s, size_t pos, std::string& out) {
  size_t i = pos + 1;
  const bool hex = i + 1 < s.size() && (s[i] == 'x' || s[i] == 'X') && IsHexDigit(s[i + 1]);
  if (hex) ++i;
  if (i >= s.size() || !(hex ? IsHexDigit(s[i]) : IsDigit(s[i]))) return 0;
  uint64_t num = 0;
  for (; i < s.size() && (hex ? IsHexDigit(s[i]) : IsDigit(s[i])); ++i) {
    num = num * (hex ? 16 : 10) + static_cast<uint64_t>(hex ? HexValue(s[i]) : s[i] - '0');
    num = std::min<uint64_t>(num, kMaxCodePoint + 1);
  }
  if (i < s.size() && s[i] == ';') ++i;
  AppendNumeric(out, static_cast<char32_t>(num));
  return i - pos;
}

bool EndsName(char32_t c) {
  return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
         c == ';';
}

// A named reference starting at s[pos]; returns the bytes consumed after '&', 0 if none matches.
size_t NamedRef(std::string_view s, size_t pos, std::string& out) {
  size_t end = pos;
  int code_points = 0;
  size_t ascii_prefix = 0;  // bytes before the first non-ASCII code point of the name
  bool all_ascii = true;
  while (end < s.size() && code_points < kMaxNameCodePoints) {
    size_t next = end;
    const char32_t c = NextCodePoint(s, next);
    if (EndsName(c)) break;
    if (c >= 0x80) all_ascii = false;
    if (all_ascii) ascii_prefix = next - pos;
    end = next;
    ++code_points;
  }
  if (code_points == 0) return 0;
  if (end < s.size() && s[end] == ';') ++end;
  const std::string_view match = s.substr(pos, end - pos);
  if (const char* value = FindNamed(match)) {
    out += value;
    return match.size();
  }
  // The longest prefix of 2 or more code points, shorter than the match, that is a name: names
  // are ASCII, so only the ASCII head of the match can hold one (and there bytes = code points).
  const int match_code_points = code_points + (match.back() == ';' ? 1 : 0);
  for (size_t len = std::min<size_t>(ascii_prefix, match_code_points - 1); len >= 2; --len) {
    if (const char* value = FindNamed(match.substr(0, len))) {
      out += value;
      out += match.substr(len);
      return match.size();
    }
  }
  out += '&';
  out += match;
  return match.size();
}

}  // namespace

std::string HtmlUnescape(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t pos = 0;
  while (pos < utf8.size()) {
    const size_t amp = utf8.find('&', pos);
    if (amp == std::string_view::npos) {
      out += utf8.substr(pos);
      break;
    }
    out += utf8.substr(pos, amp - pos);
    pos = amp + 1;
    if (pos >= utf8.size()) {
      out += '&';
      break;
    }
    const size_t consumed =
        utf8[pos] == '#' ? NumericRef(utf8, pos, out) : NamedRef(utf8, pos, out);
    if (consumed == 0) out += '&';
    pos += consumed;
  }
  return out;
}

}  // namespace ovid::text
