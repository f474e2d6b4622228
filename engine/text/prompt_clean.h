// File: engine/text/prompt_clean.h
// The prompt cleaning of the original's tokenizer call (HuggingfaceTokenizer(clean='whitespace'),
// spec encoders.md §1), for ordinary text:
//   1. curly quotes to straight ones (ftfy's uncurl_quotes: U+02BC and U+2018..U+201B -> ',
//      U+201C..U+201F -> "), the one ftfy fix that changes ordinary prompts and that
//      SentencePiece's NFKC does not undo;
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
//   - mojibake repair (fix_encoding, C1 controls, "sloppy" codecs), terminal escape removal,
//     fullwidth/ligature fixes (NFKC covers these), line-break normalization, surrogate pairs and
//     control-character removal: ordinary prompts have none of these.
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
