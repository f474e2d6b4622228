// File: tests/media/media_convert_test.cc
// The shared float -> integer conversion (Ovi's numpy expressions) and the input checks.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/media/media_input.h"
#include "engine/media/sample_convert.h"
#include "gtest/gtest.h"
#include "media_test_util.h"

namespace ovid::media {
namespace {

TEST(MediaPixelToU8, TruncatesLikeNumpyAstype) {
  EXPECT_EQ(PixelToU8(-1.0f, Rounding::kTruncate), 0);
  EXPECT_EQ(PixelToU8(1.0f, Rounding::kTruncate), 255);
  EXPECT_EQ(PixelToU8(0.0f, Rounding::kTruncate), 127);  // 127.5 truncated
  EXPECT_EQ(PixelToU8(0.0f, Rounding::kNearest), 128);
  // Just below the boundary of level 1: (x+1)/2*255 = 0.99... -> 0 (truncate) and 1 (nearest).
  const float x = 2.0f * 0.999f / 255.0f - 1.0f;
  EXPECT_EQ(PixelToU8(x, Rounding::kTruncate), 0);
  EXPECT_EQ(PixelToU8(x, Rounding::kNearest), 1);
}

TEST(MediaPixelToU8, ClampsOutOfRange) {
  for (Rounding r : {Rounding::kTruncate, Rounding::kNearest}) {
    EXPECT_EQ(PixelToU8(1.7f, r), 255);
    EXPECT_EQ(PixelToU8(-3.0f, r), 0);
    EXPECT_EQ(PixelToU8(std::numeric_limits<float>::max(), r), 255);
  }
}

TEST(MediaSampleToS16, TruncatesTowardZeroAndClamps) {
  EXPECT_EQ(SampleToS16(1.0f, Rounding::kTruncate), 32767);
  EXPECT_EQ(SampleToS16(-1.0f, Rounding::kTruncate), -32767);
  EXPECT_EQ(SampleToS16(0.5f, Rounding::kTruncate), 16383);    // 16383.5
  EXPECT_EQ(SampleToS16(-0.5f, Rounding::kTruncate), -16383);  // toward zero
  EXPECT_EQ(SampleToS16(0.5f, Rounding::kNearest), 16384);
  EXPECT_EQ(SampleToS16(-0.5f, Rounding::kNearest), -16384);
  EXPECT_EQ(SampleToS16(2.0f, Rounding::kTruncate), 32767);
  EXPECT_EQ(SampleToS16(-2.0f, Rounding::kNearest), -32767);
}

TEST(MediaFrameToRgb24, InterleavesThePlanesOfOneFrame) {
  // [3, 2, 1, 2]: channel c, frame t, pixel x holds a distinct value.
  std::vector<float> d(12);
  for (int c = 0; c < 3; ++c)
    for (int t = 0; t < 2; ++t)
      for (int x = 0; x < 2; ++x) d[(c * 2 + t) * 2 + x] = -1.0f + 0.1f * (c * 4 + t * 2 + x);
  VideoFrames v{d, 2, 1, 2};
  uint8_t rgb[6];
  FrameToRgb24(v, 1, Rounding::kTruncate, rgb, 6);
  for (int x = 0; x < 2; ++x)
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(rgb[3 * x + c], PixelToU8(d[(c * 2 + 1) * 2 + x], Rounding::kTruncate));
}

TEST(MediaValidateVideo, RefusesBadShapes) {
  auto v = testing::MakeVideo(2, 4, 6);
  EXPECT_TRUE(ValidateVideo(v.view).ok());
  VideoFrames no_frames{{}, 0, 4, 6};
  EXPECT_EQ(ValidateVideo(no_frames).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateVideo(no_frames).message().find("frames"), std::string::npos);
  VideoFrames wrong_size{absl::MakeConstSpan(v.data).subspan(1), 2, 4, 6};
  EXPECT_NE(ValidateVideo(wrong_size).message().find("needs 144"), std::string::npos);
  VideoFrames too_wide{v.data, 2, 4, kMaxSide + 1};
  EXPECT_EQ(ValidateVideo(too_wide).code(), absl::StatusCode::kInvalidArgument);
}

TEST(MediaValidateVideo, OddSizesOnlyRefusedForYuv420) {
  auto v = testing::MakeVideo(1, 5, 6);
  EXPECT_TRUE(ValidateVideo(v.view).ok());
  const absl::Status s = ValidateVideoForYuv420(v.view);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("even"), std::string::npos) << s;
}

TEST(MediaValidateVideo, NamesTheFirstNonFiniteValue) {
  auto v = testing::MakeVideo(3, 4, 6);
  // channel 2, frame 1, row 3, column 5
  v.data[((2 * 3 + 1) * 4 + 3) * 6 + 5] = std::numeric_limits<float>::quiet_NaN();
  const absl::Status s = ValidateVideo(v.view);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("channel 2, frame 1, row 3, column 5"), std::string::npos) << s;
}

TEST(MediaValidateAudio, RefusesEmptyBadRateAndNonFinite) {
  std::vector<float> a(10, 0.25f);
  EXPECT_TRUE(ValidateAudio({a, 16000}).ok());
  EXPECT_EQ(ValidateAudio({{}, 16000}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateAudio({a, 0}).message().find("sample rate"), std::string::npos);
  a[7] = -std::numeric_limits<float>::infinity();
  const absl::Status s = ValidateAudio({a, 16000});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sample 7"), std::string::npos) << s;
}

}  // namespace
}  // namespace ovid::media
