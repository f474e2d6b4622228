// Whole jobs through LoadOviPipeline / Run on the tiny model (CPU, f32, 128x128_5s): what Run
// reports, the LATENTS output, determinism, equality with the sampling loop driven directly,
// concurrent workers, batched guidance, Describe/Vram/Warmup/EstimateVram, load errors.
#include <ATen/ops/equal.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/pipeline/denoise_job.h"
#include "engine/pipeline/video_stage.h"
#include "engine/sampling/noise.h"
#include "engine/sampling/sample_loop.h"
#include "ovid/engine_log.h"
#include "ovid/host_memory.h"
#include "tests/engine/engine_test_util.h"
#include "tests/pipeline/pipeline_test_util.h"

namespace ovid {
namespace {

using ::ovid::testing::LoadTiny;
using ::ovid::testing::RecordingSink;
using ::ovid::testing::TinyModelPath;
using ::ovid::testing::TinyRequest;

std::unique_ptr<LoadedPipeline> Tiny(uint32_t workers = 1) {
  PipelineOptions o;
  o.workers = workers;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

// Runs `request` and returns the LATENTS bytes ("" on failure).
std::string RunLatents(LoadedPipeline& p, const GenerationRequest& request,
                       GenerationResult* result = nullptr) {
  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r = p.Run(request, sink, cancel);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || sink.outputs().size() != 1) return "";
  if (result != nullptr) *result = *r;
  return sink.outputs()[0].data;
}

std::unique_ptr<gguf::SafetensorsFile> Parse(const std::string& bytes) {
  absl::StatusOr<std::unique_ptr<gguf::SafetensorsFile>> f = gguf::SafetensorsFile::FromBuffer(
      "latents", {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *std::move(f) : nullptr;
}

// The LATENTS file's metadata says how to reproduce its run: every float reads back exactly.
TEST(PipelineRunTest, LatentsMetadataKeepsEveryFloatExactly) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  GenerationRequest request = TinyRequest(1, 3);
  request.video_guidance = 4.1234567f;
  request.audio_guidance = 2.7182817f;
  request.shift = 5.0999999f;
  std::unique_ptr<gguf::SafetensorsFile> f = Parse(RunLatents(*p, request));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(std::stof(f->metadata().at("video_guidance")), 4.1234567f);
  EXPECT_EQ(std::stof(f->metadata().at("audio_guidance")), 2.7182817f);
  EXPECT_EQ(std::stof(f->metadata().at("shift")), 5.0999999f);
}

TEST(PipelineRunTest, ReportsDefaultsProgressAndLatents) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, 11), sink, cancel);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->seed, 11u);
  const EffectiveParameters& e = r->parameters;
  EXPECT_EQ(e.steps, 2u);
  EXPECT_EQ(e.solver, Solver::kUniPC);
  EXPECT_FLOAT_EQ(e.shift, 5.0f);
  EXPECT_FLOAT_EQ(e.video_guidance, 4.0f);
  EXPECT_FLOAT_EQ(e.audio_guidance, 3.0f);
  EXPECT_EQ(e.slg_layer, 2);  // min(11, layers - 1)
  EXPECT_EQ(e.width, 128u);
  EXPECT_EQ(e.height, 128u);
  EXPECT_FLOAT_EQ(e.duration_seconds, 5.0f);
  EXPECT_EQ(e.video_frames, 121u);
  EXPECT_EQ(e.audio_samples, 80384u);
  EXPECT_EQ(e.outputs, std::vector<OutputFormat>{OutputFormat::kLatents});
  ASSERT_EQ(r->stages.size(), 1u);
  EXPECT_EQ(r->stages[0].stage, "denoise");
  EXPECT_GT(r->stages[0].seconds, 0.0);
  EXPECT_EQ(r->peak_vram_bytes, 0u);  // the CPU has no device peak

  // One progress before the first step, then one per step.
  const std::vector<Progress> progress = sink.progress();
  ASSERT_EQ(progress.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(progress[i].stage, "denoise");
    EXPECT_EQ(progress[i].step, i);
    EXPECT_EQ(progress[i].total, 2u);
  }
  EXPECT_GT(progress[1].remaining_seconds, 0.0);
  EXPECT_EQ(progress[2].remaining_seconds, 0.0);
  EXPECT_GE(progress[2].elapsed_seconds, progress[1].elapsed_seconds);

  ASSERT_EQ(sink.outputs().size(), 1u);
  EXPECT_EQ(sink.outputs()[0].format, OutputFormat::kLatents);
  std::unique_ptr<gguf::SafetensorsFile> f = Parse(sink.outputs()[0].data);
  ASSERT_NE(f, nullptr);
  const gguf::SafetensorsTensor* v = f->Find("video_latent");
  const gguf::SafetensorsTensor* a = f->Find("audio_latent");
  ASSERT_TRUE(v && a);
  EXPECT_EQ(v->dtype, gguf::StDtype::kF32);
  EXPECT_EQ(v->shape, (std::vector<int64_t>{48, 31, 8, 8}));
  EXPECT_EQ(a->dtype, gguf::StDtype::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{157, 20}));
  EXPECT_EQ(f->metadata().at("seed"), "11");
  EXPECT_EQ(f->metadata().at("steps"), "2");
  EXPECT_EQ(f->metadata().at("solver"), "unipc");
  EXPECT_EQ(f->metadata().at("slg_layer"), "2");
  EXPECT_EQ(f->metadata().at("variant"), "128x128_5s");
  EXPECT_EQ(f->metadata().at("video_guidance"), "4");
}

