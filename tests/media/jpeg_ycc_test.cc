// File: tests/media/jpeg_ycc_test.cc
// YccToRgb on hand-made planes: libjpeg's colour conversion at its known points, and its chroma
// upsampling (3/4 own sample + 1/4 neighbour, alternating rounding biases, copied edges,
// replication below 3 columns) worked out by hand. test_first_frame_vs_libjpeg.py checks whole
// decodes against libjpeg itself.
#include "engine/media/jpeg_ycc.h"

#include <gtest/gtest.h>

#include <vector>

namespace ovid::media {
namespace {

// One image's planes over vectors: luma constant, chroma as given (Cr = 128 throughout).
struct Planes {
  std::vector<uint8_t> y, cb, cr;
  YccPlanes view;
  Planes(int w, int h, int h_sub, int v_sub, std::vector<uint8_t> cb_samples, uint8_t luma = 100)
      : y(static_cast<size_t>(w) * h, luma), cb(std::move(cb_samples)), cr(cb.size(), 128) {
    view.width = w;
    view.height = h;
    view.h_sub = h_sub;
    view.v_sub = v_sub;
    view.y = y.data();
    view.cb = cb.data();
    view.cr = cr.data();
    view.y_stride = w;
    view.c_stride = (w + h_sub - 1) / h_sub;
  }
};

// The Cb each output pixel got, read back from B = Y + round(1.772 * (Cb - 128)) with Y = 100:
// the table is monotonic, so compare B values computed the same way instead.
int BlueFor(int cb) {
  const int fix = static_cast<int>(1.772 * 65536.0 + 0.5);
  return std::clamp(100 + ((fix * (cb - 128) + (1 << 15)) >> 16), 0, 255);
}

TEST(JpegYccTest, ColourConversionAtKnownPoints) {
  // Grey stays grey; full-scale chroma lands where jdcolor's tables put it.
  Planes grey(1, 1, 1, 1, {128}, 77);
  RgbImage g = YccToRgb(grey.view);
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{77, 77, 77}));
  Planes colour(1, 1, 1, 1, {90}, 120);
  colour.cr[0] = 200;
  // R = 120 + round(1.402 * 72) = 120 + 101; G = 120 + round(-0.34414 * -38 - 0.71414 * 72) =
  // 120 - 38; B = 120 + round(1.772 * -38) = 120 - 67 (jdcolor's 16-bit fixed point).
  EXPECT_EQ(YccToRgb(colour.view).rgb, (std::vector<uint8_t>{221, 82, 53}));
  Planes clipped(1, 1, 1, 1, {255}, 250);
  EXPECT_EQ(YccToRgb(clipped.view).rgb[2], 255);  // clamped, not wrapped
}

TEST(JpegYccTest, HorizontalUpsamplingIsLibjpegsTriangleFilter) {
  // 4:2:2, 6 pixels wide from chroma 0, 64, 192: edges copied, inner samples (3a + b + 1|2) / 4.
  Planes p(6, 1, 2, 1, {0, 64, 192});
  const RgbImage out = YccToRgb(p.view);
  const int want[6] = {0,
                       (0 * 3 + 64 + 2) >> 2,
                       (64 * 3 + 0 + 1) >> 2,
                       (64 * 3 + 192 + 2) >> 2,
                       (192 * 3 + 64 + 1) >> 2,
                       192};
  for (int x = 0; x < 6; ++x) EXPECT_EQ(out.rgb[3 * x + 2], BlueFor(want[x])) << x;
  // An odd width drops the last upsampled column.
  Planes odd(5, 1, 2, 1, {0, 64, 192});
  const RgbImage o = YccToRgb(odd.view);
  for (int x = 0; x < 5; ++x) EXPECT_EQ(o.rgb[3 * x + 2], BlueFor(want[x])) << x;
}

TEST(JpegYccTest, TwoByTwoUpsamplingFiltersBothWaysInSixteenths) {
  // 4:2:0, 6x4 from 3x2 chroma. Output row 0 takes chroma row 0 with itself above (the edge
  // repeats), row 1 chroma row 0 with row 1 below, row 2 row 1 with row 0 above, row 3 row 1
  // with itself below.
  const std::vector<uint8_t> cb = {0, 64, 192, 200, 40, 100};
  Planes p(6, 4, 2, 2, cb);
  const RgbImage out = YccToRgb(p.view);
  for (int y = 0; y < 4; ++y) {
    const int own = y / 2, other = y == 0 ? 0 : (y == 1 ? 1 : (y == 2 ? 0 : 1));
    int s[3];
    for (int x = 0; x < 3; ++x) s[x] = cb[3 * own + x] * 3 + cb[3 * other + x];
    const int want[6] = {(s[0] * 4 + 8) >> 4,        (s[0] * 3 + s[1] + 7) >> 4,
                         (s[1] * 3 + s[0] + 8) >> 4, (s[1] * 3 + s[2] + 7) >> 4,
                         (s[2] * 3 + s[1] + 8) >> 4, (s[2] * 4 + 7) >> 4};
    for (int x = 0; x < 6; ++x)
      EXPECT_EQ(out.rgb[3 * (6 * y + x) + 2], BlueFor(want[x])) << y << "," << x;
  }
}

TEST(JpegYccTest, NarrowImagesReplicateAndOtherSubsamplingsAreNotClaimed) {
  // 4:2:0 with 2 chroma columns: libjpeg replicates, no filter in either direction.
  Planes narrow(4, 2, 2, 2, {0, 200});
  const RgbImage n = YccToRgb(narrow.view);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      EXPECT_EQ(n.rgb[3 * (4 * y + x) + 2], BlueFor(x < 2 ? 0 : 200)) << y << "," << x;
    }
  }
  EXPECT_TRUE(YccSubsamplingSupported(2, 2));
  EXPECT_TRUE(YccSubsamplingSupported(2, 1));
  EXPECT_TRUE(YccSubsamplingSupported(1, 1));
  EXPECT_FALSE(YccSubsamplingSupported(1, 2));  // 4:4:0: not checked against libjpeg
  EXPECT_FALSE(YccSubsamplingSupported(4, 1));  // 4:1:1
}

}  // namespace
}  // namespace ovid::media
