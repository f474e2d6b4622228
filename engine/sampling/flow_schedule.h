// File: engine/sampling/flow_schedule.h
// The sigma/timestep schedules of Ovi's three flow-matching solvers (spec ovi.md §4).
//
// Flow matching here is x_t = (1 - σ)·x0 + σ·noise, σ running from about 1 down to 0. Every
// schedule has N timesteps (what the model is called with) and N + 1 sigmas, the last one 0.
// The values reproduce, bit for bit, what Ovi gets from its Python schedulers, including their
// float64 -> float32 roundings and numpy's linspace arithmetic, because the integer timesteps
// are truncated and a one-ulp difference could move one across an integer:
//   kUniPc: σ = linspace(f32(0.999), 0, N+1)[:-1], shifted; t = int64(σ'·1000).
//   kDpm:   σ = linspace(1, 0, N+1)[:N], shifted;             t = int64(σ'·1000).
//   kEuler: diffusers FlowMatchEulerDiscreteScheduler(shift=s).set_timesteps(N): σ =
//           linspace(1, shift(0.001), N) shifted (the shift is applied to an already shifted
//           range, as diffusers does); t = f32(σ')·1000 in float32, not truncated.
// Pure C++ (no LibTorch), so it is testable and usable anywhere.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovid::sampling {

enum class SolverKind { kUniPc, kDpm, kEuler };

// "unipc", "dpm++" (also "dpm"), "euler": Ovi's solver_name values.
absl::StatusOr<SolverKind> ParseSolverKind(absl::string_view name);
absl::string_view SolverKindName(SolverKind kind);

struct FlowSchedule {
  // N + 1 values, decreasing, sigmas.back() == 0.
  std::vector<float> sigmas;
  // N values passed to the model as t (integers for kUniPc/kDpm, fractional for kEuler).
  std::vector<float> timesteps;

  int steps() const { return static_cast<int>(timesteps.size()); }
};

// σ' = s·σ / (1 + (s - 1)·σ), evaluated in float64 in the same operation order as Ovi.
double ShiftSigma(double sigma, double shift);

// numpy.linspace(start, stop, num) (endpoint included), reproducing its rounding.
std::vector<double> NumpyLinspace(double start, double stop, int num);

// steps in [1, 100000], shift > 0; INVALID_ARGUMENT otherwise.
absl::StatusOr<FlowSchedule> MakeFlowSchedule(SolverKind kind, int steps, double shift);

}  // namespace ovid::sampling
