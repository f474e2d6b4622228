// File: tools/ovid_gguf/synth_audio.cc
#include "tools/ovid_gguf/synth_audio.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/models/bigvgan/bigvgan_filter.h"
#include "engine/models/bigvgan/bigvgan_layout.h"
#include "engine/models/mmaudio_vae/mmaudio_vae_layout.h"
#include "tools/ovid_gguf/synthetic_weights.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "synth";
constexpr char kUsage[] =
    "usage: ovid-gguf synth OUT.safetensors --preset PRESET [--form FORM] [--seed N]\n"
    "  PRESET: mmaudio-vae-tiny, mmaudio-vae-16k (MMAudio's 16 kHz VAE decoder, latents -> mel),\n"
    "          bigvgan-tiny, bigvgan-16k (BigVGAN v1 16 kHz, mel -> waveform, 112 M parameters)\n"
    "  Random weights (deterministic by seed) in the checkpoints' names, f32 safetensors. They\n"
    "  are scaled so that a decode of random latents gives a finite, non-trivial mel and a\n"
    "  waveform inside (-1, 1) that is not stuck at 0 or +-1. --form (BigVGAN only) stores each\n"
    "  conv as weight_norm (weight_g + weight_v, the default, as best_netG.pt), parametrized\n"
    "  (parametrizations.weight.original0/1) or folded (weight); every form holds the same\n"
    "  model for the same seed.\n";

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// N(mean, stddev) values of the stream named `stream` (not the file name, so that the forms of
// one BigVGAN conv hold the same numbers).
std::vector<float> Normal(uint64_t seed, const std::string& stream, int64_t n, float mean,
                          float stddev) {
  std::vector<float> v(static_cast<size_t>(n));
  FillNormal(TensorStreamKey(seed, stream), 0, n, mean, stddev, v.data());
  return v;
}

// MMAudio: MPConv1D renormalises every weight at load, so the scale of the stored weights does
// not matter (the original initialises them N(0, 1)); the gain and the mel statistics are set
// near plausible values (log10-mel means around -4, standard deviations around 1.5).
absl::StatusOr<std::vector<Tensor>> MmAudioTensors(const mmaudio_vae::MmAudioVaeConfig& c,
                                                   uint64_t seed) {
  absl::StatusOr<std::vector<mmaudio_vae::MmAudioVaeTensor>> layout =
      mmaudio_vae::BuildMmAudioVaeLayout(c);
  if (!layout.ok()) return layout.status();
  std::vector<Tensor> out;
  for (const mmaudio_vae::MmAudioVaeTensor& t : *layout) {
    const std::vector<int64_t>& shape = t.expected.shapes.front();
    const int64_t n = Elements(shape);
    float mean = 0, stddev = 1;
    if (t.logical == "gain") stddev = 0.1f;
    if (t.logical == "data_mean") mean = -4, stddev = 1;
    if (t.logical == "data_std") mean = 1.5f, stddev = 0.2f;
    std::vector<float> v = Normal(seed, t.expected.file, n, mean, stddev);
    if (t.logical == "data_std") {
      for (float& x : v) x = std::max(x, 0.3f);
    }
    out.push_back({t.expected.file, shape, std::move(v)});
  }
  return out;
}

// BigVGAN: each folded conv weight is ~ N(0, 1/fan_in) per output, so each conv keeps the size of
// its input. The residual sums and Snake (which only adds) still grow the signal to a pre-tanh
// spread of about 15 by conv_post on a VAE-like mel (mean -4), so conv_post is scaled by 0.02
// more: the waveform of random latents then has a spread of about 0.4 (tiny) to 0.6 (16k), with
// under 1% of samples beyond +-0.99.
// Weight-norm gains are the direction's row norms times that scale (+-5%).
absl::StatusOr<std::vector<Tensor>> BigVganTensors(const bigvgan::BigVganConfig& c,
                                                   bigvgan::WeightForm form, uint64_t seed) {
  absl::StatusOr<bigvgan::BigVganLayout> layout = bigvgan::BuildBigVganLayout(c, form);
  if (!layout.ok()) return layout.status();
  std::vector<Tensor> out;
  for (const bigvgan::BigVganConv& conv : layout->convs) {
    const std::vector<int64_t>& s = conv.weight_shape;
    const int64_t rows = s[0], row = Elements(s) / rows;
    // Inputs summed per output value: in * k, or for a transposed conv Cin * k / stride.
    const double fan_in = conv.transposed ? static_cast<double>(s[0] * s[2]) / conv.stride
                                          : static_cast<double>(s[1] * s[2]);
    const double scale = (conv.logical == "conv_post" ? 0.02 : 1.0) / std::sqrt(fan_in);
    std::vector<float> v = Normal(seed, conv.logical + ".v", Elements(s), 0, 1);
    std::vector<float> g = Normal(seed, conv.logical + ".g", rows, 1, 0.05f);
    for (int64_t r = 0; r < rows; ++r) {
      double sq = 0;
      for (int64_t i = 0; i < row; ++i) sq += double{v[r * row + i]} * v[r * row + i];
      const double target = scale * std::sqrt(static_cast<double>(row));
      if (form == bigvgan::WeightForm::kFolded) {
        // w = g * v / ||v||, folded here.
        const double f = g[r] * target / std::sqrt(sq);
        for (int64_t i = 0; i < row; ++i) v[r * row + i] = static_cast<float>(v[r * row + i] * f);
      } else {
        g[r] = static_cast<float>(g[r] * target);
      }
    }
    if (form != bigvgan::WeightForm::kFolded)
      out.push_back({conv.gain, {rows, 1, 1}, std::move(g)});
    out.push_back({conv.weight, s, std::move(v)});
    const int64_t bias_n = conv.transposed ? s[1] : s[0];
    out.push_back({conv.bias, {bias_n}, Normal(seed, conv.logical + ".b", bias_n, 0, 0.02f)});
  }
  const std::vector<float> filter = bigvgan::KaiserSincFilter(c.filter_taps);
  for (const bigvgan::BigVganAct& a : layout->acts) {
    // Log-scale alpha and beta around 0 (SnakeBeta's initialisation), spread so each channel
    // differs.
    out.push_back({a.alpha, {a.channels}, Normal(seed, a.alpha, a.channels, 0, 0.3f)});
    out.push_back({a.beta, {a.channels}, Normal(seed, a.beta, a.channels, 0, 0.3f)});
    out.push_back({a.up_filter, {1, 1, c.filter_taps}, filter});
    out.push_back({a.down_filter, {1, 1, c.filter_taps}, filter});
  }
  return out;
}

}  // namespace

