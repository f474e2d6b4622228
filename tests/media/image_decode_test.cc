// File: tests/media/image_decode_test.cc
// DecodeImage (engine/media/image_decode.h), the I2V first frame: PNGs in every pixel format
// libavcodec's png encoder writes, made here from known pixels, must decode bit-exactly; JPEGs
// must land near the intended colours and match the ffmpeg CLI's own rgb24 decode; anything
// damaged, truncated, oversized or of another format is refused with "first_frame" in the
// message and without error-level log lines.
#include "engine/media/image_decode.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/media/image_probe.h"
#include "engine/media/libav_util.h"
#include "gtest/gtest.h"
#include "tests/common/temp_dir.h"

extern "C" {
#include <libavutil/log.h>
}

namespace ovid::media {
namespace {

constexpr int kW = 67, kH = 45;  // odd sizes: no row or chroma alignment to hide behind

// The known picture: every channel varies with x, y and the channel, covering 0..255.
uint8_t Pixel(int x, int y, int c) { return static_cast<uint8_t>(x * 37 + y * 11 + c * 85); }

// One image through a libavcodec encoder; `fill` writes the frame's planes.
std::string Encode(const char* encoder, AVPixelFormat format, int w, int h,
                   const std::function<void(AVFrame*)>& fill) {
  const AVCodec* codec = *FindEncoder(encoder);
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  ctx->width = w;
  ctx->height = h;
  ctx->pix_fmt = format;
  ctx->time_base = AVRational{1, 25};
  if (format == AV_PIX_FMT_YUVJ420P) {
    ctx->color_range = AVCOL_RANGE_JPEG;
    ctx->global_quality = FF_QP2LAMBDA * 2;  // near-lossless: the colour test checks matrices
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
  }
  EXPECT_EQ(avcodec_open2(ctx.get(), codec, nullptr), 0);
  FramePtr frame = *AllocVideoFrame(format, w, h);
  fill(frame.get());
  PacketPtr packet(av_packet_alloc());
  EXPECT_EQ(avcodec_send_frame(ctx.get(), frame.get()), 0);
  EXPECT_EQ(avcodec_send_frame(ctx.get(), nullptr), 0);
  std::string out;
  while (avcodec_receive_packet(ctx.get(), packet.get()) == 0) {
    out.append(reinterpret_cast<const char*>(packet->data), packet->size);
    av_packet_unref(packet.get());
  }
  return out;
}

// Expected rgb24 bytes of the known picture.
std::vector<uint8_t> KnownRgb() {
  std::vector<uint8_t> v;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c) v.push_back(Pixel(x, y, c));
  return v;
}

RgbImage DecodeOk(std::string_view bytes) {
  absl::StatusOr<RgbImage> img = DecodeImage(bytes);
  EXPECT_TRUE(img.ok()) << img.status();
  return img.ok() ? *std::move(img) : RgbImage{};
}

void ExpectRefused(std::string_view bytes, absl::string_view needle) {
  absl::StatusOr<RgbImage> img = DecodeImage(bytes);
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.status().code(), absl::StatusCode::kInvalidArgument) << img.status();
  EXPECT_TRUE(absl::StartsWith(img.status().message(), "first_frame: ")) << img.status();
  EXPECT_TRUE(absl::StrContains(img.status().message(), needle)) << img.status();
}

std::string PngRgb() {
  return Encode("png", AV_PIX_FMT_RGB24, kW, kH, [](AVFrame* f) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x)
        for (int c = 0; c < 3; ++c) f->data[0][y * f->linesize[0] + 3 * x + c] = Pixel(x, y, c);
  });
}

TEST(ImageDecodePng, Rgb24IsExact) {
  const RgbImage img = DecodeOk(PngRgb());
  EXPECT_EQ(img.width, kW);
  EXPECT_EQ(img.height, kH);
  EXPECT_EQ(img.rgb, KnownRgb());
}

