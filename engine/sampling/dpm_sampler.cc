// File: engine/sampling/dpm_sampler.cc
// DPM-Solver++(2M) for flow matching as Ovi configures FlowDPMSolverMultistepScheduler:
// solver_order 2, midpoint, data (x0) prediction, lower_order_final with a zero final σ (so the
// last step is first order). With h = λ_next - λ_now, e = expm1(-h):
//   first order:  x' = (σ'/σ)·x - α'·e·m0
//   second order: x' = (σ'/σ)·x - α'·e·m0 - ½·α'·e·(m0 - m1)/r0,  r0 = (λ_now - λ_prev)/h.
// Ovi's schedule starts at σ = 1 (λ = -inf): step 0 gives x' = σ'·x + α'·m0 exactly and step 1's
// r0 = inf zeroes the second-order term, both by IEEE arithmetic.
#include <algorithm>
#include <array>
#include <memory>
#include <utility>

#include "engine/sampling/solver_math.h"

namespace ovid::sampling::internal {
namespace {

constexpr int kSolverOrder = 2;

class DpmSampler final : public FlowSampler {
 public:
  using FlowSampler::FlowSampler;

 protected:
  at::Tensor StepF32(const at::Tensor& velocity, int step, const at::Tensor& sample,
                     at::ScalarType model_dtype) override {
    history_[0] = std::move(history_[1]);
    history_[1] = PredictX0(velocity, sample, sigma(step), model_dtype);

    const double sigma_t = sigma(step + 1);
    const double sigma_s0 = sigma(step);
    const double alpha_t = 1.0 - sigma_t;
    const double h = Lambda(sigma_t) - Lambda(sigma_s0);
    // diffusers writes exp(-h) - 1; same value, and exact at h = +inf (-1).
    const double e = std::exp(-h) - 1.0;
    const double c_x = sigma_t / sigma_s0;
    const double c_m = -alpha_t * e;
    const bool last_step = step == steps() - 1;
    at::Tensor next;
    if (lower_order_nums_ < 1 || last_step) {
      next = Combine(sample, c_x, history_[1], c_m, {});
    } else {
      const double r0 = (Lambda(sigma_s0) - Lambda(sigma(step - 1))) / h;
      // D1 = (m0 - m1)/r0 = -(m1 - m0)/r0, weighted by -½·α'·e.
      const double c_d = 0.5 * alpha_t * e / r0;
      next = Combine(sample, c_x, history_[1], c_m, {{&history_[0], c_d}});
    }
    lower_order_nums_ = std::min(lower_order_nums_ + 1, kSolverOrder);
    return next;
  }

  void ResetHistory() override {
    history_ = {};
    lower_order_nums_ = 0;
  }

 private:
  std::array<at::Tensor, kSolverOrder> history_;  // [1] = this step's x0, [0] = the previous
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<FlowSampler> MakeDpmSampler(FlowSchedule schedule) {
  return std::make_unique<DpmSampler>(std::move(schedule));
}

}  // namespace ovid::sampling::internal
