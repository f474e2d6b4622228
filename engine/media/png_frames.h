// File: engine/media/png_frames.h
// Every frame as a lossless PNG (8-bit RGB, libavcodec's png encoder with Paeth prediction),
// packed into one ustar archive: frame_00000.png, frame_00001.png, ... in frame order. Pixels are
// the shared conversion (sample_convert.h), so decoding a PNG gives back exactly PixelToU8 of
// the decoder output.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/media/media_input.h"
#include "engine/media/sample_convert.h"

namespace ovid::media {

// INVALID_ARGUMENT as ValidateVideo (odd sizes are fine for PNG); FAILED_PRECONDITION without
// libavcodec's png encoder; INTERNAL for a libav failure, naming the call. `stop` is polled
// before each frame: true ends the encode with CANCELLED.
absl::StatusOr<std::string> EncodePngFrames(const VideoFrames& video,
                                            Rounding rounding = Rounding::kTruncate,
                                            const std::function<bool()>& stop = nullptr);

}  // namespace ovid::media
