// File: tests/media/image_probe_test.cc
// ProbeImage (engine/media/image_probe.h) on hand-made files: a PNG's pixel data must inflate to
// every row its header declares (libavcodec decodes the missing rows as black and says OK), its
// decoded size is bounded, interlaced PNGs are sized per Adam7 pass, and a JPEG may have at most
// kMaxJpegScans scans (each one a pass over the whole image for a progressive decoder).
#include "engine/media/image_probe.h"

#include <zlib.h>

#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace ovid::media {
namespace {

void AppendBe32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

std::string Chunk(std::string_view type, std::string_view data) {
  std::string out;
  AppendBe32(&out, static_cast<uint32_t>(data.size()));
  std::string body(type);
  body.append(data);
  out += body;
  AppendBe32(&out, static_cast<uint32_t>(
                       crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
  return out;
}

std::string Deflate(const std::string& raw) {
  uLongf size = compressBound(raw.size());
  std::string out(size, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                      reinterpret_cast<const Bytef*>(raw.data()), raw.size(), 6),
            Z_OK);
  out.resize(size);
  return out;
}

// A PNG of w x h with the given IHDR fields whose IDAT holds `compressed`.
std::string Png(uint32_t w, uint32_t h, int depth, int color_type, int interlace,
                const std::string& compressed) {
  std::string ihdr;
  AppendBe32(&ihdr, w);
  AppendBe32(&ihdr, h);
  for (int v : {depth, color_type, 0, 0, interlace}) ihdr.push_back(static_cast<char>(v));
  return std::string("\x89PNG\r\n\x1a\n", 8) + Chunk("IHDR", ihdr) + Chunk("IDAT", compressed) +
         Chunk("IEND", "");
}

// `rows` rows of an 8-bit RGB image w wide: a filter byte (0) and the samples each.
std::string RgbRows(int w, int rows) {
  return std::string(static_cast<size_t>(rows) * (1 + 3 * w), '\x40');
}

void ExpectRefused(const std::string& bytes, absl::string_view needle) {
  absl::StatusOr<ImageHeader> h = ProbeImage(bytes);
  ASSERT_FALSE(h.ok()) << needle;
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument) << h.status();
  EXPECT_TRUE(absl::StartsWith(h.status().message(), "first_frame: ")) << h.status();
  EXPECT_TRUE(absl::StrContains(h.status().message(), needle)) << h.status();
}

TEST(ImageProbePng, PixelDataThatStopsEarlyIsRefused) {
  ASSERT_TRUE(ProbeImage(Png(64, 64, 8, 2, 0, Deflate(RgbRows(64, 64)))).ok());
  // A complete zlib stream of 32 of the 64 rows: every chunk and CRC is valid.
  ExpectRefused(Png(64, 64, 8, 2, 0, Deflate(RgbRows(64, 32))),
                "truncated PNG: the pixel data inflates to 6176 bytes; IHDR's size needs 12352");
  // A zlib stream cut inside a chunk whose CRC is valid.
  std::string random_rows;
  for (int i = 0; i < 64 * (1 + 3 * 64); ++i)
    random_rows.push_back(static_cast<char>(i * 131 % 251));
  const std::string noisy = Deflate(random_rows);
  ExpectRefused(Png(64, 64, 8, 2, 0, noisy.substr(0, noisy.size() / 2)), "truncated PNG");
  // Garbage where the zlib stream should be.
  ExpectRefused(Png(64, 64, 8, 2, 0, std::string(40, '\x13')), "corrupt PNG: the pixel data");
  ExpectRefused(Png(64, 64, 8, 2, 0, ""), "inflates to 0 bytes");
}

// Admission's probe (kHeaders) reads the structure and the size but inflates nothing: the
// truncated pixel data above passes it, and the full probe (the contents check, the decode)
// refuses it. A header error is still one.
TEST(ImageProbePng, TheHeadersOnlyProbeSizesWithoutInflating) {
  const std::string half = Png(64, 48, 8, 2, 0, Deflate(RgbRows(64, 24)));
  absl::StatusOr<ImageHeader> h = ProbeImage(half, ProbeDepth::kHeaders);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->width, 64);
  EXPECT_EQ(h->height, 48);
  EXPECT_FALSE(ProbeImage(half).ok());
  // 8192x8192 RGBA of zeros: 268 MB to inflate for the full probe, nothing for this one.
  EXPECT_TRUE(
      ProbeImage(Png(8192, 8192, 8, 6, 0, Deflate(std::string(1000, '\0'))), ProbeDepth::kHeaders)
          .ok());
  EXPECT_FALSE(ProbeImage(Png(64, 64, 8, 5, 0, Deflate(RgbRows(64, 64))), ProbeDepth::kHeaders)
                   .ok());  // colour type 5 does not exist
}

