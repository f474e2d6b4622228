// File: engine/media/png_frames.cc
#include "engine/media/png_frames.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "engine/media/libav_util.h"
#include "engine/media/ustar_writer.h"

extern "C" {
#include <libavutil/dict.h>
}

namespace ovid::media {
namespace {

absl::StatusOr<CodecContextPtr> OpenPngEncoder(int width, int height) {
  absl::StatusOr<const AVCodec*> codec = FindEncoder("png");
  if (!codec.ok()) return codec.status();
  CodecContextPtr ctx(avcodec_alloc_context3(*codec));
  if (!ctx) return absl::ResourceExhaustedError("avcodec_alloc_context3 (png): out of memory");
  ctx->width = width;
  ctx->height = height;
  ctx->pix_fmt = AV_PIX_FMT_RGB24;
  ctx->time_base = AVRational{1, 24};  // unused by PNG, but libavcodec requires one
  // Square pixels, said in the pHYs chunk as 1:1 (the MP4's pasp says the same): left unset,
  // libavcodec wrote pHYs 0:1, which a tool reading the aspect ratio from it takes for 0.
  ctx->sample_aspect_ratio = AVRational{1, 1};
  // Paeth predicts smooth decoder output well; "mixed" compresses a little better but tries
  // every filter on every row.
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "pred", "paeth", 0);
  const int ret = avcodec_open2(ctx.get(), *codec, &opts);
  av_dict_free(&opts);
  if (ret < 0) return AvError(ret, "avcodec_open2 (png)");
  return ctx;
}

}  // namespace

absl::StatusOr<std::string> EncodePngFrames(const VideoFrames& video, Rounding rounding,
                                            const std::function<bool()>& stop) {
  if (absl::Status s = ValidateVideo(video); !s.ok()) return s;
  const int width = static_cast<int>(video.width);
  const int height = static_cast<int>(video.height);
  absl::StatusOr<CodecContextPtr> ctx = OpenPngEncoder(width, height);
  if (!ctx.ok()) return ctx.status();
  // libav-allocated (aligned, padded): encoders' SIMD may read a little past the last row.
  absl::StatusOr<FramePtr> frame = AllocVideoFrame(AV_PIX_FMT_RGB24, width, height);
  if (!frame.ok()) return frame.status();
  PacketPtr packet(av_packet_alloc());
  if (!packet) return absl::ResourceExhaustedError("av_packet_alloc (png): out of memory");

  UstarWriter tar;
  for (int64_t t = 0; t < video.frames; ++t) {
    if (stop && stop()) {
      return absl::CancelledError(absl::StrCat("PNG encoding stopped at frame ", t));
    }
    // The encoder may still reference the previous frame's buffer.
    if (int ret = av_frame_make_writable(frame->get()); ret < 0) {
      return AvError(ret, "av_frame_make_writable (png)");
    }
    FrameToRgb24(video, t, rounding, (*frame)->data[0], (*frame)->linesize[0]);
    (*frame)->pts = t;
    if (int ret = avcodec_send_frame(ctx->get(), frame->get()); ret < 0) {
      return AvError(ret, absl::StrCat("avcodec_send_frame (png, frame ", t, ")"));
    }
    // PNG is intra-only: each frame yields exactly one packet, one file.
    char name[32];
    std::snprintf(name, sizeof(name), "frame_%05lld.png", static_cast<long long>(t));
    int packets = 0;
    absl::Status s = DrainPackets(ctx->get(), packet.get(), [&](AVPacket* p) {
      ++packets;
      return tar.Add(name, std::string_view(reinterpret_cast<const char*>(p->data),
                                            static_cast<size_t>(p->size)));
    });
    if (!s.ok()) return s;
    if (packets != 1) {
      return absl::InternalError(
          absl::StrCat("png: frame ", t, " gave ", packets, " packets, expected one"));
    }
  }
  return tar.Finish();
}

}  // namespace ovid::media