// Whatever a job throws (here its sink, on the slot's thread) comes back from Run as a Status:
// an exception crossing the worker would end the daemon through std::terminate.
TEST(PipelineRunTest, AnExceptionInAJobIsAStatusAndTheNextJobRuns) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  RecordingSink sink;
  sink.on_progress = [](const Progress& progress) {
    if (progress.step == 1) throw std::runtime_error("the sink broke");
  };
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, 3), sink, cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("the sink broke"), std::string::npos) << r.status();
  EXPECT_TRUE(p->healthy());
  EXPECT_FALSE(RunLatents(*p, TinyRequest(2, 3)).empty());
}

// Host memory running out is not device OOM: RESOURCE_EXHAUSTED with the host payload (the
// server counts it as host_oom, no GPU alert) and a message that says so.
TEST(PipelineRunTest, HostOutOfMemoryIsToldFromDeviceOutOfMemory) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  RecordingSink sink;
  sink.on_progress = [](const Progress& progress) {
    if (progress.step == 1) throw std::bad_alloc();
  };
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, 3), sink, cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(IsHostOutOfMemory(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("out of host memory"), std::string::npos) << r.status();
  EXPECT_EQ(r.status().message().find("device memory"), std::string::npos) << r.status();
  EXPECT_FALSE(RunLatents(*p, TinyRequest(2, 3)).empty());
}

// A failure while the latents are written out names that, not the last denoising step.
TEST(PipelineRunTest, AFailureWritingTheLatentsNamesThatStage) {
  struct FullSink : ProgressSink {
    void OnProgress(const Progress&) override {}
    void OnOutput(Output) override { throw std::bad_alloc(); }
  } sink;
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r = p->Run(TinyRequest(2, 3), sink, cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsHostOutOfMemory(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("in stage latents"), std::string::npos) << r.status();
  EXPECT_EQ(r.status().message().find("denoising step"), std::string::npos) << r.status();
}

TEST(PipelineRunTest, SameSeedSameBitsOtherSeedOtherBits) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  const std::string a = RunLatents(*p, TinyRequest(2, 5));
  const std::string b = RunLatents(*p, TinyRequest(2, 5));
  const std::string c = RunLatents(*p, TinyRequest(2, 6));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // No seed: a random one, reported.
  GenerationRequest random = TinyRequest(1, 0);
  random.seed.reset();
  GenerationResult r1, r2;
  RunLatents(*p, random, &r1);
  RunLatents(*p, random, &r2);
  EXPECT_NE(r1.seed, r2.seed);
}

