// File: engine/text/utf8.h
// The few UTF-8 operations the prompt front end needs. Prompts arrive as bytes (a proto string);
// Python, which the original cleaning runs in, only ever sees valid code points, so ovid checks
// the bytes once (ValidateUtf8) and the passes after it can decode without re-checking.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace ovid::text {

// INVALID_ARGUMENT naming `what` and the byte offset of the first malformed sequence (overlong
// forms, surrogates and values above U+10FFFF included), as Python's strict decoder would refuse.
absl::Status ValidateUtf8(std::string_view bytes, std::string_view what);

// Length of the well-formed UTF-8 sequence at `pos` (< bytes.size()), in the same sense, or 0.
size_t ValidSequenceLength(std::string_view bytes, size_t pos);

// Decodes the code point at `pos` of valid UTF-8 and advances `pos` past it. On invalid input it
// never reads past the end (a bad byte comes back as itself), but the value is meaningless.
char32_t NextCodePoint(std::string_view utf8, size_t& pos);

// Appends the UTF-8 form of a code point (at most U+10FFFF, not a surrogate).
void AppendUtf8(std::string& out, char32_t cp);

}  // namespace ovid::text
