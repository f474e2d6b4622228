// File: engine/sampling/guidance.h
// Classifier-free guidance, per tower: v = v_neg + g·(v_pos - v_neg). Ovi uses g = 4 for video
// and 3 for audio (spec ovi.md §4); the negative pass is also where skip-layer guidance acts,
// which is the model's business, not this one's.
#pragma once

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace ovid::sampling {

// Computed in float32 and returned as float32 whatever the inputs' dtype (bf16 model outputs):
// the sampler step takes it as is, so the guided velocity is never rounded to bf16 (Ovi rounds
// it; the difference is below bf16 resolution of the result). Shapes and devices must match.
absl::StatusOr<at::Tensor> ApplyGuidance(const at::Tensor& positive, const at::Tensor& negative,
                                         double scale);

}  // namespace ovid::sampling
