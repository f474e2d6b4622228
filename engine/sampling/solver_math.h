// File: engine/sampling/solver_math.h
// Internal to engine/sampling: pieces the multistep solvers (UniPC, DPM++) share, and their
// factories for MakeFlowSampler.
#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>
#include <initializer_list>
#include <memory>

#include "engine/sampling/flow_sampler.h"

namespace ovid::sampling::internal {

// Flow matching's half log-SNR, λ(σ) = log(α) - log(σ) with α = 1 - σ. λ(0) = +inf and
// λ(1) = -inf by IEEE arithmetic; the solvers rely on that (the last step, σ_next = 0, then
// returns x0, and DPM++'s first step from σ = 1 is exact).
inline double Lambda(double sigma) { return std::log(1.0 - sigma) - std::log(sigma); }

// x0 = x - σ·v in float32, stored as `dtype` (the history the multistep solvers keep).
inline at::Tensor PredictX0(const at::Tensor& velocity32, const at::Tensor& sample32, double sigma,
                            at::ScalarType dtype) {
  return sample32.sub(velocity32, static_cast<float>(sigma)).to(dtype);
}

// One difference term of Combine: coef·(*m - m0).
struct DiffTerm {
  const at::Tensor* m;
  double coef;
};

// c_x·x + c_m·m0 + Σ coef·(m - m0), in float32, forming the differences first as diffusers
// does. A zero c_x drops x, so a σ_next = 0 step never forms 0·x.
at::Tensor Combine(const at::Tensor& x32, double c_x, const at::Tensor& m0, double c_m,
                   std::initializer_list<DiffTerm> diffs);

std::unique_ptr<FlowSampler> MakeUniPcSampler(FlowSchedule schedule);
std::unique_ptr<FlowSampler> MakeDpmSampler(FlowSchedule schedule);

}  // namespace ovid::sampling::internal
