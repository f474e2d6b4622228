// File: engine/pipeline/output_stage_none.cc
// The output stage of a build without engine/media (no libavcodec -dev files): nothing to
// encode, no image to read. PlanJob never lets a request get here (ModelLimits::media is false);
// the errors below are the second line of defence.
#include "engine/pipeline/output_stage.h"

namespace ovid::pipeline {

bool MediaAvailable() { return false; }

absl::StatusOr<std::string> EncodeMediaOutput(OutputFormat, const DecodedMedia&,
                                              const DecodeSettings&, const std::function<bool()>&) {
  return absl::FailedPreconditionError(
      "this build of ovid has no MP4/WAV/PNG encoder (built without libavcodec)");
}

absl::StatusOr<RgbImage> ReadFirstFrame(std::string_view) {
  return absl::FailedPreconditionError(
      "first_frame: this build of ovid cannot read images (built without libavcodec)");
}

absl::Status CheckFirstFrameData(std::string_view bytes, int64_t) {
  return ReadFirstFrame(bytes).status();
}

absl::StatusOr<ImageSize> ProbeFirstFrame(std::string_view bytes) {
  return ReadFirstFrame(bytes).status();
}

}  // namespace ovid::pipeline
