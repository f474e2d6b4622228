// File: engine/media/libav_util.cc
#include "engine/media/libav_util.h"

#include <cerrno>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/error.h>
}

namespace ovid::media {

absl::Status AvError(int err, const std::string& what) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, text, sizeof(text));
  std::string message = absl::StrCat(what, ": ", std::string(text), " (AVERROR ", err, ")");
  if (err == AVERROR(ENOMEM)) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::StatusOr<const AVCodec*> FindEncoder(const char* name) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (codec == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "encoder \"", name, "\" is not in this libavcodec (", LIBAVCODEC_IDENT,
        "); install an FFmpeg build that includes it"));
  }
  return codec;
}

absl::StatusOr<FramePtr> AllocVideoFrame(AVPixelFormat format, int width, int height) {
  FramePtr frame(av_frame_alloc());
  if (!frame) return absl::ResourceExhaustedError("av_frame_alloc: out of memory");
  frame->format = format;
  frame->width = width;
  frame->height = height;
  if (int ret = av_frame_get_buffer(frame.get(), 0); ret < 0) {
    return AvError(ret, "av_frame_get_buffer (video)");
  }
  return frame;
}

}  // namespace ovid::media
