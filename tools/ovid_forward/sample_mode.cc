#include "tools/ovid_forward/sample_mode.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"

#if OVID_FORWARD_HAVE_SAMPLING
#include <chrono>

#include "engine/pipeline/ovi_model_fn.h"
#include "engine/sampling/flow_schedule.h"
#include "engine/sampling/sample_loop.h"
#endif
#if OVID_FORWARD_HAVE_SAMPLING && defined(OVID_TORCH_CUDA)
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace ovid::tools {

absl::Status ParseSampleFlags(const std::map<std::string, std::string>& flags, SampleArgs* args) {
  for (const auto& [flag, value] : flags) {
    bool ok = true;
    if (flag == "--steps") {
      ok = absl::SimpleAtoi(value, &args->steps) && args->steps > 0;
    } else if (flag == "--solver") {
      args->solver = value;
    } else if (flag == "--shift") {
      ok = absl::SimpleAtod(value, &args->shift) && args->shift > 0;
    } else if (flag == "--video-guidance") {
      ok = absl::SimpleAtod(value, &args->video_guidance);
    } else if (flag == "--audio-guidance") {
      ok = absl::SimpleAtod(value, &args->audio_guidance);
    } else if (flag == "--batch-guidance") {
      ok = value == "on" || value == "off";
      args->batch_guidance = value == "on";
    } else if (flag == "--seed") {
      uint64_t seed = 0;
      ok = absl::SimpleAtoi(value, &seed);
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat(flag, ": bad value '", value, "'"));
  }
  return absl::OkStatus();
}

#if OVID_FORWARD_HAVE_SAMPLING

bool SampleModeAvailable() { return true; }

absl::StatusOr<std::map<std::string, at::Tensor>> RunSampleMode(const ovi::OviModel& model,
                                                                const ForwardInputs& in,
                                                                const SampleArgs& args,
                                                                std::vector<double>* step_seconds) {
  OVID_ASSIGN_OR_RETURN(sampling::SolverKind solver, sampling::ParseSolverKind(args.solver));
  if (args.first_frame_clean && !in.first_frame_latent.defined()) {
    return absl::InvalidArgumentError(
        "--first-frame-clean in sample mode needs first_frame_latent");
  }
  OVID_ASSIGN_OR_RETURN(ovi::OviContextCache positive,
                        model.PrepareContext(in.video_context, in.audio_context));
  OVID_ASSIGN_OR_RETURN(ovi::OviContextCache negative,
                        model.PrepareContext(in.video_negative_context, in.audio_negative_context));
  const sampling::ModelFn fn =
      pipeline::MakeOviModelFn(model, positive, negative, args.first_frame_clean);
  sampling::SampleOptions options;
  options.steps = args.steps;
  options.solver = solver;
  options.shift = args.shift;
  options.video_guidance = args.video_guidance;
  options.audio_guidance = args.audio_guidance;
  options.slg_layer = args.slg_layer;
  options.batch_guidance = args.batch_guidance;
  const at::Tensor video = in.video_latent.to(model.device());  // [C, F, H, W] f32
  const at::Tensor audio = in.audio_latent.to(model.device());  // [L, C] f32
  if (args.first_frame_clean) options.first_frame_latent = in.first_frame_latent.to(model.device());
  auto last = std::chrono::steady_clock::now();
  sampling::ProgressFn timer;
  if (step_seconds != nullptr) {
    timer = [&](const sampling::SampleProgress&) {
#ifdef OVID_TORCH_CUDA
      if (model.device().is_cuda()) c10::cuda::device_synchronize();
#endif
      const auto now = std::chrono::steady_clock::now();
      step_seconds->push_back(std::chrono::duration<double>(now - last).count());
      last = now;
    };
  }
  OVID_ASSIGN_OR_RETURN(sampling::SampleResult result,
                        sampling::Sample(fn, video, audio, options, timer));
  return std::map<std::string, at::Tensor>{{"video_latent", result.video},
                                           {"audio_latent", result.audio}};
}

#else  // !OVID_FORWARD_HAVE_SAMPLING

bool SampleModeAvailable() { return false; }

absl::StatusOr<std::map<std::string, at::Tensor>> RunSampleMode(const ovi::OviModel&,
                                                                const ForwardInputs&,
                                                                const SampleArgs&,
                                                                std::vector<double>*) {
  return absl::UnimplementedError(
      "this build has no engine/sampling: --mode sample is unavailable");
}

#endif

}  // namespace ovid::tools