// The pipeline's latents are exactly what the sampling loop gives when driven by hand over
// OviModel with Ovi's noise and the same contexts.
TEST(PipelineRunTest, EqualsTheSampleLoopDrivenDirectly) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  const GenerationRequest request = TinyRequest(3, 77);
  const std::string bytes = RunLatents(*p, request);
  std::unique_ptr<gguf::SafetensorsFile> f = Parse(bytes);
  ASSERT_NE(f, nullptr);

  ovi::OviModelOptions mo;
  mo.load.log = false;
  absl::StatusOr<std::unique_ptr<ovi::OviModel>> model = ovi::OviModel::Load(TinyModelPath(), mo);
  ASSERT_TRUE(model.ok()) << model.status();
  const ovi::OviModel& m = **model;
  using pipeline::EmbeddingTensor;
  const at::Tensor pos = EmbeddingTensor(std::get<TextEmbedding>(request.conditioning));
  absl::StatusOr<ovi::OviContextCache> pctx = m.PrepareContext(pos, pos);
  absl::StatusOr<ovi::OviContextCache> nctx =
      m.PrepareContext(EmbeddingTensor(std::get<TextEmbedding>(request.video_negative)),
                       EmbeddingTensor(std::get<TextEmbedding>(request.audio_negative)));
  ASSERT_TRUE(pctx.ok() && nctx.ok());
  const sampling::ModelFn fn =
      [&](const at::Tensor& video, const at::Tensor& audio,
          const sampling::ModelCall& call) -> absl::StatusOr<sampling::TowerVelocities> {
    ovi::OviForwardOptions o;
    o.slg_layer = call.slg_layer;
    const bool positive = call.pass == sampling::GuidancePass::kPositive;
    absl::StatusOr<ovi::OviForwardOutputs> out =
        m.Forward({video, audio, call.timestep}, positive ? *pctx : *nctx, o);
    if (!out.ok()) return out.status();
    return sampling::TowerVelocities{out->video, out->audio};
  };
  absl::StatusOr<at::Tensor> vn = sampling::MakeNoise({48, 31, 8, 8}, 77, c10::kCPU, at::kBFloat16);
  absl::StatusOr<at::Tensor> an = sampling::MakeNoise({157, 20}, 77, c10::kCPU, at::kBFloat16);
  ASSERT_TRUE(vn.ok() && an.ok());
  sampling::SampleOptions so;
  so.steps = 3;
  so.slg_layer = 2;
  absl::StatusOr<sampling::SampleResult> want =
      sampling::Sample(fn, vn->to(at::kFloat), an->to(at::kFloat), so);
  ASSERT_TRUE(want.ok()) << want.status();

  auto same = [&](const char* name, const at::Tensor& t) {
    const gguf::SafetensorsTensor* st = f->Find(name);
    const at::Tensor c = t.contiguous();
    return st != nullptr && f->Data(*st).size() == static_cast<size_t>(c.nbytes()) &&
           std::memcmp(f->Data(*st).data(), c.data_ptr(), c.nbytes()) == 0;
  };
  EXPECT_TRUE(same("video_latent", want->video));
  EXPECT_TRUE(same("audio_latent", want->audio));
}

