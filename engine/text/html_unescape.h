// File: engine/text/html_unescape.h
// Python's html.unescape, reproduced for the prompt cleaning of the original (Wan's
// `basic_clean`, spec encoders.md §1 step 2), so that a prompt decodes to the same text here as
// there: HTML5 named references with and without the ';' (the legacy forms such as "&amp" and
// the longest-prefix rule that turns "&notit;" into "¬it;"), decimal and hexadecimal numeric
// references with the HTML5 remapping (&#128; is "€", &#0; and surrogates are U+FFFD, values past
// U+10FFFF too, control and non-characters are dropped). One call is one pass: the original
// calls it twice, so doubly escaped text ("&amp;lt;") comes out unescaped and triply escaped text
// keeps one level.
#pragma once

#include <string>
#include <string_view>

namespace ovid::text {

// One unescaping pass over valid UTF-8 (ValidateUtf8 first); replacements are not rescanned.
std::string HtmlUnescape(std::string_view utf8);

}  // namespace ovid::text
