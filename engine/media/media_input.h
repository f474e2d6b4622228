// File: engine/media/media_input.h
// What the output stage takes in: views of the decoders' float outputs, and the checks every
// encoder runs on them before touching a codec. Torch-free, so the server and tools can encode
// without LibTorch.
//
// Non-finite samples are refused, not clamped: a NaN or an infinity out of a decoder means a
// broken model or a numeric fault upstream, and quietly writing black frames or silence would
// hide it. Finite values outside [-1, 1] are clamped, as Ovi's save_video does.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace ovid::media {

// The Wan VAE decoder's output: [3, frames, height, width] channel-planar float32, contiguous,
// RGB in [-1, 1]. `data` must hold exactly 3 * frames * height * width values.
struct VideoFrames {
  absl::Span<const float> data;
  int64_t frames = 0;
  int64_t height = 0;
  int64_t width = 0;
};

// The vocoder's output: mono PCM in [-1, 1]. Ovi's vocoder runs at 16 kHz.
struct AudioPcm {
  absl::Span<const float> samples;
  int sample_rate = 16000;
};

// Largest side accepted: H.264 level limits and PNG's int32 dimensions are far above Ovi's
// 960, and the bound keeps every size product well inside int64.
inline constexpr int64_t kMaxSide = 8192;

// INVALID_ARGUMENT naming the field: no frames, a non-positive or too large side, a data size
// that is not 3*T*H*W, or a NaN/infinity (with its channel, frame, row and column).
absl::Status ValidateVideo(const VideoFrames& video);

// As ValidateVideo, and odd width or height refused too: yuv420p halves both for chroma.
absl::Status ValidateVideoForYuv420(const VideoFrames& video);

// INVALID_ARGUMENT for no samples, more than 2^28, a sample rate outside 1..384000, or a
// NaN/infinity (with its index).
absl::Status ValidateAudio(const AudioPcm& audio);

}  // namespace ovid::media
