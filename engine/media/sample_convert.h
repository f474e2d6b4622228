// File: engine/media/sample_convert.h
// The one float -> integer conversion every output uses (PNG, MP4 video, WAV).
//
// Ovi's save_video (spec encoders.md §6) computes, in float32,
//   pixel  = uint8((clip(x, -1, 1) + 1) / 2 * 255)     -> 0..255
//   sample = int16(a * 32767)                           -> -32767..32767
// and numpy's astype *truncates* toward zero. kTruncate (the default) reproduces that bit for bit,
// so our PNG/WAV bytes equal what Ovi's pipeline would write from the same decoder output.
// kNearest rounds to nearest, ties to even (np.rint, torch.round) instead: unbiased (truncation
// darkens by half a level on average) but no longer identical to Ovi. Audio is clamped to [-1, 1] first in both modes (Ovi does
// not clamp audio; its int16 cast of an out-of-range value is undefined, so clamping only changes
// what was garbage). Callers validate finiteness first (media_input.h).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/media/media_input.h"

namespace ovid::media {

enum class Rounding { kTruncate, kNearest };

uint8_t PixelToU8(float x, Rounding rounding);
int16_t SampleToS16(float a, Rounding rounding);

// Frame `t` of `video` as packed RGB24 rows of width * 3 bytes, `stride` bytes apart (at least
// width * 3), converted as above. `t` must be in range and `video` valid.
void FrameToRgb24(const VideoFrames& video, int64_t t, Rounding rounding, uint8_t* out,
                  int64_t stride);

// Every sample converted, in order.
std::vector<int16_t> AudioToS16(const AudioPcm& audio, Rounding rounding);

}  // namespace ovid::media
