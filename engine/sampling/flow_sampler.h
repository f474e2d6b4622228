// File: engine/sampling/flow_sampler.h
// The solver interface of the sampling loop: one FlowSampler per tower (video and audio keep
// separate multistep state, as Ovi builds one scheduler for each), all on the same schedule.
//
// The model predicts the flow velocity v = noise - x0, so x0 = x - σ·v. Solver math runs in
// float32 (the scalar coefficients in float64, where log(0) = -inf and exp(-inf) = 0 follow
// IEEE semantics: that is how σ = 1 and σ = 0 endpoints come out right), and the returned
// sample, like the stored history, has the dtype of the sample passed in (the model dtype).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampling/flow_schedule.h"

namespace ovid::sampling {

class FlowSampler {
 public:
  explicit FlowSampler(FlowSchedule schedule) : schedule_(std::move(schedule)) {}
  virtual ~FlowSampler() = default;
  FlowSampler(const FlowSampler&) = delete;
  FlowSampler& operator=(const FlowSampler&) = delete;

  // Advances `sample` (at timesteps()[step]) by one step, given the (guided) velocity there.
  // Steps must come in order 0, 1, ..., steps() - 1 (multistep solvers keep a history); call
  // Reset() to start over. `velocity` may have another floating dtype than `sample` (e.g. the
  // float32 output of ApplyGuidance); shapes and devices must match. The sampler may keep a
  // reference to `sample` (UniPC's corrector needs it next step): do not write into it later.
  // After a failed step (e.g. RESOURCE_EXHAUSTED) the history is undefined: Reset() first.
  absl::StatusOr<at::Tensor> Step(const at::Tensor& velocity, int step, const at::Tensor& sample);

  // Forgets the history: the next Step must be step 0.
  void Reset();

  const FlowSchedule& schedule() const { return schedule_; }
  const std::vector<float>& timesteps() const { return schedule_.timesteps; }
  const std::vector<float>& sigmas() const { return schedule_.sigmas; }
  int steps() const { return schedule_.steps(); }
  int next_step() const { return next_step_; }

 protected:
  // One step in float32: `velocity` and `sample` are float32; returns the new sample (any
  // floating dtype; Step casts it to the sample's dtype). `model_dtype` is the dtype to keep
  // history in. May throw (c10::Error): Step turns that into a Status.
  virtual at::Tensor StepF32(const at::Tensor& velocity, int step, const at::Tensor& sample,
                             at::ScalarType model_dtype) = 0;
  virtual void ResetHistory() {}

  // σ_i as float64 (the float32 schedule value, widened).
  double sigma(int i) const { return static_cast<double>(schedule_.sigmas[i]); }

 private:
  FlowSchedule schedule_;
  int next_step_ = 0;
};

// A sampler of `kind` on MakeFlowSchedule(kind, steps, shift).
absl::StatusOr<std::unique_ptr<FlowSampler>> MakeFlowSampler(SolverKind kind, int steps,
                                                             double shift);

}  // namespace ovid::sampling
