// File: engine/media/wav_writer.cc
#include "engine/media/wav_writer.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ovid::media {
namespace {

// RIFF is little-endian whatever the host is; writing byte by byte keeps that explicit.
void PutLe(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

absl::StatusOr<std::string> EncodeWav(const AudioPcm& audio, Rounding rounding) {
  if (absl::Status s = ValidateAudio(audio); !s.ok()) return s;
  constexpr uint32_t kHeader = 44;
  // The RIFF size field (file size - 8) is 32-bit.
  const uint64_t data_bytes = 2 * uint64_t{audio.samples.size()};
  if (data_bytes > 0xffffffffull - kHeader) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audio: ", audio.samples.size(), " samples exceed a WAV file's 4 GiB size field"));
  }
  const uint32_t rate = static_cast<uint32_t>(audio.sample_rate);
  std::string out;
  out.reserve(kHeader + data_bytes);
  out += "RIFF";
  PutLe(out, static_cast<uint32_t>(kHeader - 8 + data_bytes), 4);
  out += "WAVEfmt ";
  PutLe(out, 16, 4);        // fmt chunk size for plain PCM
  PutLe(out, 1, 2);         // WAVE_FORMAT_PCM
  PutLe(out, 1, 2);         // channels
  PutLe(out, rate, 4);      // sample rate
  PutLe(out, rate * 2, 4);  // byte rate = rate * channels * 2
  PutLe(out, 2, 2);         // block align
  PutLe(out, 16, 2);        // bits per sample
  out += "data";
  PutLe(out, static_cast<uint32_t>(data_bytes), 4);
  for (int16_t s : AudioToS16(audio, rounding)) PutLe(out, static_cast<uint16_t>(s), 2);
  return out;
}

}  // namespace ovid::media