// --batch-guidance: both passes of each step in one batch-2 forward (the tiny model's SLG block
// 2 skipped by the negative sample only) land where the two passes do, within f32 GEMM
// rounding, and the VRAM estimate grows by the second sample's activations.
TEST(PipelineRunTest, BatchedGuidanceMatchesTwoPasses) {
  std::unique_ptr<LoadedPipeline> two = Tiny();
  PipelineOptions o;
  o.batch_guidance = BatchGuidance::kOn;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> batched = ::ovid::testing::LoadTiny(o);
  ASSERT_TRUE(two != nullptr && batched.ok()) << batched.status();
  EXPECT_EQ((*batched)->Describe().batch_guidance, "on");
  const GenerationRequest request = TinyRequest(3, 31);
  // Parse views the bytes: they must outlive the files.
  GenerationResult ran_two, ran_batched;
  const std::string bytes_two = RunLatents(*two, request, &ran_two);
  const std::string bytes_batched = RunLatents(**batched, request, &ran_batched);
  EXPECT_FALSE(ran_two.parameters.guidance_batched);
  EXPECT_TRUE(ran_batched.parameters.guidance_batched);
  std::unique_ptr<gguf::SafetensorsFile> a = Parse(bytes_two);
  std::unique_ptr<gguf::SafetensorsFile> b = Parse(bytes_batched);
  ASSERT_TRUE(a && b);
  // An f32 safetensors entry as a tensor (a view of the file's bytes).
  auto tensor = [](const gguf::SafetensorsFile& f, const gguf::SafetensorsTensor& t) {
    return at::from_blob(const_cast<uint8_t*>(f.Data(t).data()), t.shape, at::kFloat);
  };
  for (const char* name : {"video_latent", "audio_latent"}) {
    const gguf::SafetensorsTensor* ta = a->Find(name);
    const gguf::SafetensorsTensor* tb = b->Find(name);
    ASSERT_TRUE(ta && tb && ta->shape == tb->shape) << name;
    const at::Tensor x = tensor(*a, *ta), y = tensor(*b, *tb);
    EXPECT_GT(x.abs().max().item<double>(), 0.0) << name;
    EXPECT_LT(::ovid::testing::RelativeMaxError(y, x), 1e-4) << name;
  }
  absl::StatusOr<uint64_t> need_two = two->EstimateVram(request);
  absl::StatusOr<uint64_t> need_batched = (*batched)->EstimateVram(request);
  ASSERT_TRUE(need_two.ok() && need_batched.ok());
  EXPECT_GT(*need_batched, *need_two);
}

// --batch-guidance auto: a guided job batches exactly when its whole batched estimate fits the
// share the daemon sets, is admitted with the figure of the path it then runs, and runs that
// path bit for bit; an unguided job never batches.
TEST(PipelineRunTest, AutoBatchesWhenTheBatchedEstimateFitsTheShare) {
  PipelineOptions o;
  o.batch_guidance = BatchGuidance::kOff;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> off = ::ovid::testing::LoadTiny(o);
  o.batch_guidance = BatchGuidance::kOn;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> on = ::ovid::testing::LoadTiny(o);
  o.batch_guidance = BatchGuidance::kAuto;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> automatic = ::ovid::testing::LoadTiny(o);
  ASSERT_TRUE(off.ok() && on.ok() && automatic.ok());
  EXPECT_EQ((*automatic)->Describe().batch_guidance, "auto");
  const GenerationRequest request = TinyRequest(2, 41);
  absl::StatusOr<uint64_t> two = (*off)->EstimateVram(request);
  absl::StatusOr<uint64_t> batched = (*on)->EstimateVram(request);
  ASSERT_TRUE(two.ok() && batched.ok());
  ASSERT_GT(*batched, *two);
  const std::string latents_two = RunLatents(**off, request);
  const std::string latents_batched = RunLatents(**on, request);
  ASSERT_FALSE(latents_two.empty());
  ASSERT_FALSE(latents_batched.empty());

  struct Case {
    uint64_t share;
    bool batches;
  };
  // No share set yet (the CPU daemon, or a pipeline outside the daemon), one byte short, exact.
  for (const Case& c : {Case{0, false}, Case{*batched - 1, false}, Case{*batched, true}}) {
    (*automatic)->SetJobVramShare(c.share);
    absl::StatusOr<uint64_t> need = (*automatic)->EstimateVram(request);
    ASSERT_TRUE(need.ok()) << need.status();
    EXPECT_EQ(*need, c.batches ? *batched : *two) << "share " << c.share;
    GenerationResult result;
    const std::string latents = RunLatents(**automatic, request, &result);
    EXPECT_EQ(result.parameters.guidance_batched, c.batches) << "share " << c.share;
    // The file names the path in its metadata, and its tensors are that path's, bit for bit.
    EXPECT_EQ(latents, c.batches ? latents_batched : latents_two) << "share " << c.share;
  }

  GenerationRequest unguided = TinyRequest(2, 41);
  unguided.video_guidance = 1.0f;
  unguided.audio_guidance = 1.0f;
  absl::StatusOr<uint64_t> unguided_off = (*off)->EstimateVram(unguided);
  absl::StatusOr<uint64_t> unguided_on = (*on)->EstimateVram(unguided);
  ASSERT_TRUE(unguided_off.ok() && unguided_on.ok());
  EXPECT_EQ(*unguided_on, *unguided_off);
  GenerationResult result;
  RunLatents(**on, unguided, &result);
  EXPECT_FALSE(result.parameters.guidance_batched);
}

