// File: engine/media/sample_convert.cc
// Built with -ffp-contract=off (CMakeLists.txt): numpy rounds each float32 operation
// separately, and a fused multiply-add could move a value across an integer boundary.
// std::nearbyint rounds in the default floating-point mode, to nearest with ties to even: the
// same as np.rint/np.round and torch.round.
#include "engine/media/sample_convert.h"

#include <algorithm>
#include <cmath>

namespace ovid::media {

uint8_t PixelToU8(float x, Rounding rounding) {
  const float v = (std::clamp(x, -1.0f, 1.0f) + 1.0f) / 2.0f * 255.0f;  // 0..255, as Ovi
  return static_cast<uint8_t>(rounding == Rounding::kNearest ? std::nearbyint(v) : v);
}

int16_t SampleToS16(float a, Rounding rounding) {
  const float v = std::clamp(a, -1.0f, 1.0f) * 32767.0f;
  return static_cast<int16_t>(rounding == Rounding::kNearest ? std::nearbyint(v) : std::trunc(v));
}

void FrameToRgb24(const VideoFrames& video, int64_t t, Rounding rounding, uint8_t* out,
                  int64_t stride) {
  const int64_t plane = video.height * video.width;
  const float* r = video.data.data() + (0 * video.frames + t) * plane;
  const float* g = video.data.data() + (1 * video.frames + t) * plane;
  const float* b = video.data.data() + (2 * video.frames + t) * plane;
  for (int64_t y = 0; y < video.height; ++y) {
    uint8_t* row = out + y * stride;
    for (int64_t x = 0, i = y * video.width; x < video.width; ++x, ++i) {
      row[3 * x + 0] = PixelToU8(r[i], rounding);
      row[3 * x + 1] = PixelToU8(g[i], rounding);
      row[3 * x + 2] = PixelToU8(b[i], rounding);
    }
  }
}

std::vector<int16_t> AudioToS16(const AudioPcm& audio, Rounding rounding) {
  std::vector<int16_t> out(audio.samples.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = SampleToS16(audio.samples[i], rounding);
  return out;
}

}  // namespace ovid::media
