// File: tests/media/media_test_util.h
// Synthetic decoder outputs for the media tests: smooth content (a gradient and a moving soft
// blob), the kind a video codec can keep; see test_media_ffmpeg.py for why not noise.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/media/media_input.h"

namespace ovid::media::testing {

struct OwnedVideo {
  std::vector<float> data;
  VideoFrames view;
};

inline OwnedVideo MakeVideo(int64_t frames, int64_t height, int64_t width) {
  OwnedVideo v;
  v.data.resize(static_cast<size_t>(3 * frames * height * width));
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t t = 0; t < frames; ++t) {
      for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
          const double cx = 0.2 * width + 0.6 * width * t / frames, cy = 0.5 * height;
          const double blob =
              std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (0.02 * width * height));
          const double ramp = (c == 0 ? x / double(width) : c == 1 ? y / double(height) : 0.5);
          v.data[((c * frames + t) * height + y) * width + x] =
              static_cast<float>(1.1 * (ramp - 0.5) + 0.8 * blob * (c == 2 ? 1 : -0.5));
        }
      }
    }
  }
  v.view = VideoFrames{v.data, frames, height, width};
  return v;
}

inline std::vector<float> MakeTone(int64_t samples, int rate) {
  std::vector<float> a(static_cast<size_t>(samples));
  for (int64_t i = 0; i < samples; ++i) {
    const double t = double(i) / rate;
    a[i] = static_cast<float>(0.5 * std::sin(2 * M_PI * 440 * t) + 0.3 * std::sin(2 * M_PI * 1250 * t));
  }
  return a;
}

}  // namespace ovid::media::testing
