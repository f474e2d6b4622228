// File: engine/media/aac_encoder.h
// The MP4's audio track: mono float PCM, clamped to [-1, 1], resampled (swresample) to the
// options' rate, copied unchanged to every channel, encoded with libavcodec's native AAC-LC
// encoder in frames of 1024 samples.
//
// Stereo, as in Ovi's files, but at full level on both channels: Ovi's path (moviepy asking
// ffmpeg for 2 channels) goes through swresample's default mono upmix, which puts the mono
// signal at -3 dB (x0.707) on each side. Copying keeps the MP4 exactly as loud as the WAV. The float samples go to the encoder as they
// are: an int16 step in between, as Ovi's temporary WAV has, would only add quantization noise.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/media/libav_util.h"
#include "engine/media/media_input.h"
#include "engine/media/mp4_options.h"

namespace ovid::media {

class AacEncoder {
 public:
  // FAILED_PRECONDITION when libavcodec has no "aac" encoder. Options must be validated.
  static absl::StatusOr<std::unique_ptr<AacEncoder>> Open(const Mp4Options& options,
                                                          bool global_header);

  AVCodecContext* codec() const { return codec_.get(); }

  // Resamples and encodes all of `audio` (validated), then flushes; packets' timestamps are in
  // the codec's time base (1/output rate). Call once.
  absl::Status EncodeAll(const AudioPcm& audio, const PacketSink& sink);

 private:
  AacEncoder() = default;
  // The clamped input at the output rate, mono.
  absl::StatusOr<std::vector<float>> Resample(const AudioPcm& audio);
  absl::Status SendFrame(const std::vector<float>& mono, int64_t start, int count,
                         const PacketSink& sink);
  CodecContextPtr codec_;
  PacketPtr packet_;
};

}  // namespace ovid::media
