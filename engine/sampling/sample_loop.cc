// File: engine/sampling/sample_loop.cc
#include "engine/sampling/sample_loop.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"
#include "engine/sampling/flow_sampler.h"
#include "engine/sampling/guidance.h"

namespace ovid::sampling {
namespace {

absl::Status CheckFirstFrame(const at::Tensor& video, const at::Tensor& latent) {
  if (video.dim() != 4) {
    return absl::InvalidArgumentError("I2V needs a [C, F, h, w] video latent");
  }
  if (!latent.defined() || latent.dim() != 4 || latent.size(0) != video.size(0) ||
      latent.size(1) != 1 || latent.size(2) != video.size(2) || latent.size(3) != video.size(3)) {
    return absl::InvalidArgumentError("first-frame latent must be [C, 1, h, w] of the video");
  }
  if (latent.device() != video.device()) {
    return absl::InvalidArgumentError("first-frame latent is on another device than the video");
  }
  return absl::OkStatus();
}

// video[:, :1] = latent, in place (the loop owns `video`).
absl::Status PinFirstFrame(at::Tensor& video, const std::optional<at::Tensor>& latent) {
  if (!latent.has_value()) return absl::OkStatus();
  return ops::GuardTorch("I2V first frame", [&]() { video.narrow(1, 0, 1).copy_(*latent); });
}

absl::Status CheckVelocities(const TowerVelocities& v, const at::Tensor& video,
                             const at::Tensor& audio, GuidancePass pass) {
  const char* name = pass == GuidancePass::kPositive   ? "positive"
                     : pass == GuidancePass::kNegative ? "negative"
                                                       : "batched";
  // kBoth: [2, ...] of each shape.
  auto expected = [pass](const at::Tensor& t) {
    std::vector<int64_t> s(t.sizes().begin(), t.sizes().end());
    if (pass == GuidancePass::kBoth) s.insert(s.begin(), 2);
    return s;
  };
  if (!v.video.defined() || !v.audio.defined() || v.video.sizes() != expected(video) ||
      v.audio.sizes() != expected(audio)) {
    return absl::InternalError(
        absl::StrCat("model's ", name, " pass returned velocities of the wrong shape"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SampleResult> Sample(const ModelFn& model, const at::Tensor& initial_video,
                                    const at::Tensor& initial_audio, const SampleOptions& options,
                                    const ProgressFn& progress, const CancelFn& cancelled) {
  if (!initial_video.defined() || !initial_audio.defined()) {
    return absl::InvalidArgumentError("sampling needs initial video and audio latents");
  }
  if (options.first_frame_latent.has_value()) {
    OVID_RETURN_IF_ERROR(CheckFirstFrame(initial_video, *options.first_frame_latent));
  }
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<FlowSampler> video_sampler,
                        MakeFlowSampler(options.solver, options.steps, options.shift));
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<FlowSampler> audio_sampler,
                        MakeFlowSampler(options.solver, options.steps, options.shift));

  SampleResult state;
  OVID_ASSIGN_OR_RETURN(state.video,
                        ops::GuardTorch("sampling", [&]() { return initial_video.clone(); }));
  state.audio = initial_audio;  // never written in place: each step makes a new tensor

  const bool unguided = options.skip_negative_at_unit_guidance && options.video_guidance == 1.0 &&
                        options.audio_guidance == 1.0;
  const bool batched = options.batch_guidance && !unguided;
  for (int i = 0; i < video_sampler->steps(); ++i) {
    if (cancelled && cancelled()) {
      return absl::CancelledError(
          absl::StrCat("sampling cancelled before step ", i + 1, " of ", video_sampler->steps()));
    }
    OVID_RETURN_IF_ERROR(PinFirstFrame(state.video, options.first_frame_latent));
    ModelCall call;
    call.step = i;
    call.timestep = video_sampler->timesteps()[i];
    at::Tensor v_video, v_audio;
    TowerVelocities pos, neg;
    if (batched) {
      call.pass = GuidancePass::kBoth;
      call.slg_layer = options.slg_layer;
      OVID_ASSIGN_OR_RETURN(TowerVelocities both, model(state.video, state.audio, call));
      OVID_RETURN_IF_ERROR(CheckVelocities(both, state.video, state.audio, call.pass));
      pos = {both.video[0], both.audio[0]};
      neg = {both.video[1], both.audio[1]};
    } else {
      call.pass = GuidancePass::kPositive;
      OVID_ASSIGN_OR_RETURN(pos, model(state.video, state.audio, call));
      OVID_RETURN_IF_ERROR(CheckVelocities(pos, state.video, state.audio, call.pass));
    }
    if (unguided) {
      // The float32 the guided path would hand the solver, without the second model call.
      OVID_ASSIGN_OR_RETURN(v_video,
                            ops::GuardTorch("guidance", [&] { return pos.video.to(at::kFloat); }));
      OVID_ASSIGN_OR_RETURN(v_audio,
                            ops::GuardTorch("guidance", [&] { return pos.audio.to(at::kFloat); }));
    } else {
      if (!batched) {
        call.pass = GuidancePass::kNegative;
        call.slg_layer = options.slg_layer;
        OVID_ASSIGN_OR_RETURN(neg, model(state.video, state.audio, call));
        OVID_RETURN_IF_ERROR(CheckVelocities(neg, state.video, state.audio, call.pass));
      }
      OVID_ASSIGN_OR_RETURN(v_video, ApplyGuidance(pos.video, neg.video, options.video_guidance));
      OVID_ASSIGN_OR_RETURN(v_audio, ApplyGuidance(pos.audio, neg.audio, options.audio_guidance));
    }
    // Free the four model outputs before the solvers allocate (matters at video sizes).
    pos = {};
    neg = {};
    OVID_ASSIGN_OR_RETURN(state.video, video_sampler->Step(v_video, i, state.video));
    OVID_ASSIGN_OR_RETURN(state.audio, audio_sampler->Step(v_audio, i, state.audio));
    if (progress) progress({i + 1, video_sampler->steps(), call.timestep});
  }
  OVID_RETURN_IF_ERROR(PinFirstFrame(state.video, options.first_frame_latent));
  return state;
}

}  // namespace ovid::sampling
