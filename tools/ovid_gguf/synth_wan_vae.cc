// File: tools/ovid_gguf/synth_wan_vae.cc
#include "tools/ovid_gguf/synth_wan_vae.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/safetensors_stream_writer.h"
#include "engine/models/wan_vae/wan_vae_config.h"
#include "engine/models/wan_vae/wan_vae_keys.h"
#include "kernels/cpu/float_convert.h"
#include "tools/ovid_gguf/progress.h"
#include "tools/ovid_gguf/synthetic_weights.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "synth";
constexpr char kUsage[] =
    "usage: ovid-gguf synth OUT.safetensors --preset wan-vae-tiny|wan-vae-2.2 [--seed N]\n"
    "                       [--dtype f32|bf16] [--threads N] [--plan]\n"
    "  A random-weight Wan2.2 VAE, encoder and decoder, deterministic by seed, with the tensor\n"
    "  names of Wan2.2_VAE.pth. wan-vae-2.2 is the released size (z 48, encoder 160, decoder\n"
    "  256, dim_mult [1,2,4,4]; 2.8 GB f32); wan-vae-tiny the same structure at encoder width 8\n"
    "  and decoder 48/48/48/24/12 (tests/wan_vae/tiny_wan_vae.py). --dtype defaults to f32.\n"
    "  --plan prints the tensor list and totals as JSON and writes nothing.\n";

// Elements generated per step and thread: the float scratch a bf16 tensor needs.
constexpr int64_t kChunkElements = int64_t{1} << 20;

wan_vae::WanVaeConfig TinyConfig() {
  wan_vae::WanVaeConfig c;  // z 48, patch 2, 2 residual blocks, temporal [F,T,T]: as released
  c.dec_in_dim = 48;
  c.dec_stage_dims = {48, 48, 24, 12};
  c.enc_in_dim = 8;
  c.enc_stage_dims = {8, 16, 32, 32};
  return c;
}

// How each tensor is drawn. Conv weights N(0, 1/fan_in) keep every layer's output at the size of
// its input; RMS_norm gammas are 1, their initial value. The decoder's head conv, the last layer,
// is what sets the output scale (a norm and SiLU precede it, so the depth before does not
// matter): at half the gain its output has std about 0.3, inside the [-1, 1] clamp, where 1 would
// clip about one value in ten.
Distribution FillFor(const wan_vae::WanVaeTensor& t) {
  if (absl::EndsWith(t.logical, "gamma")) return {1.0f, 0.0f};
  if (absl::EndsWith(t.logical, "bias")) return {0.0f, 0.02f};
  int64_t fan_in = 1;
  for (size_t i = 1; i < t.shape.size(); ++i) fan_in *= t.shape[i];
  const float gain = t.logical == "dec.head.conv.weight" ? 0.5f : 1.0f;
  return {0.0f, gain / std::sqrt(static_cast<float>(fan_in))};
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

struct Request {
  std::string preset;
  wan_vae::WanVaeConfig config;
  bool bf16 = false;
  uint64_t seed = 0;
  int threads = 1;
};

std::vector<gguf::SafetensorsPlan> Plan(const std::vector<wan_vae::WanVaeTensor>& layout,
                                        bool bf16) {
  std::vector<gguf::SafetensorsPlan> plan;
  for (const wan_vae::WanVaeTensor& t : layout) {
    plan.push_back({t.file, bf16 ? "BF16" : "F32", t.shape,
                    static_cast<uint64_t>(Elements(t.shape)) * (bf16 ? 2 : 4)});
  }
  return plan;
}

void PrintPlanJson(const Request& r, const std::vector<wan_vae::WanVaeTensor>& layout,
                   const std::vector<gguf::SafetensorsPlan>& plan) {
  std::string out =
      absl::StrCat("{\n  \"preset\": \"", r.preset, "\",\n  \"dtype\": \"", r.bf16 ? "BF16" : "F32",
                   "\",\n  \"seed\": ", r.seed, ",\n  \"tensors\": [\n");
  int64_t parameters = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    absl::StrAppend(&out, "    {\"name\": \"", plan[i].name, "\", \"logical\": \"",
                    layout[i].logical, "\", \"shape\": [", absl::StrJoin(plan[i].shape, ", "),
                    "], \"bytes\": ", plan[i].nbytes, "}", i + 1 < plan.size() ? ",\n" : "\n");
    parameters += Elements(plan[i].shape);
    bytes += plan[i].nbytes;
  }
  absl::StrAppend(&out, "  ],\n  \"totals\": {\"tensors\": ", plan.size(),
                  ", \"parameters\": ", parameters, ", \"bytes\": ", bytes, "}\n}\n");
  std::fputs(out.c_str(), stdout);
}

// Elements [begin, end) of tensor `t` into `dst` (its bytes) in the requested dtype.
void FillRange(const wan_vae::WanVaeTensor& t, uint64_t key, bool bf16, int64_t begin, int64_t end,
               uint8_t* dst) {
  const Distribution d = FillFor(t);
  std::vector<float> scratch;
  for (int64_t i = begin; i < end; i += kChunkElements) {
    const int64_t n = std::min(kChunkElements, end - i);
    float* f32 = reinterpret_cast<float*>(dst) + i;
    if (bf16) {
      scratch.resize(static_cast<size_t>(n));
      f32 = scratch.data();
    }
    FillNormal(key, i, n, d.mean, d.stddev, f32);
    if (bf16) FloatsToBf16s(f32, reinterpret_cast<uint16_t*>(dst) + i, n);
  }
}

