// File: engine/media/media_input.cc
#include "engine/media/media_input.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ovid::media {
namespace {

// One pass over the data; the message points at the first bad value so a model bug can be
// traced to a frame and pixel.
absl::Status CheckFiniteVideo(const VideoFrames& v) {
  const float* p = v.data.data();
  const int64_t n = static_cast<int64_t>(v.data.size());
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(p[i])) continue;
    const int64_t plane = v.height * v.width;
    const int64_t c = i / (v.frames * plane);
    const int64_t t = (i / plane) % v.frames;
    const int64_t y = (i / v.width) % v.height;
    const int64_t x = i % v.width;
    return absl::InvalidArgumentError(
        absl::StrCat("video: non-finite value ", p[i], " at channel ", c, ", frame ", t, ", row ",
                     y, ", column ", x, " (NaN/inf are refused, not clamped)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateVideo(const VideoFrames& video) {
  if (video.frames <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("video: frames must be positive, got ", video.frames));
  }
  if (video.height <= 0 || video.height > kMaxSide || video.width <= 0 ||
      video.width > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat("video: height and width must be in 1..",
                                                   kMaxSide, ", got ", video.height, "x",
                                                   video.width, " (HxW)"));
  }
  if (video.frames > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(absl::StrCat("video: too many frames: ", video.frames));
  }
  const int64_t expected = 3 * video.frames * video.height * video.width;
  if (static_cast<int64_t>(video.data.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "video: data holds ", video.data.size(), " floats, but [3, ", video.frames, ", ",
        video.height, ", ", video.width, "] needs ", expected));
  }
  return CheckFiniteVideo(video);
}

absl::Status ValidateVideoForYuv420(const VideoFrames& video) {
  if (absl::Status s = ValidateVideo(video); !s.ok()) return s;
  if (video.height % 2 != 0 || video.width % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "video: yuv420p needs even height and width, got ", video.height, "x", video.width,
        " (HxW)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAudio(const AudioPcm& audio) {
  if (audio.samples.empty()) return absl::InvalidArgumentError("audio: no samples");
  if (audio.sample_rate <= 0 || audio.sample_rate > 384000) {
    return absl::InvalidArgumentError(
        absl::StrCat("audio: sample rate must be in 1..384000 Hz, got ", audio.sample_rate));
  }
  // int counts inside libswresample, even after resampling to 96 kHz: 2^28 samples is 4.6 hours
  // at 16 kHz.
  if (audio.samples.size() > (size_t{1} << 28)) {
    return absl::InvalidArgumentError(
        absl::StrCat("audio: too many samples: ", audio.samples.size(), " (at most 2^28)"));
  }
  for (size_t i = 0; i < audio.samples.size(); ++i) {
    if (!std::isfinite(audio.samples[i])) {
      return absl::InvalidArgumentError(absl::StrCat("audio: non-finite value ",
                                                     audio.samples[i], " at sample ", i,
                                                     " (NaN/inf are refused, not clamped)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ovid::media
