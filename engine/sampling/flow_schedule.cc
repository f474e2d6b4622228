// File: engine/sampling/flow_schedule.cc
// Builds the schedules of flow_schedule.h. Every expression keeps the Python operation order
// and precision (the target compiles with -ffp-contract=off so no FMA fuses two roundings).
#include "engine/sampling/flow_schedule.h"

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ovid::sampling {
namespace {

constexpr int kTrainTimesteps = 1000;

// The float32 shift of diffusers' FlowMatchEulerDiscreteScheduler.__init__, which runs on a
// float32 tensor: every tensor operation rounds to float. `shift - 1` is Python arithmetic on
// the float shift, in double, before it meets the tensor (f32(shift) - 1 differs for 127 of
// 2000 shifts in 0.01..20, e.g. 16.44).
float ShiftSigmaF32(float sigma, double shift) {
  const float scaled = static_cast<float>(shift) * sigma;
  const float denom = 1.0f + static_cast<float>(shift - 1.0) * sigma;
  return scaled / denom;
}

// Sigmas become float32 (np.float32 cast); a final 0 is appended.
void StoreSigmas(const std::vector<double>& shifted, FlowSchedule& out) {
  out.sigmas.clear();
  for (double s : shifted) out.sigmas.push_back(static_cast<float>(s));
  out.sigmas.push_back(0.0f);
}

// torch.from_numpy(σ'·1000).to(int64): truncation toward zero of the float64 product.
void StoreTruncatedTimesteps(const std::vector<double>& shifted, FlowSchedule& out) {
  out.timesteps.clear();
  for (double s : shifted) {
    const double t = s * kTrainTimesteps;
    out.timesteps.push_back(static_cast<float>(static_cast<int64_t>(t)));
  }
}

FlowSchedule UniPcSchedule(int steps, double shift) {
  // FlowUniPCMultistepScheduler(shift=1).sigma_max is the float32 0.999 of its training table.
  const double sigma_max = static_cast<double>(0.999f);
  std::vector<double> sigmas = NumpyLinspace(sigma_max, 0.0, steps + 1);
  sigmas.pop_back();
  for (double& s : sigmas) s = ShiftSigma(s, shift);
  FlowSchedule out;
  StoreTruncatedTimesteps(sigmas, out);
  StoreSigmas(sigmas, out);
  return out;
}

FlowSchedule DpmSchedule(int steps, double shift) {
  // get_sampling_sigmas(); set_timesteps(sigmas=...) then applies shift=1, an exact identity.
  std::vector<double> sigmas = NumpyLinspace(1.0, 0.0, steps + 1);
  sigmas.resize(steps);
  for (double& s : sigmas) s = ShiftSigma(s, shift);
  FlowSchedule out;
  StoreTruncatedTimesteps(sigmas, out);
  StoreSigmas(sigmas, out);
  return out;
}

FlowSchedule EulerSchedule(int steps, double shift) {
  // __init__: σ = f32(t/1000) for t = 1000..1, shifted in float32; σ_max = shift(1) = 1.
  const double sigma_max = ShiftSigmaF32(1.0f, shift);
  const double sigma_min = ShiftSigmaF32(1.0f / static_cast<float>(kTrainTimesteps), shift);
  // set_timesteps(N): linspace over t = σ·1000, back to σ, then shifted again (in float64).
  std::vector<double> sigmas =
      NumpyLinspace(sigma_max * kTrainTimesteps, sigma_min * kTrainTimesteps, steps);
  for (double& s : sigmas) s = ShiftSigma(s / kTrainTimesteps, shift);
  FlowSchedule out;
  StoreSigmas(sigmas, out);
  out.timesteps.clear();
  for (int i = 0; i < steps; ++i) {
    out.timesteps.push_back(out.sigmas[i] * static_cast<float>(kTrainTimesteps));
  }
  return out;
}

}  // namespace

absl::StatusOr<SolverKind> ParseSolverKind(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "unipc") return SolverKind::kUniPc;
  if (lower == "dpm++" || lower == "dpm") return SolverKind::kDpm;
  if (lower == "euler") return SolverKind::kEuler;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown solver '", name, "' (expected unipc, dpm++ or euler)"));
}

absl::string_view SolverKindName(SolverKind kind) {
  switch (kind) {
    case SolverKind::kUniPc:
      return "unipc";
    case SolverKind::kDpm:
      return "dpm++";
    case SolverKind::kEuler:
      return "euler";
  }
  return "?";
}

double ShiftSigma(double sigma, double shift) {
  const double scaled = shift * sigma;
  const double denom = 1.0 + (shift - 1.0) * sigma;
  return scaled / denom;
}

std::vector<double> NumpyLinspace(double start, double stop, int num) {
  std::vector<double> out;
  if (num <= 0) return out;
  out.reserve(num);
  if (num == 1) {
    out.push_back(start);
    return out;
  }
  // y = arange(num) * step + start, then y[-1] = stop (two roundings per element).
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) {
    const double scaled = static_cast<double>(i) * step;
    out.push_back(scaled + start);
  }
  out.back() = stop;
  return out;
}

absl::StatusOr<FlowSchedule> MakeFlowSchedule(SolverKind kind, int steps, double shift) {
  // The top bound keeps steps + 1 from overflowing and the tables from taking gigabytes (the
  // request path caps steps at 200; tools pass theirs here).
  constexpr int kMaxSteps = 100000;
  if (steps < 1 || steps > kMaxSteps) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be in [1, ", kMaxSteps, "]: ", steps));
  }
  if (!(shift > 0.0) || !std::isfinite(shift)) {
    return absl::InvalidArgumentError(absl::StrCat("shift must be positive: ", shift));
  }
  switch (kind) {
    case SolverKind::kUniPc:
      return UniPcSchedule(steps, shift);
    case SolverKind::kDpm:
      return DpmSchedule(steps, shift);
    case SolverKind::kEuler:
      return EulerSchedule(steps, shift);
  }
  return absl::InvalidArgumentError("unknown solver kind");
}

}  // namespace ovid::sampling