TEST(ImageDecodePng, RgbaDropsAlpha) {
  const std::string png = Encode("png", AV_PIX_FMT_RGBA, kW, kH, [](AVFrame* f) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) {
        uint8_t* p = f->data[0] + y * f->linesize[0] + 4 * x;
        for (int c = 0; c < 3; ++c) p[c] = Pixel(x, y, c);
        p[3] = static_cast<uint8_t>(x * 7);  // transparent pixels keep their colour too
      }
  });
  EXPECT_EQ(DecodeOk(png).rgb, KnownRgb());
}

TEST(ImageDecodePng, GrayIsReplicatedFullRange) {
  const std::string png = Encode("png", AV_PIX_FMT_GRAY8, kW, kH, [](AVFrame* f) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) f->data[0][y * f->linesize[0] + x] = Pixel(x, y, 0);
  });
  const RgbImage img = DecodeOk(png);
  ASSERT_EQ(img.rgb.size(), size_t{kW} * kH * 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(img.rgb[(y * kW + x) * 3 + c], Pixel(x, y, 0)) << x << "," << y << "," << c;
}

// 16-bit samples keep their high byte, as cv2.imread (libpng's png_set_strip_16) does: the low
// byte is noise here and must not round anything up.
TEST(ImageDecodePng, SixteenBitKeepsTheHighByte) {
  const std::string rgb48 = Encode("png", AV_PIX_FMT_RGB48BE, kW, kH, [](AVFrame* f) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x)
        for (int c = 0; c < 3; ++c) {
          uint8_t* p = f->data[0] + y * f->linesize[0] + 6 * x + 2 * c;
          p[0] = Pixel(x, y, c);
          p[1] = static_cast<uint8_t>(255 - x * 13 - c);
        }
  });
  EXPECT_EQ(DecodeOk(rgb48).rgb, KnownRgb());
  const std::string gray16 = Encode("png", AV_PIX_FMT_GRAY16BE, kW, kH, [](AVFrame* f) {
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) {
        f->data[0][y * f->linesize[0] + 2 * x] = Pixel(x, y, 1);
        f->data[0][y * f->linesize[0] + 2 * x + 1] = 0xff;
      }
  });
  const RgbImage img = DecodeOk(gray16);
  ASSERT_EQ(img.rgb.size(), size_t{kW} * kH * 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(img.rgb[(y * kW + x) * 3 + c], Pixel(x, y, 1));
}

TEST(ImageDecodePng, PaletteIsExact) {
  const std::string png = Encode("png", AV_PIX_FMT_PAL8, kW, kH, [](AVFrame* f) {
    for (int i = 0; i < 256; ++i) {  // palette entries are native-endian 0xAARRGGBB
      const uint32_t argb = 0xff000000u | (uint32_t{Pixel(i, 0, 0)} << 16) |
                            (uint32_t{Pixel(i, 0, 1)} << 8) | Pixel(i, 0, 2);
      std::memcpy(f->data[1] + 4 * i, &argb, 4);
    }
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) f->data[0][y * f->linesize[0] + x] = (x + y) & 255;
  });
  const RgbImage img = DecodeOk(png);
  ASSERT_EQ(img.rgb.size(), size_t{kW} * kH * 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(img.rgb[(y * kW + x) * 3 + c], Pixel((x + y) & 255, 0, c));
}