TEST(PipelineRunTest, ConcurrentWorkersMatchSequentialRuns) {
  std::unique_ptr<LoadedPipeline> p = Tiny(2);
  ASSERT_NE(p, nullptr);
  const std::string seq_a = RunLatents(*p, TinyRequest(2, 21));
  const std::string seq_b = RunLatents(*p, TinyRequest(2, 22));
  std::string par_a, par_b;
  std::thread ta([&] { par_a = RunLatents(*p, TinyRequest(2, 21)); });
  std::thread tb([&] { par_b = RunLatents(*p, TinyRequest(2, 22)); });
  ta.join();
  tb.join();
  ASSERT_FALSE(seq_a.empty());
  EXPECT_EQ(par_a, seq_a);
  EXPECT_EQ(par_b, seq_b);
  EXPECT_NE(seq_a, seq_b);
}

TEST(PipelineRunTest, UnitGuidanceRunsWithoutNegatives) {
  std::unique_ptr<LoadedPipeline> p = Tiny();
  ASSERT_NE(p, nullptr);
  GenerationRequest r = TinyRequest(2, 3);
  r.video_negative = std::monostate();
  r.audio_negative = std::monostate();
  r.video_guidance = 1.0f;
  r.audio_guidance = 1.0f;
  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> res = p->Run(r, sink, cancel);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(sink.outputs().size(), 1u);
  // The same request with guidance 4 and no negatives is refused, by Run and EstimateVram alike.
  r.video_guidance = 4.0f;
  EXPECT_EQ(p->Run(r, sink, cancel).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->EstimateVram(r).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PipelineRunTest, DescribeVramWarmupEstimate) {
  std::unique_ptr<LoadedPipeline> p = Tiny(2);
  ASSERT_NE(p, nullptr);
  const ModelDescription d = p->Describe();
  EXPECT_EQ(d.variant, "128x128_5s");
  EXPECT_EQ(d.dim, 256u);
  EXPECT_EQ(d.ffn_dim, 512u);
  EXPECT_EQ(d.heads, 2u);
  EXPECT_EQ(d.head_dim, 128u);
  EXPECT_EQ(d.layers, 3u);
  EXPECT_EQ(d.text_len, 512u);
  EXPECT_EQ(d.text_dim, 256u);
  EXPECT_NEAR(d.audio_rope_scale, 0.19676f, 1e-6);
  EXPECT_EQ(d.parameters, 9757396u);  // README's ovi-tiny totals
  EXPECT_EQ(d.weight_mode, "lazy");
  EXPECT_EQ(d.device, "cpu");
  EXPECT_EQ(d.tensors_total, 237u);
  EXPECT_EQ(d.tensors_quantized, 72u);  // 54 q4_K + 18 q6_K (the Q4_K_M mix)
  std::map<std::string, std::pair<uint32_t, uint64_t>> types;
  for (const QuantTypeCount& q : d.quantization) types[q.type] = {q.tensors, q.bytes};
  EXPECT_EQ(types["q4_K"], (std::pair<uint32_t, uint64_t>{54, 2211840}));
  EXPECT_EQ(types["q6_K"], (std::pair<uint32_t, uint64_t>{18, 1290240}));
  EXPECT_EQ(types["bf16"], (std::pair<uint32_t, uint64_t>{165, 8504744}));
  ASSERT_EQ(d.stages.size(), 5u);
  EXPECT_EQ(d.stages[0].name, "denoiser");
  EXPECT_TRUE(d.stages[0].loaded);
  EXPECT_EQ(d.stages[0].file, "ovid_" + std::to_string(getpid()) + "_pipeline_tiny.gguf");
  for (size_t i = 1; i < d.stages.size(); ++i) EXPECT_FALSE(d.stages[i].loaded) << d.stages[i].name;
  EXPECT_EQ(d.output_formats, std::vector<OutputFormat>{OutputFormat::kLatents});

  const VramSnapshot v = p->Vram();
  EXPECT_EQ(v.device_total_bytes, 0u);
  EXPECT_EQ(v.torch_allocated_bytes, 0u);
  EXPECT_GT(v.weights_resident_bytes, 3502080u);  // at least the raw q4_K + q6_K blocks
  EXPECT_GT(v.dequant_workspace_bytes, 0u);       // one per worker
  bool q4 = false;
  for (const QuantTypeCount& q : v.resident_by_type) {
    if (q.type == "q4_K") q4 = q.tensors == 54 && q.bytes == 2211840;
  }
  EXPECT_TRUE(q4);

  EXPECT_TRUE(p->Warmup().ok());

  absl::StatusOr<uint64_t> guided = p->EstimateVram(TinyRequest(2, 1));
  GenerationRequest unguided = TinyRequest(2, 1);
  unguided.video_guidance = unguided.audio_guidance = 1.0f;
  absl::StatusOr<uint64_t> lean = p->EstimateVram(unguided);
  ASSERT_TRUE(guided.ok() && lean.ok());
  EXPECT_GT(*guided, *lean);  // the negative pass's context
  GenerationRequest bad = TinyRequest(2, 1);
  bad.steps = 0;
  EXPECT_EQ(p->EstimateVram(bad).status().code(), absl::StatusCode::kInvalidArgument);

  PipelineOptions o;
  o.faults.vram_estimate_bytes = 12345;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> hooked = testing::LoadTiny(o);
  ASSERT_TRUE(hooked.ok());
  EXPECT_EQ(*(*hooked)->EstimateVram(TinyRequest(2, 1)), 12345u);
  EXPECT_EQ((*hooked)->EstimateVram(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PipelineLoadTest, ErrorsNameTheFile) {
  PipelineOptions o;
  o.model_path = "/nonexistent/ovi.gguf";
  o.device = "cpu";
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadOviPipeline(o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("/nonexistent/ovi.gguf"), std::string::npos) << p.status();
  o.model_path = TinyModelPath();
  o.device = "tpu";
  p = LoadOviPipeline(o);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find(TinyModelPath()), std::string::npos) << p.status();
  o.device = "cpu";
  o.workers = 0;
  EXPECT_EQ(LoadOviPipeline(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_STREQ(WeightModeName(WeightMode::kCache), "cache");
}

TEST(PipelineRunTest, AnOffloadedDenoiserInCacheModeIsEstimatedWithItsCachedCopies) {
  // Each job reloads the offloaded denoiser with its bf16 cache copies: admission must count
  // both, or a job is admitted up to the cache budget short.
  PipelineOptions cached;
  cached.weights = WeightMode::kCache;
  cached.cache_budget_bytes = uint64_t{1} << 30;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> resident = LoadTiny(cached);
  ASSERT_TRUE(resident.ok()) << resident.status();
  const uint64_t cache = (*resident)->Vram().cache_bytes;
  ASSERT_GT(cache, 0u);
  cached.offload.denoiser = true;
  PipelineOptions lazy = cached;
  lazy.weights = WeightMode::kLazy;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> with_cache = LoadTiny(cached);
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> without = LoadTiny(lazy);
  ASSERT_TRUE(with_cache.ok()) << with_cache.status();
  ASSERT_TRUE(without.ok()) << without.status();
  const GenerationRequest r = TinyRequest(2, 9);
  absl::StatusOr<uint64_t> a = (*with_cache)->EstimateVram(r), b = (*without)->EstimateVram(r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a - *b, cache);
}

// The cache planner's per-step estimate from the tiny model's load line ("... saving an
// estimated X ms per step"); -1 where no line said it.
double LoggedCacheSavingMs(PipelineOptions options) {
  double ms = -1;
  std::mutex mu;
  SetEngineLogSink([&](EngineLogLevel, std::string_view message) {
    constexpr std::string_view kKey = "saving an estimated ";
    const size_t at = message.find(kKey);
    if (at == std::string_view::npos || message.find(TinyModelPath()) == std::string_view::npos) {
      return;
    }
    const std::lock_guard<std::mutex> lock(mu);
    ms = std::strtod(std::string(message.substr(at + kKey.size())).c_str(), nullptr);
  });
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(std::move(options));
  SetEngineLogSink(nullptr);
  EXPECT_TRUE(p.ok()) << p.status();
  return ms;
}

// With both guidance passes in one forward, a step dequantizes each per-pass layer once, not
// twice: the plan's estimate falls to about half (the text k/v, once per request, keep theirs).
TEST(PipelineLoadTest, TheCachePlanCountsBatchedGuidanceAsOneForwardPerStep) {
  PipelineOptions o;
  o.weights = WeightMode::kCache;
  o.cache_budget_bytes = uint64_t{1} << 30;
  o.batch_guidance = BatchGuidance::kOff;
  const double apart = LoggedCacheSavingMs(o);
  o.batch_guidance = BatchGuidance::kOn;
  const double batched = LoggedCacheSavingMs(o);
  ASSERT_GT(apart, 0);
  EXPECT_GT(batched, 0.45 * apart);
  EXPECT_LT(batched, 0.6 * apart);
  // auto never batches on the CPU (there is no VRAM share for a batched job to fit): two passes.
  o.batch_guidance = BatchGuidance::kAuto;
  EXPECT_EQ(LoggedCacheSavingMs(o), apart);
}

// NaN latents fail the job as the server's error, naming the tower, instead of coming back as a
// LATENTS success.
TEST(PipelineRunTest, NonFiniteLatentsAreAnInternalError) {
  pipeline::DenoisedLatents l{at::zeros({4, 2, 3, 3}), at::zeros({5, 2})};
  EXPECT_TRUE(pipeline::CheckLatentsFinite(l).ok());
  l.audio[4][1] = std::numeric_limits<float>::quiet_NaN();
  absl::Status s = pipeline::CheckLatentsFinite(l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "the audio latent holds NaN or infinity")) << s;
  l.audio[4][1] = 0.0f;
  l.video[3][1][2][0] = -std::numeric_limits<float>::infinity();
  s = pipeline::CheckLatentsFinite(l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "the video latent")) << s;
}

// The check runs on every job: a model that turns NaN mid-loop fails it, LATENTS output or not.
TEST(PipelineRunTest, AJobWhoseModelTurnsNanFailsAsTheServersError) {
  PipelineOptions o;
  o.faults.nan_at_step = 1;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o);
  ASSERT_TRUE(p.ok()) << p.status();
  RecordingSink sink;
  CancelToken cancel;
  const absl::Status s = (*p)->Run(TinyRequest(2, 5), sink, cancel).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "the video latent holds NaN or infinity")) << s;
  EXPECT_TRUE(sink.outputs().empty());
}

