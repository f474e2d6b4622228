// File: engine/media/wav_writer.h
// A WAV file in memory: RIFF/WAVE, one "fmt " chunk (PCM, format tag 1, 16-bit, mono, the input's
// sample rate — 16 kHz for Ovi's vocoder) and one "data" chunk, little-endian, 44 header bytes.
// This is what Ovi's scipy wavfile.write(16000, int16) produces. Written directly: no libav.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/media/media_input.h"
#include "engine/media/sample_convert.h"

namespace ovid::media {

// INVALID_ARGUMENT as ValidateAudio, or for more samples than a RIFF size field can count.
absl::StatusOr<std::string> EncodeWav(const AudioPcm& audio,
                                      Rounding rounding = Rounding::kTruncate);

}  // namespace ovid::media
