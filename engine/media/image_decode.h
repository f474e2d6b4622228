// File: engine/media/image_decode.h
// The I2V first frame (spec encoders.md §3.4) from the bytes a client uploads: a PNG or JPEG
// decoded with libavcodec and converted to 8-bit RGB, what Ovi's cv2.imread + BGR->RGB yields
// before its resize and [-1, 1] scaling. Torch-free; the checks before decoding are
// image_probe.h.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovid::media {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // row-major [height][width][3], no row padding
};

// Any PNG (8/16-bit, gray, palette, with or without alpha: alpha is dropped, not composited) or
// JPEG (baseline or progressive, any chroma subsampling). A JPEG's EXIF orientation is applied,
// as cv2.imread does (ImageHeader::orientation).
// INVALID_ARGUMENT starting "first_frame: " for everything ProbeImage refuses and for data the
// decoder rejects (with its message); FAILED_PRECONDITION if this libavcodec lacks the decoder;
// INTERNAL/RESOURCE_EXHAUSTED for a libav failure, naming the call. Thread-safe: every call
// uses its own decoder and scaler, and no libav global (log level included) is touched.
absl::StatusOr<RgbImage> DecodeImage(std::string_view bytes);

// DecodeImage's refusals without its output: the probe and, for images of at most
// `max_pixels`, the decoder's pass (no RGB conversion, no orientation), for admission, which
// needs only to know whether the data decodes. Larger images pass after the probe alone.
absl::Status CheckImageData(std::string_view bytes, int64_t max_pixels);

}  // namespace ovid::media