bool IsAudioSynthPreset(const Args& args) {
  return PresetStartsWith(args, "mmaudio-") || PresetStartsWith(args, "bigvgan-");
}

int RunSynthAudio(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, {"--preset", "--form", "--seed"}, {});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed->positional.size() != 1) {
    return UsageError(kCommand, "expected one OUT.safetensors", kUsage);
  }
  absl::StatusOr<uint64_t> seed = SeedOption(*parsed);
  if (!seed.ok()) return UsageError(kCommand, std::string(seed.status().message()), kUsage);
  const std::string preset = parsed->Get("--preset").value_or("");
  const std::string form_name = parsed->Get("--form").value_or("weight_norm");
  bigvgan::WeightForm form;
  if (form_name == "weight_norm") {
    form = bigvgan::WeightForm::kWeightNorm;
  } else if (form_name == "parametrized") {
    form = bigvgan::WeightForm::kParametrized;
  } else if (form_name == "folded") {
    form = bigvgan::WeightForm::kFolded;
  } else {
    return UsageError(kCommand, "--form must be weight_norm, parametrized or folded", kUsage);
  }
  const bool is_vae = absl::StartsWith(preset, "mmaudio-");
  if (is_vae && parsed->Get("--form")) {
    return UsageError(kCommand, "--form applies to the bigvgan-* presets only", kUsage);
  }
  absl::StatusOr<std::vector<Tensor>> tensors;
  if (preset == "mmaudio-vae-tiny") {
    tensors = MmAudioTensors(mmaudio_vae::MmAudioVaeTinyConfig(), *seed);
  } else if (preset == "mmaudio-vae-16k") {
    tensors = MmAudioTensors(mmaudio_vae::MmAudioVae16kConfig(), *seed);
  } else if (preset == "bigvgan-tiny") {
    tensors = BigVganTensors(bigvgan::BigVganTinyConfig(), form, *seed);
  } else if (preset == "bigvgan-16k") {
    tensors = BigVganTensors(bigvgan::BigVgan16kConfig(), form, *seed);
  } else {
    return UsageError(kCommand,
                      absl::StrCat("--preset: unknown preset '", preset,
                                   "' (valid: mmaudio-vae-tiny, mmaudio-vae-16k, bigvgan-tiny, "
                                   "bigvgan-16k)"),
                      kUsage);
  }
  if (!tensors.ok()) return Fail(kCommand, tensors.status());
  std::vector<gguf::SafetensorsEntry> entries;
  int64_t parameters = 0;
  for (const Tensor& t : *tensors) {
    parameters += static_cast<int64_t>(t.values.size());
    entries.push_back({t.name,
                       "F32",
                       t.shape,
                       {reinterpret_cast<const uint8_t*>(t.values.data()), t.values.size() * 4}});
  }
  const std::string& out = parsed->positional[0];
  const absl::Status s = gguf::WriteSafetensors(
      out, entries, {{"ovid.synth.preset", preset}, {"ovid.synth.seed", absl::StrCat(*seed)}});
  if (!s.ok()) return Fail(kCommand, s);
  std::printf("synthesized %s: preset %s%s, seed %llu: %zu tensors, %lld parameters (%s)\n",
              out.c_str(), preset.c_str(), is_vae ? "" : absl::StrCat(", form ", form_name).c_str(),
              static_cast<unsigned long long>(*seed), tensors->size(),
              static_cast<long long>(parameters),
              HumanBytes(4.0 * static_cast<double>(parameters)).c_str());
  return 0;
}

}  // namespace ovid::tools
