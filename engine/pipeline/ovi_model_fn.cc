// File: engine/pipeline/ovi_model_fn.cc
#include "engine/pipeline/ovi_model_fn.h"

#include <ATen/ops/stack.h>

#include <utility>

#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"

namespace ovid::pipeline {

sampling::ModelFn MakeOviModelFn(const ovi::OviModel& model, const ovi::OviContextCache& positive,
                                 const ovi::OviContextCache& negative, bool first_frame_clean,
                                 BeforeModelCall before) {
  return [&model, &positive, &negative, first_frame_clean, before = std::move(before)](
             const at::Tensor& video, const at::Tensor& audio,
             const sampling::ModelCall& call) -> absl::StatusOr<sampling::TowerVelocities> {
    if (before) {
      OVID_RETURN_IF_ERROR(ops::GuardTorch("Ovi forward", [&] { return before(call); }));
    }
    ovi::OviForwardOptions options;
    options.first_frame_clean = first_frame_clean;
    options.slg_layer = call.slg_layer;
    const ovi::OviForwardInputs inputs{video, audio, call.timestep};
    if (call.pass == sampling::GuidancePass::kBoth) {
      OVID_ASSIGN_OR_RETURN(ovi::OviGuidedOutputs out,
                            model.ForwardGuided(inputs, positive, negative, options));
      return ops::GuardTorch("Ovi forward", [&] {
        return sampling::TowerVelocities{
            at::stack({out.positive.video, out.negative.video}).to(video.scalar_type()),
            at::stack({out.positive.audio, out.negative.audio}).to(audio.scalar_type())};
      });
    }
    const bool pos = call.pass == sampling::GuidancePass::kPositive;
    OVID_ASSIGN_OR_RETURN(ovi::OviForwardOutputs out,
                          model.Forward(inputs, pos ? positive : negative, options));
    return ops::GuardTorch("Ovi forward", [&] {
      return sampling::TowerVelocities{out.video.to(video.scalar_type()),   // [C, F, H, W]
                                       out.audio.to(audio.scalar_type())};  // [L, C]
    });
  };
}

}  // namespace ovid::pipeline
