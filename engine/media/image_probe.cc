// File: engine/media/image_probe.cc
#include "engine/media/image_probe.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovid::media {
namespace {

constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("first_frame: ", what));
}

uint32_t Be32(std::string_view b, size_t at) {
  return (uint32_t{uint8_t(b[at])} << 24) | (uint32_t{uint8_t(b[at + 1])} << 16) |
         (uint32_t{uint8_t(b[at + 2])} << 8) | uint32_t{uint8_t(b[at + 3])};
}
uint32_t Be16(std::string_view b, size_t at) {
  return (uint32_t{uint8_t(b[at])} << 8) | uint32_t{uint8_t(b[at + 1])};
}

// The first bytes in hex, so a caller who sent a GIF, a WebP or base64 text by mistake can tell.
std::string HexPrefix(std::string_view b) {
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(b.size(), 8); ++i) {
    absl::StrAppendFormat(&out, "%s%02x", i ? " " : "", uint8_t(b[i]));
  }
  return out;
}

bool SideInRange(int64_t side) { return side >= 1 && side <= kMaxImageSide; }

// Channels of a PNG colour type at a bit depth the specification allows for it; 0 if it does not.
int PngChannels(int color_type, int depth) {
  const bool any = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
  switch (color_type) {
    case 0:  // grey
      return any ? 1 : 0;
    case 3:  // palette indices
      return any && depth != 16 ? 1 : 0;
    case 2:  // RGB
    case 4:  // grey + alpha
    case 6:  // RGBA
      return depth == 8 || depth == 16 ? (color_type == 2 ? 3 : color_type == 4 ? 2 : 4) : 0;
    default:
      return 0;
  }
}

// The inflated size of a w x h image: per row a filter byte and the packed samples; an interlaced
// image is seven smaller ones (Adam7), each row of each pass filtered on its own.
int64_t PngRawBytes(int64_t w, int64_t h, int64_t bits_per_pixel, bool interlaced) {
  auto image = [&](int64_t pw, int64_t ph) {
    return pw <= 0 || ph <= 0 ? 0 : ph * (1 + (pw * bits_per_pixel + 7) / 8);
  };
  if (!interlaced) return image(w, h);
  struct Pass {
    int64_t x0, y0, dx, dy;
  };
  constexpr std::array<Pass, 7> kAdam7 = {{{0, 0, 8, 8},
                                           {4, 0, 8, 8},
                                           {0, 4, 4, 8},
                                           {2, 0, 4, 4},
                                           {0, 2, 2, 4},
                                           {1, 0, 2, 2},
                                           {0, 1, 1, 2}}};
  int64_t total = 0;
  for (const Pass& p : kAdam7) {
    total += image((w - p.x0 + p.dx - 1) / p.dx, (h - p.y0 + p.dy - 1) / p.dy);
  }
  return total;
}

// Inflates the IDAT data without keeping it (64 KiB at a time) and checks that it holds at least
// `expected` bytes. More is ignored, as decoders do.
absl::Status CheckPngPixelData(const std::vector<std::string_view>& idat, int64_t expected) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return absl::ResourceExhaustedError("first_frame: zlib init");
  std::array<unsigned char, 64 * 1024> sink;
  int64_t produced = 0;
  int rc = Z_OK;
  for (size_t i = 0; i < idat.size() && produced < expected && rc == Z_OK; ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(idat[i].data()));
    z.avail_in = static_cast<uInt>(idat[i].size());
    while (z.avail_in > 0 && produced < expected && rc == Z_OK) {
      z.next_out = sink.data();
      z.avail_out = static_cast<uInt>(sink.size());
      rc = inflate(&z, Z_NO_FLUSH);
      produced += static_cast<int64_t>(sink.size() - z.avail_out);
      if (rc == Z_BUF_ERROR) rc = Z_OK;  // no progress possible with this input: take the next
    }
  }
  const std::string why = rc == Z_OK || rc == Z_STREAM_END ? "" : (z.msg ? z.msg : "zlib error");
  inflateEnd(&z);
  if (produced >= expected) return absl::OkStatus();
  if (!why.empty()) {
    return Bad(absl::StrCat("corrupt PNG: the pixel data stops inflating (", why, ") after ",
                            produced, " of the ", expected, " bytes IHDR's size needs"));
  }
  return Bad(absl::StrCat("truncated PNG: the pixel data inflates to ", produced,
                          " bytes; IHDR's size needs ", expected));
}

