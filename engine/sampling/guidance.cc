// File: engine/sampling/guidance.cc
#include "engine/sampling/guidance.h"

#include "absl/status/status.h"
#include "engine/ops/torch_status.h"

namespace ovid::sampling {

absl::StatusOr<at::Tensor> ApplyGuidance(const at::Tensor& positive, const at::Tensor& negative,
                                         double scale) {
  if (!positive.defined() || !negative.defined()) {
    return absl::InvalidArgumentError("guidance needs both a positive and a negative prediction");
  }
  if (positive.sizes() != negative.sizes() || positive.device() != negative.device()) {
    return absl::InvalidArgumentError("guidance: predictions differ in shape or device");
  }
  return ops::GuardTorch("guidance", [&]() {
    const at::Tensor neg = negative.to(at::kFloat);
    // neg + g·(pos - neg), the order Ovi writes it in.
    return neg.add(positive.to(at::kFloat).sub(neg), static_cast<float>(scale));
  });
}

}  // namespace ovid::sampling