TEST(ImageProbePng, InterlacedImagesAreSizedPerPass) {
  // 5 x 3 RGB8, Adam7: pass widths 1, 1, 2, 1, 3, 2, 5 and heights 1, 1, 0, 1, 1, 2, 1, each row
  // a filter byte and 3 bytes a pixel: 4 + 4 + 0 + 4 + 10 + 2 * 7 + 16 = 52 bytes.
  const std::string raw(52, '\0');
  ASSERT_TRUE(ProbeImage(Png(5, 3, 8, 2, 1, Deflate(raw))).ok());
  ExpectRefused(Png(5, 3, 8, 2, 1, Deflate(raw.substr(0, 51))), "needs 52");
  ExpectRefused(Png(5, 3, 8, 2, 2, Deflate(raw)), "interlace 2 is not a valid combination");
}

TEST(ImageProbePng, HeaderFieldsAndDecodedSizeAreBounded) {
  ExpectRefused(Png(64, 64, 7, 2, 0, Deflate(RgbRows(64, 64))),
                "IHDR's colour type 2, bit depth 7, interlace 0 is not a valid combination");
  ExpectRefused(Png(64, 64, 16, 3, 0, Deflate(RgbRows(64, 64))), "colour type 3, bit depth 16");
  // 16-bit RGBA at 8192 x 8192 is 512 MiB decoded from a tiny upload of zeros: refused before
  // anything inflates. 8-bit RGBA at that size is the limit itself.
  ExpectRefused(Png(8192, 8192, 16, 6, 0, Deflate(std::string(1000, '\0'))),
                "is 536879104 bytes decoded, more than the limit of 268443648");
  ExpectRefused(Png(8192, 8192, 8, 6, 0, Deflate(std::string(1000, '\0'))), "truncated PNG");
  // A 1-bit grey row packs 8 pixels a byte: 17 pixels are 3 bytes and a filter byte.
  ASSERT_TRUE(ProbeImage(Png(17, 2, 1, 0, 0, Deflate(std::string(8, '\0')))).ok());
  ExpectRefused(Png(17, 2, 1, 0, 0, Deflate(std::string(7, '\0'))), "needs 8");
}

// SOI, a progressive frame header (SOF2, 8 x 8, one component), `scans` scans of one data byte
// each, EOI. The probe walks the structure only.
std::string ProgressiveJpeg(int scans) {
  std::string j("\xff\xd8", 2);
  j += std::string("\xff\xc2\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00", 13);
  for (int i = 0; i < scans; ++i) {
    j += std::string("\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", 10);
    j.push_back('\x55');
  }
  j += std::string("\xff\xd9", 2);
  return j;
}

TEST(ImageProbeJpeg, ScansAreBounded) {
  ASSERT_TRUE(ProbeImage(ProgressiveJpeg(kMaxJpegScans)).ok());
  ExpectRefused(ProgressiveJpeg(kMaxJpegScans + 1), "JPEG has more than 100 scans");
}

// libavcodec sets up a whole picture for each frame header, scans or not: repeated 8192 x 8192
// SOF2 segments in a small upload cost 0.11 s each in the decoder.
TEST(ImageProbeJpeg, ASecondFrameHeaderIsRefused) {
  const std::string big_sof("\xff\xc2\x00\x0b\x08\x20\x00\x20\x00\x01\x01\x11\x00", 13);
  std::string j = ProgressiveJpeg(1);
  j.insert(2, big_sof);  // before the real frame header, right after SOI
  ExpectRefused(j, "JPEG has a second frame header (marker 0xc2 at byte 15)");
}

// The decoder is given only the chunks that define the pixels; text, compressed text and ICC
// chunks (libavcodec inflates the last two without a limit) are left out, in order otherwise.
TEST(ImageProbePng, PixelChunksLeaveOutAncillaryChunks) {
  const std::string idat = Chunk("IDAT", Deflate(RgbRows(4, 2)));
  std::string ihdr;
  AppendBe32(&ihdr, 4);
  AppendBe32(&ihdr, 2);
  for (int v : {8, 2, 0, 0, 0}) ihdr.push_back(static_cast<char>(v));
  const std::string sig("\x89PNG\r\n\x1a\n", 8);
  const std::string bomb = Deflate(std::string(1 << 20, '\0'));
  const std::string with = sig + Chunk("IHDR", ihdr) + Chunk("tEXt", std::string("k\0v", 3)) +
                           Chunk("zTXt", std::string("k\0\0", 3) + bomb) +
                           Chunk("iCCP", std::string("p\0\0", 3) + bomb) + Chunk("gAMA", "abcd") +
                           idat + Chunk("tRNS", std::string(6, '\0')) + Chunk("IEND", "");
  ASSERT_TRUE(ProbeImage(with).ok());
  EXPECT_EQ(PngPixelChunks(with), sig + Chunk("IHDR", ihdr) + idat +
                                      Chunk("tRNS", std::string(6, '\0')) + Chunk("IEND", ""));
  // Chunks after IEND are not the image's either.
  EXPECT_EQ(PngPixelChunks(with + Chunk("tEXt", "x")), PngPixelChunks(with));
}

}  // namespace
}  // namespace ovid::media
