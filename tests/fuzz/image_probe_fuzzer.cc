// libFuzzer target for ProbeImage (engine/media/image_probe.h), the first check an uploaded I2V
// first frame meets: any bytes must give a header or an INVALID_ARGUMENT "first_frame: ..."
// status, without reading outside the buffer (ASan), undefined behaviour (UBSan) or time that
// grows faster than the input. The sanitized sub-build compiles image_probe.cc into this binary
// directly: the rest of ovid_media needs libav, which that build does not have.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/strings/match.h"
#include "engine/media/image_probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ovid::media::ImageFormat;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto header = ovid::media::ProbeImage(bytes);
  if (!header.ok()) {
    // The request path passes the message on to the client as the field's error.
    const absl::string_view message = header.status().message();
    if (header.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(message, "first_frame: ")) {
      __builtin_trap();
    }
    return 0;
  }
  // Accepted: the size is in range and the format is the one the magic bytes name.
  if (header->width < 1 || header->height < 1 || header->width > ovid::media::kMaxImageSide ||
      header->height > ovid::media::kMaxImageSide) {
    __builtin_trap();
  }
  const bool png = bytes.starts_with(std::string_view("\x89PNG\r\n\x1a\n", 8));
  if ((header->format == ImageFormat::kPng) != png) __builtin_trap();
  return 0;
}
