// File: engine/media/mp4_encoder.h
// The MP4 Ovi's pipeline returns: an H.264 (libx264, yuv420p) video track and an AAC audio
// track, muxed in memory with the moov atom at the front (faststart), so a client can play the
// bytes while they are still streaming in. Settings and defaults: mp4_options.h. Each call owns
// all of its libav state, so concurrent calls from several workers are safe.
//
// Like Ovi, the two tracks keep their own lengths (121 frames at 24 fps last 5.042 s, 80384
// samples at 16 kHz 5.024 s); nothing is cut or padded to match.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/media/media_input.h"
#include "engine/media/mp4_options.h"

namespace ovid::media {

// INVALID_ARGUMENT for bad frames (ValidateVideoForYuv420: shape, odd sizes, NaN/inf), bad
// audio (ValidateAudio) or options (ValidateMp4Options); FAILED_PRECONDITION naming libx264 or
// aac when this libavcodec lacks it; INTERNAL (RESOURCE_EXHAUSTED for out of memory) naming the
// libav call that failed.
absl::StatusOr<std::string> EncodeMp4(const VideoFrames& video, const AudioPcm& audio,
                                      const Mp4Options& options = {});

}  // namespace ovid::media
