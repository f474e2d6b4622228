// File: engine/media/h264_encoder.h
// The MP4's video track: float frames -> RGB24 (the shared conversion) -> yuv420p (swscale,
// BT.709 matrix, limited range, tagged so players do not guess) -> libx264.
//
// BT.709 rather than ffmpeg's untagged BT.601 default (what Ovi's files carry): an untagged
// stream is read as BT.601 or BT.709 depending on the player and the picture height, so the same
// file shifts colour between players; a tagged one decodes the same everywhere.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/media/libav_util.h"
#include "engine/media/media_input.h"
#include "engine/media/mp4_options.h"

namespace ovid::media {

class H264Encoder {
 public:
  // FAILED_PRECONDITION when libavcodec has no libx264. `global_header` for containers such as
  // MP4 that keep SPS/PPS in the header. Options must be validated.
  static absl::StatusOr<std::unique_ptr<H264Encoder>> Open(int width, int height,
                                                           const Mp4Options& options,
                                                           bool global_header);

  AVCodecContext* codec() const { return codec_.get(); }

  // Converts frame `t` of `video` (same size as opened, validated) and encodes it.
  absl::Status Encode(const VideoFrames& video, int64_t t, const PacketSink& sink);
  // Drains the encoder's delayed frames (x264 keeps a lookahead).
  absl::Status Flush(const PacketSink& sink);

 private:
  H264Encoder() = default;
  CodecContextPtr codec_;
  SwsPtr sws_;
  FramePtr yuv_;
  PacketPtr packet_;
  FramePtr rgb_;
  Rounding rounding_ = Rounding::kTruncate;
};

}  // namespace ovid::media