// Walks the chunks (length, type, data, CRC) from IHDR to IEND. The CRCs are left to the decoder
// (AV_EF_CRCCHECK); this makes sure every chunk is complete, IHDR comes first, as the PNG
// specification requires, and the pixel data (the IDAT chunks) inflates to every row IHDR
// declares.
absl::StatusOr<ImageHeader> ProbePng(std::string_view b, ProbeDepth probe_depth) {
  ImageHeader h{ImageFormat::kPng};
  size_t pos = kPngSignature.size();
  int depth = 0, color_type = 0, interlace = 0;
  std::vector<std::string_view> idat;
  for (int chunk = 0;; ++chunk) {
    if (b.size() - pos < 12) {
      return Bad(absl::StrCat("truncated PNG: ends inside chunk ", chunk, " (byte ", b.size(),
                              ") before the IEND chunk"));
    }
    const uint32_t length = Be32(b, pos);
    const std::string_view type = b.substr(pos + 4, 4);
    if (length > 0x7fffffffu || b.size() - pos - 12 < length) {
      return Bad(absl::StrCat("truncated PNG: chunk ", chunk, " at byte ", pos, " declares ",
                              length, " bytes, ", b.size() - pos - 12, " remain"));
    }
    if (chunk == 0) {
      if (type != "IHDR" || length != 13) return Bad("corrupt PNG: the first chunk is not IHDR");
      h.width = Be32(b, pos + 8);
      h.height = Be32(b, pos + 12);
      depth = uint8_t(b[pos + 16]);
      color_type = uint8_t(b[pos + 17]);
      interlace = uint8_t(b[pos + 20]);
    }
    if (type == "IDAT") idat.push_back(b.substr(pos + 8, length));
    if (type == "IEND") break;
    pos += 12 + length;
  }
  if (!SideInRange(h.width) || !SideInRange(h.height)) return h;  // refused by the caller
  const int channels = PngChannels(color_type, depth);
  if (channels == 0 || interlace > 1) {
    return Bad(absl::StrCat("corrupt PNG: IHDR's colour type ", color_type, ", bit depth ", depth,
                            ", interlace ", interlace, " is not a valid combination"));
  }
  const int64_t raw = PngRawBytes(h.width, h.height, channels * depth, interlace == 1);
  if (raw > kMaxPngRawBytes) {
    return Bad(absl::StrCat("PNG image ", h.width, "x", h.height, " at ", channels * depth,
                            " bits per pixel is ", raw, " bytes decoded, more than the limit of ",
                            kMaxPngRawBytes, " (8-bit RGBA at ", kMaxImageSide, "x", kMaxImageSide,
                            ")"));
  }
  if (idat.empty()) return Bad("corrupt PNG: no IDAT chunk (no pixel data)");
  if (probe_depth == ProbeDepth::kHeaders) return h;
  if (absl::Status s = CheckPngPixelData(idat, raw); !s.ok()) return s;
  return h;
}

