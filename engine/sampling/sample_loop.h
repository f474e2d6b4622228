// File: engine/sampling/sample_loop.h
// Ovi's denoising loop (OviFusionEngine.generate, spec ovi.md §4), independent of the model:
//   for each step i with timestep t:
//     if I2V: video[:, :1] = first_frame_latent
//     (pv, pa) = model(video, audio, t, positive)
//     (nv, na) = model(video, audio, t, negative)        # SLG: the model skips slg_layer here
//     video = sampler_v.step(nv + gv·(pv - nv)); audio = sampler_a.step(na + ga·(pa - na))
//   if I2V: video[:, :1] = first_frame_latent
// Video and audio each get their own FlowSampler on the same schedule.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "engine/sampling/flow_schedule.h"

namespace ovid::sampling {

// kBoth: both passes in one batch-2 call (SampleOptions::batch_guidance). The model returns
// the velocities stacked along a new leading dimension, positive first: video [2, C, F, h, w],
// audio [2, L, C].
enum class GuidancePass { kPositive, kNegative, kBoth };

// What one model call is for. The model function owns the text contexts of each pass.
struct ModelCall {
  int step = 0;
  float timestep = 0;  // the schedule's t (999, 979, ... for UniPC), as the model embeds it
  GuidancePass pass = GuidancePass::kPositive;
  // Skip-layer guidance: the fused block to skip, set on the negative pass only (for kBoth:
  // skipped by the negative sample only); -1 = none.
  int slg_layer = -1;
};

struct TowerVelocities {
  at::Tensor video;
  at::Tensor audio;
};

using ModelFn = std::function<absl::StatusOr<TowerVelocities>(
    const at::Tensor& video, const at::Tensor& audio, const ModelCall& call)>;

struct SampleOptions {
  int steps = 50;
  SolverKind solver = SolverKind::kUniPc;
  double shift = 5.0;
  double video_guidance = 4.0;
  double audio_guidance = 3.0;
  int slg_layer = 11;  // passed to the negative pass; -1 disables SLG
  // I2V: the clean first-frame latent [C, 1, h, w], written into video[:, :1] before every
  // step and after the loop. Must match the video's C, h, w, dtype and device.
  std::optional<at::Tensor> first_frame_latent;
  // Positive and negative in one batch-2 call (GuidancePass::kBoth) instead of two: the same
  // velocities within the model's rounding, each weight read once per step, twice the
  // activation memory. Ignored on steps that skip the negative pass.
  bool batch_guidance = false;
  // When both guidance scales are exactly 1, v = v_pos: skip the negative pass (half the
  // model calls). Off by default so the loop stays Ovi's call for call (the references compare
  // against that); the pipeline turns it on, as the API documents guidance 1 as "no negative".
  bool skip_negative_at_unit_guidance = false;
};

struct SampleProgress {
  int step = 0;  // steps done so far (1..steps)
  int steps = 0;
  float timestep = 0;  // the timestep of the step just done
};
using ProgressFn = std::function<void(const SampleProgress&)>;
// Polled before every step; true stops the loop with CANCELLED.
using CancelFn = std::function<bool()>;

struct SampleResult {
  at::Tensor video;
  at::Tensor audio;
};

// Runs the loop from `initial_video` [C, F, h, w] and `initial_audio` [L, C] (noise, e.g. from
// MakeNoise; not modified). Model errors are returned as they are.
absl::StatusOr<SampleResult> Sample(const ModelFn& model, const at::Tensor& initial_video,
                                    const at::Tensor& initial_audio, const SampleOptions& options,
                                    const ProgressFn& progress = nullptr,
                                    const CancelFn& cancelled = nullptr);

}  // namespace ovid::sampling