// Four flat quadrants in saturated colours, 32x32 (whole 16x16 MCUs, so no block straddles two
// colours). A wrong matrix or a limited-range mistake moves saturated colours by 10+ levels.
TEST(ImageDecodeJpeg, FlatColoursComeBackClose) {
  const std::array<std::array<int, 3>, 4> colours = {
      {{230, 30, 40}, {20, 200, 60}, {40, 50, 220}, {250, 250, 250}}};
  auto quadrant = [](int x, int y) { return (y / 16) * 2 + x / 16; };
  const std::string jpeg = Encode("mjpeg", AV_PIX_FMT_YUVJ420P, 32, 32, [&](AVFrame* f) {
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const auto& rgb = colours[quadrant(x, y)];
        const double r = rgb[0], g = rgb[1], b = rgb[2];
        const double luma = 0.299 * r + 0.587 * g + 0.114 * b;  // JFIF, full range
        f->data[0][y * f->linesize[0] + x] = static_cast<uint8_t>(luma + 0.5);
        if (x % 2 == 0 && y % 2 == 0) {
          f->data[1][(y / 2) * f->linesize[1] + x / 2] =
              static_cast<uint8_t>(128 + (b - luma) / 1.772 + 0.5);
          f->data[2][(y / 2) * f->linesize[2] + x / 2] =
              static_cast<uint8_t>(128 + (r - luma) / 1.402 + 0.5);
        }
      }
  });
  const RgbImage img = DecodeOk(jpeg);
  ASSERT_EQ(img.width, 32);
  ASSERT_EQ(img.height, 32);
  for (int q = 0; q < 4; ++q) {
    const int x = (q % 2) * 16 + 8, y = (q / 2) * 16 + 8;  // away from chroma edges
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(img.rgb[(y * 32 + x) * 3 + c], colours[q][c], 4) << "quadrant " << q;
    }
  }
}

// `jpeg` with an APP1 "Exif" segment right after SOI whose first IFD holds Orientation =
// `orientation`, in big- (MM) or little-endian (II) TIFF byte order.
std::string WithExifOrientation(const std::string& jpeg, int orientation, bool little) {
  auto u16 = [&](uint32_t v) {
    const char hi = static_cast<char>(v >> 8), lo = static_cast<char>(v & 0xff);
    return little ? std::string{lo, hi} : std::string{hi, lo};
  };
  auto u32 = [&](uint32_t v) {
    return little ? u16(v & 0xffff) + u16(v >> 16) : u16(v >> 16) + u16(v & 0xffff);
  };
  // TIFF header, one IFD of one entry (tag 0x0112, SHORT, count 1, the value), no next IFD.
  const std::string tiff = std::string(little ? "II" : "MM") + u16(42) + u32(8) + u16(1) +
                           u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0) + u32(0);
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t length = payload.size() + 2;
  const std::string app1 = std::string("\xff\xe1", 2) + static_cast<char>(length >> 8) +
                           static_cast<char>(length & 0xff) + payload;
  return jpeg.substr(0, 2) + app1 + jpeg.substr(2);
}

// cv2.imread, which Ovi reads the first frame with, turns a JPEG as its EXIF orientation says:
// a phone's portrait photo is stored sideways with orientation 6. ovid ignored the tag, so the
// frame was sideways and the video landscape.
TEST(ImageDecodeJpeg, ExifOrientationTurnsThePixelsLikeCv2) {
  const std::string jpeg = Encode("mjpeg", AV_PIX_FMT_YUVJ444P, kW, kH, [](AVFrame* f) {
    for (int p = 0; p < 3; ++p)
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) f->data[p][y * f->linesize[p] + x] = Pixel(x, y, p);
  });
  const RgbImage stored = DecodeOk(jpeg);
  auto at = [](const RgbImage& img, int x, int y) {
    const uint8_t* p = img.rgb.data() + (static_cast<size_t>(y) * img.width + x) * 3;
    return std::array<uint8_t, 3>{p[0], p[1], p[2]};
  };
  for (bool little : {false, true}) {
    // 6: rotate 90 degrees clockwise: displayed (x, y) is stored (y, H - 1 - x).
    const std::string six = WithExifOrientation(jpeg, 6, little);
    absl::StatusOr<ImageHeader> header = ProbeImage(six);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->orientation, 6);
    EXPECT_EQ(header->DisplayWidth(), kH);
    EXPECT_EQ(header->DisplayHeight(), kW);
    const RgbImage turned = DecodeOk(six);
    ASSERT_EQ(turned.width, kH);
    ASSERT_EQ(turned.height, kW);
    for (int y = 0; y < turned.height; ++y)
      for (int x = 0; x < turned.width; ++x)
        ASSERT_EQ(at(turned, x, y), at(stored, y, kH - 1 - x)) << x << "," << y;
  }
  // 3: upside down; 8: rotate 90 degrees counter-clockwise (displayed top-left is stored
  // top-right); 1 and values outside 1..8: as stored.
  const RgbImage half = DecodeOk(WithExifOrientation(jpeg, 3, false));
  EXPECT_EQ(at(half, 0, 0), at(stored, kW - 1, kH - 1));
  EXPECT_EQ(at(half, kW - 1, 0), at(stored, 0, kH - 1));
  const RgbImage left = DecodeOk(WithExifOrientation(jpeg, 8, true));
  ASSERT_EQ(left.width, kH);
  EXPECT_EQ(at(left, 0, 0), at(stored, kW - 1, 0));
  EXPECT_EQ(at(left, 0, kW - 1), at(stored, 0, 0));
  for (int o : {1, 0, 9}) {
    EXPECT_EQ(DecodeOk(WithExifOrientation(jpeg, o, false)).rgb, stored.rgb) << o;
  }
}

