// File: engine/media/image_decode.cc
#include "engine/media/image_decode.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/media/image_probe.h"
#include "engine/media/jpeg_ycc.h"
#include "engine/media/libav_util.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
}

namespace ovid::media {
namespace {

// A decoder error on uploaded bytes is the client's problem (INVALID_ARGUMENT), unlike the
// encoders' libav failures, which AvError reports as INTERNAL.
absl::Status DecodeError(int err, ImageFormat format, const char* call) {
  if (err == AVERROR(ENOMEM)) return AvError(err, call);
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, text, sizeof(text));
  return absl::InvalidArgumentError(absl::StrCat("first_frame: the ", ImageFormatName(format),
                                                 " decoder rejected the image: ", text, " (", call,
                                                 ", AVERROR ", err, ")"));
}

absl::StatusOr<CodecContextPtr> OpenDecoder(ImageFormat format) {
  const AVCodecID id = format == ImageFormat::kPng ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG;
  RouteLibavLog();
  const AVCodec* codec = avcodec_find_decoder(id);
  if (codec == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("the ", ImageFormatName(format),
                                                      " decoder is not in this libavcodec (",
                                                      LIBAVCODEC_IDENT, ")"));
  }
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return absl::ResourceExhaustedError("avcodec_alloc_context3 (image): out of memory");
  // One image: frame threads would only add start-up cost and a decode delay.
  ctx->thread_count = 1;
  // A second bound behind ProbeImage's, should a decoder find a size the header walk did not.
  ctx->max_pixels = kMaxImageSide * kMaxImageSide;
  // Fail on damage instead of concealing it (a half-grey first frame would steer the whole
  // video), and check PNG chunk CRCs, which libavcodec skips by default.
  ctx->err_recognition = AV_EF_EXPLODE | AV_EF_CRCCHECK;
  // Corrupt uploads are routine for a server: the decoder's own AV_LOG_ERROR lines are demoted
  // to warnings for this context only (the status carries the error); the process-wide log
  // level stays the daemon's to set.
  ctx->log_level_offset = AV_LOG_WARNING - AV_LOG_ERROR;
  // libjpeg's integer IDCT ("jrev", from the same IJG code as the islow one cv2.imread runs):
  // closer to cv2's samples than libavcodec's default (about 2% of samples 1 level apart
  // instead of about 3%).
  if (format == ImageFormat::kJpeg) ctx->idct_algo = FF_IDCT_INT;
  if (int ret = avcodec_open2(ctx.get(), codec, nullptr); ret < 0) {
    return AvError(ret, "avcodec_open2 (image decoder)");
  }
  return ctx;
}

// One packet holding the whole file, then a flush: an image decoder yields exactly one frame.
absl::StatusOr<FramePtr> DecodeOneFrame(AVCodecContext* ctx, ImageFormat format,
                                        std::string_view bytes) {
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!packet || !frame)
    return absl::ResourceExhaustedError("av_packet/frame_alloc: out of memory");
  // av_new_packet adds the zeroed padding the bitstream readers may over-read into.
  if (int ret = av_new_packet(packet.get(), static_cast<int>(bytes.size())); ret < 0) {
    return AvError(ret, "av_new_packet (image)");
  }
  std::memcpy(packet->data, bytes.data(), bytes.size());
  if (int ret = avcodec_send_packet(ctx, packet.get()); ret < 0) {
    return DecodeError(ret, format, "avcodec_send_packet");
  }
  if (int ret = avcodec_send_packet(ctx, nullptr); ret < 0) {
    return DecodeError(ret, format, "avcodec_send_packet (flush)");
  }
  const int ret = avcodec_receive_frame(ctx, frame.get());
  if (ret == AVERROR_EOF) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_frame: the ", ImageFormatName(format), " decoder produced no image"));
  }
  if (ret < 0) return DecodeError(ret, format, "avcodec_receive_frame");
  // Damage the decoder concealed despite AV_EF_EXPLODE still marks the frame.
  if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_frame: the ", ImageFormatName(format), " decoder found damaged data"));
  }
  return frame;
}

// The yuvj* formats are libav's deprecated spelling of full-range YUV (swscale warns on them):
// JPEG's YCbCr is always full range (JFIF), so use the plain format and say so explicitly.
AVPixelFormat PlainYuv(AVPixelFormat f) {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      return AV_PIX_FMT_YUV411P;
    default:
      return f;
  }
}

RgbImage Blank(int w, int h) {
  RgbImage out;
  out.width = w;
  out.height = h;
  out.rgb.resize(static_cast<size_t>(w) * h * 3);
  return out;
}

// The 16-bit formats libavcodec's png decoder outputs (big-endian samples, packed): the bytes
// per pixel and whether the first sample is gray (else R, G, B).
struct Packed16 {
  int step;
  bool gray;
};
std::optional<Packed16> PngPacked16(AVPixelFormat f) {
  switch (f) {
    case AV_PIX_FMT_RGB48BE:
      return Packed16{6, false};
    case AV_PIX_FMT_RGBA64BE:
      return Packed16{8, false};
    case AV_PIX_FMT_GRAY16BE:
      return Packed16{2, true};
    case AV_PIX_FMT_YA16BE:
      return Packed16{4, true};
    default:
      return std::nullopt;
  }
}

