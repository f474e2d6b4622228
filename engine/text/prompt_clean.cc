// File: engine/text/prompt_clean.cc
#include "engine/text/prompt_clean.h"

#include "engine/text/html_unescape.h"
#include "engine/text/utf8.h"

namespace ovid::text {
namespace {

// ftfy's remove_terminal_escapes: ESC '[' then digits and ';' then one ASCII letter.
std::string RemoveTerminalEscapes(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t pos = 0;
  while (pos < utf8.size()) {
    if (utf8[pos] == '\x1b' && pos + 1 < utf8.size() && utf8[pos + 1] == '[') {
      size_t end = pos + 2;
      while (end < utf8.size() && ((utf8[end] >= '0' && utf8[end] <= '9') || utf8[end] == ';')) {
        ++end;
      }
      const char c = end < utf8.size() ? utf8[end] : '\0';
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        pos = end + 1;
        continue;
      }
    }
    out += utf8[pos++];  // byte-wise: ESC and '[' are ASCII, so UTF-8 sequences pass whole
  }
  return out;
}

// ftfy's fix_c1_controls: U+0080..U+009F as ftfy's sloppy-windows-1252 decodes the byte (the
// five bytes Windows-1252 leaves undefined stay themselves).
char32_t FixC1Control(char32_t c) {
  static constexpr char32_t kWindows1252[32] = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
  return c >= 0x80 && c <= 0x9F ? kWindows1252[c - 0x80] : c;
}

// ftfy's remove_control_chars (chardata.CONTROL_CHARS): C0 controls other than \t \n \f \r,
// DEL, the deprecated format controls, the BOM and the interlinear annotation marks.
bool IsFtfyControl(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

// ftfy's fix_c1_controls, uncurl_quotes and remove_control_chars, in that order, in one pass
// (each maps one code point to at most one, and none produces what a later one changes but
// the C1 quotes, which uncurl then straightens).
std::string FixCodePoints(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t pos = 0;
  while (pos < utf8.size()) {
    const char32_t c = FixC1Control(NextCodePoint(utf8, pos));
    if (IsFtfyControl(c)) continue;
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
  const std::string unescaped =
      HtmlUnescape(HtmlUnescape(FixCodePoints(RemoveTerminalEscapes(prompt))));
  return std::string(PythonStrip(CollapseWhitespace(PythonStrip(unescaped))));
}

}  // namespace ovid::text