// The slots' workspaces stay resident while an offloaded denoiser is away, and are reported so:
// they were counted in the first (startup) store only, so they read 0 from then on.
TEST(PipelineRunTest, AnOffloadedDenoiserStillReportsItsWorkspaces) {
  PipelineOptions o;
  o.workers = 2;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> resident = LoadTiny(o);
  ASSERT_TRUE(resident.ok()) << resident.status();
  const uint64_t workspaces = (*resident)->Vram().dequant_workspace_bytes;
  ASSERT_GT(workspaces, 0u);
  o.offload.denoiser = true;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> offloaded = LoadTiny(o);
  ASSERT_TRUE(offloaded.ok()) << offloaded.status();
  EXPECT_EQ((*offloaded)->Vram().dequant_workspace_bytes, workspaces);
  EXPECT_FALSE(RunLatents(**offloaded, TinyRequest(2, 1)).empty());
  const VramSnapshot away = (*offloaded)->Vram();
  EXPECT_EQ(away.dequant_workspace_bytes, workspaces);
  // The weights' types stay listed, at 0 bytes (the metric keeps its series).
  std::vector<std::string> types;
  for (const QuantTypeCount& q : away.resident_by_type) {
    types.push_back(q.type);
    EXPECT_EQ(q.bytes, 0u) << q.type;
  }
  std::vector<std::string> resident_types;
  for (const QuantTypeCount& q : (*resident)->Vram().resident_by_type) {
    resident_types.push_back(q.type);
  }
  EXPECT_EQ(types, resident_types);
  EXPECT_EQ(types.size(), 3u);  // bf16, q4_K, q6_K
}