// Runs a shell command; its stdout, or nullopt when it fails.
std::optional<std::string> Shell(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  return pclose(p) == 0 ? std::optional<std::string>(out) : std::nullopt;
}

// A 4:2:0 JPEG of ffmpeg's test pattern, written by the ffmpeg CLI; nullopt without one.
std::optional<std::string> CliJpeg() {
  return Shell(absl::StrCat("ffmpeg -v error -f lavfi -i testsrc2=size=", kW, "x", kH,
                            " -frames:v 1 -f mjpeg - 2>/dev/null"));
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A JPEG written by the ffmpeg CLI without subsampled chroma (4:4:4; its mjpeg encoder has no
// gray format) against the CLI's own rgb24 decode: both run libavcodec's mjpeg decoder; only the
// IDCT (ovid asks for the integer one) and the YUV->RGB rounding may differ. Subsampled chroma is
// upsampled as libjpeg does, not replicated as the CLI does, and gray JPEGs come from Pillow:
// test_first_frame_vs_libjpeg.py checks both.
TEST(ImageDecodeJpeg, MatchesTheFfmpegCliWithoutSubsampling) {
  if (!Shell("ffmpeg -version >/dev/null 2>&1")) GTEST_SKIP() << "no ffmpeg CLI on PATH";
  const testing::ScopedTempDir temp("image_jpeg");
  const std::filesystem::path& dir = temp.path();
  for (const char* pix_fmt : {"yuvj444p"}) {
    SCOPED_TRACE(pix_fmt);
    const std::filesystem::path jpg = dir / absl::StrCat(pix_fmt, ".jpg");
    ASSERT_TRUE(Shell(absl::StrCat("ffmpeg -v error -y -f lavfi -i testsrc2=size=", kW, "x", kH,
                                   " -frames:v 1 -pix_fmt ", pix_fmt, " -q:v 3 ", jpg.string())));
    const std::optional<std::string> want =
        Shell(absl::StrCat("ffmpeg -v error -i ", jpg.string(), " -f rawvideo -pix_fmt rgb24 -"));
    ASSERT_TRUE(want.has_value());
    const RgbImage img = DecodeOk(ReadFile(jpg));
    ASSERT_EQ(img.rgb.size(), want->size());
    int max_diff = 0;
    double sum_diff = 0;
    for (size_t i = 0; i < img.rgb.size(); ++i) {
      const int d = std::abs(int(img.rgb[i]) - int(uint8_t((*want)[i])));
      max_diff = std::max(max_diff, d);
      sum_diff += d;
    }
    EXPECT_LE(max_diff, 3);
    EXPECT_LE(sum_diff / img.rgb.size(), 0.75);
  }
}

// The probe reads the chroma subsampling from the frame header, which decides whether libjpeg's
// upsampling applies: libavcodec reports some unusual layouts as plain 4:2:0 once it has widened
// their chroma itself.
TEST(ImageDecodeJpeg, TheProbeReadsTheChromaSubsamplingFromTheFrameHeader) {
  const std::optional<std::string> cli_jpeg = CliJpeg();
  if (!cli_jpeg) GTEST_SKIP() << "no ffmpeg CLI on PATH";
  absl::StatusOr<ImageHeader> h = ProbeImage(*cli_jpeg);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->jpeg_chroma_h_sub, 2);
  EXPECT_EQ(h->jpeg_chroma_v_sub, 2);
  // The frame header: FF C0, length, precision, height, width, 3 components of (id, H << 4 | V,
  // table) each; the luma's factors are 2x2 and the chroma's 1x1.
  const size_t sof = cli_jpeg->find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  ASSERT_EQ(static_cast<uint8_t>((*cli_jpeg)[sof + 9]), 3);
  const size_t luma = sof + 11, cb = sof + 14, cr = sof + 17;
  ASSERT_EQ(static_cast<uint8_t>((*cli_jpeg)[luma]), 0x22);
  auto probe_with = [&](uint8_t l, uint8_t b, uint8_t r) {
    std::string jpeg = *cli_jpeg;
    jpeg[luma] = static_cast<char>(l);
    jpeg[cb] = static_cast<char>(b);
    jpeg[cr] = static_cast<char>(r);
    absl::StatusOr<ImageHeader> header = ProbeImage(jpeg);
    EXPECT_TRUE(header.ok()) << header.status();
    return header.ok() ? std::pair(header->jpeg_chroma_h_sub, header->jpeg_chroma_v_sub)
                       : std::pair(-1, -1);
  };
  EXPECT_EQ(probe_with(0x21, 0x11, 0x11), std::pair(2, 1));  // 4:2:2
  EXPECT_EQ(probe_with(0x11, 0x11, 0x11), std::pair(1, 1));  // 4:4:4
  EXPECT_EQ(probe_with(0x22, 0x22, 0x22), std::pair(1, 1));  // 4:4:4 with larger factors
  EXPECT_EQ(probe_with(0x22, 0x12, 0x11), std::pair(0, 0));  // chroma components differ
  EXPECT_EQ(probe_with(0x22, 0x21, 0x21), std::pair(1, 2));  // 4:4:0 (not filtered: see jpeg_ycc.h)
  EXPECT_EQ(probe_with(0x32, 0x21, 0x21), std::pair(0, 0));  // 3 / 2: not a whole ratio
}

TEST(ImageDecodeErrors, OtherFormatsAndEmptyInput) {
  ExpectRefused("", "empty image");
  ExpectRefused("GIF89a\x01\x00\x01\x00", "not a PNG or JPEG image (starts with 47 49 46 38 39 61");
  ExpectRefused(std::string("BM\x3a\0\0\0\0\0", 8) + std::string(50, '\0'),
                "not a PNG or JPEG image (starts with 42 4d 3a");
  ExpectRefused("iVBORw0KGgo=", "not a PNG or JPEG");  // base64 of a PNG, not the PNG
}

TEST(ImageDecodeErrors, TruncatedFiles) {
  const std::string png = PngRgb();
  for (size_t keep : {size_t{8}, size_t{20}, png.size() / 2, png.size() - 1}) {
    SCOPED_TRACE(keep);
    ExpectRefused(png.substr(0, keep), "PNG");
  }
  const std::optional<std::string> cli_jpeg = CliJpeg();
  if (!cli_jpeg) GTEST_SKIP() << "no ffmpeg CLI on PATH";
  const std::string& jpeg = *cli_jpeg;
  ASSERT_GT(jpeg.size(), 100u);
  ASSERT_TRUE(DecodeImage(jpeg).ok());
  for (size_t keep : {size_t{3}, size_t{30}, jpeg.size() / 2, jpeg.size() - 2}) {
    SCOPED_TRACE(keep);
    ExpectRefused(jpeg.substr(0, keep), "truncated JPEG");
  }
}

TEST(ImageDecodeErrors, CorruptDataNamesTheProblem) {
  std::string png = PngRgb();
  // A byte inside the IDAT payload: the probe's inflate of the pixel data stops.
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  png[idat + 20] ^= 0x5a;
  ExpectRefused(png, "corrupt PNG: the pixel data stops inflating");

  // The IDAT chunk's CRC: the data is whole, and the decoder's CRC check refuses it.
  std::string bad_crc = PngRgb();
  const uint32_t length = (uint32_t{uint8_t(bad_crc[idat - 4])} << 24) |
                          (uint32_t{uint8_t(bad_crc[idat - 3])} << 16) |
                          (uint32_t{uint8_t(bad_crc[idat - 2])} << 8) | uint8_t(bad_crc[idat - 1]);
  bad_crc[idat + 4 + length] ^= 0x01;
  ExpectRefused(bad_crc, "PNG decoder rejected the image");

  std::string bad_ihdr = PngRgb();
  bad_ihdr[24] = 7;  // bit depth 7 does not exist
  ExpectRefused(bad_ihdr, "colour type 2, bit depth 7, interlace 0 is not a valid combination");
}

// Hand-made headers: the size is refused from the header alone, before any decoder runs.
std::string PngWithSize(uint32_t w, uint32_t h) {
  std::string png = PngRgb();
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<char>(w >> (24 - 8 * i));
    png[20 + i] = static_cast<char>(h >> (24 - 8 * i));
  }
  return png;
}

