// File: engine/text/prompt_clean.h
// The prompt cleaning of the original's tokenizer call (HuggingfaceTokenizer(clean='whitespace'),
// spec encoders.md §1), for ordinary text:
//   1. the ftfy 6.3.1 fixes that change token ids and that SentencePiece's NFKC does not undo:
//      terminal escapes removed (remove_terminal_escapes: ESC [ digits/';' letter), C1 controls
//      U+0080..U+009F read as Windows-1252 the way browsers do (fix_c1_controls: U+0093 -> “,
//      U+0085 -> …), curly quotes straightened (uncurl_quotes: U+02BC and U+2018..U+201B -> ',
//      U+201C..U+201F -> "), and control characters dropped (remove_control_chars: U+0000..0008,
//      000B, 000E..001F, 007F, 206A..206F, FEFF, FFF9..FFFC), in ftfy's order;
//   2. html.unescape twice, then str.strip();
//   3. every run of whitespace (the `regex` module's \s: Unicode White_Space) becomes one space,
//      then str.strip() again (Python's isspace, which also counts U+001C..U+001F).
//
// The rest of ftfy.fix_text is NOT reproduced (ftfy is not linked; tests/text compares with
// ftfy 6.3.1 itself and lists what differs):
//   - NFC normalization: SentencePiece's nmt_nfkc normalizer runs next and NFKC(NFC(x)) =
//     NFKC(x), so the token ids are expected to be the same.
//   - ftfy's own HTML unescaping, which it does only when the text has no '<': triply escaped
//     text without '<' ("&amp;amp;amp;") keeps one more level of escaping here, and an entity of a
//     curly quote (&ldquo;) in such text stays curly here where ftfy would straighten it.
//   - mojibake repair (fix_encoding and its "sloppy" codecs), fullwidth/ligature fixes (NFKC
//     covers these), line-break normalization (every break is whitespace to step 3) and
//     surrogate pairs (not valid UTF-8, refused): ordinary prompts have none of these.
//   - terminal escapes whose digits are not ASCII (Python's \d takes any Unicode digit).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovid::text {

// The cleaned prompt. INVALID_ARGUMENT if `prompt` is not valid UTF-8 (naming the byte offset).
absl::StatusOr<std::string> CleanPrompt(std::string_view prompt);

// Whitespace as the two Python rules see it (exposed for the tests).
bool IsRegexWhitespace(char32_t c);   // regex's \s: the Unicode White_Space property
bool IsPythonWhitespace(char32_t c);  // str.isspace(): White_Space plus U+001C..U+001F

}  // namespace ovid::text
