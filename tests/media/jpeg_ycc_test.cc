// File: tests/media/jpeg_ycc_test.cc
// YccToRgb on hand-made planes: libjpeg's colour conversion at its known points, and its chroma
// upsampling (3/4 own sample + 1/4 neighbour, alternating rounding biases, copied edges,
// replication below 3 columns and for 4:1:1) worked out by hand. test_first_frame_vs_libjpeg.py
// checks whole decodes against libjpeg itself.
#include "engine/media/jpeg_ycc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace ovid::media {
namespace {

// One image's planes over vectors: luma constant, chroma as given (Cr = 128 throughout).
struct Planes {
  std::vector<uint8_t> y, cb, cr;
  YccPlanes view;
  Planes(int w, int h, int h_sub, int v_sub, std::vector<uint8_t> cb_samples, uint8_t luma = 128)
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

// The blue an output pixel gets from chroma `cb` with luma 128: B = 128 + round(1.772 * (Cb -
// 128)), one level or more apart for every Cb step and unclamped for Cb in 62..198, so a pixel's
// blue says exactly which chroma sample it got. The chroma values below were chosen so that every
// rounding bias matters: a bias off by one, the two biases swapped, or the rows taken in the
// wrong order each change some pixel.
int BlueFor(int cb) {
  const int fix = static_cast<int>(1.772 * 65536.0 + 0.5);
  return std::clamp(128 + ((fix * (cb - 128) + (1 << 15)) >> 16), 0, 255);
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
  // 4:2:2, 8 pixels wide from 4 chroma samples: edges copied, inner samples (3a + b + 1|2) / 4.
  const int c[4] = {78, 65, 182, 128};
  Planes p(8, 1, 2, 1, {78, 65, 182, 128});
  const RgbImage out = YccToRgb(p.view);
  std::vector<int> want = {c[0], (c[0] * 3 + c[1] + 2) >> 2};
  for (int i = 1; i < 3; ++i) {
    want.push_back((c[i] * 3 + c[i - 1] + 1) >> 2);
    want.push_back((c[i] * 3 + c[i + 1] + 2) >> 2);
  }
  want.push_back((c[3] * 3 + c[2] + 1) >> 2);
  want.push_back(c[3]);
  for (int x = 0; x < 8; ++x) EXPECT_EQ(out.rgb[3 * x + 2], BlueFor(want[x])) << x;
  // An odd width drops the last upsampled column.
  Planes odd(7, 1, 2, 1, {78, 65, 182, 128});
  const RgbImage o = YccToRgb(odd.view);
  for (int x = 0; x < 7; ++x) EXPECT_EQ(o.rgb[3 * x + 2], BlueFor(want[x])) << x;
}

TEST(JpegYccTest, TwoByTwoUpsamplingFiltersBothWaysInSixteenths) {
  // 4:2:0, 8x4 from 4x2 chroma. Output row 0 takes chroma row 0 with itself above (the edge
  // repeats), row 1 chroma row 0 with row 1 below, row 2 row 1 with row 0 above, row 3 row 1
  // with itself below.
  const std::vector<uint8_t> cb = {90, 140, 150, 104, 92, 77, 193, 130};
  Planes p(8, 4, 2, 2, cb);
  const RgbImage out = YccToRgb(p.view);
  const int own_row[4] = {0, 0, 1, 1}, near_row[4] = {0, 1, 0, 1};
  for (int y = 0; y < 4; ++y) {
    int s[4];
    for (int x = 0; x < 4; ++x) s[x] = cb[4 * own_row[y] + x] * 3 + cb[4 * near_row[y] + x];
    std::vector<int> want = {(s[0] * 4 + 8) >> 4, (s[0] * 3 + s[1] + 7) >> 4};
    for (int i = 1; i < 3; ++i) {
      want.push_back((s[i] * 3 + s[i - 1] + 8) >> 4);
      want.push_back((s[i] * 3 + s[i + 1] + 7) >> 4);
    }
    want.push_back((s[3] * 3 + s[2] + 8) >> 4);
    want.push_back((s[3] * 4 + 7) >> 4);
    for (int x = 0; x < 8; ++x) {
      EXPECT_EQ(out.rgb[3 * (8 * y + x) + 2], BlueFor(want[x])) << y << "," << x;
    }
  }
}

TEST(JpegYccTest, NarrowImagesReplicateAndOtherSubsamplingsAreNotClaimed) {
  // 4:2:0 with 2 chroma columns: libjpeg replicates, no filter in either direction.
  Planes narrow(4, 2, 2, 2, {70, 190});
  const RgbImage n = YccToRgb(narrow.view);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      EXPECT_EQ(n.rgb[3 * (4 * y + x) + 2], BlueFor(x < 2 ? 70 : 190)) << y << "," << x;
    }
  }
  for (const auto& [h, v] : {std::pair{2, 2}, {2, 1}, {1, 1}, {1, 2}, {4, 1}}) {
    EXPECT_TRUE(YccSubsamplingSupported(h, v)) << h << "x" << v;
  }
  EXPECT_FALSE(YccSubsamplingSupported(4, 2));  // 4:1:0: not checked against libjpeg
  EXPECT_FALSE(YccSubsamplingSupported(1, 4));
}

TEST(JpegYccTest, VerticalUpsamplingIsTheTriangleFilterInRowsOnly) {
  // 4:4:0, 3x6 from 3x3 chroma: output row 2k takes chroma row k with the row above (the edge
  // repeats), (3a + b + 1) / 4; row 2k+1 the row below, (3a + b + 2) / 4; columns untouched,
  // even at 1-3 columns (libjpeg filters 4:4:0 of any width).
  const std::vector<uint8_t> cb = {90, 141, 150, 103, 92, 77, 194, 130, 64};
  Planes p(3, 6, 1, 2, cb);
  const RgbImage out = YccToRgb(p.view);
  for (int y = 0; y < 6; ++y) {
    const int own = y / 2;
    const int near = y % 2 == 0 ? std::max(own - 1, 0) : std::min(own + 1, 2);
    for (int x = 0; x < 3; ++x) {
      const int want = (cb[3 * own + x] * 3 + cb[3 * near + x] + (y % 2 == 0 ? 1 : 2)) >> 2;
      EXPECT_EQ(out.rgb[3 * (3 * y + x) + 2], BlueFor(want)) << y << "," << x;
    }
  }
  // An odd height drops the last upsampled row.
  Planes odd(3, 5, 1, 2, cb);
  const RgbImage o = YccToRgb(odd.view);
  EXPECT_TRUE(std::equal(o.rgb.begin(), o.rgb.end(), out.rgb.begin()));
}

TEST(JpegYccTest, FourToOneChromaIsReplicated) {
  // 4:1:1, 10 pixels wide from 3 chroma samples: each one covers 4 columns, the last group
  // only 2.
  Planes p(10, 1, 4, 1, {70, 190, 111});
  const RgbImage out = YccToRgb(p.view);
  const int want[10] = {70, 70, 70, 70, 190, 190, 190, 190, 111, 111};
  for (int x = 0; x < 10; ++x) EXPECT_EQ(out.rgb[3 * x + 2], BlueFor(want[x])) << x;
}

}  // namespace
}  // namespace ovid::media
