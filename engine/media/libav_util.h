// File: engine/media/libav_util.h
// Ownership and errors for the libav* C handles: unique_ptr deleters, so every path frees what
// it opened, and one AVERROR -> absl::Status mapping that names the call that failed.
#pragma once

#include <functional>
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovid::media {

struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
// Only for contexts whose pb the caller owns (custom I/O): never closes a file.
struct OutputFormatDeleter {
  void operator()(AVFormatContext* f) const { avformat_free_context(f); }
};

using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;

// INTERNAL (RESOURCE_EXHAUSTED for ENOMEM) "<what>: <av_strerror text> (AVERROR n)".
absl::Status AvError(int err, const std::string& what);

// FAILED_PRECONDITION naming the encoder when this libavcodec lacks it (libx264 needs a GPL
// build of FFmpeg; Debian's and Ubuntu's have it). Routes libav's log first (RouteLibavLog).
absl::StatusOr<const AVCodec*> FindEncoder(const char* name);

// Sends libav's log lines through EngineLog (ovid/engine_log.h) instead of straight to stderr, so
// a daemon logging JSON gets them as JSON. Lines above av_log_get_level() are dropped as before.
// Process-wide and idempotent; every entry point of this library that makes a codec or a muxer
// calls it.
void RouteLibavLog();

// An allocated frame with buffers for the given video format/size.
absl::StatusOr<FramePtr> AllocVideoFrame(AVPixelFormat format, int width, int height);

// Receives each encoded packet, timestamps in the codec's time base.
using PacketSink = std::function<absl::Status(AVPacket*)>;

// Drains every packet `codec` has ready, calling `sink(packet)` for each; a packet is unref'd
// after its sink returns. EAGAIN/EOF end the drain normally.
template <typename Sink>
absl::Status DrainPackets(AVCodecContext* codec, AVPacket* packet, Sink&& sink) {
  while (true) {
    const int ret = avcodec_receive_packet(codec, packet);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return absl::OkStatus();
    if (ret < 0) return AvError(ret, "avcodec_receive_packet");
    absl::Status s = sink(packet);
    av_packet_unref(packet);
    if (!s.ok()) return s;
  }
}

}  // namespace ovid::media
