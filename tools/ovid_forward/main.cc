// `ovid-forward`: one Ovi denoiser pass from files, for comparisons against the PyTorch
// reference (tests/reference) and for timing.
//
//   ovid-forward --model M.gguf --inputs IN.safetensors --out OUT.safetensors [--mode forward]
//                [--device cpu|cuda] [--dtype f32|bf16] [--first-frame-clean] [--slg-layer N]
//                [--variant NAME] [--repeat N] [--weights lazy|eager|cache]
//                [--cache-budget BYTES]
//                [--attention default|torch|flashinfer|cudnn|flash|efficient|math]
//                [--elementwise fused|plain] [--profile TRACE.json]
//
// Forward mode writes out_video [C, F, H, W] and out_audio [L, C] (the velocities) as f32.
// Sample mode (--steps, --solver, --shift, --video-guidance, --audio-guidance, --seed,
// --batch-guidance: both passes of a step in one batch) runs the guided loop from the input
// latents and writes video_latent and audio_latent; it needs the negative contexts too
// (forward_io.h lists the inputs). --profile records the last forward
// pass's GPU kernels (Kineto), prints where the time went and writes a Chrome trace.
#include <ATen/Context.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/ops/attention.h"
#include "engine/ops/torch_status.h"
#include "engine/tensor/quantized_linear.h"
#include "engine/tensor/vram_accounting.h"
#include "tools/ovid_forward/forward_io.h"
#include "tools/ovid_forward/kernel_profile.h"
#include "tools/ovid_forward/sample_mode.h"

namespace ovid::tools {
namespace {

constexpr char kUsage[] =
    "usage: ovid-forward --model M.gguf --inputs IN.safetensors --out OUT.safetensors\n"
    "                    [--mode forward|sample] [--device cpu|cuda] [--dtype f32|bf16]\n"
    "                    [--first-frame-clean] [--slg-layer N] [--variant NAME] [--repeat N]\n"
    "                    [--weights lazy|eager|cache] [--cache-budget BYTES]\n"
    "                    [--elementwise fused|plain]\n"
    "                    [--attention default|torch|flashinfer|cudnn|flash|efficient|math] "
    "[--profile TRACE.json]\n"
    "  sample mode: [--steps N] [--solver unipc|dpm++|euler] [--shift S]\n"
    "               [--video-guidance G] [--audio-guidance G] [--seed N]\n"
    "               [--batch-guidance on|off]\n";

struct Args {
  std::string model, inputs, out, mode = "forward", device = "cpu", dtype, variant = "720x720_5s";
  std::string weights = "lazy", attention = "default", elementwise = "fused";
  std::string profile;  // Chrome trace of the last forward pass; empty: no profile
  bool first_frame_clean = false;
  int slg_layer = -1;
  int repeat = 1;  // forward passes to time (the first includes one-time set-up)
  int64_t cache_budget = 0;  // --weights cache: bf16 copies kept within this many bytes
  std::map<std::string, std::string> sample;  // sample-mode flags, accepted for later
};

// --weights by the engine's own mode names (LinearModeName).
std::optional<LinearMode> WeightMode(const std::string& name) {
  for (const LinearMode m : {LinearMode::kLazy, LinearMode::kEager, LinearMode::kCache}) {
    if (name == LinearModeName(m)) return m;
  }
  return std::nullopt;
}

absl::StatusOr<Args> Parse(int argc, char** argv) {
  Args a;
  const std::map<std::string, std::string*> strings = {{"--model", &a.model},
                                                       {"--inputs", &a.inputs},
                                                       {"--out", &a.out},
                                                       {"--mode", &a.mode},
                                                       {"--device", &a.device},
                                                       {"--dtype", &a.dtype},
                                                       {"--variant", &a.variant},
                                                       {"--weights", &a.weights},
                                                       {"--attention", &a.attention},
                                                       {"--elementwise", &a.elementwise},
                                                       {"--profile", &a.profile}};
  const char* sample_flags[] = {"--steps",          "--solver",         "--shift",
                                "--video-guidance", "--audio-guidance", "--seed",
                                "--batch-guidance"};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--first-frame-clean") {
      a.first_frame_clean = true;
      continue;
    }
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
    const std::string value = argv[++i];
    if (auto it = strings.find(flag); it != strings.end()) {
      *it->second = value;
    } else if (flag == "--slg-layer") {
      if (!absl::SimpleAtoi(value, &a.slg_layer)) {
        return absl::InvalidArgumentError(absl::StrCat("--slg-layer: not an integer: ", value));
      }
    } else if (flag == "--cache-budget") {
      if (!absl::SimpleAtoi(value, &a.cache_budget) || a.cache_budget < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--cache-budget: not a byte count >= 0: ", value));
      }
    } else if (flag == "--repeat") {
      if (!absl::SimpleAtoi(value, &a.repeat) || a.repeat < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--repeat: not a positive integer: ", value));
      }
    } else {
      bool sample = false;
      for (const char* s : sample_flags) sample = sample || flag == s;
      if (!sample) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", flag));
      a.sample[flag] = value;
    }
  }
  if (a.model.empty() || a.inputs.empty() || a.out.empty()) {
    return absl::InvalidArgumentError("--model, --inputs and --out are required");
  }
  if (a.mode != "forward" && a.mode != "sample") {
    return absl::InvalidArgumentError(absl::StrCat("--mode must be forward or sample: ", a.mode));
  }
  if (a.mode == "sample" && !SampleModeAvailable()) {
    return absl::UnimplementedError(
        "--mode sample needs engine/sampling, which this build lacks; use --mode forward");
  }
  if (a.mode == "sample" && !a.profile.empty()) {
    return absl::InvalidArgumentError("--profile records a forward pass (--mode forward)");
  }
  if (a.mode == "forward" && !a.sample.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(a.sample.begin()->first, " is a sample-mode flag (--mode sample)"));
  }
  if (a.device != "cpu" && a.device != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--device must be cpu or cuda: ", a.device));
  }
  if (!a.dtype.empty() && a.dtype != "f32" && a.dtype != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat("--dtype must be f32 or bf16: ", a.dtype));
  }
  if (!WeightMode(a.weights).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--weights must be lazy, eager or cache: ", a.weights));
  }
  if (a.cache_budget != 0 && WeightMode(a.weights) != LinearMode::kCache) {
    return absl::InvalidArgumentError("--cache-budget applies only to --weights cache");
  }
  if (a.elementwise != "fused" && a.elementwise != "plain") {
    return absl::InvalidArgumentError(
        absl::StrCat("--elementwise must be fused or plain: ", a.elementwise));
  }
  OVID_RETURN_IF_ERROR(ops::ParseAttentionBackend(a.attention).status());
  return a;
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// On CUDA, the LibTorch allocator's figures after the run: resident weights + activations.
void PrintVram(const std::string& device) {
  if (device != "cuda") return;
  const AllocatorStats s = QueryAllocatorStats(0);
  if (!s.valid) return;
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  std::fprintf(stderr, "ovid-forward: vram allocated %.2f GiB, peak %.2f GiB, reserved %.2f GiB\n",
               s.allocated / kGiB, s.peak_allocated / kGiB, s.reserved / kGiB);
}

