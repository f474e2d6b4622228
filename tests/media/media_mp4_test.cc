// File: tests/media/media_mp4_test.cc
// EncodeMp4's container layout, refusals and thread safety. What the streams hold (codec, size,
// frame count, quality, audio) is checked by decoding with ffprobe/ffmpeg in
// test_media_ffmpeg.py.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "engine/media/libav_util.h"
#include "engine/media/mp4_encoder.h"
#include "gtest/gtest.h"
#include "media_test_util.h"

namespace ovid::media {
namespace {

// The top-level ISO-BMFF boxes, in order; every size must add up to the file.
std::vector<std::string> TopLevelBoxes(const std::string& mp4) {
  std::vector<std::string> boxes;
  size_t at = 0;
  while (at + 8 <= mp4.size()) {
    uint64_t size = 0;
    for (int i = 0; i < 4; ++i) size = (size << 8) | uint8_t(mp4[at + i]);
    boxes.push_back(mp4.substr(at + 4, 4));
    EXPECT_GE(size, 8u) << "box " << boxes.back() << " at " << at;
    if (size < 8) break;
    at += size;
  }
  EXPECT_EQ(at, mp4.size());
  return boxes;
}

struct Input {
  testing::OwnedVideo video = testing::MakeVideo(13, 64, 96);
  std::vector<float> audio = testing::MakeTone(9000, 16000);
  AudioPcm pcm() const { return {audio, 16000}; }
};

// Reproducible bytes: one x264 thread, and x264's plain-C code (its AVX-512 code varies with
// the memory it gets; mp4_options.h).
Mp4Options Fast() {
  Mp4Options o;
  o.preset = "veryfast";
  o.threads = 1;
  o.x264_params = "asm=0";
  return o;
}

// `stop` is polled before each frame: a job cancelled during the encode stops there.
TEST(MediaEncodeMp4, StopEndsTheEncodeWithCancelledAtTheNextFrame) {
  Input in;
  Mp4Options o = Fast();
  int polls = 0;
  o.stop = [&polls] { return ++polls > 2; };
  absl::StatusOr<std::string> mp4 = EncodeMp4(in.video.view, in.pcm(), o);
  EXPECT_EQ(mp4.status().code(), absl::StatusCode::kCancelled) << mp4.status();
  EXPECT_NE(mp4.status().message().find("frame 2"), std::string::npos) << mp4.status();
  EXPECT_EQ(polls, 3);
  o.stop = [] { return false; };
  EXPECT_TRUE(EncodeMp4(in.video.view, in.pcm(), o).ok());
}

TEST(MediaEncodeMp4, MoovPrecedesMdat) {
  Input in;
  absl::StatusOr<std::string> mp4 = EncodeMp4(in.video.view, in.pcm(), Fast());
  ASSERT_TRUE(mp4.ok()) << mp4.status();
  const std::vector<std::string> boxes = TopLevelBoxes(*mp4);
  ASSERT_GE(boxes.size(), 3u);
  EXPECT_EQ(boxes[0], "ftyp");
  const auto moov = std::find(boxes.begin(), boxes.end(), "moov");
  const auto mdat = std::find(boxes.begin(), boxes.end(), "mdat");
  ASSERT_NE(moov, boxes.end());
  ASSERT_NE(mdat, boxes.end());
  EXPECT_LT(moov, mdat) << "faststart: the index must come before the media data";
}

TEST(MediaEncodeMp4, ConcurrentEncodesMatchASerialOne) {
  Input in;
  absl::StatusOr<std::string> serial = EncodeMp4(in.video.view, in.pcm(), Fast());
  ASSERT_TRUE(serial.ok()) << serial.status();
  std::vector<absl::StatusOr<std::string>> results(4, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (auto& r : results) {
    threads.emplace_back([&in, &r] { r = EncodeMp4(in.video.view, in.pcm(), Fast()); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(*r == *serial) << "sizes " << r->size() << " vs " << serial->size();
  }
}

TEST(MediaEncodeMp4, QualityOptionsChangeTheOutput) {
  Input in;
  Mp4Options low = Fast(), high = Fast();
  low.crf = 40;
  high.crf = 12;
  absl::StatusOr<std::string> small = EncodeMp4(in.video.view, in.pcm(), low);
  absl::StatusOr<std::string> large = EncodeMp4(in.video.view, in.pcm(), high);
  ASSERT_TRUE(small.ok() && large.ok());
  EXPECT_LT(small->size(), large->size());
}

TEST(MediaEncodeMp4, RefusesBadInputWithTheReason) {
  Input in;
  struct Case {
    const char* name;
    VideoFrames video;
    AudioPcm audio;
    const char* needle;
  };
  auto odd = testing::MakeVideo(2, 64, 95);
  auto nan = testing::MakeVideo(2, 64, 96);
  nan.data[100] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> bad_audio = in.audio;
  bad_audio[17] = std::numeric_limits<float>::infinity();
  const Case cases[] = {
      {"zero frames", VideoFrames{{}, 0, 64, 96}, in.pcm(), "frames must be positive"},
      {"odd width", odd.view, in.pcm(), "even"},
      {"shape", VideoFrames{in.video.view.data, 12, 64, 96}, in.pcm(), "needs"},
      {"nan video", nan.view, in.pcm(), "non-finite"},
      {"no audio", in.video.view, AudioPcm{{}, 16000}, "no samples"},
      {"inf audio", in.video.view, AudioPcm{bad_audio, 16000}, "sample 17"},
      // 17 samples at 16 kHz resample to none at 44.1 kHz: the track would silently vanish.
      {"too short", in.video.view, AudioPcm{absl::MakeConstSpan(in.audio).first(17), 16000},
       "17 samples at 16000 Hz resample to none at 44100 Hz"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> mp4 = EncodeMp4(c.video, c.audio, Fast());
    EXPECT_EQ(mp4.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(mp4.status().message().find(c.needle), std::string::npos)
        << c.name << ": " << mp4.status();
  }
}

TEST(MediaEncodeMp4, RefusesBadOptionsNamingTheField) {
  Input in;
  auto with = [](auto change) {
    Mp4Options o = Fast();
    change(o);
    return o;
  };
  const std::pair<Mp4Options, const char*> cases[] = {
      {with([](Mp4Options& o) { o.crf = 52; }), "crf"},
      {with([](Mp4Options& o) { o.preset = "fastest"; }), "preset"},
      {with([](Mp4Options& o) { o.fps = 0; }), "fps"},
      {with([](Mp4Options& o) { o.audio_sample_rate = 22000; }), "audio_sample_rate"},
      {with([](Mp4Options& o) { o.audio_channels = 6; }), "audio_channels"},
      {with([](Mp4Options& o) { o.audio_bitrate = -1; }), "audio_bitrate"},
      {with([](Mp4Options& o) { o.threads = -2; }), "threads"},
      {with([](Mp4Options& o) { o.x264_params = "log=3 --x"; }), "x264_params"},
  };
  for (const auto& [options, field] : cases) {
    absl::StatusOr<std::string> mp4 = EncodeMp4(in.video.view, in.pcm(), options);
    EXPECT_EQ(mp4.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(mp4.status().message().find(field), std::string::npos) << mp4.status();
  }
}

TEST(MediaFindEncoder, AMissingEncoderIsAFailedPreconditionNamingIt) {
  absl::StatusOr<const AVCodec*> codec = FindEncoder("ovid-no-such-encoder");
  EXPECT_EQ(codec.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(codec.status().message().find("ovid-no-such-encoder"), std::string::npos);
  // The ones EncodeMp4 and EncodePngFrames need are present on CI.
  for (const char* name : {"libx264", "aac", "png"}) EXPECT_TRUE(FindEncoder(name).ok()) << name;
}

TEST(MediaAvError, NamesTheCallAndMapsOutOfMemory) {
  const absl::Status s = AvError(AVERROR(EINVAL), "avcodec_open2 (test)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("avcodec_open2 (test)"), std::string::npos);
  EXPECT_EQ(AvError(AVERROR(ENOMEM), "x").code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace ovid::media