// 16-bit PNG samples keep their high byte (v >> 8), not a rounded v / 257: cv2.imread with
// IMREAD_COLOR, what Ovi's preprocessing calls, reduces them with libpng's png_set_strip_16,
// which does exactly that. (swscale would round, and not always the same way.)
RgbImage HighBytes(const AVFrame& frame, Packed16 p) {
  RgbImage out = Blank(frame.width, frame.height);
  uint8_t* dst = out.rgb.data();
  for (int y = 0; y < frame.height; ++y) {
    const uint8_t* row = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    for (int x = 0; x < frame.width; ++x, dst += 3) {
      const uint8_t* px = row + static_cast<ptrdiff_t>(x) * p.step;  // big-endian: high first
      for (int c = 0; c < 3; ++c) dst[c] = px[p.gray ? 0 : 2 * c];
    }
  }
  return out;
}

// A JPEG's YCbCr frame as libjpeg converts it (jpeg_ycc.h), where the file's own subsampling
// (`header`) is one libjpeg filters and the frame still holds it; nullopt for any other frame.
// (libavcodec widens some unusual layouts' chroma itself and reports them as 4:2:0 or 4:4:4,
// and a JPEG with a "CS=ITU601" comment comes as a non-J format, which libjpeg treats as any
// other JPEG.)
std::optional<RgbImage> JpegYccToRgb(const AVFrame& frame, const ImageHeader& header) {
  // 8-bit planar Y, Cb, Cr, with the chroma subsampling the pixel format says.
  const AVPixFmtDescriptor* d =
      av_pix_fmt_desc_get(PlainYuv(static_cast<AVPixelFormat>(frame.format)));
  if (d == nullptr || d->nb_components != 3 || (d->flags & AV_PIX_FMT_FLAG_PLANAR) == 0 ||
      (d->flags & AV_PIX_FMT_FLAG_RGB) != 0 || d->comp[0].depth != 8 ||
      d->comp[1].plane == d->comp[2].plane) {  // NV12-style interleaved chroma
    return std::nullopt;
  }
  const int h_sub = 1 << d->log2_chroma_w, v_sub = 1 << d->log2_chroma_h;
  if (header.format != ImageFormat::kJpeg || header.jpeg_chroma_h_sub != h_sub ||
      header.jpeg_chroma_v_sub != v_sub || !YccSubsamplingSupported(h_sub, v_sub)) {
    return std::nullopt;
  }
  YccPlanes p;
  p.width = frame.width;
  p.height = frame.height;
  p.h_sub = h_sub;
  p.v_sub = v_sub;
  p.y = frame.data[0];
  p.cb = frame.data[1];
  p.cr = frame.data[2];
  p.y_stride = frame.linesize[0];
  p.c_stride = frame.linesize[1];
  if (frame.linesize[2] != frame.linesize[1] || p.y_stride <= 0 || p.c_stride <= 0) {
    return std::nullopt;  // not a layout libavcodec's mjpeg decoder produces
  }
  return YccToRgb(p);
}

// Any decoder output format -> packed rgb24. An alpha channel is dropped, not blended onto a
// background: cv2.imread(path) (IMREAD_COLOR, what Ovi's preprocessing uses) drops it too.
absl::StatusOr<RgbImage> ToRgb24(const AVFrame& frame, const ImageHeader& header) {
  if (std::optional<Packed16> p = PngPacked16(static_cast<AVPixelFormat>(frame.format))) {
    return HighBytes(frame, *p);
  }
  if (std::optional<RgbImage> jpeg = JpegYccToRgb(frame, header)) return *std::move(jpeg);
  const AVPixelFormat src = PlainYuv(static_cast<AVPixelFormat>(frame.format));
  const int w = frame.width, h = frame.height;
  // The rest (a JPEG's unusual chroma layouts, gray, PNG's formats): subsampled chroma is
  // replicated (SWS_POINT), as the ffmpeg CLI's unscaled yuv->rgb path does: swscale's filtered
  // chroma upsampling at 1:1 misplaces chroma (on ffmpeg's testsrc2 as a 4:2:0 JPEG it nearly
  // tripled the mean error against the source pixels). BITEXACT and ACCURATE_RND give the same
  // pixels on every CPU, whatever SIMD swscale picks.
  SwsPtr sws(sws_getContext(w, h, src, w, h, AV_PIX_FMT_RGB24,
                            SWS_POINT | SWS_ACCURATE_RND | SWS_BITEXACT | SWS_FULL_CHR_H_INT,
                            nullptr, nullptr, nullptr));
  if (!sws) {
    const char* name = av_get_pix_fmt_name(src);
    return absl::InvalidArgumentError(
        absl::StrCat("first_frame: cannot convert the decoded pixel format ",
                     name ? name : "(unknown)", " to RGB"));
  }
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(src);
  if (desc != nullptr && (desc->flags & AV_PIX_FMT_FLAG_RGB) == 0 &&
      (desc->flags & AV_PIX_FMT_FLAG_PAL) == 0) {
    // YUV and gray: image files are full range (JFIF; PNG gray is plain intensity), BT.601
    // matrix (JFIF). swscale's default for these would be limited range.
    const int* bt601 = sws_getCoefficients(SWS_CS_ITU601);
    if (sws_setColorspaceDetails(sws.get(), bt601, /*srcRange=*/1, bt601, /*dstRange=*/1,
                                 /*brightness=*/0, /*contrast=*/1 << 16,
                                 /*saturation=*/1 << 16) < 0) {
      return absl::InternalError(
          absl::StrCat("sws_setColorspaceDetails failed for ", av_get_pix_fmt_name(src)));
    }
  }
  // Scale into a libav frame (aligned, padded for swscale's SIMD), then drop the row padding.
  absl::StatusOr<FramePtr> rgb = AllocVideoFrame(AV_PIX_FMT_RGB24, w, h);
  if (!rgb.ok()) return rgb.status();
  const int rows =
      sws_scale(sws.get(), frame.data, frame.linesize, 0, h, (*rgb)->data, (*rgb)->linesize);
  if (rows != h) return AvError(rows < 0 ? rows : AVERROR_BUG, "sws_scale (image -> rgb24)");
  RgbImage out = Blank(w, h);
  for (int y = 0; y < h; ++y) {
    std::memcpy(out.rgb.data() + static_cast<size_t>(y) * w * 3,
                (*rgb)->data[0] + static_cast<ptrdiff_t>(y) * (*rgb)->linesize[0],
                static_cast<size_t>(w) * 3);
  }
  return out;
}

