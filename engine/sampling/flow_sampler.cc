// File: engine/sampling/flow_sampler.cc
// FlowSampler's checks and dtype handling, the factory, the shared Combine(), and the Euler
// solver (one line of math: x += (σ_next - σ)·v).
#include "engine/sampling/flow_sampler.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"
#include "engine/sampling/solver_math.h"

namespace ovid::sampling {
namespace {

// diffusers' FlowMatchEulerDiscreteScheduler.step: dt = σ_next - σ in float32, x + dt·v.
class EulerSampler final : public FlowSampler {
 public:
  using FlowSampler::FlowSampler;

 protected:
  at::Tensor StepF32(const at::Tensor& velocity, int step, const at::Tensor& sample,
                     at::ScalarType /*model_dtype*/) override {
    const float dt = sigmas()[step + 1] - sigmas()[step];
    return sample.add(velocity, dt);
  }
};

}  // namespace

absl::StatusOr<at::Tensor> FlowSampler::Step(const at::Tensor& velocity, int step,
                                             const at::Tensor& sample) {
  if (step != next_step_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sampler step ", step, " out of order: expected ", next_step_, " (of ", steps(), ")"));
  }
  if (step >= steps()) {
    return absl::OutOfRangeError(absl::StrCat("sampler has only ", steps(), " steps"));
  }
  if (!velocity.defined() || !sample.defined()) {
    return absl::InvalidArgumentError("sampler step needs a velocity and a sample");
  }
  if (!at::isFloatingType(sample.scalar_type()) || !at::isFloatingType(velocity.scalar_type())) {
    return absl::InvalidArgumentError("sampler tensors must have a floating dtype");
  }
  if (velocity.sizes() != sample.sizes() || velocity.device() != sample.device()) {
    return absl::InvalidArgumentError("sampler velocity and sample differ in shape or device");
  }
  const at::ScalarType model_dtype = sample.scalar_type();
  OVID_ASSIGN_OR_RETURN(at::Tensor next, ops::GuardTorch("sampler step", [&]() {
                          const at::Tensor v32 = velocity.to(at::kFloat);
                          const at::Tensor x32 = sample.to(at::kFloat);
                          return StepF32(v32, step, x32, model_dtype).to(model_dtype);
                        }));
  ++next_step_;
  return next;
}

void FlowSampler::Reset() {
  next_step_ = 0;
  ResetHistory();
}

absl::StatusOr<std::unique_ptr<FlowSampler>> MakeFlowSampler(SolverKind kind, int steps,
                                                             double shift) {
  OVID_ASSIGN_OR_RETURN(FlowSchedule schedule, MakeFlowSchedule(kind, steps, shift));
  switch (kind) {
    case SolverKind::kUniPc:
      return internal::MakeUniPcSampler(std::move(schedule));
    case SolverKind::kDpm:
      return internal::MakeDpmSampler(std::move(schedule));
    case SolverKind::kEuler:
      return std::unique_ptr<FlowSampler>(new EulerSampler(std::move(schedule)));
  }
  return absl::InvalidArgumentError("unknown solver kind");
}

namespace internal {

at::Tensor Combine(const at::Tensor& x32, double c_x, const at::Tensor& m0, double c_m,
                   std::initializer_list<DiffTerm> diffs) {
  const at::Tensor m0_32 = m0.to(at::kFloat);
  at::Tensor out = c_x == 0.0
                       ? m0_32.mul(static_cast<float>(c_m))
                       : x32.mul(static_cast<float>(c_x)).add_(m0_32, static_cast<float>(c_m));
  for (const DiffTerm& term : diffs) {
    if (term.coef == 0.0) continue;
    out.add_(term.m->to(at::kFloat).sub(m0_32), static_cast<float>(term.coef));
  }
  return out;
}

}  // namespace internal
}  // namespace ovid::sampling
