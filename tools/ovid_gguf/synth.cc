// `ovid-gguf synth OUT.gguf --preset ovi-full|ovi-tiny [--type MIX] [--seed N] [--threads N]
// [--plan]`: a random-weight Ovi GGUF with the real tensor set and shapes, quantized like
// `quantize --rules ovi` would quantize the BF16 release checkpoint. Tests and benchmarks get
// models of any size this way without downloads. Each tensor is generated and encoded on the
// fly by all threads and streamed to disk; --plan prints the tensor list as JSON instead.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/models/ovi/ovi_layout.h"
#include "kernels/cpu/quantize.h"
#include "tools/ovid_gguf/commands.h"
#include "tools/ovid_gguf/progress.h"
#include "tools/ovid_gguf/quant_rules.h"
#include "tools/ovid_gguf/synth_audio.h"
#include "tools/ovid_gguf/synth_umt5.h"
#include "tools/ovid_gguf/synth_wan_vae.h"
#include "tools/ovid_gguf/synthetic_weights.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "synth";
constexpr char kUsage[] =
    "usage: ovid-gguf synth OUT.gguf --preset ovi-full|ovi-tiny [--type MIX] [--seed N]\n"
    "                       [--threads N] [--plan] [--variant NAME]\n"
    "  Random weights (deterministic by seed), the real Ovi tensor set; --type as for\n"
    "  `quantize --rules ovi` (default BF16: unquantized). --plan prints the tensor list and\n"
    "  totals as JSON and writes nothing (OUT.gguf may then be omitted).\n";

// The release checkpoint is BF16 throughout; synth models that before applying the mix.
constexpr GgmlType kSourceType = GgmlType::kBF16;
// f32 scratch per worker and step.
constexpr int64_t kChunkElements = int64_t{1} << 20;

struct PlannedOviTensor {
  const ovi::OviTensor* layout;
  GgmlType type;
  std::vector<int64_t> ne;  // ggml order
  uint64_t bytes;
};

std::vector<PlannedOviTensor> Plan(const std::vector<ovi::OviTensor>& layout, const QuantMix& mix) {
  std::vector<PlannedOviTensor> plan;
  for (const ovi::OviTensor& t : layout) {
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    const GgmlType type = ChooseTensorType(mix, QuantRules::kOvi, t.name, kSourceType, ne);
    const uint64_t bytes =
        static_cast<uint64_t>(GgmlRowBytes(type, ne[0]) * (t.Elements() / ne[0]));
    plan.push_back({&t, type, std::move(ne), bytes});
  }
  return plan;
}

void PrintPlanJson(const std::string& preset, const QuantMix& mix, uint64_t seed,
                   const std::vector<PlannedOviTensor>& plan) {
  struct Totals {
    int tensors = 0;
    int64_t parameters = 0;
    uint64_t bytes = 0;
  };
  Totals all;
  std::map<std::string, Totals> by_type;
  std::string out =
      absl::StrCat("{\n  \"preset\": \"", preset, "\",\n  \"type\": \"", std::string(mix.name),
                   "\",\n  \"seed\": ", seed, ",\n  \"tensors\": [\n");
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedOviTensor& p = plan[i];
    absl::StrAppend(&out, "    {\"name\": \"", p.layout->name, "\", \"type\": \"",
                    GgmlTypeName(p.type), "\", \"shape\": [", absl::StrJoin(p.layout->shape, ", "),
                    "], \"role\": \"", ovi::OviRoleName(p.layout->role), "\", \"bytes\": ", p.bytes,
                    "}", i + 1 < plan.size() ? ",\n" : "\n");
    for (Totals* t : {&all, &by_type[GgmlTypeName(p.type)]}) {
      t->tensors++;
      t->parameters += p.layout->Elements();
      t->bytes += p.bytes;
    }
  }
  auto totals_json = [](const Totals& t) {
    return absl::StrCat("{\"tensors\": ", t.tensors, ", \"parameters\": ", t.parameters,
                        ", \"bytes\": ", t.bytes, "}");
  };
  absl::StrAppend(&out, "  ],\n  \"totals\": ", totals_json(all), ",\n  \"by_type\": {");
  bool first = true;
  for (const auto& [name, t] : by_type) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    \"", name, "\": ", totals_json(t));
    first = false;
  }
  absl::StrAppend(&out, "\n  }\n}\n");
  std::fputs(out.c_str(), stdout);
}

