// File: engine/media/mp4_encoder.cc
#include "engine/media/mp4_encoder.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/media/aac_encoder.h"
#include "engine/media/h264_encoder.h"
#include "engine/media/libav_util.h"
#include "engine/media/memory_avio.h"

extern "C" {
#include <libavutil/dict.h>
}

namespace ovid::media {
namespace {

absl::StatusOr<AVStream*> AddStream(AVFormatContext* fmt, const AVCodecContext* codec) {
  AVStream* stream = avformat_new_stream(fmt, nullptr);
  if (stream == nullptr) return absl::ResourceExhaustedError("avformat_new_stream failed");
  if (int ret = avcodec_parameters_from_context(stream->codecpar, codec); ret < 0) {
    return AvError(ret, "avcodec_parameters_from_context");
  }
  stream->time_base = codec->time_base;  // a hint; avformat_write_header may pick another
  return stream;
}

// Hands encoded packets to the muxer in the stream's time base. av_interleaved_write_frame
// orders video and audio by time, so each track can be encoded in one go.
PacketSink MuxInto(AVFormatContext* fmt, const AVStream* stream, const AVCodecContext* codec) {
  return [=](AVPacket* packet) -> absl::Status {
    // libavcodec 59's libx264 wrapper leaves durations at 0, and the muxer then gives the last
    // frame none: the track would be one frame short (24 frames read as 1.0 s, 25 fps average).
    // Every video packet is one frame, one tick of 1/fps.
    if (packet->duration == 0 && codec->codec_type == AVMEDIA_TYPE_VIDEO) packet->duration = 1;
    av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
    packet->stream_index = stream->index;
    if (int ret = av_interleaved_write_frame(fmt, packet); ret < 0) {
      return AvError(ret, absl::StrCat("av_interleaved_write_frame (stream ", stream->index, ")"));
    }
    return absl::OkStatus();
  };
}

}  // namespace

absl::StatusOr<std::string> EncodeMp4(const VideoFrames& video, const AudioPcm& audio,
                                      const Mp4Options& options) {
  if (absl::Status s = ValidateVideoForYuv420(video); !s.ok()) return s;
  if (absl::Status s = ValidateAudio(audio); !s.ok()) return s;
  if (absl::Status s = ValidateMp4Options(options); !s.ok()) return s;

  // Declared before the format context, so it is destroyed after it: fmt->pb points into it.
  absl::StatusOr<std::unique_ptr<MemoryAvio>> io = MemoryAvio::Create();
  if (!io.ok()) return io.status();
  AVFormatContext* raw = nullptr;
  RouteLibavLog();
  if (int ret = avformat_alloc_output_context2(&raw, nullptr, "mp4", nullptr); ret < 0) {
    return AvError(ret, "avformat_alloc_output_context2 (mp4)");
  }
  OutputFormatPtr fmt(raw);
  const bool global_header = (fmt->oformat->flags & AVFMT_GLOBALHEADER) != 0;

  absl::StatusOr<std::unique_ptr<H264Encoder>> h264 = H264Encoder::Open(
      static_cast<int>(video.width), static_cast<int>(video.height), options, global_header);
  if (!h264.ok()) return h264.status();
  absl::StatusOr<std::unique_ptr<AacEncoder>> aac = AacEncoder::Open(options, global_header);
  if (!aac.ok()) return aac.status();
  absl::StatusOr<AVStream*> video_stream = AddStream(fmt.get(), (*h264)->codec());
  if (!video_stream.ok()) return video_stream.status();
  absl::StatusOr<AVStream*> audio_stream = AddStream(fmt.get(), (*aac)->codec());
  if (!audio_stream.ok()) return audio_stream.status();

  (*io)->AttachTo(fmt.get());
  AVDictionary* mux_opts = nullptr;
  av_dict_set(&mux_opts, "movflags", "+faststart", 0);
  const int ret = avformat_write_header(fmt.get(), &mux_opts);
  av_dict_free(&mux_opts);
  if (ret < 0) return AvError(ret, "avformat_write_header (mp4)");

  const PacketSink video_sink = MuxInto(fmt.get(), *video_stream, (*h264)->codec());
  for (int64_t t = 0; t < video.frames; ++t) {
    if (options.stop && options.stop()) {
      return absl::CancelledError(absl::StrCat("MP4 encoding stopped at frame ", t));
    }
    if (absl::Status s = (*h264)->Encode(video, t, video_sink); !s.ok()) return s;
  }
  if (absl::Status s = (*h264)->Flush(video_sink); !s.ok()) return s;
  const PacketSink audio_sink = MuxInto(fmt.get(), *audio_stream, (*aac)->codec());
  if (absl::Status s = (*aac)->EncodeAll(audio, audio_sink); !s.ok()) return s;

  // Writes the index and, for faststart, moves it in front of the media data.
  if (int r = av_write_trailer(fmt.get()); r < 0) return AvError(r, "av_write_trailer (mp4)");
  fmt.reset();
  return (*io)->Take();
}

}  // namespace ovid::media
