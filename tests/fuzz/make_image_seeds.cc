// make_image_seeds DIR: writes small valid PNG and JPEG files as the image probe fuzzer's seed
// corpus. The PNGs are built here (IHDR, optional PLTE/tEXt, one stored-deflate IDAT, IEND, with
// correct CRCs) in several colour types; the JPEGs are jpeg_seeds.inc's. Every seed must pass
// ProbeImage, so the fuzzer starts from inputs that reach the end of each walk.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/media/image_probe.h"

namespace {

#include "tests/fuzz/jpeg_seeds.inc"

uint32_t Crc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (const char c : bytes) {
    crc ^= static_cast<uint8_t>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void PutBe32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void Chunk(std::string& png, std::string_view type, std::string_view data) {
  PutBe32(png, static_cast<uint32_t>(data.size()));
  const std::string typed = std::string(type) + std::string(data);
  png += typed;
  PutBe32(png, Crc32(typed));
}

// A zlib stream holding `raw` in one stored (uncompressed) deflate block; raw is small here.
std::string ZlibStored(std::string_view raw) {
  std::string z = "\x78\x01";
  z.push_back('\x01');  // BFINAL, BTYPE 00
  const auto len = static_cast<uint16_t>(raw.size());
  for (const uint16_t v : {len, static_cast<uint16_t>(~len)}) {
    z.push_back(static_cast<char>(v & 0xFF));
    z.push_back(static_cast<char>(v >> 8));
  }
  z += raw;
  uint32_t a = 1, b = 0;
  for (const char c : raw) {
    a = (a + static_cast<uint8_t>(c)) % 65521;
    b = (b + a) % 65521;
  }
  PutBe32(z, (b << 16) | a);
  return z;
}

// A width x height PNG of colour type `color` (0 gray, 2 RGB, 3 palette, 6 RGBA) at 8 bits.
std::string Png(uint32_t width, uint32_t height, uint8_t color, bool with_text) {
  const int channels = color == 2 ? 3 : color == 6 ? 4 : 1;
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutBe32(ihdr, width);
  PutBe32(ihdr, height);
  ihdr += std::string{'\x08', static_cast<char>(color), '\0', '\0', '\0'};
  Chunk(png, "IHDR", ihdr);
  if (color == 3) Chunk(png, "PLTE", std::string("\x00\x00\x00\xff\x80\x40\x20\xff\xff", 9));
  if (with_text) Chunk(png, "tEXt", std::string("Comment\0ovid fuzz seed", 22));
  std::string raw;
  for (uint32_t y = 0; y < height; ++y) {
    raw.push_back('\0');  // filter type None
    for (uint32_t x = 0; x < width * channels; ++x) {
      raw.push_back(static_cast<char>(color == 3 ? (x + y) % 3 : x * 37 + y * 11));
    }
  }
  Chunk(png, "IDAT", ZlibStored(raw));
  Chunk(png, "IEND", "");
  return png;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_image_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  auto bytes = [](const unsigned char* p, size_t n) {
    return std::string(reinterpret_cast<const char*>(p), n);
  };
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"gray_1x1.png", Png(1, 1, 0, false)},
      {"rgb_3x2_text.png", Png(3, 2, 2, true)},
      {"palette_4x4.png", Png(4, 4, 3, false)},
      {"rgba_5x3.png", Png(5, 3, 6, false)},
      {"gray_8x8.jpg", bytes(kJpegGray8x8, sizeof(kJpegGray8x8))},
      {"progressive_16x16.jpg", bytes(kJpegProgressive16x16, sizeof(kJpegProgressive16x16))},
      {"restart_32x16.jpg", bytes(kJpegRestart32x16, sizeof(kJpegRestart32x16))},
  };
  for (const auto& [name, data] : seeds) {
    // A seed the probe refuses would only teach the fuzzer the error paths.
    if (auto header = ovid::media::ProbeImage(data); !header.ok()) {
      std::fprintf(stderr, "make_image_seeds: %s is refused: %s\n", name.c_str(),
                   header.status().ToString().c_str());
      return 1;
    }
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) {
      std::fprintf(stderr, "make_image_seeds: cannot write %s/%s\n", dir.c_str(), name.c_str());
      return 1;
    }
  }
  return 0;
}