// Generates rows [row_begin, row_end) of `p` and encodes them into `dst` (the tensor's bytes).
// False if the kernels cannot encode p.type.
bool EncodeRows(const PlannedOviTensor& p, uint64_t key, Distribution dist, int64_t row_begin,
                int64_t row_end, uint8_t* dst) {
  const int64_t row_elements = p.ne[0];
  const int64_t row_bytes = GgmlRowBytes(p.type, row_elements);
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / row_elements);
  std::vector<float> scratch;
  for (int64_t row = row_begin; row < row_end; row += rows_per_chunk) {
    const int64_t rows = std::min(rows_per_chunk, row_end - row);
    scratch.resize(static_cast<size_t>(rows * row_elements));
    FillNormal(key, row * row_elements, rows * row_elements, dist.mean, dist.stddev,
               scratch.data());
    if (!QuantizeTensor(p.type, scratch.data(), dst + row * row_bytes, rows, row_elements, 1)) {
      return false;
    }
  }
  return true;
}

absl::Status FillTensor(const PlannedOviTensor& p, uint64_t seed, int64_t model_dim, int threads,
                        std::vector<uint8_t>* out) {
  out->resize(p.bytes);
  const uint64_t key = TensorStreamKey(seed, p.layout->name);
  const Distribution dist = DistributionFor(*p.layout, model_dim);
  const int64_t rows = p.layout->Elements() / p.ne[0];
  // Small tensors are not worth a thread each.
  const int workers = static_cast<int>(std::clamp<int64_t>(
      p.layout->Elements() / (kChunkElements / 4), 1, std::min<int64_t>(threads, rows)));
  std::vector<char> ok(workers, 0);
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) {
    const int64_t begin = rows * w / workers;
    const int64_t end = rows * (w + 1) / workers;
    pool.emplace_back(
        [&, w, begin, end] { ok[w] = EncodeRows(p, key, dist, begin, end, out->data()); });
  }
  ok[0] = EncodeRows(p, key, dist, 0, rows / workers, out->data());  // this thread takes a share
  for (std::thread& t : pool) t.join();
  for (char worker_ok : ok) {
    if (!worker_ok) {
      return absl::InternalError(
          absl::StrCat("tensor '", p.layout->name, "': cannot encode ", GgmlTypeName(p.type)));
    }
  }
  return absl::OkStatus();
}

absl::Status Synth(const std::string& out, const std::string& preset, const std::string& variant,
                   const ovi::OviConfig& config, const QuantMix& mix, uint64_t seed, int threads,
                   const std::vector<PlannedOviTensor>& plan) {
  const auto start = std::chrono::steady_clock::now();
  gguf::GgufWriter writer;
  bool quantized = false;
  for (const PlannedOviTensor& p : plan) {
    if (absl::Status s = writer.AddTensor(p.layout->name, p.type, p.ne); !s.ok()) return s;
    quantized |= GgmlInfo(p.type).quantized;
  }
  std::vector<std::pair<std::string, gguf::Value>> metadata = {
      {"general.architecture", gguf::Value::Str("ovi")},
      {"general.name", gguf::Value::Str(absl::StrCat("Ovi synthetic ", preset))},
      {"general.file_type", gguf::Value::U32(mix.file_type)},
      {"ovi.variant", gguf::Value::Str(variant)},
      {"ovi.head_dim", gguf::Value::U32(static_cast<uint32_t>(config.head_dim))},
      {"ovi.audio_rope_scale", gguf::Value::F32(0.19676f)},
      {"ovi.text_len", gguf::Value::U32(512)},
      {"ovi.synth.preset", gguf::Value::Str(preset)},
      {"ovi.synth.seed", gguf::Value::U64(seed)},
  };
  if (quantized) metadata.push_back({"general.quantization_version", gguf::Value::U32(2)});
  for (auto& [key, value] : metadata) {
    if (absl::Status s = writer.AddMetadata(key, std::move(value)); !s.ok()) return s;
  }
  uint64_t total_bytes = 0;
  for (const PlannedOviTensor& p : plan) total_bytes += p.bytes;
  size_t index = 0;
  {
    Progress progress("synth", static_cast<int64_t>(plan.size()), total_bytes);
    const absl::Status written =
        writer.Write(out, [&](const gguf::GgufWriter::PlannedTensor& t, std::vector<uint8_t>* buf) {
          const absl::Status s = FillTensor(plan[index++], seed, config.dim, threads, buf);
          progress.Tensor(t.nbytes);
          return s;
        });
    if (!written.ok()) return written;
  }
  std::map<GgmlType, std::pair<int, uint64_t>> by_type;
  uint64_t bytes = 0;
  int64_t parameters = 0;
  for (const PlannedOviTensor& p : plan) {
    by_type[p.type].first++;
    by_type[p.type].second += p.bytes;
    bytes += p.bytes;
    parameters += p.layout->Elements();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("synthesized %s: preset %s, type %s, seed %llu: %zu tensors, %lld parameters\n",
              out.c_str(), preset.c_str(), std::string(mix.name).c_str(),
              static_cast<unsigned long long>(seed), plan.size(),
              static_cast<long long>(parameters));
  for (const auto& [type, n] : by_type) {
    std::printf("  %-6s %6d tensors  %s\n", GgmlTypeName(type), n.first,
                HumanBytes(static_cast<double>(n.second)).c_str());
  }
  std::printf("tensor data %s in %.1f s (%.1f M parameters/s, %d threads)\n",
              HumanBytes(static_cast<double>(bytes)).c_str(), seconds,
              static_cast<double>(parameters) / 1e6 / std::max(seconds, 1e-9), threads);
  return absl::OkStatus();
}

}  // namespace