// One tensor, split over the threads; the stream is counter-based, so the split does not change
// the values.
void FillTensor(const wan_vae::WanVaeTensor& t, const Request& r, std::vector<uint8_t>* out) {
  const int64_t n = Elements(t.shape);
  out->resize(static_cast<size_t>(n) * (r.bf16 ? 2 : 4));
  const uint64_t key = TensorStreamKey(r.seed, t.file);
  const int workers =
      static_cast<int>(std::clamp<int64_t>(n / kChunkElements, 1, std::max(r.threads, 1)));
  // Split points on chunk boundaries keep each worker's chunks aligned with the serial order.
  auto split = [&](int w) {
    return std::min(n, (n / kChunkElements + 1) * w / workers * kChunkElements);
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) {
    pool.emplace_back([&, w] { FillRange(t, key, r.bf16, split(w), split(w + 1), out->data()); });
  }
  FillRange(t, key, r.bf16, 0, split(1), out->data());
  for (std::thread& th : pool) th.join();
}

absl::Status Synth(const std::string& path, const Request& r,
                   const std::vector<wan_vae::WanVaeTensor>& layout,
                   const std::vector<gguf::SafetensorsPlan>& plan) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t total_bytes = 0;
  int64_t parameters = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    total_bytes += plan[i].nbytes;
    parameters += Elements(plan[i].shape);
  }
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"ovid.synth.preset", r.preset},
      {"ovid.synth.seed", absl::StrCat(r.seed)},
  };
  {
    Progress progress("synth", static_cast<int64_t>(plan.size()), total_bytes);
    const absl::Status written = gguf::WriteSafetensorsStreaming(
        path, plan, metadata,
        [&](size_t index,
            std::vector<uint8_t>* scratch) -> absl::StatusOr<std::span<const uint8_t>> {
          FillTensor(layout[index], r, scratch);
          progress.Tensor(plan[index].nbytes);
          return std::span<const uint8_t>(*scratch);
        });
    if (!written.ok()) return written;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "synthesized %s: preset %s, dtype %s, seed %llu: %zu tensors, %lld parameters, "
      "%s in %.1f s\n",
      path.c_str(), r.preset.c_str(), r.bf16 ? "bf16" : "f32",
      static_cast<unsigned long long>(r.seed), plan.size(), static_cast<long long>(parameters),
      HumanBytes(static_cast<double>(total_bytes)).c_str(), seconds);
  return absl::OkStatus();
}

}  // namespace

bool IsWanVaeSynthPreset(const Args& args) { return PresetStartsWith(args, "wan-vae-"); }

int RunSynthWanVae(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args, {"--preset", "--seed", "--dtype", "--threads"}, {"--plan"});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool plan_only = parsed->Has("--plan");
  if (parsed->positional.size() > 1 || (!plan_only && parsed->positional.size() != 1)) {
    return UsageError(kCommand, "expected one OUT.safetensors", kUsage);
  }
  Request r;
  r.preset = parsed->Get("--preset").value_or("");
  if (r.preset == "wan-vae-tiny") {
    r.config = TinyConfig();
  } else if (r.preset == "wan-vae-2.2") {
    r.config = wan_vae::WanVae22Config();
  } else {
    return UsageError(kCommand,
                      absl::StrCat("--preset: unknown preset '", r.preset,
                                   "' (valid: wan-vae-tiny, wan-vae-2.2)"),
                      kUsage);
  }
  const std::string dtype = parsed->Get("--dtype").value_or("f32");
  if (dtype != "f32" && dtype != "bf16") {
    return UsageError(kCommand, absl::StrCat("--dtype: '", dtype, "' is not f32 or bf16"), kUsage);
  }
  r.bf16 = dtype == "bf16";
  absl::StatusOr<uint64_t> seed = SeedOption(*parsed);
  if (!seed.ok()) return UsageError(kCommand, std::string(seed.status().message()), kUsage);
  r.seed = *seed;
  absl::StatusOr<int> threads = ThreadsOption(*parsed);
  if (!threads.ok()) return UsageError(kCommand, std::string(threads.status().message()), kUsage);
  r.threads = *threads;

  if (absl::Status s = r.config.Validate(); !s.ok()) return Fail(kCommand, s);
  absl::StatusOr<const wan_vae::KeyTable*> table =
      wan_vae::BuiltinKeyTable(wan_vae::WanVaeLayout::kOriginal);
  if (!table.ok()) return Fail(kCommand, table.status());
  absl::StatusOr<std::vector<wan_vae::WanVaeTensor>> layout =
      wan_vae::BuildWanVaeLayout(r.config, **table);
  if (!layout.ok()) return Fail(kCommand, layout.status());
  const std::vector<gguf::SafetensorsPlan> plan = Plan(*layout, r.bf16);
  if (plan_only) {
    PrintPlanJson(r, *layout, plan);
    return 0;
  }
  const absl::Status s = Synth(parsed->positional[0], r, *layout, plan);
  return s.ok() ? 0 : Fail(kCommand, s);
}

}  // namespace ovid::tools
