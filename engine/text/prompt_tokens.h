// File: engine/text/prompt_tokens.h
// The original's whole text path for one string, in its order (spec encoders.md §1): the
// variant's audio-tag formatter (positive prompt only), then the tokenizer call's cleaning, then
// SentencePiece with </s> and truncation.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/text/audio_tags.h"
#include "engine/text/tokenizer.h"

namespace ovid::text {

// The user's prompt: audio tags rewritten to `style`, cleaned, encoded.
absl::StatusOr<TokenizedText> TokenizePrompt(const Tokenizer& tokenizer, std::string_view prompt,
                                             AudioTagStyle style);

// A negative prompt: the original does not format these, only cleans and encodes them.
absl::StatusOr<TokenizedText> TokenizeNegativePrompt(const Tokenizer& tokenizer,
                                                     std::string_view text);

}  // namespace ovid::text
