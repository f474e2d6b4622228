// File: engine/pipeline/ovi_model_fn.h
// Ovi's denoiser as the sampling loop's model function (engine/sampling/sample_loop.h): the
// positive pass uses the positive context, the negative pass the negative one with the
// loop's skip-layer block; a batched call (GuidancePass::kBoth) runs both in one
// OviModel::ForwardGuided. Shared by the pipeline and `ovid-forward --mode sample`, so the
// tool's sampling (which tests/reference compares with PyTorch) is the pipeline's.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/sampling/sample_loop.h"

namespace ovid::pipeline {

// Called before every model call, inside the same exception guard as the forward pass: what
// it throws (a c10::OutOfMemoryError included) becomes a Status exactly as the model's own
// errors do. The pipeline hangs its step accounting and fault hooks here.
using BeforeModelCall = std::function<absl::Status(const sampling::ModelCall& call)>;

// The model function over `model`. `positive` and `negative` must outlive it. Velocities come
// back in the dtype of the sample passed in.
sampling::ModelFn MakeOviModelFn(const ovi::OviModel& model, const ovi::OviContextCache& positive,
                                 const ovi::OviContextCache& negative, bool first_frame_clean,
                                 BeforeModelCall before = nullptr);

}  // namespace ovid::pipeline
