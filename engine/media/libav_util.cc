// File: engine/media/libav_util.cc
#include "engine/media/libav_util.h"

#include <cerrno>
#include <cstdarg>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "ovid/engine_log.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

namespace ovid::media {
namespace {

// libav may log one line in pieces ("[aac @ 0x..] Qavg: " then "65536.000\n"): each thread
// gathers its pieces until the newline.
void LogToEngine(void* context, int level, const char* format, va_list args) {
  if (level > av_log_get_level()) return;
  thread_local std::string line;
  thread_local int print_prefix = 1;
  char piece[1024];
  av_log_format_line2(context, level, format, args, piece, sizeof(piece), &print_prefix);
  line += piece;
  if (line.empty() || line.back() != '\n') return;
  line.pop_back();
  const EngineLogLevel engine_level = level <= AV_LOG_ERROR     ? EngineLogLevel::kError
                                      : level <= AV_LOG_WARNING ? EngineLogLevel::kWarning
                                                                : EngineLogLevel::kInfo;
  EngineLog(engine_level, line);
  line.clear();
}

}  // namespace

void RouteLibavLog() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(LogToEngine); });
}

absl::Status AvError(int err, const std::string& what) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, text, sizeof(text));
  std::string message = absl::StrCat(what, ": ", std::string(text), " (AVERROR ", err, ")");
  if (err == AVERROR(ENOMEM)) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::StatusOr<const AVCodec*> FindEncoder(const char* name) {
  RouteLibavLog();
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
