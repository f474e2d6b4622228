// File: tests/sampling/sampler_test.cc
// Solver, guidance, noise and loop behaviour that needs no reference implementation: the
// closed-form single steps, step-order and shape checks, dtypes, and the loop's contract
// (two passes per step, SLG on the negative pass only, I2V pinning, progress, cancellation).
// Agreement with diffusers over whole trajectories is test_samplers_vs_diffusers.py's job.
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

#include <memory>
#include <vector>

#include "engine/sampling/flow_sampler.h"
#include "engine/sampling/guidance.h"
#include "engine/sampling/noise.h"
#include "engine/sampling/sample_loop.h"
#include "gtest/gtest.h"

namespace ovid::sampling {
namespace {

std::unique_ptr<FlowSampler> Make(SolverKind kind, int steps, double shift = 5.0) {
  auto s = MakeFlowSampler(kind, steps, shift);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

at::Tensor Randn(std::vector<int64_t> shape, uint64_t seed) {
  return *MakeNoise(shape, seed, c10::Device("cpu"), at::kFloat);
}

TEST(FlowSamplerTest, SingleUniPcStepReturnsX0) {
  // N = 1: the only step goes to σ = 0, where UniPC (h = +inf) returns x0 = x - σ·v.
  auto sampler = Make(SolverKind::kUniPc, 1);
  const at::Tensor x = Randn({4, 5}, 1), v = Randn({4, 5}, 2);
  auto out = sampler->Step(v, 0, x);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(at::allclose(*out, x.sub(v.mul(sampler->sigmas()[0])), 0, 1e-6));
  EXPECT_FALSE(out->isnan().any().item<bool>());
}

TEST(FlowSamplerTest, SingleDpmStepFromSigmaOneReturnsX0) {
  auto sampler = Make(SolverKind::kDpm, 1);
  ASSERT_EQ(sampler->sigmas()[0], 1.0f);
  const at::Tensor x = Randn({7}, 3), v = Randn({7}, 4);
  auto out = sampler->Step(v, 0, x);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(at::allclose(*out, x.sub(v), 0, 1e-6));
}

TEST(FlowSamplerTest, EulerStepIsXPlusDtV) {
  auto sampler = Make(SolverKind::kEuler, 10);
  const at::Tensor x = Randn({3, 3}, 5), v = Randn({3, 3}, 6);
  auto out = sampler->Step(v, 0, x);
  ASSERT_TRUE(out.ok()) << out.status();
  const float dt = sampler->sigmas()[1] - sampler->sigmas()[0];
  EXPECT_TRUE(at::allclose(*out, x.add(v.mul(dt)), 0, 1e-6));
}

TEST(FlowSamplerTest, MultistepSolversStayFiniteThroughTheLastStep) {
  for (SolverKind kind : {SolverKind::kUniPc, SolverKind::kDpm, SolverKind::kEuler}) {
    for (int steps : {1, 2, 3, 10}) {
      auto sampler = Make(kind, steps);
      at::Tensor x = Randn({16}, 7);
      for (int i = 0; i < steps; ++i) {
        auto next = sampler->Step(x.mul(-0.5f), i, x);
        ASSERT_TRUE(next.ok()) << next.status();
        x = *next;
      }
      EXPECT_TRUE(x.isfinite().all().item<bool>()) << SolverKindName(kind) << " " << steps;
    }
  }
}

TEST(FlowSamplerTest, StepsMustComeInOrder) {
  auto sampler = Make(SolverKind::kUniPc, 3);
  const at::Tensor x = Randn({2}, 8);
  EXPECT_EQ(sampler->Step(x, 1, x).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sampler->Step(x, 0, x).ok());
  EXPECT_EQ(sampler->Step(x, 0, x).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sampler->Step(x, 1, x).ok());
  ASSERT_TRUE(sampler->Step(x, 2, x).ok());
  EXPECT_FALSE(sampler->Step(x, 3, x).ok());
  sampler->Reset();
  EXPECT_TRUE(sampler->Step(x, 0, x).ok());
}

TEST(FlowSamplerTest, RejectsMismatchedShapes) {
  auto sampler = Make(SolverKind::kDpm, 3);
  EXPECT_EQ(sampler->Step(Randn({2}, 1), 0, Randn({3}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler->Step(at::Tensor(), 0, Randn({3}, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FlowSamplerTest, KeepsTheSampleDtype) {
  for (SolverKind kind : {SolverKind::kUniPc, SolverKind::kDpm, SolverKind::kEuler}) {
    auto sampler = Make(kind, 2);
    at::Tensor x = Randn({8}, 9).to(at::kBFloat16);
    for (int i = 0; i < 2; ++i) {
      // A float32 velocity (ApplyGuidance's output) on a bf16 sample.
      auto next = sampler->Step(x.to(at::kFloat).mul(0.3f), i, x);
      ASSERT_TRUE(next.ok()) << next.status();
      EXPECT_EQ(next->scalar_type(), at::kBFloat16);
      x = *next;
    }
  }
}

TEST(GuidanceTest, MixesInFloat32) {
  const at::Tensor pos = at::full({3}, 2.0, at::kBFloat16);
  const at::Tensor neg = at::full({3}, 1.0, at::kBFloat16);
  auto g = ApplyGuidance(pos, neg, 4.0);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(*g, at::full({3}, 5.0, at::kFloat)));
  EXPECT_FALSE(ApplyGuidance(pos, at::zeros({4}, at::kFloat), 1.0).ok());
}

TEST(NoiseTest, SameSeedSameNoise) {
  auto a = MakeNoise({48, 2, 4, 4}, 42, c10::Device("cpu"), at::kBFloat16);
  auto b = MakeNoise({48, 2, 4, 4}, 42, c10::Device("cpu"), at::kBFloat16);
  auto c = MakeNoise({48, 2, 4, 4}, 43, c10::Device("cpu"), at::kBFloat16);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(*a, *b));
  EXPECT_FALSE(at::equal(*a, *c));
  EXPECT_FALSE(MakeNoise({2}, 1, c10::Device("cpu"), at::kInt).ok());
}

// A model recording its calls: v = -x on both towers (any smooth field would do).
struct RecordingModel {
  std::vector<ModelCall> calls;
  ModelFn Fn() {
    return [this](const at::Tensor& video, const at::Tensor& audio,
                  const ModelCall& call) -> absl::StatusOr<TowerVelocities> {
      calls.push_back(call);
      return TowerVelocities{video.neg(), audio.neg()};
    };
  }
};

TEST(SampleLoopTest, TwoPassesPerStepWithSlgOnTheNegativeOnly) {
  RecordingModel model;
  SampleOptions options;
  options.steps = 4;
  int progress_calls = 0;
  auto result = Sample(model.Fn(), Randn({2, 3, 2, 2}, 1), Randn({5, 2}, 2), options,
                       [&](const SampleProgress& p) {
                         ++progress_calls;
                         EXPECT_EQ(p.step, progress_calls);
                         EXPECT_EQ(p.steps, 4);
                       });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(progress_calls, 4);
  ASSERT_EQ(model.calls.size(), 8u);
  for (size_t i = 0; i < model.calls.size(); ++i) {
    const ModelCall& c = model.calls[i];
    EXPECT_EQ(c.step, static_cast<int>(i / 2));
    EXPECT_EQ(c.pass, i % 2 == 0 ? GuidancePass::kPositive : GuidancePass::kNegative);
    EXPECT_EQ(c.slg_layer, i % 2 == 0 ? -1 : 11);
  }
  EXPECT_EQ(model.calls[0].timestep, 999.0f);
}

TEST(SampleLoopTest, I2VPinsTheFirstFrame) {
  RecordingModel model;
  SampleOptions options;
  options.steps = 3;
  const at::Tensor frame = Randn({2, 1, 2, 2}, 3);
  options.first_frame_latent = frame;
  const at::Tensor video = Randn({2, 3, 2, 2}, 1);
  auto result = Sample(model.Fn(), video, Randn({5, 2}, 2), options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(at::equal(result->video.narrow(1, 0, 1), frame));
  EXPECT_FALSE(at::equal(result->video.narrow(1, 1, 1), video.narrow(1, 1, 1)));
  // The caller's noise is left alone.
  EXPECT_FALSE(at::equal(video.narrow(1, 0, 1), frame));
  options.first_frame_latent = Randn({2, 1, 3, 2}, 3);
  EXPECT_EQ(Sample(model.Fn(), video, Randn({5, 2}, 2), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SampleLoopTest, CancellationStopsBeforeTheNextStep) {
  RecordingModel model;
  SampleOptions options;
  options.steps = 10;
  int done = 0;
  auto result = Sample(
      model.Fn(), Randn({2, 3, 2, 2}, 1), Randn({5, 2}, 2), options,
      [&](const SampleProgress& p) { done = p.step; }, [&]() { return done >= 2; });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(model.calls.size(), 4u);
}

TEST(SampleLoopTest, ModelErrorsPassThrough) {
  SampleOptions options;
  options.steps = 2;
  ModelFn failing = [](const at::Tensor&, const at::Tensor&,
                       const ModelCall&) -> absl::StatusOr<TowerVelocities> {
    return absl::ResourceExhaustedError("out of memory");
  };
  EXPECT_EQ(Sample(failing, Randn({2, 1, 2, 2}, 1), Randn({3, 2}, 2), options).status().code(),
            absl::StatusCode::kResourceExhausted);
  options.batch_guidance = true;
  EXPECT_EQ(Sample(failing, Randn({2, 1, 2, 2}, 1), Randn({3, 2}, 2), options).status().code(),
            absl::StatusCode::kResourceExhausted);
  // A batched call that returns one sample's shape is an error, not a crash.
  RecordingModel model;
  EXPECT_EQ(Sample(model.Fn(), Randn({2, 1, 2, 2}, 1), Randn({3, 2}, 2), options).status().code(),
            absl::StatusCode::kInternal);
}

// A model whose two passes differ (and whose negative pass depends on the SLG block), answering
// kBoth with both passes stacked, positive first.
struct GuidedModel {
  std::vector<ModelCall> calls;
  static TowerVelocities Pass(const at::Tensor& video, const at::Tensor& audio, bool positive,
                              int slg) {
    if (positive) return {video.mul(0.9).add(0.1), audio.mul(0.7)};
    return {video.mul(-0.3).add(0.01 * slg), audio.mul(0.2).sub(0.05)};
  }
  ModelFn Fn() {
    return [this](const at::Tensor& video, const at::Tensor& audio,
                  const ModelCall& call) -> absl::StatusOr<TowerVelocities> {
      calls.push_back(call);
      if (call.pass != GuidancePass::kBoth) {
        return Pass(video, audio, call.pass == GuidancePass::kPositive, call.slg_layer);
      }
      const TowerVelocities p = Pass(video, audio, true, -1);
      const TowerVelocities n = Pass(video, audio, false, call.slg_layer);
      return TowerVelocities{at::stack({p.video, n.video}), at::stack({p.audio, n.audio})};
    };
  }
};

TEST(SampleLoopTest, BatchedGuidanceIsOneCallPerStepWithTheSameResult) {
  SampleOptions options;
  options.steps = 4;
  options.slg_layer = 9;
  const at::Tensor video = Randn({2, 3, 2, 2}, 1), audio = Randn({5, 2}, 2);
  GuidedModel two, one;
  auto separate = Sample(two.Fn(), video, audio, options);
  options.batch_guidance = true;
  auto batched = Sample(one.Fn(), video, audio, options);
  ASSERT_TRUE(separate.ok() && batched.ok());
  EXPECT_TRUE(at::equal(separate->video, batched->video));
  EXPECT_TRUE(at::equal(separate->audio, batched->audio));
  EXPECT_EQ(two.calls.size(), 8u);
  ASSERT_EQ(one.calls.size(), 4u);
  for (size_t i = 0; i < one.calls.size(); ++i) {
    EXPECT_EQ(one.calls[i].step, static_cast<int>(i));
    EXPECT_EQ(one.calls[i].pass, GuidancePass::kBoth);
    EXPECT_EQ(one.calls[i].slg_layer, 9);
  }
  // Unit guidance with the negative pass skipped: one positive call per step, not a batch.
  options.video_guidance = options.audio_guidance = 1.0;
  options.skip_negative_at_unit_guidance = true;
  GuidedModel unguided;
  ASSERT_TRUE(Sample(unguided.Fn(), video, audio, options).ok());
  ASSERT_EQ(unguided.calls.size(), 4u);
  EXPECT_EQ(unguided.calls[0].pass, GuidancePass::kPositive);
}

}  // namespace
}  // namespace ovid::sampling
