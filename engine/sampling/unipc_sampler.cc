// File: engine/sampling/unipc_sampler.cc
// UniPC for flow matching as Ovi configures FlowUniPCMultistepScheduler: solver_order 2,
// B(h) = expm1(h) ("bh2"), data (x0) prediction, lower_order_final, and the UniC corrector on
// every step after the first. Each step first corrects the incoming sample with the new x0
// (UniC), then predicts the next sample (UniP). In λ = log(α/σ) with h = λ_next - λ_now:
//   predictor: x' = (σ'/σ)·x - α'·expm1(-h)·m0 - α'·expm1(-h)·½·(m1 - m0)/r,
//   where r = (λ_prev - λ_now)/h, order 2 only; the last step (σ' = 0, h = +inf) gives x' = m0.
//   corrector of order p: x = (σ/σ_p)·x_p - α·expm1(-h)·m0 - α·expm1(-h)·(Σ ρ_k·D_k), with ρ
//   solving the UniC system (order 1: ρ = ½).
#include <algorithm>
#include <array>
#include <memory>
#include <utility>

#include "engine/sampling/solver_math.h"

namespace ovid::sampling::internal {
namespace {

constexpr int kSolverOrder = 2;

// The σ-dependent scalars both UniP and UniC start from (target σ_t, source σ_s0).
struct BhTerms {
  double c_x;      // σ_t / σ_s0
  double alpha_t;  // 1 - σ_t
  double h;        // λ_t - λ_s0
  double hh;       // -h (data prediction)
  double h_phi_1;  // expm1(hh)
  double b_h;      // B(h) = expm1(hh) for bh2
};

BhTerms MakeBhTerms(double sigma_t, double sigma_s0) {
  BhTerms t;
  t.c_x = sigma_t / sigma_s0;
  t.alpha_t = 1.0 - sigma_t;
  t.h = Lambda(sigma_t) - Lambda(sigma_s0);
  t.hh = -t.h;
  t.h_phi_1 = std::expm1(t.hh);
  t.b_h = std::expm1(t.hh);
  return t;
}

class UniPcSampler final : public FlowSampler {
 public:
  using FlowSampler::FlowSampler;

 protected:
  at::Tensor StepF32(const at::Tensor& velocity, int step, const at::Tensor& sample,
                     at::ScalarType model_dtype) override {
    const at::Tensor x0 = PredictX0(velocity, sample, sigma(step), model_dtype);
    at::Tensor x = sample;
    if (step > 0 && last_sample_.defined()) x = Correct(step, x0).to(model_dtype);

    history_[0] = std::move(history_[1]);
    history_[1] = x0;
    // lower_order_final: order 1 on the last step; warm-up: order <= steps seen so far.
    int order = std::min(kSolverOrder, steps() - step);
    order_ = std::min(order, lower_order_nums_ + 1);
    last_sample_ = x;
    at::Tensor next = Predict(step, x.to(at::kFloat), order_);
    lower_order_nums_ = std::min(lower_order_nums_ + 1, kSolverOrder);
    return next;
  }

  void ResetHistory() override {
    history_ = {};
    last_sample_ = at::Tensor();
    order_ = 0;
    lower_order_nums_ = 0;
  }

 private:
  // UniP from σ_step to σ_{step+1}; history_[1] is this step's x0.
  at::Tensor Predict(int step, const at::Tensor& x32, int order) const {
    const BhTerms t = MakeBhTerms(sigma(step + 1), sigma(step));
    const at::Tensor& m0 = history_[1];
    const double c_m = -t.alpha_t * t.h_phi_1;
    if (order == 1) return Combine(x32, t.c_x, m0, c_m, {});
    // Order 2: ρ = ½ on D1 = (m1 - m0) / r.
    const double rk = (Lambda(sigma(step - 1)) - Lambda(sigma(step))) / t.h;
    const double c_d = -t.alpha_t * t.b_h * 0.5 / rk;
    return Combine(x32, t.c_x, m0, c_m, {{&history_[0], c_d}});
  }

  // UniC at σ_step for the sample the previous predictor produced, with the new x0 `m_t`.
  at::Tensor Correct(int step, const at::Tensor& m_t) const {
    const BhTerms t = MakeBhTerms(sigma(step), sigma(step - 1));
    const at::Tensor& m0 = history_[1];
    const at::Tensor x32 = last_sample_.to(at::kFloat);
    const double c_m = -t.alpha_t * t.h_phi_1;
    const double scale = -t.alpha_t * t.b_h;
    if (order_ == 1) return Combine(x32, t.c_x, m0, c_m, {{&m_t, scale * 0.5}});
    // Order 2: solve [[1, 1], [r, 1]]·ρ = b, b_k = k!·φ_k(hh)/B(h), in closed form.
    const double rk = (Lambda(sigma(step - 2)) - Lambda(sigma(step - 1))) / t.h;
    double h_phi_k = t.h_phi_1 / t.hh - 1.0;
    const double b1 = h_phi_k / t.b_h;
    h_phi_k = h_phi_k / t.hh - 0.5;
    const double b2 = h_phi_k * 2.0 / t.b_h;
    const double rho0 = (b1 - b2) / (1.0 - rk);
    const double rho1 = b1 - rho0;
    return Combine(x32, t.c_x, m0, c_m, {{&history_[0], scale * rho0 / rk}, {&m_t, scale * rho1}});
  }

  // [0] = x0 of the step before last, [1] = x0 of the last step (diffusers' model_outputs).
  std::array<at::Tensor, kSolverOrder> history_;
  at::Tensor last_sample_;  // the sample the last predictor started from (model dtype)
  int order_ = 0;           // the last predictor's order, which its corrector reuses
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<FlowSampler> MakeUniPcSampler(FlowSchedule schedule) {
  return std::make_unique<UniPcSampler>(std::move(schedule));
}

}  // namespace ovid::sampling::internal
