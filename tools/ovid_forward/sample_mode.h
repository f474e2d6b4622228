// File: tools/ovid_forward/sample_mode.h
// `ovid-forward --mode sample`: Ovi's guided denoising loop (engine/sampling) over OviModel,
// from the given latents as the initial noise. Text contexts are prepared once per request
// (positive and negative) and reused by every step.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/models/ovi/ovi_model.h"
#include "tools/ovid_forward/forward_io.h"

namespace ovid::tools {

struct SampleArgs {
  int steps = 50;
  std::string solver = "unipc";
  double shift = 5.0;
  double video_guidance = 4.0;
  double audio_guidance = 3.0;
  int slg_layer = -1;  // the negative pass skips this block; -1 none
  bool first_frame_clean = false;
  bool batch_guidance = false;  // --batch-guidance on: both passes in one batch-2 forward
};

// Fills `args` from the sample-mode flags (--steps, --solver, --shift, --video-guidance,
// --audio-guidance, --batch-guidance; --seed is accepted: the initial noise is the input latents).
absl::Status ParseSampleFlags(const std::map<std::string, std::string>& flags, SampleArgs* args);

// True when this build has engine/sampling.
bool SampleModeAvailable();

// The final latents: {"video_latent": [C,F,H,W], "audio_latent": [L,C]}. When step_seconds is
// given it receives each step's wall time, the device synchronised at every step's end (a
// step's time then is its own; the first includes one-time set-up such as cuBLAS heuristics).
absl::StatusOr<std::map<std::string, at::Tensor>> RunSampleMode(
    const ovi::OviModel& model, const ForwardInputs& in, const SampleArgs& args,
    std::vector<double>* step_seconds = nullptr);

}  // namespace ovid::tools
