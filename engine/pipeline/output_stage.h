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
// Admission decodes it too (and drops the pixels): a file whose structure is whole but whose
// compressed data the decoder rejects is then refused at once, as a rejection, instead of
// waiting in the queue for a slot and failing there as a job. That costs the RPC thread one
// decode per image request (tens of ms at camera sizes, under a second at the 8192x8192 limit).
absl::StatusOr<RgbImage> ReadFirstFrame(std::string_view bytes);

}  // namespace ovid::pipeline