TEST(ImageDecodeErrors, AbsurdSizesAndOversizedInput) {
  ExpectRefused(PngWithSize(8193, 10), "PNG image is 8193x10; each side must be 1..8192");
  ExpectRefused(PngWithSize(10, 0), "each side must be 1..8192");
  ExpectRefused(PngWithSize(0xffffffffu, 0xffffffffu), "each side must be 1..8192");
  // A JPEG frame header saying 0 lines (the DNL form) or 65535 columns.
  const std::string jpeg_head = std::string(
      "\xff\xd8\xff\xc0\x00\x0b\x08\x00\x00\x00\x10\x01\x01\x11\x00"
      "\xff\xd9",
      17);
  ExpectRefused(jpeg_head, "JPEG image is 16x0");
  std::string huge(kMaxImageBytes + 1, '\0');
  std::memcpy(huge.data(), PngRgb().data(), 8);
  ExpectRefused(huge, "more than the limit");
}

// At AV_LOG_ERROR (a quiet daemon), corrupt uploads must print nothing: their errors are in the
// returned status, the decoder's own error lines are demoted to warnings.
TEST(ImageDecodeErrors, NoErrorLevelLogLines) {
  std::string png = PngRgb();
  png[png.find("IDAT") + 20] ^= 0x5a;
  const std::optional<std::string> jpeg = CliJpeg();
  if (!jpeg) GTEST_SKIP() << "no ffmpeg CLI on PATH";
  std::string bad_jpeg = *jpeg;
  // Garbage in the entropy-coded data, the structure intact (no 0xFF bytes written).
  const size_t sos = bad_jpeg.find("\xff\xda");
  for (size_t i = sos + 20; i < bad_jpeg.size() - 20; i += 7) bad_jpeg[i] = 0x13;
  const int level = av_log_get_level();
  av_log_set_level(AV_LOG_ERROR);
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(DecodeImage(png).ok());
  EXPECT_FALSE(DecodeImage(bad_jpeg).ok());  // AV_EF_EXPLODE: no concealment
  const std::string err = ::testing::internal::GetCapturedStderr();
  av_log_set_level(level);
  EXPECT_EQ(err, "");
}

TEST(ImageDecode, ConcurrentCallsAgree) {
  const std::string png = PngRgb();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        absl::StatusOr<RgbImage> img = DecodeImage(png);
        ok[t] += img.ok() && img->rgb == KnownRgb();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 5));
}

}  // namespace
}  // namespace ovid::media
