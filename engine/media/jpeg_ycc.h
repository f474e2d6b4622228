// File: engine/media/jpeg_ycc.h
// A JPEG's decoded YCbCr planes to RGB the way libjpeg(-turbo) does by default, which is what
// Ovi's cv2.imread runs: "fancy" (triangle-filtered) chroma upsampling for 4:2:0, 4:2:2 and
// 4:4:0 (what a lossless rotation of a 4:2:2 photo gives), 4:1:1 replicated, then jdcolor's
// 16-bit fixed-point YCbCr -> RGB. The ffmpeg CLI and swscale replicate or otherwise filter
// chroma instead, which put whole colour edges tens of levels off cv2's pixels (and swscale's
// 4:1:1 at widths that are not a multiple of 4 came out tens of levels off everywhere). Plain
// C++ over plane pointers (no libav, no LibTorch).
#pragma once

#include <cstdint>

#include "engine/media/image_decode.h"

namespace ovid::media {

struct YccPlanes {
  int width = 0;  // of the image (the luma plane)
  int height = 0;
  // Chroma subsampling factors: 4:2:0 is 2x2, 4:2:2 2x1, 4:4:0 1x2, 4:1:1 4x1, 4:4:4 1x1.
  // The chroma planes are ceil(width / h_sub) x ceil(height / v_sub).
  int h_sub = 1;
  int v_sub = 1;
  const uint8_t* y = nullptr;
  const uint8_t* cb = nullptr;
  const uint8_t* cr = nullptr;
  int y_stride = 0;  // bytes from one row to the next
  int c_stride = 0;  // of both chroma planes
};

// Whether YccToRgb handles this subsampling.
bool YccSubsamplingSupported(int h_sub, int v_sub);

// Full-range (JFIF) YCbCr to packed RGB. Requires YccSubsamplingSupported(h_sub, v_sub), sides
// >= 1 and planes of the sizes above.
RgbImage YccToRgb(const YccPlanes& planes);

}  // namespace ovid::media
