// File: engine/text/audio_tags.h
// The audio-caption tag of a prompt, rewritten to the style the loaded checkpoint was trained
// with (spec ovi.md §1, encoders.md §1; Ovi's per-variant `formatter` in
// NAME_TO_MODEL_SPECS_MAP), so users may write either style whatever the model:
//   720x720_5s  expects <AUDCAP>...<ENDAUDCAP>:
//       re.sub(r"Audio:\s*(.*)", r"<AUDCAP>\1<ENDAUDCAP>", text, flags=re.S)
//       (the first "Audio:" and everything after it, to the end of the prompt, become the caption)
//   960x960_5s, 960x960_10s expect "Audio: ...":
//       re.sub(r"<AUDCAP>(.*?)<ENDAUDCAP>", r"Audio: \1", text, flags=re.S)
//       (every closed <AUDCAP> pair; an unclosed one stays as it is)
// Speech <S>...<E> is left alone by both. The original applies the formatter to the positive
// prompt only, before the tokenizer's cleaning; TokenizePrompt (prompt_tokens.h) keeps that order.
// ovid's test variant 128x128_5s takes the 720x720_5s style: the tiny model is built like the
// 720x720_5s checkpoint and has no training of its own to match.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovid::text {

enum class AudioTagStyle {
  kAudcap,      // <AUDCAP>caption<ENDAUDCAP>
  kAudioColon,  // Audio: caption
};

// INVALID_ARGUMENT naming the variant and the known ones when it is not a known variant.
absl::StatusOr<AudioTagStyle> AudioTagStyleForVariant(std::string_view variant);

// The formatter of `style` applied to `prompt` (UTF-8; bytes are copied as they are).
std::string RewriteAudioTags(std::string_view prompt, AudioTagStyle style);

// The formatter of the checkpoint variant `variant` (e.g. "960x960_10s"); errors as above, and
// INVALID_ARGUMENT when the prompt is not valid UTF-8.
absl::StatusOr<std::string> RewriteAudioTagsForVariant(std::string_view prompt,
                                                       std::string_view variant);

}  // namespace ovid::text
