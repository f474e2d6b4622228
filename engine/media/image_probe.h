// File: engine/media/image_probe.h
// The checks an uploaded first-frame image (I2V, spec encoders.md §3.4) passes before any decoder
// sees it: the byte size, the format by magic bytes (PNG or JPEG only), the container structure
// walked to its end marker (so a truncated upload is refused instead of decoded half-grey), a
// PNG's compressed pixel data inflated to its end without keeping it (libavcodec decodes image
// data that stops early as black rows and calls it success), and the pixel size read from the
// header (so an absurd size is refused before a decoder allocates for it). Work is bounded too: a
// PNG's decoded bytes, and a JPEG's scans (a progressive decoder walks the whole image once per
// scan: 10,000 tiny scans of an 8192x8192 frame took 18 s). Torch-free and libav-free: byte
// parsing, and zlib for the PNG check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovid::media {

// Larger uploads are refused: a 960x960 PNG is a few MiB at most, and the request path should
// not buffer arbitrarily much for one image.
inline constexpr size_t kMaxImageBytes = size_t{32} << 20;
// Largest width or height accepted (8192x8192 RGB is 192 MiB decoded).
inline constexpr int64_t kMaxImageSide = 8192;
// A PNG's raw pixel data (filter bytes included) may be at most what 8-bit RGBA at the largest
// size holds: 16-bit RGBA at 8192x8192 (512 MiB, from a 0.5 MB upload of zeros) is refused.
inline constexpr int64_t kMaxPngRawBytes = kMaxImageSide * (1 + 4 * kMaxImageSide);
// Progressive JPEG encoders write about 10 scans (libjpeg's default script: 10 for colour).
inline constexpr int kMaxJpegScans = 100;

enum class ImageFormat : uint8_t { kPng, kJpeg };
const char* ImageFormatName(ImageFormat format);  // "PNG", "JPEG"

struct ImageHeader {
  ImageFormat format = ImageFormat::kPng;
  int64_t width = 0;  // as stored, before the orientation
  int64_t height = 0;
  // A JPEG's EXIF orientation (1..8; 1 for none, for PNG and for values outside 1..8): how the
  // stored pixels are to be turned for display. cv2.imread, which Ovi reads the first frame with,
  // applies it, so a phone's portrait photo (6: rotate 90 degrees clockwise) is a portrait frame.
  int orientation = 1;
  // A three-component JPEG's chroma subsampling as its frame header declares it: the luma's
  // sampling factors over the chroma's, where both chroma components have the same factors and
  // they divide the luma's exactly (2 x 2 for 4:2:0, 2 x 1 for 4:2:2, 1 x 1 for 4:4:4). 0 x 0 for
  // anything else (gray, four components, unusual layouts, PNG). libavcodec reports some unusual
  // layouts as plain 4:2:0 after widening their chroma itself; this says what the file holds.
  int jpeg_chroma_h_sub = 0;
  int jpeg_chroma_v_sub = 0;
  // The displayed size: width and height swapped for orientations 5..8.
  int64_t DisplayWidth() const { return orientation >= 5 ? height : width; }
  int64_t DisplayHeight() const { return orientation >= 5 ? width : height; }
};

// INVALID_ARGUMENT starting "first_frame: " for empty or oversized input, a format other than
// PNG/JPEG (quoting the first bytes in hex), a structure that ends early or is malformed, PNG pixel
// data that does not inflate to exactly the rows IHDR declares, more than kMaxPngRawBytes of it or
// more than kMaxJpegScans scans, a JPEG with more than one frame header (libavcodec sets up a
// picture for each: 1,000 of 8192x8192 in a 47 KB upload took 112 s), and a width or height
// outside 1..kMaxImageSide.
// kHeaders skips the one costly part, the inflate of a PNG's pixel data (a 261 KB PNG of
// zeros inflates to 268 MB: 0.5 s of CPU), and checks only the structure: for admission's size
// estimate on gRPC's threads, whose contents check (CheckImageData, bounded in concurrency) or
// the job's decode then does the full probe.
enum class ProbeDepth { kFull, kHeaders };
absl::StatusOr<ImageHeader> ProbeImage(std::string_view bytes,
                                       ProbeDepth depth = ProbeDepth::kFull);

// The PNG a decoder is given: the signature and, in their order, only the chunks that define the
// pixels (IHDR, PLTE, tRNS, IDAT, IEND). libavcodec inflates zTXt, iTXt and iCCP chunks without
// a limit (a 1 MB upload held a 1 GiB zTXt: 2.1 GB of memory, 5 s) and files each tEXt in a
// dictionary searched on every insert (40,000 of them: 5 s, quadratic), all before the probe's
// bounds could apply. Ovi's cv2.imread(IMREAD_COLOR) applies none of the dropped chunks (text,
// ICC profiles, gamma), so the pixels are the same. `png` must be one ProbeImage accepted.
std::string PngPixelChunks(std::string_view png);

}  // namespace ovid::media
