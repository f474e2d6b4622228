// File: engine/text/prompt_tokens.cc
#include "engine/text/prompt_tokens.h"

#include <string>

#include "engine/text/prompt_clean.h"
#include "engine/text/utf8.h"

namespace ovid::text {

absl::StatusOr<TokenizedText> TokenizePrompt(const Tokenizer& tokenizer, std::string_view prompt,
                                             AudioTagStyle style) {
  if (absl::Status valid = ValidateUtf8(prompt, "prompt"); !valid.ok()) return valid;
  return TokenizeNegativePrompt(tokenizer, RewriteAudioTags(prompt, style));
}

absl::StatusOr<TokenizedText> TokenizeNegativePrompt(const Tokenizer& tokenizer,
                                                     std::string_view text) {
  absl::StatusOr<std::string> clean = CleanPrompt(text);
  if (!clean.ok()) return clean.status();
  return tokenizer.Encode(*clean);
}

}  // namespace ovid::text
