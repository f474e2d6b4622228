// File: tools/ovid_gguf/synth_umt5.cc
#include "tools/ovid_gguf/synth_umt5.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/models/umt5/umt5_keys.h"
#include "kernels/cpu/quantize.h"
#include "tools/ovid_gguf/quant_rules.h"
#include "tools/ovid_gguf/synthetic_weights.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "synth";
constexpr char kUsage[] =
    "usage: ovid-gguf synth OUT.gguf --preset umt5-tiny|umt5-xxl [--layout pth|gguf]\n"
    "                       [--d-model N]  (the preset's width replaced, e.g. 256 for ovi-tiny)\n"
    "                       [--type T] [--seed N] [--threads N]\n"
    "  A random-weight UMT5 encoder (deterministic by seed) with the tensor names of the chosen\n"
    "  layout (default gguf: llama.cpp's t5encoder names; pth: Wan's originals). Hugging Face\n"
    "  names do not fit GGUF's 63-byte name limit. --type (default F32) applies to the\n"
    "  Linear weights and the token table, as llama.cpp quantizes them; norms and relative\n"
    "  bias tables stay F32. umt5-tiny rows are 64 or 96 long: K-quants (256) do not fit it.\n";

// Scale per tensor: Linear 1/sqrt(fan_in) (unit-size activations), norms 1 +- 0.1, relative
// bias 0.5, token table 1 (T5 scales none of them at run time).
struct Fill {
  float mean;
  float stddev;
  bool quantize;
};
Fill FillFor(const umt5::Umt5Tensor& t) {
  if (absl::StrContains(t.canonical, "norm")) return {1.0f, 0.1f, false};
  if (absl::StrContains(t.canonical, "rel_bias")) return {0.0f, 0.5f, false};
  if (t.canonical == "token_embedding") return {0.0f, 1.0f, true};
  return {0.0f, 1.0f / std::sqrt(static_cast<float>(t.shape[1])), true};
}

}  // namespace

bool IsUmt5SynthPreset(const Args& args) { return PresetStartsWith(args, "umt5-"); }

int RunSynthUmt5(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args, {"--preset", "--layout", "--type", "--seed", "--threads", "--d-model"}, {});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed->positional.size() != 1) return UsageError(kCommand, "expected one OUT.gguf", kUsage);
  const std::string preset = parsed->Get("--preset").value_or("");
  umt5::Umt5Config config;
  if (preset == "umt5-tiny") {
    config = umt5::Umt5TinyConfig();
  } else if (preset != "umt5-xxl") {
    return UsageError(kCommand, absl::StrCat("--preset: unknown preset '", preset, "'"), kUsage);
  }
  if (std::optional<std::string> d_model = parsed->Get("--d-model")) {
    // The width must match the denoiser the encoder feeds (ovi-tiny's text_dim is 256).
    if (!absl::SimpleAtoi(*d_model, &config.d_model) || config.d_model < 1 ||
        config.d_model > 16384) {
      return UsageError(kCommand, absl::StrCat("--d-model: '", *d_model, "' is not 1..16384"),
                        kUsage);
    }
  }
  const std::optional<umt5::Umt5Layout> layout =
      umt5::ParseUmt5Layout(parsed->Get("--layout").value_or("gguf"));
  if (!layout || *layout == umt5::Umt5Layout::kHf) {
    // encoder.block.N.layer.0.SelfAttention.relative_attention_bias.weight: 68+ bytes.
    return UsageError(kCommand, "--layout must be pth or gguf (hf names exceed 63 bytes)", kUsage);
  }
  absl::StatusOr<QuantMix> mix = FindQuantMix(parsed->Get("--type").value_or("F32"));
  if (!mix.ok()) return UsageError(kCommand, std::string(mix.status().message()), kUsage);
  absl::StatusOr<uint64_t> seed_option = SeedOption(*parsed);
  if (!seed_option.ok()) {
    return UsageError(kCommand, std::string(seed_option.status().message()), kUsage);
  }
  const uint64_t seed = *seed_option;
  absl::StatusOr<int> threads = ThreadsOption(*parsed);
  if (!threads.ok()) return UsageError(kCommand, std::string(threads.status().message()), kUsage);
  absl::StatusOr<std::vector<umt5::Umt5Tensor>> tensors = umt5::BuildUmt5Layout(config, *layout);
  if (!tensors.ok()) return Fail(kCommand, tensors.status());

  gguf::GgufWriter writer;
  std::vector<GgmlType> types;
  for (const umt5::Umt5Tensor& t : *tensors) {
    const GgmlType type = FillFor(t).quantize ? mix->base : GgmlType::kF32;
    if (t.shape.back() % GgmlInfo(type).block_size != 0) {
      return UsageError(
          kCommand,
          absl::StrCat("--type ", std::string(mix->name), ": rows of '", t.names[0], "' hold ",
                       t.shape.back(), " values, not whole blocks of ", GgmlInfo(type).block_size),
          kUsage);
    }
    types.push_back(type);
    if (absl::Status s = writer.AddTensor(t.names[0], type, {t.shape.rbegin(), t.shape.rend()});
        !s.ok()) {
      return Fail(kCommand, s);
    }
  }
  const std::pair<const char*, gguf::Value> metadata[] = {
      {"general.architecture", gguf::Value::Str("t5encoder")},
      {"general.name", gguf::Value::Str(absl::StrCat("UMT5 synthetic ", preset))},
      {"t5encoder.attention.layer_norm_rms_epsilon", gguf::Value::F32(1e-6f)},
      {"umt5.relative_attention_max_distance",
       gguf::Value::U32(static_cast<uint32_t>(config.max_distance))},
      {"umt5.synth.layout", gguf::Value::Str(umt5::Umt5LayoutName(*layout))},
      {"umt5.synth.seed", gguf::Value::U64(seed)},
  };
  for (const auto& [key, value] : metadata) {
    if (absl::Status s = writer.AddMetadata(key, value); !s.ok()) return Fail(kCommand, s);
  }
  size_t index = 0;
  const absl::Status written = writer.Write(
      parsed->positional[0],
      [&](const gguf::GgufWriter::PlannedTensor& p, std::vector<uint8_t>* out) -> absl::Status {
        const umt5::Umt5Tensor& t = (*tensors)[index];
        const GgmlType type = types[index++];
        const Fill fill = FillFor(t);
        const int64_t row = t.shape.back();
        const int64_t rows = (row == 0) ? 0 : [&] {
          int64_t n = 1;
          for (int64_t d : t.shape) n *= d;
          return n / row;
        }();
        std::vector<float> values(static_cast<size_t>(rows * row));
        FillNormal(TensorStreamKey(seed, t.names[0]), 0, rows * row, fill.mean, fill.stddev,
                   values.data());
        out->resize(p.nbytes);
        if (!QuantizeTensor(type, values.data(), out->data(), rows, row, *threads)) {
          return absl::InternalError(
              absl::StrCat("tensor '", t.names[0], "': cannot encode ", GgmlTypeName(type)));
        }
        return absl::OkStatus();
      });
  if (!written.ok()) return Fail(kCommand, written);
  std::printf("synthesized %s: preset %s, layout %s, type %s, seed %llu: %zu tensors\n",
              parsed->positional[0].c_str(), preset.c_str(), umt5::Umt5LayoutName(*layout),
              std::string(mix->name).c_str(), static_cast<unsigned long long>(seed),
              tensors->size());
  return 0;
}

}  // namespace ovid::tools
