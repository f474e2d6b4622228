// File: tests/sampling/flow_schedule_test.cc
// Schedules against the formula of spec ovi.md §4 and against values printed by Ovi's own
// Python schedulers (FlowUniPCMultistepScheduler, FlowDPMSolverMultistepScheduler and diffusers'
// FlowMatchEulerDiscreteScheduler(shift=5), set up as OviFusionEngine.get_scheduler_time_steps
// does, N = 50, shift 5).
#include "engine/sampling/flow_schedule.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace ovid::sampling {
namespace {

FlowSchedule Make(SolverKind kind, int steps, double shift) {
  absl::StatusOr<FlowSchedule> s = MakeFlowSchedule(kind, steps, shift);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : FlowSchedule{};
}

void ExpectWellFormed(const FlowSchedule& s, int steps) {
  ASSERT_EQ(s.steps(), steps);
  ASSERT_EQ(s.sigmas.size(), static_cast<size_t>(steps + 1));
  EXPECT_EQ(s.sigmas.back(), 0.0f);
  for (int i = 0; i < steps; ++i) EXPECT_GT(s.sigmas[i], s.sigmas[i + 1]) << i;
}

TEST(FlowScheduleTest, UniPcFiftyStepsShiftFiveStartsAt999AndFollowsTheFormula) {
  const FlowSchedule s = Make(SolverKind::kUniPc, 50, 5.0);
  ExpectWellFormed(s, 50);
  EXPECT_EQ(s.timesteps[0], 999.0f);
  // σ_i = 0.999·(1 - i/50), σ' = 5σ/(1 + 4σ), t = trunc(1000σ').
  for (int i = 0; i < 50; ++i) {
    const double sigma = 0.999 * (1.0 - i / 50.0);
    const double shifted = 5.0 * sigma / (1.0 + 4.0 * sigma);
    EXPECT_NEAR(s.sigmas[i], shifted, 1e-6) << i;
    EXPECT_EQ(s.timesteps[i], std::trunc(static_cast<double>(s.sigmas[i]) * 1000.0)) << i;
  }
}

TEST(FlowScheduleTest, UniPcMatchesOvisScheduler) {
  const FlowSchedule s = Make(SolverKind::kUniPc, 50, 5.0);
  const std::vector<float> head = {999, 995, 991, 987, 982, 978};
  for (size_t i = 0; i < head.size(); ++i) EXPECT_EQ(s.timesteps[i], head[i]) << i;
  EXPECT_EQ(s.timesteps[47], 241.0f);
  EXPECT_EQ(s.timesteps[48], 172.0f);
  EXPECT_EQ(s.timesteps[49], 92.0f);
  EXPECT_EQ(s.sigmas[0], 0.999799848f);
  EXPECT_EQ(s.sigmas[1], 0.995732367f);
  EXPECT_EQ(s.sigmas[48], 0.172265142f);
  EXPECT_EQ(s.sigmas[49], 0.0925068557f);
}

TEST(FlowScheduleTest, DpmMatchesOvisScheduler) {
  const FlowSchedule s = Make(SolverKind::kDpm, 50, 5.0);
  ExpectWellFormed(s, 50);
  EXPECT_EQ(s.sigmas[0], 1.0f);
  const std::vector<float> head = {1000, 995, 991, 987, 982, 978};
  for (size_t i = 0; i < head.size(); ++i) EXPECT_EQ(s.timesteps[i], head[i]) << i;
  EXPECT_EQ(s.timesteps[49], 92.0f);
  EXPECT_EQ(s.sigmas[1], 0.995934963f);
  EXPECT_EQ(s.sigmas[48], 0.172413796f);
  EXPECT_EQ(s.sigmas[49], 0.0925925896f);
}

TEST(FlowScheduleTest, EulerMatchesDiffusersFlowMatchEuler) {
  const FlowSchedule s = Make(SolverKind::kEuler, 50, 5.0);
  ExpectWellFormed(s, 50);
  EXPECT_EQ(s.sigmas[0], 1.0f);
  EXPECT_EQ(s.timesteps[0], 1000.0f);
  EXPECT_EQ(s.timesteps[1], 995.871582f);
  EXPECT_EQ(s.timesteps[2], 991.604614f);
  EXPECT_EQ(s.timesteps[49], 24.4140663f);
  EXPECT_EQ(s.sigmas[48], 0.114819467f);
  EXPECT_EQ(s.sigmas[49], 0.0244140662f);
}

TEST(FlowScheduleTest, ShiftOneIsTheIdentity) {
  for (double sigma : {0.0, 0.25, 0.5, 0.999, 1.0}) EXPECT_EQ(ShiftSigma(sigma, 1.0), sigma);
  EXPECT_EQ(ShiftSigma(1.0, 5.0), 1.0);
  EXPECT_DOUBLE_EQ(ShiftSigma(0.5, 5.0), 2.5 / 3.0);
}

TEST(FlowScheduleTest, SingleStep) {
  for (SolverKind kind : {SolverKind::kUniPc, SolverKind::kDpm, SolverKind::kEuler}) {
    const FlowSchedule s = Make(kind, 1, 5.0);
    ExpectWellFormed(s, 1);
  }
}

TEST(FlowScheduleTest, NumpyLinspace) {
  EXPECT_EQ(NumpyLinspace(0.5, 1.0, 1), std::vector<double>{0.5});
  EXPECT_EQ(NumpyLinspace(1.0, 0.0, 3), (std::vector<double>{1.0, 0.5, 0.0}));
  EXPECT_TRUE(NumpyLinspace(1.0, 0.0, 0).empty());
}

TEST(FlowScheduleTest, RejectsBadArguments) {
  EXPECT_FALSE(MakeFlowSchedule(SolverKind::kUniPc, 0, 5.0).ok());
  EXPECT_FALSE(MakeFlowSchedule(SolverKind::kUniPc, 10, 0.0).ok());
  EXPECT_FALSE(MakeFlowSchedule(SolverKind::kUniPc, 10, NAN).ok());
  // INT_MAX steps overflowed steps + 1 (a segfault in ovid-sampler-cli) or ran for minutes.
  for (SolverKind kind : {SolverKind::kUniPc, SolverKind::kDpm, SolverKind::kEuler}) {
    const absl::StatusOr<FlowSchedule> huge = MakeFlowSchedule(kind, 2147483647, 5.0);
    ASSERT_FALSE(huge.ok());
    EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(MakeFlowSchedule(kind, 100000, 5.0).ok());
  }
}

TEST(FlowScheduleTest, ParsesOvisSolverNames) {
  EXPECT_EQ(*ParseSolverKind("unipc"), SolverKind::kUniPc);
  EXPECT_EQ(*ParseSolverKind("dpm++"), SolverKind::kDpm);
  EXPECT_EQ(*ParseSolverKind("Euler"), SolverKind::kEuler);
  EXPECT_FALSE(ParseSolverKind("ddim").ok());
  EXPECT_EQ(SolverKindName(SolverKind::kDpm), "dpm++");
}

}  // namespace
}  // namespace ovid::sampling
