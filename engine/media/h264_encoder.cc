// File: engine/media/h264_encoder.cc
#include "engine/media/h264_encoder.h"

#include <string>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/dict.h>
}

namespace ovid::media {
namespace {

absl::StatusOr<CodecContextPtr> OpenCodec(int width, int height, const Mp4Options& o,
                                          bool global_header) {
  absl::StatusOr<const AVCodec*> codec = FindEncoder("libx264");
  if (!codec.ok()) return codec.status();
  CodecContextPtr ctx(avcodec_alloc_context3(*codec));
  if (!ctx) return absl::ResourceExhaustedError("avcodec_alloc_context3 (libx264): out of memory");
  ctx->width = width;
  ctx->height = height;
  ctx->pix_fmt = AV_PIX_FMT_YUV420P;
  ctx->time_base = AVRational{1, o.fps};
  ctx->framerate = AVRational{o.fps, 1};
  ctx->sample_aspect_ratio = AVRational{1, 1};
  ctx->thread_count = o.threads;
  ctx->color_range = AVCOL_RANGE_MPEG;
  ctx->colorspace = AVCOL_SPC_BT709;
  ctx->color_primaries = AVCOL_PRI_BT709;
  ctx->color_trc = AVCOL_TRC_BT709;
  if (global_header) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "preset", o.preset.c_str(), 0);
  av_dict_set(&opts, "crf", std::to_string(o.crf).c_str(), 0);
  // x264 logs its statistics at "info" through av_log's process-wide level, which a library must
  // not change; its own log level keeps errors (0 = X264_LOG_ERROR) and drops the chatter.
  const std::string params =
      o.x264_params.empty() ? std::string("log=0") : "log=0:" + o.x264_params;
  av_dict_set(&opts, "x264-params", params.c_str(), 0);
  const int ret = avcodec_open2(ctx.get(), *codec, &opts);
  av_dict_free(&opts);
  if (ret < 0) return AvError(ret, "avcodec_open2 (libx264)");
  return ctx;
}

absl::StatusOr<SwsPtr> OpenScaler(int width, int height) {
  // Full horizontal chroma input: the 2x2 chroma average is filtered instead of point-sampled,
  // which keeps coloured edges from aliasing.
  SwsPtr sws(sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                            nullptr, nullptr));
  if (!sws) return absl::InternalError("sws_getContext (rgb24 -> yuv420p) failed");
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  // Source: full-range RGB; destination: BT.709 limited range (16..235 luma).
  if (sws_setColorspaceDetails(sws.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16) < 0) {
    return absl::InternalError("sws_setColorspaceDetails (BT.709, limited range) failed");
  }
  return sws;
}

}  // namespace

absl::StatusOr<std::unique_ptr<H264Encoder>> H264Encoder::Open(int width, int height,
                                                               const Mp4Options& options,
                                                               bool global_header) {
  std::unique_ptr<H264Encoder> enc(new H264Encoder());
  absl::StatusOr<CodecContextPtr> codec = OpenCodec(width, height, options, global_header);
  if (!codec.ok()) return codec.status();
  enc->codec_ = *std::move(codec);
  absl::StatusOr<SwsPtr> sws = OpenScaler(width, height);
  if (!sws.ok()) return sws.status();
  enc->sws_ = *std::move(sws);
  absl::StatusOr<FramePtr> yuv = AllocVideoFrame(AV_PIX_FMT_YUV420P, width, height);
  if (!yuv.ok()) return yuv.status();
  enc->yuv_ = *std::move(yuv);
  enc->yuv_->color_range = AVCOL_RANGE_MPEG;
  enc->yuv_->colorspace = AVCOL_SPC_BT709;
  enc->packet_.reset(av_packet_alloc());
  if (!enc->packet_) return absl::ResourceExhaustedError("av_packet_alloc: out of memory");
  // libav's buffers, not a plain vector: swscale's SIMD reads up to 16 bytes past the last row,
  // and av_frame_get_buffer pads for that. (Unpadded, the over-read made the output depend on
  // whatever followed the buffer in memory.)
  absl::StatusOr<FramePtr> rgb = AllocVideoFrame(AV_PIX_FMT_RGB24, width, height);
  if (!rgb.ok()) return rgb.status();
  enc->rgb_ = *std::move(rgb);
  enc->rounding_ = options.rounding;
  return enc;
}

absl::Status H264Encoder::Encode(const VideoFrames& video, int64_t t, const PacketSink& sink) {
  FrameToRgb24(video, t, rounding_, rgb_->data[0], rgb_->linesize[0]);
  // The encoder may still hold a reference to the previous frame's buffers.
  if (int ret = av_frame_make_writable(yuv_.get()); ret < 0) {
    return AvError(ret, "av_frame_make_writable (yuv420p)");
  }
  const int rows = sws_scale(sws_.get(), rgb_->data, rgb_->linesize, 0, codec_->height,
                             yuv_->data, yuv_->linesize);
  if (rows != codec_->height) {
    return absl::InternalError(absl::StrCat("sws_scale (frame ", t, ") returned ", rows,
                                            " rows, expected ", codec_->height));
  }
  yuv_->pts = t;
  if (int ret = avcodec_send_frame(codec_.get(), yuv_.get()); ret < 0) {
    return AvError(ret, absl::StrCat("avcodec_send_frame (libx264, frame ", t, ")"));
  }
  return DrainPackets(codec_.get(), packet_.get(), sink);
}

absl::Status H264Encoder::Flush(const PacketSink& sink) {
  if (int ret = avcodec_send_frame(codec_.get(), nullptr); ret < 0) {
    return AvError(ret, "avcodec_send_frame (libx264, flush)");
  }
  return DrainPackets(codec_.get(), packet_.get(), sink);
}

}  // namespace ovid::media
