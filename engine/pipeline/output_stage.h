// File: engine/pipeline/output_stage.h
// The "mux" stage: decoded frames and samples (host f32) into the files a job returns (MP4,
// WAV, PNG frames; engine/media), and reading a request's first frame (PNG/JPEG). engine/media
// needs libavcodec's -dev files; a build without them compiles output_stage_none.cc instead,
// where MediaAvailable() is false and the pipeline offers LATENTS only.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/pipeline/request_plan.h"
#include "ovid/engine.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::pipeline {

bool MediaAvailable();

// What the decoders made: video f32 [3, F, H, W] in [-1, 1] and mono audio f32 [samples] in
// [-1, 1] (16 kHz), both contiguous on the host; either may be undefined when not needed.
struct DecodedMedia {
  at::Tensor video;
  at::Tensor audio;
  int audio_sample_rate = 16000;
};

// One output file. INVALID_ARGUMENT for non-finite decoder output (a broken model; named with
// its position), FAILED_PRECONDITION when this build cannot encode `format`; CANCELLED when
// `stop` (polled once per video frame; may be empty) returns true.
absl::StatusOr<std::string> EncodeMediaOutput(OutputFormat format, const DecodedMedia& media,
                                              const DecodeSettings& settings,
                                              const std::function<bool()>& stop = nullptr);

struct RgbImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> rgb;  // rows of width * 3 bytes
};

// A request's first frame: PNG or JPEG bytes to RGB. INVALID_ARGUMENT naming "first_frame".
absl::StatusOr<RgbImage> ReadFirstFrame(std::string_view bytes);

// Its size from the header, after the structure checks (truncation, format, size bounds) but
// without decoding: the VRAM estimate needs only the size, and runs on the caller's RPC thread,
// where decoding an 8192x8192 image (192 MiB of RGB) per request would not belong. The decoder
// checks the header's size against what it produces, so the job's plan matches admission's.
// (Admission's content check, OviPipeline::CheckContents, decodes images of camera sizes, a
// few at a time, so that data only the decoder rejects is refused before the queue too.)
absl::StatusOr<ImageSize> ProbeFirstFrame(std::string_view bytes);

// ReadFirstFrame's refusals without its pixels, for images of at most `max_pixels` (larger ones
// are only probed): admission's content check (media::CheckImageData).
absl::Status CheckFirstFrameData(std::string_view bytes, int64_t max_pixels);

}  // namespace ovid::pipeline
