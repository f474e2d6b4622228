// File: engine/media/mp4_options.h
// MP4 quality and format settings. The defaults reproduce the file Ovi writes through moviepy
// 1.0.3 (spec encoders.md §6): libx264 preset "medium" at x264's default CRF 23, yuv420p, 24 fps,
// AAC at ffmpeg's default bit rate (128 kb/s stereo), resampled to 44.1 kHz with the mono track
// duplicated to stereo (moviepy's audio defaults). Three differences are deliberate and explained
// where they are made: the video is tagged BT.709 (h264_encoder.h; Ovi's is untagged BT.601), and
// the stereo channels carry the mono track at full level, from float samples (aac_encoder.h; Ovi's
// are at -3 dB, through an int16 WAV).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "engine/media/sample_convert.h"

namespace ovid::media {

struct Mp4Options {
  int fps = 24;                     // Ovi's output rate; 1..120
  int crf = 23;                     // x264 constant rate factor, 0 (lossless) .. 51; lower = better
  std::string preset = "medium";    // x264 preset: ultrafast .. placebo (speed against size)
  int audio_sample_rate = 44100;    // an AAC rate: 8000..96000; 16000 keeps the vocoder's rate
  int audio_channels = 2;           // 1 (mono) or 2 (the mono track on both channels)
  int64_t audio_bitrate = 0;        // bits/s; 0 = the aac encoder's default (69k mono, 128k stereo)
  int threads = 0;                  // x264 threads; 0 = one per core (x264's choice)
  // Extra x264 settings, "key=value:key=value" as x264's CLI spells them (letters, digits and
  // "=:,._-" only). "asm=0" makes the bytes reproducible from call to call: libx264 r3095's
  // AVX-512 code (Debian 12, CPU-detected) gives slightly different, equally valid bitstreams
  // for the same input within one process, depending on what memory it is handed.
  std::string x264_params;
  Rounding rounding = Rounding::kTruncate;  // float -> 8-bit RGB before YUV conversion
  // Polled before each frame; true ends the encode with CANCELLED (a job cancelled while its
  // 241 frames encode stops within a frame). Empty: never.
  std::function<bool()> stop;
};

// INVALID_ARGUMENT naming the first field out of range (the ranges above).
absl::Status ValidateMp4Options(const Mp4Options& options);

}  // namespace ovid::media
