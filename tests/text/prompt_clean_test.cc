// File: tests/text/prompt_clean_test.cc
// CleanPrompt against outputs worked out by hand from the original's rules (html.unescape twice,
// str.strip, regex \s+ -> ' ', strip; curly quotes straightened) and checked with Python's
// html module; test_text_vs_python.py compares many more prompts with Python directly.
#include "engine/text/prompt_clean.h"

#include <string>

#include "gtest/gtest.h"

namespace ovid::text {
namespace {

std::string Clean(const std::string& s) {
  absl::StatusOr<std::string> out = CleanPrompt(s);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "<error>";
}

TEST(CleanPrompt, CollapsesAndStripsWhitespace) {
  EXPECT_EQ(Clean("  A   dog\t\n barks.  "), "A dog barks.");
  EXPECT_EQ(Clean(""), "");
  EXPECT_EQ(Clean(" \t\r\n "), "");
  // Unicode White_Space: ideographic space, no-break space, em space, line separator.
  EXPECT_EQ(Clean("a\u3000\u00a0b\u2003c\u2028d"), "a b c d");
  // U+001C..U+001F: ftfy's remove_control_chars drops them before either whitespace rule.
  EXPECT_EQ(Clean("\x1c a\x1f"), "a");
  EXPECT_EQ(Clean("a\x1d b"), "a b");
  // U+200B (zero width space) is not whitespace for either rule.
  EXPECT_EQ(Clean("a\u200bb"), "a\u200bb");
}

TEST(CleanPrompt, FtfyControlCharacterFixes) {
  // remove_control_chars: vertical tab, BEL, DEL, BOM and the annotation marks go; tab, line
  // feed, form feed and carriage return stay (whitespace).
  EXPECT_EQ(Clean("a\vb"), "ab");
  EXPECT_EQ(Clean("bell\x07 del\x7f bom\ufeff x\ufff9y"), "bell del bom xy");
  EXPECT_EQ(Clean("a\fb\rc"), "a b c");
  // fix_c1_controls: C1 controls are read as Windows-1252 (then uncurled where they are quotes);
  // the five bytes Windows-1252 leaves undefined stay.
  EXPECT_EQ(Clean("\u0093hi\u0094 a\u0085b \u0080"), "\"hi\" a\u2026b \u20ac");
  EXPECT_EQ(Clean("a\u0081b"), "a\u0081b");
  // remove_terminal_escapes: ESC [ digits/';' letter; a bare ESC is a control character.
  EXPECT_EQ(Clean("\x1b[1;31mred\x1b[0m plain"), "red plain");
  EXPECT_EQ(Clean("\x1b[31 no letter"), "[31 no letter");
}

TEST(CleanPrompt, LeavesTagsUnicodeAndEmojiAlone) {
  const std::string prompt =
      "<S>Hello 世界, ça va? 😀<E> <AUDCAP>rain on a roof<ENDAUDCAP> Audio: wind";
  EXPECT_EQ(Clean(prompt), prompt);
}

TEST(CleanPrompt, UnescapesHtmlTwice) {
  EXPECT_EQ(Clean("Tom &amp; Jerry"), "Tom & Jerry");
  EXPECT_EQ(Clean("&amp;lt;S&amp;gt;hi&amp;lt;E&amp;gt;"), "<S>hi<E>");  // doubly escaped
  EXPECT_EQ(Clean("&amp;amp;amp;"), "&amp;");  // two passes, not a loop to a fixed point
  EXPECT_EQ(Clean("&eacute;t&eacute; &copy; &hellip;"), "été © …");
  EXPECT_EQ(Clean("&nbsp;x&nbsp;&nbsp;y&nbsp;"), "x y");  // U+00A0 is whitespace afterwards
}

TEST(CleanPrompt, NumericReferencesFollowHtml5) {
  EXPECT_EQ(Clean("&#65;&#x42;&#X43;&#68"), "ABCD");
  EXPECT_EQ(Clean("&#128;"), "€");  // remapped through windows-1252
  EXPECT_EQ(Clean("&#0;"), "\ufffd");
  EXPECT_EQ(Clean("&#xD800;"), "\ufffd");                    // surrogate
  EXPECT_EQ(Clean("&#99999999999999999999999;"), "\ufffd");  // past U+10FFFF, no overflow
  EXPECT_EQ(Clean("a&#1;b"), "ab");                          // control characters are dropped
  EXPECT_EQ(Clean("&#x1F600;"), "😀");
  EXPECT_EQ(Clean("&#x;&#;&#xg;"), "&#x;&#;&#xg;");  // not references
}

TEST(CleanPrompt, NamedReferencesUseTheLongestKnownPrefix) {
  EXPECT_EQ(Clean("&amp x"), "& x");  // legacy name without ';'
  EXPECT_EQ(Clean("&ampx"), "&x");
  EXPECT_EQ(Clean("&notit;"), "¬it;");  // "not" is a legacy name
  EXPECT_EQ(Clean("&unknown; & alone &"), "&unknown; & alone &");
  EXPECT_EQ(Clean("&AMP;&Amp;"), "&&Amp;");  // names are case-sensitive
}

TEST(CleanPrompt, StraightensCurlyQuotes) {
  EXPECT_EQ(Clean("\u201cHi,\u201d she said, \u2018ok\u2019 \u201e\u201f\u201a\u201b"),
            "\"Hi,\" she said, 'ok' \"\"''");
  // ftfy 6.3.1's single quotes include U+02BC, the modifier letter apostrophe.
  EXPECT_EQ(Clean("don\u02bct"), "don't");
}

TEST(CleanPrompt, RefusesInvalidUtf8NamingTheByte) {
  for (const std::string& bad : {std::string("ok \xff"), std::string("ok \xed\xa0\x80"),
                                 std::string("ok \xc0\xaf"), std::string("ok \xe4\xb8")}) {
    absl::StatusOr<std::string> out = CleanPrompt(bad);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(out.status().message().find("not valid UTF-8"), std::string::npos);
    EXPECT_NE(out.status().message().find("at byte 3"), std::string::npos) << out.status();
  }
}

TEST(CleanPrompt, WhitespaceSetsMatchPython) {
  EXPECT_TRUE(IsRegexWhitespace(U'\u0085'));
  EXPECT_FALSE(IsRegexWhitespace(U'\u001c'));
  EXPECT_TRUE(IsPythonWhitespace(U'\u001c'));
  EXPECT_FALSE(IsPythonWhitespace(U'\u180e'));  // Mongolian vowel separator: not since Unicode 6.3
}

}  // namespace
}  // namespace ovid::text
