// File: tests/media/media_container_test.cc
// WAV and the PNG-frame tar, parsed back here byte by byte (Python's wave/tarfile and ffmpeg
// check them again independently in test_media_ffmpeg.py).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/media/png_frames.h"
#include "engine/media/sample_convert.h"
#include "engine/media/ustar_writer.h"
#include "engine/media/wav_writer.h"
#include "gtest/gtest.h"
#include "media_test_util.h"

namespace ovid::media {
namespace {

uint32_t Le(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint32_t(uint8_t(b[at + i])) << (8 * i);
  return v;
}

uint32_t Be32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | uint8_t(b[at + i]);
  return v;
}

TEST(MediaEncodeWav, HeaderAndSamplesAreExact) {
  std::vector<float> a = testing::MakeTone(1600, 16000);
  a[3] = 1.5f;     // clamped to 32767
  a[4] = -1.0f;    // -32767, as Ovi's a*32767
  for (Rounding r : {Rounding::kTruncate, Rounding::kNearest}) {
    absl::StatusOr<std::string> wav = EncodeWav({a, 16000}, r);
    ASSERT_TRUE(wav.ok()) << wav.status();
    const std::string& b = *wav;
    ASSERT_EQ(b.size(), 44 + 2 * a.size());
    EXPECT_EQ(b.substr(0, 4), "RIFF");
    EXPECT_EQ(Le(b, 4, 4), b.size() - 8);
    EXPECT_EQ(b.substr(8, 8), "WAVEfmt ");
    EXPECT_EQ(Le(b, 16, 4), 16u);
    EXPECT_EQ(Le(b, 20, 2), 1u);      // PCM
    EXPECT_EQ(Le(b, 22, 2), 1u);      // mono
    EXPECT_EQ(Le(b, 24, 4), 16000u);  // rate
    EXPECT_EQ(Le(b, 28, 4), 32000u);  // byte rate
    EXPECT_EQ(Le(b, 32, 2), 2u);
    EXPECT_EQ(Le(b, 34, 2), 16u);
    EXPECT_EQ(b.substr(36, 4), "data");
    EXPECT_EQ(Le(b, 40, 4), 2 * a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(int16_t(Le(b, 44 + 2 * i, 2)), SampleToS16(a[i], r)) << "sample " << i;
    }
    EXPECT_EQ(int16_t(Le(b, 44 + 6, 2)), 32767);
    EXPECT_EQ(int16_t(Le(b, 44 + 8, 2)), -32767);
  }
}

TEST(MediaEncodeWav, RefusesBadAudio) {
  std::vector<float> a(8, std::nanf(""));
  EXPECT_EQ(EncodeWav({a, 16000}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeWav({{}, 16000}).status().code(), absl::StatusCode::kInvalidArgument);
}

struct TarEntry {
  std::string name;
  std::string data;
};

// A strict ustar reader: magic, version, checksum, octal size, zero padding, end blocks.
std::vector<TarEntry> ReadTar(const std::string& tar) {
  std::vector<TarEntry> out;
  EXPECT_EQ(tar.size() % 512, 0u);
  size_t at = 0;
  while (at + 512 <= tar.size()) {
    const std::string h = tar.substr(at, 512);
    if (h == std::string(512, '\0')) break;
    EXPECT_EQ(h.substr(257, 6), std::string("ustar\0", 6));
    EXPECT_EQ(h.substr(263, 2), "00");
    EXPECT_EQ(h[156], '0');
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : uint8_t(h[i]);
    EXPECT_EQ(std::stoul(h.substr(148, 6), nullptr, 8), sum);
    const size_t size = std::stoull(h.substr(124, 11), nullptr, 8);
    out.push_back({h.substr(0, h.find('\0')), tar.substr(at + 512, size)});
    at += 512 + (size + 511) / 512 * 512;
  }
  EXPECT_EQ(at + 1024, tar.size()) << "two zero blocks end the archive";
  EXPECT_EQ(tar.substr(at), std::string(1024, '\0'));
  return out;
}

TEST(MediaUstarWriter, RoundTripsAndRefusesBadNames) {
  UstarWriter w;
  ASSERT_TRUE(w.Add("a.txt", "hello").ok());
  ASSERT_TRUE(w.Add("empty", "").ok());
  ASSERT_TRUE(w.Add("block", std::string(512, 'x')).ok());
  EXPECT_EQ(w.Add("", "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Add(std::string(101, 'n'), "x").code(), absl::StatusCode::kInvalidArgument);
  const std::vector<TarEntry> entries = ReadTar(w.Finish());
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "a.txt");
  EXPECT_EQ(entries[0].data, "hello");
  EXPECT_EQ(entries[1].data, "");
  EXPECT_EQ(entries[2].data, std::string(512, 'x'));
  EXPECT_EQ(w.Add("late", "x").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MediaUstarWriter, AnMtimeOutsideElevenOctalDigitsIsRefused) {
  // snprintf would cut it: -1 read back as 2147483647, 2^33 as 2^30.
  for (int64_t mtime : {int64_t{-1}, int64_t{1} << 33}) {
    UstarWriter w(mtime);
    const absl::Status s = w.Add("a", "x");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << mtime;
    EXPECT_NE(s.message().find("does not fit"), std::string::npos) << s;
  }
  UstarWriter w((int64_t{1} << 33) - 1);
  ASSERT_TRUE(w.Add("a", "x").ok());
}

TEST(MediaEncodePngFrames, StopEndsTheEncodeWithCancelledAtTheNextFrame) {
  auto v = testing::MakeVideo(3, 8, 8);
  int polls = 0;
  absl::StatusOr<std::string> tar =
      EncodePngFrames(v.view, Rounding::kTruncate, [&polls] { return ++polls > 1; });
  EXPECT_EQ(tar.status().code(), absl::StatusCode::kCancelled) << tar.status();
  EXPECT_NE(tar.status().message().find("frame 1"), std::string::npos) << tar.status();
  EXPECT_EQ(polls, 2);
}

TEST(MediaEncodePngFrames, OnePngPerFrameInOrder) {
  // 7x10: odd sizes are fine for PNG.
  auto v = testing::MakeVideo(3, 7, 10);
  absl::StatusOr<std::string> tar = EncodePngFrames(v.view);
  ASSERT_TRUE(tar.ok()) << tar.status();
  const std::vector<TarEntry> entries = ReadTar(*tar);
  ASSERT_EQ(entries.size(), 3u);
  for (int t = 0; t < 3; ++t) {
    char name[32];
    std::snprintf(name, sizeof(name), "frame_%05d.png", t);
    EXPECT_EQ(entries[t].name, name);
    const std::string& png = entries[t].data;
    ASSERT_GT(png.size(), 33u);
    EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
    EXPECT_EQ(png.substr(12, 4), "IHDR");
    EXPECT_EQ(Be32(png, 16), 10u);  // width
    EXPECT_EQ(Be32(png, 20), 7u);   // height
    EXPECT_EQ(uint8_t(png[24]), 8);  // bit depth
    EXPECT_EQ(uint8_t(png[25]), 2);  // colour type RGB
    // Square pixels in pHYs (x and y pixels per unit equal and not 0; unit unknown).
    const size_t phys = png.find("pHYs");
    ASSERT_NE(phys, std::string::npos);
    EXPECT_EQ(Be32(png, phys + 4), Be32(png, phys + 8));
    EXPECT_NE(Be32(png, phys + 4), 0u);
  }
  // Same input, same bytes (mtime 0, deterministic encoder).
  EXPECT_EQ(*EncodePngFrames(v.view), *tar);
}

TEST(MediaEncodePngFrames, RefusesBadFrames) {
  auto v = testing::MakeVideo(2, 4, 4);
  v.data[5] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(EncodePngFrames(v.view).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePngFrames(VideoFrames{{}, 0, 4, 4}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovid::media
