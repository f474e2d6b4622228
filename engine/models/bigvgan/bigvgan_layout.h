// File: engine/models/bigvgan/bigvgan_layout.h
// Which tensors a BigVGAN v1 generator file holds (spec encoders.md §5), its config as the
// shapes imply it, and the whole-file check (ONE error naming the file and every missing,
// unexpected and misshaped tensor). Names come from the compiled-in key table keys.txt; an
// optional "generator." prefix is detected per file, the weight form per conv. Torch-free.
//
// What shapes cannot tell, ovid assumes as BigVGAN v1 16 kHz has it, and refuses files where
// that cannot hold: each ConvTranspose1d's stride is kernel/2 (rates 4,4,2,2,2,2 with kernels
// 8,8,4,4,4,4; kernels must be multiples of 4 so that the output is exactly stride x longer),
// the residual blocks are AMPBlock1 with 3 dilated convs of dilations 1, 3, 5, the activations
// are SnakeBeta with log-scale alpha/beta, and conv_post has a bias and is followed by tanh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/models/audio/audio_key_table.h"
#include "engine/models/audio/audio_tensor_check.h"

namespace ovid::bigvgan {

struct BigVganConfig {
  int64_t num_mels = 80;
  int64_t initial_channel = 1536;
  std::vector<int64_t> up_kernels = {8, 8, 4, 4, 4, 4};  // stride = kernel / 2
  std::vector<int64_t> rb_kernels = {3, 7, 11};
  std::vector<int64_t> dilations = {1, 3, 5};  // the same for every residual block
  int64_t filter_taps = 12;                    // the anti-aliasing filters (kaiser_sinc)

  int64_t Stages() const { return static_cast<int64_t>(up_kernels.size()); }
  int64_t StageChannels(int64_t i) const { return initial_channel >> (i + 1); }  // after ups.i
  int64_t HopLength() const;  // samples per mel frame: the product of the strides (256)
};

BigVganConfig BigVgan16kConfig();   // MMAudio's bigvgan_vocoder.yml, about 112 M parameters
BigVganConfig BigVganTinyConfig();  // the same structure from 64 channels (tests, demos)

// How a conv's weight is stored.
enum class WeightForm : uint8_t {
  kFolded,        // X.weight
  kWeightNorm,    // X.weight_g [O,1,1] + X.weight_v (torch.nn.utils.weight_norm, dim 0)
  kParametrized,  // X.parametrizations.weight.original0 (g) + .original1 (v)
};
const char* WeightFormName(WeightForm form);  // "folded", "weight_g/weight_v", "parametrizations"

struct BigVganConv {
  std::string logical;  // "conv_pre", "ups.0", "rb.4.convs1.2", "conv_post"
  WeightForm form = WeightForm::kFolded;
  std::string weight;  // X.weight, X.weight_v or X...original1: the direction (or folded) weight
  std::string gain;    // X.weight_g or X...original0; empty when folded
  std::string bias;
  std::vector<int64_t> weight_shape;  // [O, I, k]; ConvTranspose1d: [Cin, Cout, k]
  bool transposed = false;
  int64_t stride = 1, dilation = 1, padding = 0;
};

struct BigVganAct {
  std::string logical;  // "rb.4.act.1", "act_post"
  int64_t channels = 0;
  std::string alpha, beta;            // [C], log scale
  std::string up_filter, down_filter; // [1, 1, taps]; optional
};

struct BigVganLayout {
  BigVganConfig config;
  std::string prefix;  // "" or "generator."
  std::vector<BigVganConv> convs;
  std::vector<BigVganAct> acts;
  std::vector<audio::ExpectedTensor> tensors;  // every name the file may or must hold
};

absl::StatusOr<const audio::AudioKeyTable*> BigVganKeyTable();

// The layout of `config` with every conv stored in `form` (what synth writes). The filter
// buffers are listed as optional tensors (the released file has them; ovid can compute them).
absl::StatusOr<BigVganLayout> BuildBigVganLayout(const BigVganConfig& config, WeightForm form,
                                                 absl::string_view prefix = "");

// Detects the prefix and each conv's form, infers the config and checks the whole set.
// `source` (the path) starts every error message.
absl::StatusOr<BigVganLayout> ResolveBigVganLayout(const std::vector<audio::NamedShape>& tensors,
                                                   absl::string_view source);

}  // namespace ovid::bigvgan
