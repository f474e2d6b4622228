// File: engine/pipeline/denoise_job.cc
#include "engine/pipeline/denoise_job.h"

#include <ATen/ops/all.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/isfinite.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/shared_tensors.h"
#include "engine/ops/torch_status.h"
#include "engine/pipeline/ovi_model_fn.h"
#include "engine/sampling/noise.h"
#include "engine/sampling/sample_loop.h"

namespace ovid::pipeline {
namespace {

sampling::SolverKind SolverKindOf(Solver s) {
  switch (s) {
    case Solver::kEuler:
      return sampling::SolverKind::kEuler;
    case Solver::kDpmpp:
      return sampling::SolverKind::kDpm;
    default:
      return sampling::SolverKind::kUniPc;
  }
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The fault hooks, run before every model call (inside the forward pass's exception guard).
// They act once per step: on the positive pass, or on the one call that runs both passes
// batched (the default on a GPU; skipping it made every hook a no-op there).
absl::Status ApplyFaults(const FaultHooks& faults, const sampling::ModelCall& call,
                         DenoiseState* state) {
  state->step = static_cast<uint32_t>(call.step + 1);
  if (call.pass == sampling::GuidancePass::kNegative) return absl::OkStatus();
  if (faults.step_delay_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(faults.step_delay_ms));
  }
  if (faults.oom_at_step == state->step) {
    // What the CUDA caching allocator throws when cudaMalloc fails, so the mapping below and
    // in the pipeline is the one a real OOM takes.
    TORCH_CHECK_WITH(OutOfMemoryError, false,
                     "CUDA out of memory. Tried to allocate 2.00 GiB (injected by "
                     "FaultHooks::oom_at_step)");
  }
  if (faults.device_error_at_step == state->step) {
    state->injected_device_fault = true;
    return absl::InternalError(
        "CUDA error: an illegal memory access was encountered (injected by "
        "FaultHooks::device_error_at_step)");
  }
  return absl::OkStatus();
}

}  // namespace

at::Tensor EmbeddingTensor(const TextEmbedding& e) {
  at::Tensor t = at::empty({static_cast<int64_t>(e.tokens), static_cast<int64_t>(e.dim)},
                           at::TensorOptions().dtype(at::kBFloat16));
  // Little-endian bf16 on the wire and in memory (x86-64, aarch64): a plain copy.
  std::memcpy(t.data_ptr(), e.bf16.data(), e.bf16.size());
  return t;
}

absl::StatusOr<DenoisedLatents> RunDenoise(const ovi::OviModel& model, const DenoiseInputs& in,
                                           ProgressSink& sink, const CancelToken& cancel,
                                           DenoiseState* state) {
  const JobPlan& plan = *in.plan;
  const EffectiveParameters& p = plan.parameters;
  const ovi::OviConfig& c = model.spec().config;
  OVID_RETURN_IF_ERROR(cancel.status());
  state->stage = "denoise";
  sink.OnProgress({"denoise", 0, p.steps, SecondsSince(in.job_start), 0});

  // Contexts: positive for both towers, and each tower's negative whenever the negative pass
  // runs (PlanJob gives both then: the request's or Ovi's defaults).
  const TextContexts& text = in.text;
  OVID_ASSIGN_OR_RETURN(ovi::OviContextCache positive,
                        model.PrepareContext(text.positive, text.positive));
  ovi::OviContextCache negative;
  if (!plan.Unguided()) {
    if (!text.video_negative.defined() || !text.audio_negative.defined()) {
      return absl::InternalError(
          "the negative pass runs but a tower's negative context is missing");
    }
    OVID_ASSIGN_OR_RETURN(negative, model.PrepareContext(text.video_negative, text.audio_negative));
  }

  // Ovi's noise: bf16 randn from a generator seeded with `seed`, one per tower, then the model
  // dtype (exact: f32 holds every bf16) for the loop's state.
  const int64_t video_shape[] = {c.video_in_dim, plan.latent_frames, plan.latent_height,
                                 plan.latent_width};
  const int64_t audio_shape[] = {plan.audio_latents, c.audio_in_dim};
  OVID_ASSIGN_OR_RETURN(at::Tensor video_noise,
                        sampling::MakeNoise(video_shape, in.seed, model.device(), at::kBFloat16));
  OVID_ASSIGN_OR_RETURN(at::Tensor audio_noise,
                        sampling::MakeNoise(audio_shape, in.seed, model.device(), at::kBFloat16));
  OVID_ASSIGN_OR_RETURN(
      auto noise, ops::GuardTorch("noise", [&] {
        return std::pair{video_noise.to(model.dtype()), audio_noise.to(model.dtype())};
      }));
  video_noise = at::Tensor();
  audio_noise = at::Tensor();

  const FaultHooks faults = in.faults;
  const sampling::ModelFn model_fn =
      MakeOviModelFn(model, positive, plan.Unguided() ? positive : negative,
                     /*first_frame_clean=*/in.first_frame_latent.defined(),
                     [&faults, state](const sampling::ModelCall& call) {
                       return ApplyFaults(faults, call, state);
                     });
  // FaultHooks::nan_at_step: a numeric fault in the model, for the tests of what follows one.
  const sampling::ModelFn fn =
      faults.nan_at_step == 0
          ? model_fn
          : [&model_fn, &faults](
                const at::Tensor& video, const at::Tensor& audio,
                const sampling::ModelCall& call) -> absl::StatusOr<sampling::TowerVelocities> {
    OVID_ASSIGN_OR_RETURN(sampling::TowerVelocities v, model_fn(video, audio, call));
    if (static_cast<uint32_t>(call.step + 1) == faults.nan_at_step) {
      v.video = at::full_like(v.video, std::numeric_limits<float>::quiet_NaN());
    }
    return v;
  };

  sampling::SampleOptions options;
  options.steps = static_cast<int>(p.steps);
  options.solver = SolverKindOf(p.solver);
  options.shift = p.shift;
  options.video_guidance = p.video_guidance;
  options.audio_guidance = p.audio_guidance;
  options.slg_layer = p.slg_layer;  // <= 0: the model skips nothing
  options.skip_negative_at_unit_guidance = true;
  options.batch_guidance = in.batch_guidance;
  if (in.first_frame_latent.defined()) {
    OVID_ASSIGN_OR_RETURN(options.first_frame_latent, ops::GuardTorch("first frame latent", [&] {
                            return in.first_frame_latent.to(model.device(), model.dtype());
                          }));
  }

  const auto loop_start = std::chrono::steady_clock::now();
  const sampling::ProgressFn progress = [&](const sampling::SampleProgress& s) {
    // "Step done" means done on the device, so the step clock (ovid_denoise_step_seconds, the
    // remaining-time estimate) does not run ahead of it. A device error here shows again at the
    // stage's end (StageClock::Done), which returns it.
    (void)ops::WaitForCurrentStream(model.device(), "denoise step");
    const double per_step = SecondsSince(loop_start) / s.step;
    sink.OnProgress({"denoise", static_cast<uint32_t>(s.step), static_cast<uint32_t>(s.steps),
                     SecondsSince(in.job_start), per_step * (s.steps - s.step)});
  };
  const sampling::CancelFn cancelled = [&] { return cancel.cancelled(); };
  absl::StatusOr<sampling::SampleResult> result =
      sampling::Sample(fn, noise.first, noise.second, options, progress, cancelled);
  if (!result.ok()) {
    // The loop's CANCELLED carries its own words; the token knows why (client or deadline). Any
    // other error stands even if a cancel came meanwhile: a device error must still be seen
    // (the sticky-error check, healthy()).
    if (result.status().code() == absl::StatusCode::kCancelled && cancel.cancelled()) {
      return cancel.status();
    }
    return result.status();
  }
  DenoisedLatents latents{result->video, result->audio};
  OVID_RETURN_IF_ERROR(CheckLatentsFinite(latents));
  return latents;
}

absl::Status CheckLatentsFinite(const DenoisedLatents& latents) {
  for (const auto& [tower, t] : {std::pair{"video", &latents.video}, {"audio", &latents.audio}}) {
    OVID_ASSIGN_OR_RETURN(const bool finite, ops::GuardTorch("latent check", [&] {
                            return at::isfinite(*t).all().item<bool>();
                          }));
    if (!finite) {
      return absl::InternalError(absl::StrCat(
          "denoise: the ", tower,
          " latent holds NaN or infinity after the last step: a numeric fault in the denoiser "
          "(the request's inputs were finite and in range)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ovid::pipeline