// The stored pixel that an EXIF orientation (2..8) puts at displayed pixel (x, y) of a stored
// w x h image, as cv2.imread turns it.
std::pair<int, int> StoredPixel(int orientation, int x, int y, int w, int h) {
  switch (orientation) {
    case 2:  // mirrored
      return {w - 1 - x, y};
    case 3:  // rotated 180 degrees
      return {w - 1 - x, h - 1 - y};
    case 4:  // flipped
      return {x, h - 1 - y};
    case 5:  // transposed
      return {y, x};
    case 6:  // rotate 90 degrees clockwise to display
      return {y, h - 1 - x};
    case 7:  // transversed
      return {w - 1 - y, h - 1 - x};
    case 8:  // rotate 90 degrees counter-clockwise to display
      return {w - 1 - y, x};
    default:
      return {x, y};
  }
}

RgbImage Orient(const RgbImage& in, int orientation) {
  const bool swap = orientation >= 5;
  RgbImage out = Blank(swap ? in.height : in.width, swap ? in.width : in.height);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const auto [sx, sy] = StoredPixel(orientation, x, y, in.width, in.height);
      const uint8_t* src = in.rgb.data() + (static_cast<size_t>(sy) * in.width + sx) * 3;
      std::copy(src, src + 3, out.rgb.data() + (static_cast<size_t>(y) * out.width + x) * 3);
    }
  }
  return out;
}

// The decoder's frame of a probed image, checked against the header's size.
absl::StatusOr<FramePtr> DecodeFrame(std::string_view bytes, const ImageHeader& header) {
  absl::StatusOr<CodecContextPtr> ctx = OpenDecoder(header.format);
  if (!ctx.ok()) return ctx.status();
  // A PNG goes to the decoder without its ancillary chunks (PngPixelChunks says why).
  const bool png = header.format == ImageFormat::kPng;
  const std::string pixel_chunks = png ? PngPixelChunks(bytes) : std::string();
  absl::StatusOr<FramePtr> frame =
      DecodeOneFrame(ctx->get(), header.format, png ? std::string_view(pixel_chunks) : bytes);
  if (!frame.ok()) return frame.status();
  if ((*frame)->width != header.width || (*frame)->height != header.height) {
    return absl::InvalidArgumentError(absl::StrCat("first_frame: the header says ", header.width,
                                                   "x", header.height, ", the decoder produced ",
                                                   (*frame)->width, "x", (*frame)->height));
  }
  return frame;
}

}  // namespace

absl::Status CheckImageData(std::string_view bytes, int64_t max_pixels) {
  absl::StatusOr<ImageHeader> header = ProbeImage(bytes);
  if (!header.ok()) return header.status();
  if (header->width * header->height > max_pixels) return absl::OkStatus();
  return DecodeFrame(bytes, *header).status();
}

absl::StatusOr<RgbImage> DecodeImage(std::string_view bytes) {
  absl::StatusOr<ImageHeader> header = ProbeImage(bytes);
  if (!header.ok()) return header.status();
  absl::StatusOr<FramePtr> frame = DecodeFrame(bytes, *header);
  if (!frame.ok()) return frame.status();
  absl::StatusOr<RgbImage> rgb = ToRgb24(**frame, *header);
  if (!rgb.ok() || header->orientation == 1) return rgb;
  return Orient(*rgb, header->orientation);
}

}  // namespace ovid::media