// OUT: the first argument that is neither a flag nor a flag's value (every synth flag takes a
// value, but --plan and --help).
std::optional<std::string> SynthOut(const Args& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!absl::StartsWith(a, "-")) return a;
    if (a != "--plan" && a != "--help" && a != "-h" && a.find('=') == std::string::npos) ++i;
  }
  return std::nullopt;
}

int RunSynth(const Args& args) {
  // OUT must not carry the other format's extension: a .gguf name holding safetensors bytes was
  // refused only later, by whatever read it ("bad magic"). Other names (x.gguf.new) are the
  // caller's business.
  const bool writes_gguf = !IsAudioSynthPreset(args) && !IsWanVaeSynthPreset(args);
  if (const std::optional<std::string> out = SynthOut(args)) {
    const char* wrong = writes_gguf ? ".safetensors" : ".gguf";
    if (absl::EndsWith(*out, wrong)) {
      return UsageError(
          kCommand,
          absl::StrCat("OUT ends in ", wrong, " but this preset writes ",
                       writes_gguf ? "GGUF (.gguf)" : "safetensors (.safetensors)", ": ", *out),
          kUsage);
    }
  }
  if (IsUmt5SynthPreset(args)) return RunSynthUmt5(args);    // umt5-tiny/-xxl: synth_umt5.cc
  if (IsAudioSynthPreset(args)) return RunSynthAudio(args);  // mmaudio-*/bigvgan-*: synth_audio.cc
  if (IsWanVaeSynthPreset(args)) return RunSynthWanVae(args);  // wan-vae-*: synth_wan_vae.cc
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args, {"--preset", "--type", "--seed", "--threads", "--variant"}, {"--plan"});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool plan_only = parsed->Has("--plan");
  if (parsed->positional.size() > 1 || (!plan_only && parsed->positional.size() != 1)) {
    return UsageError(kCommand, "expected one OUT.gguf", kUsage);
  }
  const std::optional<std::string> preset = parsed->Get("--preset");
  if (!preset) return UsageError(kCommand, "missing --preset", kUsage);
  ovi::OviConfig config;
  if (*preset == "ovi-full") {
    config = ovi::OviFullConfig();
  } else if (*preset == "ovi-tiny") {
    config = ovi::OviTinyConfig();
  } else {
    return UsageError(
        kCommand,
        absl::StrCat("--preset: unknown preset '", *preset, "' (valid: ovi-full, ovi-tiny)"),
        kUsage);
  }
  // The tiny model gets the small test variant so a whole generation runs in CPU tests; the
  // full one the release checkpoint's, unless --variant names another (960x960_10s, ...).
  const std::string variant =
      parsed->Get("--variant").value_or(*preset == "ovi-tiny" ? "128x128_5s" : "720x720_5s");
  if (ovi::FindOviVariant(variant) == nullptr) {
    return UsageError(kCommand, absl::StrCat("--variant: unknown variant '", variant, "'"), kUsage);
  }
  absl::StatusOr<QuantMix> mix = FindQuantMix(parsed->Get("--type").value_or("BF16"));
  if (!mix.ok()) return UsageError(kCommand, std::string(mix.status().message()), kUsage);
  absl::StatusOr<uint64_t> seed_option = SeedOption(*parsed);
  if (!seed_option.ok()) {
    return UsageError(kCommand, std::string(seed_option.status().message()), kUsage);
  }
  const uint64_t seed = *seed_option;
  absl::StatusOr<int> threads = ThreadsOption(*parsed);
  if (!threads.ok()) return UsageError(kCommand, std::string(threads.status().message()), kUsage);

  const std::vector<ovi::OviTensor> layout = ovi::BuildOviLayout(config);
  const std::vector<PlannedOviTensor> plan = Plan(layout, *mix);
  if (plan_only) {
    PrintPlanJson(*preset, *mix, seed, plan);
    return 0;
  }
  const absl::Status s =
      Synth(parsed->positional[0], *preset, variant, config, *mix, seed, *threads, plan);
  return s.ok() ? 0 : Fail(kCommand, s);
}

}  // namespace ovid::tools
