// File: engine/text/audio_tags.cc
#include "engine/text/audio_tags.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/text/prompt_clean.h"
#include "engine/text/utf8.h"

namespace ovid::text {
namespace {

constexpr std::string_view kOpen = "<AUDCAP>";
constexpr std::string_view kClose = "<ENDAUDCAP>";
constexpr std::string_view kColon = "Audio:";

// Ovi's NAME_TO_MODEL_SPECS_MAP formatters, plus ovid's test variant (see the header).
constexpr std::array<std::pair<std::string_view, AudioTagStyle>, 4> kVariants = {{
    {"720x720_5s", AudioTagStyle::kAudcap},
    {"960x960_5s", AudioTagStyle::kAudioColon},
    {"960x960_10s", AudioTagStyle::kAudioColon},
    {"128x128_5s", AudioTagStyle::kAudcap},
}};

std::string ToAudcap(std::string_view prompt) {
  const size_t at = prompt.find(kColon);
  if (at == std::string_view::npos) return std::string(prompt);
  // `re`'s \s* on a str pattern: whatever str.isspace() accepts.
  size_t caption = at + kColon.size();
  while (caption < prompt.size()) {
    size_t next = caption;
    if (!IsPythonWhitespace(NextCodePoint(prompt, next))) break;
    caption = next;
  }
  std::string out(prompt.substr(0, at));
  out += kOpen;
  out += prompt.substr(caption);
  out += kClose;
  return out;
}

std::string ToAudioColon(std::string_view prompt) {
  std::string out;
  size_t pos = 0;
  while (pos < prompt.size()) {
    const size_t open = prompt.find(kOpen, pos);
    const size_t close =
        open == std::string_view::npos ? open : prompt.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) break;  // no later <AUDCAP> can be closed either
    const size_t inner = open + kOpen.size();
    out += prompt.substr(pos, open - pos);
    out += "Audio: ";
    out += prompt.substr(inner, close - inner);
    pos = close + kClose.size();
  }
  out += prompt.substr(std::min(pos, prompt.size()));
  return out;
}

}  // namespace

absl::StatusOr<AudioTagStyle> AudioTagStyleForVariant(std::string_view variant) {
  for (const auto& [name, style] : kVariants) {
    if (name == variant) return style;
  }
  std::vector<std::string> known;
  for (const auto& entry : kVariants) known.emplace_back(entry.first);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown Ovi variant \"", std::string(variant),
                   "\" for the prompt's audio tags; known: ", absl::StrJoin(known, ", ")));
}

std::string RewriteAudioTags(std::string_view prompt, AudioTagStyle style) {
  return style == AudioTagStyle::kAudcap ? ToAudcap(prompt) : ToAudioColon(prompt);
}

absl::StatusOr<std::string> RewriteAudioTagsForVariant(std::string_view prompt,
                                                       std::string_view variant) {
  absl::StatusOr<AudioTagStyle> style = AudioTagStyleForVariant(variant);
  if (!style.ok()) return style.status();
  if (absl::Status valid = ValidateUtf8(prompt, "prompt"); !valid.ok()) return valid;
  return RewriteAudioTags(prompt, *style);
}

}  // namespace ovid::text