absl::Status Run(const Args& a) {
  ovi::OviModelOptions options;
  options.device = a.device == "cuda" ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (!a.dtype.empty()) options.dtype = a.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  options.fallback_variant = a.variant;
  options.load.log = false;
  options.load.mode = *WeightMode(a.weights);
  options.load.cache_budget_bytes = a.cache_budget;
  // The cache plan counts a batched step as one forward (sample mode's --batch-guidance on).
  if (const auto it = a.sample.find("--batch-guidance"); it != a.sample.end()) {
    options.guidance_batched = it->second == "on";
  }
  options.fused_elementwise = a.elementwise == "fused";
  options.attention = *ops::ParseAttentionBackend(a.attention);
  // An f32 run is a reference run: no TF32 in cuDNN's convolutions (the audio patch embedding)
  // either; matmuls are f32 already (LibTorch's default).
  if (a.dtype == "f32") at::globalContext().setAllowTF32CuDNN(false);
  const bool sample = a.mode == "sample";
  SampleArgs sample_args;
  sample_args.slg_layer = a.slg_layer;
  sample_args.first_frame_clean = a.first_frame_clean;
  if (sample) OVID_RETURN_IF_ERROR(ParseSampleFlags(a.sample, &sample_args));
  OVID_ASSIGN_OR_RETURN(ForwardInputs in, ReadForwardInputs(a.inputs, sample));

  auto start = std::chrono::steady_clock::now();
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<ovi::OviModel> model,
                        ovi::OviModel::Load(a.model, options));
  const double load_s = Since(start);
  std::fprintf(stderr, "ovid-forward: weights %s, attention %s, elementwise %s\n",
               a.weights.c_str(), a.attention.c_str(), a.elementwise.c_str());
  // The store's accounting: what the weights, the workspace and (kCache) the copies cost.
  std::fprintf(stderr, "ovid-forward: %s\n", model->store().Accounting().Summary().c_str());
  // Which layers take the fused kernel: measured on this card at load, or the fixed limits.
  if (const auto& dispatch = model->store().measured_dispatch(); dispatch != nullptr) {
    for (const std::string& line : dispatch->SummaryLines()) {
      std::fprintf(stderr, "ovid-forward: dispatch %s\n", line.c_str());
    }
  } else {
    std::fprintf(stderr, "ovid-forward: dispatch by the fixed per-type limits\n");
  }
  if (sample) {
    start = std::chrono::steady_clock::now();
    std::vector<double> step_s;
    OVID_ASSIGN_OR_RETURN(auto latents, RunSampleMode(*model, in, sample_args, &step_s));
    const double sample_s = Since(start);
    OVID_RETURN_IF_ERROR(WriteF32Tensors(a.out, latents));
    std::string steps;
    for (size_t i = 0; i < step_s.size(); ++i) absl::StrAppend(&steps, i ? ", " : "", step_s[i]);
    std::fprintf(stderr,
                 "ovid-forward: %s on %s: load %.3f s, %d steps (%s) %.3f s (steps: %s s)\n",
                 a.model.c_str(), a.device.c_str(), load_s, sample_args.steps,
                 sample_args.solver.c_str(), sample_s, steps.c_str());
    PrintVram(a.device);
    return absl::OkStatus();
  }
  start = std::chrono::steady_clock::now();
  OVID_ASSIGN_OR_RETURN(ovi::OviContextCache ctx,
                        model->PrepareContext(in.video_context, in.audio_context));
  const double ctx_s = Since(start);
  ovi::OviForwardOptions fo;
  fo.first_frame_clean = a.first_frame_clean;
  fo.slg_layer = a.slg_layer;
  std::string passes;
  double fwd_s = 0;
  std::map<std::string, at::Tensor> out;
  for (int i = 0; i < a.repeat; ++i) {
    const bool profiled = !a.profile.empty() && i == a.repeat - 1;
    if (profiled) OVID_RETURN_IF_ERROR(StartKernelProfile());
    start = std::chrono::steady_clock::now();
    OVID_ASSIGN_OR_RETURN(ovi::OviForwardOutputs o,
                          model->Forward({in.video_latent, in.audio_latent, in.timestep}, ctx, fo));
    // The copy to the host waits for the device, so each time covers the whole pass.
    OVID_ASSIGN_OR_RETURN(at::Tensor video, ops::GuardTorch("copying out", [&] {
                            return o.video.to(at::kCPU, at::kFloat);
                          }));
    out = {{"out_video", video}, {"out_audio", o.audio}};
    fwd_s = Since(start);
    if (profiled) {
      OVID_ASSIGN_OR_RETURN(std::string table, StopKernelProfile(a.profile, 40));
      std::fprintf(stderr,
                   "ovid-forward: profile of pass %d (%.3f s with the profiler on; "
                   "trace %s)\n%s",
                   i + 1, fwd_s, a.profile.c_str(), table.c_str());
    }
    if (a.repeat > 1) absl::StrAppend(&passes, i ? ", " : " (passes: ", fwd_s, " s");
  }
  if (!passes.empty()) passes += ")";
  OVID_RETURN_IF_ERROR(WriteF32Tensors(a.out, out));
  const ovi::OviConfig& c = model->spec().config;
  std::fprintf(stderr,
               "ovid-forward: %s (dim %lld, %lld layers, variant %s) on %s: load %.3f s, "
               "context %.3f s, forward %.3f s%s\n",
               a.model.c_str(), static_cast<long long>(c.dim), static_cast<long long>(c.num_layers),
               model->spec().variant.c_str(), a.device.c_str(), load_s, ctx_s, fwd_s,
               passes.c_str());
  PrintVram(a.device);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ovid::tools

int main(int argc, char** argv) {
  absl::StatusOr<ovid::tools::Args> args = ovid::tools::Parse(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "ovid-forward: %s\n%s", args.status().ToString().c_str(),
                 ovid::tools::kUsage);
    return 2;
  }
  const absl::Status s = ovid::tools::Run(*args);
  if (!s.ok()) {
    std::fprintf(stderr, "ovid-forward: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
