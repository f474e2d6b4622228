// File: engine/text/prompt_clean.cc
#include "engine/text/prompt_clean.h"

#include "engine/text/html_unescape.h"
#include "engine/text/utf8.h"

namespace ovid::text {
namespace {

std::string UncurlQuotes(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t pos = 0;
  while (pos < utf8.size()) {
    const char32_t c = NextCodePoint(utf8, pos);
    // ftfy's uncurl_quotes: [\u02bc\u2018-\u201b] -> ', [\u201c-\u201f] -> " (U+02BC, the
    // modifier letter apostrophe, is a single quote there too).
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      out += '\'';
    } else if (c >= 0x201C && c <= 0x201F) {
      out += '"';
    } else {
      AppendUtf8(out, c);
    }
  }
  return out;
}

// str.strip(): drops leading and trailing code points for which isspace() is true.
std::string_view PythonStrip(std::string_view utf8) {
  size_t begin = 0;
  while (begin < utf8.size()) {
    size_t next = begin;
    if (!IsPythonWhitespace(NextCodePoint(utf8, next))) break;
    begin = next;
  }
  // Scan forward to find where the trailing whitespace starts (UTF-8 is awkward backwards).
  size_t end = begin;
  size_t pos = begin;
  while (pos < utf8.size()) {
    if (!IsPythonWhitespace(NextCodePoint(utf8, pos))) end = pos;
  }
  return utf8.substr(begin, end - begin);
}

// regex.sub(r'\s+', ' ', text).
std::string CollapseWhitespace(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t pos = 0;
  bool in_run = false;
  while (pos < utf8.size()) {
    const size_t start = pos;
    const char32_t c = NextCodePoint(utf8, pos);
    if (IsRegexWhitespace(c)) {
      if (!in_run) out += ' ';
      in_run = true;
    } else {
      out.append(utf8.substr(start, pos - start));
      in_run = false;
    }
  }
  return out;
}

}  // namespace

bool IsRegexWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool IsPythonWhitespace(char32_t c) { return IsRegexWhitespace(c) || (c >= 0x1C && c <= 0x1F); }

absl::StatusOr<std::string> CleanPrompt(std::string_view prompt) {
  if (absl::Status valid = ValidateUtf8(prompt, "prompt"); !valid.ok()) return valid;
  const std::string unescaped = HtmlUnescape(HtmlUnescape(UncurlQuotes(prompt)));
  return std::string(PythonStrip(CollapseWhitespace(PythonStrip(unescaped))));
}

}  // namespace ovid::text