// An offloaded denoiser is reloaded from its path for each job. A file replaced since startup
// (another quantization: the same shapes, other bytes, so the plans and estimates no longer hold)
// or gone fails the job as the server's error, INTERNAL, not as the request's.
TEST(PipelineRunTest, AnOffloadedDenoiserReplacedOnDiskFailsItsJobAsTheServersError) {
  namespace fs = std::filesystem;
  const std::string path = TinyModelPath() + ".swapped.gguf";
  fs::copy_file(TinyModelPath(), path, fs::copy_options::overwrite_existing);
  PipelineOptions o;
  o.model_path = path;
  o.device = "cpu";
  o.offload.denoiser = true;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadOviPipeline(o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(RunLatents(**p, TinyRequest(1, 1)).empty());

  const std::string cmd = absl::StrCat(OVID_GGUF_BIN, " synth ", path,
                                       ".new --preset ovi-tiny --seed 3 --type Q8_0 > /dev/null");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  fs::rename(path + ".new", path);
  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r = (*p)->Run(TinyRequest(1, 1), sink, cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "not the one loaded at startup"))
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), path)) << r.status();

  fs::remove(path);
  r = (*p)->Run(TinyRequest(1, 1), sink, cancel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
}

// The first frame's normalization, band by band and in place, equals the original's chain of
// whole-frame tensor ops bit for bit, at a height that is not a multiple of the band.
TEST(PipelineRunTest, FirstFrameNormalizationMatchesTheWholeFrameChain) {
  const int64_t width = 37, height = 601;
  std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3));
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 7919u + 13u) % 256u);
  at::Tensor pixels =
      at::from_blob(rgb.data(), {height, width, 3}, at::TensorOptions().dtype(at::kByte));
  at::Tensor expected = pixels.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div(255.0);
  expected = expected.to(at::kBFloat16).mul(2).sub(1);
  at::Tensor got = pipeline::NormalizeFrame(rgb.data(), width, height);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(got, expected));
}

}  // namespace
}  // namespace ovid
