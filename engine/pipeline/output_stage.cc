// File: engine/pipeline/output_stage.cc
#include "engine/pipeline/output_stage.h"

#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/media/image_decode.h"
#include "engine/media/image_probe.h"
#include "engine/media/media.h"

namespace ovid::pipeline {
namespace {

// What a decoder stage handed over, for the error when it is not what the encoders take.
std::string Describe(const at::Tensor& t) {
  if (!t.defined()) return "no tensor";
  std::ostringstream out;
  out << t.sizes() << " " << t.scalar_type() << " on " << t.device()
      << (t.is_contiguous() ? "" : ", not contiguous");
  return out.str();
}

absl::StatusOr<media::VideoFrames> Frames(const DecodedMedia& m) {
  if (!m.video.defined() || m.video.dim() != 4 || m.video.scalar_type() != at::kFloat ||
      !m.video.is_contiguous() || !m.video.device().is_cpu()) {
    return absl::InternalError(absl::StrCat(
        "video output: expected contiguous host f32 [3, F, H, W], got ", Describe(m.video)));
  }
  media::VideoFrames v;
  v.data = absl::MakeConstSpan(m.video.data_ptr<float>(), static_cast<size_t>(m.video.numel()));
  v.frames = m.video.size(1);
  v.height = m.video.size(2);
  v.width = m.video.size(3);
  return v;
}

absl::StatusOr<media::AudioPcm> Pcm(const DecodedMedia& m) {
  if (!m.audio.defined() || m.audio.dim() != 1 || m.audio.scalar_type() != at::kFloat ||
      !m.audio.is_contiguous() || !m.audio.device().is_cpu()) {
    return absl::InternalError(absl::StrCat(
        "audio output: expected contiguous host f32 [samples], got ", Describe(m.audio)));
  }
  media::AudioPcm a;
  a.samples = absl::MakeConstSpan(m.audio.data_ptr<float>(), static_cast<size_t>(m.audio.numel()));
  a.sample_rate = m.audio_sample_rate;
  return a;
}

absl::StatusOr<std::string> Encode(OutputFormat format, const DecodedMedia& m,
                                   const DecodeSettings& settings,
                                   const std::function<bool()>& stop) {
  switch (format) {
    case OutputFormat::kMp4: {
      absl::StatusOr<media::VideoFrames> v = Frames(m);
      if (!v.ok()) return v.status();
      absl::StatusOr<media::AudioPcm> a = Pcm(m);
      if (!a.ok()) return a.status();
      media::Mp4Options o;
      o.crf = static_cast<int>(settings.mp4_crf);
      o.preset = settings.mp4_preset;
      o.stop = stop;
      return media::EncodeMp4(*v, *a, o);
    }
    case OutputFormat::kWav: {
      absl::StatusOr<media::AudioPcm> a = Pcm(m);
      if (!a.ok()) return a.status();
      return media::EncodeWav(*a);
    }
    case OutputFormat::kPngFrames: {
      absl::StatusOr<media::VideoFrames> v = Frames(m);
      if (!v.ok()) return v.status();
      return media::EncodePngFrames(*v, media::Rounding::kTruncate, stop);
    }
    default:
      return absl::InternalError("EncodeMediaOutput: not a media format");
  }
}

}  // namespace

absl::StatusOr<std::string> EncodeMediaOutput(OutputFormat format, const DecodedMedia& m,
                                              const DecodeSettings& settings,
                                              const std::function<bool()>& stop) {
  absl::StatusOr<std::string> bytes = Encode(format, m, settings, stop);
  // The encoders refuse samples they cannot take (NaN or infinity) as bad input, which they are
  // in the media tools. Here the samples come from the decoders, not from the request: the fault
  // is the server's, and the client must not be told its request was malformed.
  if (bytes.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::InternalError(
        absl::StrCat("the decoders' output cannot be encoded: ", bytes.status().message()));
  }
  return bytes;
}

bool MediaAvailable() { return true; }

absl::StatusOr<RgbImage> ReadFirstFrame(std::string_view bytes) {
  absl::StatusOr<media::RgbImage> image = media::DecodeImage(bytes);
  if (!image.ok()) return image.status();
  RgbImage out;
  out.width = image->width;
  out.height = image->height;
  out.rgb = std::move(image->rgb);
  return out;
}

absl::Status CheckFirstFrameData(std::string_view bytes, int64_t max_pixels) {
  return media::CheckImageData(bytes, max_pixels);
}

absl::StatusOr<ImageSize> ProbeFirstFrame(std::string_view bytes) {
  // Headers only: this runs at admission on gRPC's threads, for every request; the pixel data is
  // checked by CheckFirstFrameData (a bounded number at once) and the job's decode.
  absl::StatusOr<media::ImageHeader> header = media::ProbeImage(bytes, media::ProbeDepth::kHeaders);
  if (!header.ok()) return header.status();
  // The displayed size: a portrait photo stored sideways (EXIF orientation) sizes a portrait video.
  return ImageSize{static_cast<uint32_t>(header->DisplayWidth()),
                   static_cast<uint32_t>(header->DisplayHeight())};
}

}  // namespace ovid::pipeline
