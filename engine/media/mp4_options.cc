// File: engine/media/mp4_options.cc
#include "engine/media/mp4_options.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ovid::media {
namespace {

// x264's preset names; checked here so a typo is INVALID_ARGUMENT, not an encoder failure.
constexpr std::array<const char*, 10> kPresets = {
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo"};
// The sampling frequencies an AAC stream can signal by index (ISO 14496-3).
constexpr std::array<int, 12> kAacRates = {96000, 88200, 64000, 48000, 44100, 32000,
                                           24000, 22050, 16000, 12000, 11025, 8000};

}  // namespace

absl::Status ValidateMp4Options(const Mp4Options& o) {
  if (o.fps < 1 || o.fps > 120) {
    return absl::InvalidArgumentError(absl::StrCat("mp4: fps must be in 1..120, got ", o.fps));
  }
  if (o.crf < 0 || o.crf > 51) {
    return absl::InvalidArgumentError(absl::StrCat("mp4: crf must be in 0..51, got ", o.crf));
  }
  if (std::none_of(kPresets.begin(), kPresets.end(), [&](const char* p) { return o.preset == p; })) {
    return absl::InvalidArgumentError(absl::StrCat("mp4: unknown x264 preset \"", o.preset,
                                                   "\"; one of ", absl::StrJoin(kPresets, ", ")));
  }
  if (std::find(kAacRates.begin(), kAacRates.end(), o.audio_sample_rate) == kAacRates.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mp4: audio_sample_rate ", o.audio_sample_rate,
                     " Hz is not an AAC rate; one of ", absl::StrJoin(kAacRates, ", ")));
  }
  if (o.audio_channels != 1 && o.audio_channels != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("mp4: audio_channels must be 1 or 2, got ", o.audio_channels));
  }
  if (o.audio_bitrate < 0 || o.audio_bitrate > 512000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mp4: audio_bitrate must be 0 (default) or up to 512000 b/s, got ", o.audio_bitrate));
  }
  for (char c : o.x264_params) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("=:,._-").find(c) ==
                                                            std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mp4: x264_params may hold letters, digits and =:,._- only, got \"", o.x264_params,
          "\""));
    }
  }
  if (o.threads < 0 || o.threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("mp4: threads must be in 0..64, got ", o.threads));
  }
  return absl::OkStatus();
}

}  // namespace ovid::media
