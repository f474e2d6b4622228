// File: engine/media/image_probe.cc
#include "engine/media/image_probe.h"

#include <algorithm>
#include <string>

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

// Walks the chunks (length, type, data, CRC) from IHDR to IEND. The CRCs are left to the decoder
// (AV_EF_CRCCHECK); this only makes sure every chunk is complete and IHDR comes first, as the
// PNG specification requires.
absl::StatusOr<ImageHeader> ProbePng(std::string_view b) {
  ImageHeader h{ImageFormat::kPng};
  size_t pos = kPngSignature.size();
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
    }
    if (type == "IEND") return h;
    pos += 12 + length;
  }
}

bool IsStandaloneJpegMarker(uint8_t m) { return m == 0x01 || (m >= 0xd0 && m <= 0xd7); }
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
  bool have_frame = false;
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
      if (length < 8) return Bad("corrupt JPEG: frame header too short");
      h.height = Be16(b, pos + 3);  // 0 means "set later by DNL": refused as a size below
      h.width = Be16(b, pos + 5);
      have_frame = true;
    }
    pos += length;
    if (marker != 0xda) continue;  // SOS: entropy-coded data follows
    if (!have_frame) return Bad("corrupt JPEG: scan before the frame header");
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

absl::StatusOr<ImageHeader> ProbeImage(std::string_view bytes) {
  if (bytes.empty()) return Bad("empty image");
  if (bytes.size() > kMaxImageBytes) {
    return Bad(
        absl::StrCat("image is ", bytes.size(), " bytes, more than the limit of ", kMaxImageBytes));
  }
  absl::StatusOr<ImageHeader> h;
  if (bytes.substr(0, kPngSignature.size()) == kPngSignature) {
    h = ProbePng(bytes);
  } else if (bytes.size() >= 3 && uint8_t(bytes[0]) == 0xff && uint8_t(bytes[1]) == 0xd8 &&
             uint8_t(bytes[2]) == 0xff) {
    h = ProbeJpeg(bytes);
  } else {
    return Bad(absl::StrCat("not a PNG or JPEG image (starts with ", HexPrefix(bytes), ")"));
  }
  if (!h.ok()) return h;
  if (h->width < 1 || h->height < 1 || h->width > kMaxImageSide || h->height > kMaxImageSide) {
    return Bad(absl::StrCat(ImageFormatName(h->format), " image is ", h->width, "x", h->height,
                            "; each side must be 1..", kMaxImageSide));
  }
  return h;
}

}  // namespace ovid::media