// The Orientation tag (0x0112) of an APP1 "Exif\0\0" segment's first IFD; 1 when absent or
// malformed (a broken EXIF block is not a broken image: cv2 reads the pixels all the same).
int ExifOrientation(std::string_view segment) {
  constexpr std::string_view kExif("Exif\0\0", 6);
  if (segment.substr(0, kExif.size()) != kExif) return 1;
  const std::string_view tiff = segment.substr(kExif.size());
  if (tiff.size() < 8) return 1;
  const bool little = tiff.substr(0, 2) == "II";
  if (!little && tiff.substr(0, 2) != "MM") return 1;
  auto u16 = [&](size_t at) -> uint32_t {
    const auto a = static_cast<uint8_t>(tiff[at]), b = static_cast<uint8_t>(tiff[at + 1]);
    return little ? a | (b << 8) : (a << 8) | b;
  };
  auto u32 = [&](size_t at) -> uint32_t {
    return little ? u16(at) | (u16(at + 2) << 16) : (u16(at) << 16) | u16(at + 2);
  };
  if (u16(2) != 42) return 1;
  const uint32_t ifd = u32(4);
  if (ifd > tiff.size() - 2) return 1;
  const uint32_t entries = u16(ifd);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t at = size_t{ifd} + 2 + 12 * size_t{i};
    if (at + 12 > tiff.size()) return 1;
    if (u16(at) != 0x0112) continue;
    const uint32_t value = u16(at + 2) == 3 && u32(at + 4) == 1 ? u16(at + 8) : 1;  // SHORT x 1
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

bool IsStandaloneJpegMarker(uint8_t m) { return m == 0x01 || (m >= 0xd0 && m <= 0xd7); }
// Fills h's jpeg_chroma_*_sub from a frame header segment (from its length field on): after
// precision, height, width and the component count, three bytes per component (id, H << 4 | V,
// table).
void JpegChromaSubsampling(std::string_view sof, ImageHeader& h) {
  if (sof.size() < 8 || static_cast<uint8_t>(sof[7]) != 3 || sof.size() < 8 + 3 * 3) return;
  int hf[3], vf[3];
  for (int c = 0; c < 3; ++c) {
    const auto factors = static_cast<uint8_t>(sof[8 + 3 * c + 1]);
    hf[c] = factors >> 4;
    vf[c] = factors & 0x0f;
    if (hf[c] == 0 || vf[c] == 0) return;
  }
  if (hf[1] != hf[2] || vf[1] != vf[2] || hf[0] % hf[1] != 0 || vf[0] % vf[1] != 0) return;
  h.jpeg_chroma_h_sub = hf[0] / hf[1];
  h.jpeg_chroma_v_sub = vf[0] / vf[1];
}

// SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not
// frame headers.
bool IsJpegFrameHeader(uint8_t m) {
  return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

// Walks the marker segments from SOI to EOI, skipping each scan's entropy-coded data (where a
// 0xFF byte is always followed by 0x00 stuffing or a restart marker). Reaching EOI is what tells a
// complete file from a truncated one: libavcodec's mjpeg decoder conceals a missing tail.
absl::StatusOr<ImageHeader> ProbeJpeg(std::string_view b) {
  ImageHeader h{ImageFormat::kJpeg};
  bool have_frame = false, have_exif = false;
  int scans = 0;
  size_t pos = 2;  // after SOI
  auto truncated = [&] {
    return Bad(absl::StrCat("truncated JPEG: ends at byte ", b.size(), " before the EOI marker"));
  };
  while (true) {
    if (pos >= b.size()) return truncated();
    if (uint8_t(b[pos]) != 0xff) {
      return Bad(absl::StrCat("corrupt JPEG: no marker at byte ", pos));
    }
    while (pos < b.size() && uint8_t(b[pos]) == 0xff) ++pos;  // fill bytes
    if (pos >= b.size()) return truncated();
    const uint8_t marker = uint8_t(b[pos++]);
    if (marker == 0xd9) {  // EOI
      if (!have_frame) return Bad("corrupt JPEG: no frame header before EOI");
      return h;
    }
    if (IsStandaloneJpegMarker(marker)) continue;
    if (b.size() - pos < 2) return truncated();
    const uint32_t length = Be16(b, pos);
    if (length < 2) return Bad(absl::StrCat("corrupt JPEG: segment length ", length));
    if (b.size() - pos < length) return truncated();
    if (IsJpegFrameHeader(marker)) {
      if (have_frame) {
        return Bad(absl::StrCat("JPEG has a second frame header (marker 0x",
                                absl::Hex(marker, absl::kZeroPad2), " at byte ", pos - 2,
                                "); an image has one"));
      }
      if (length < 8) return Bad("corrupt JPEG: frame header too short");
      h.height = Be16(b, pos + 3);  // 0 means "set later by DNL": refused as a size below
      h.width = Be16(b, pos + 5);
      JpegChromaSubsampling(b.substr(pos, length), h);
      have_frame = true;
    }
    if (marker == 0xe1 && !have_exif && b.substr(pos + 2, 6) == std::string_view("Exif\0\0", 6)) {
      h.orientation = ExifOrientation(b.substr(pos + 2, length - 2));  // the first EXIF block
      have_exif = true;
    }
    pos += length;
    if (marker != 0xda) continue;  // SOS: entropy-coded data follows
    if (!have_frame) return Bad("corrupt JPEG: scan before the frame header");
    if (++scans > kMaxJpegScans) {
      return Bad(absl::StrCat("JPEG has more than ", kMaxJpegScans,
                              " scans (progressive encoders write about 10; each costs a pass "
                              "over the whole image)"));
    }
    while (true) {
      if (b.size() - pos < 2) return truncated();
      if (uint8_t(b[pos]) == 0xff) {
        const uint8_t next = uint8_t(b[pos + 1]);
        if (next != 0x00 && !(next >= 0xd0 && next <= 0xd7)) break;  // a real marker
        pos += 2;
      } else {
        ++pos;
      }
    }
  }
}

}  // namespace

const char* ImageFormatName(ImageFormat format) {
  return format == ImageFormat::kPng ? "PNG" : "JPEG";
}

absl::StatusOr<ImageHeader> ProbeImage(std::string_view bytes, ProbeDepth depth) {
  if (bytes.empty()) return Bad("empty image");
  if (bytes.size() > kMaxImageBytes) {
    return Bad(
        absl::StrCat("image is ", bytes.size(), " bytes, more than the limit of ", kMaxImageBytes));
  }
  absl::StatusOr<ImageHeader> h;
  if (bytes.substr(0, kPngSignature.size()) == kPngSignature) {
    h = ProbePng(bytes, depth);
  } else if (bytes.size() >= 3 && uint8_t(bytes[0]) == 0xff && uint8_t(bytes[1]) == 0xd8 &&
             uint8_t(bytes[2]) == 0xff) {
    h = ProbeJpeg(bytes);
  } else {
    return Bad(absl::StrCat("not a PNG or JPEG image (starts with ", HexPrefix(bytes), ")"));
  }
  if (!h.ok()) return h;
  if (!SideInRange(h->width) || !SideInRange(h->height)) {
    return Bad(absl::StrCat(ImageFormatName(h->format), " image is ", h->width, "x", h->height,
                            "; each side must be 1..", kMaxImageSide));
  }
  return h;
}

std::string PngPixelChunks(std::string_view png) {
  std::string out(kPngSignature);
  for (size_t pos = kPngSignature.size(); png.size() - pos >= 12;) {
    const uint32_t length = Be32(png, pos);
    if (png.size() - pos - 12 < length) break;  // ProbeImage refuses this; be safe anyway
    const std::string_view type = png.substr(pos + 4, 4);
    if (type == "IHDR" || type == "PLTE" || type == "tRNS" || type == "IDAT" || type == "IEND") {
      out.append(png.substr(pos, 12 + size_t{length}));
    }
    if (type == "IEND") break;
    pos += 12 + size_t{length};
  }
  return out;
}

}  // namespace ovid::media
