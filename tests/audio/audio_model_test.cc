// MmAudioVae and BigVgan (engine/models/{mmaudio_vae,bigvgan}) on small random files written
// here: output shapes and ranges, BigVGAN's three weight forms folding to the same model, filters
// computed when absent, bf16 close to f32, GGUF-free error paths for bad inputs and files. The
// comparisons with PyTorch references are tests/audio/*.py.
#include "engine/models/bigvgan/bigvgan.h"
#include "engine/models/mmaudio_vae/mmaudio_vae.h"

#include <ATen/Parallel.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/models/bigvgan/bigvgan_filter.h"
#include "tests/common/temp_dir.h"

namespace ovid {
namespace {

// The models here are tiny: one intra-op thread. On a busy 2-core CI machine OpenMP threads that
// spin waiting for a core cost several times what they gain.
const bool kOneThread = [] {
  at::set_num_threads(1);
  return true;
}();

double RelErr(const at::Tensor& a, const at::Tensor& b) {
  return a.sub(b).norm().item<double>() / a.norm().item<double>();
}

std::string TempPath(const std::string& name) { return testing::ProcessTempDir().File(name); }

int64_t Elements(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Writes f32 tensors (name -> (shape, values)).
void WriteFile(const std::string& path,
               const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& t) {
  std::vector<gguf::SafetensorsEntry> entries;
  for (const auto& [name, sv] : t) {
    entries.push_back({name, "F32", sv.first,
                       {reinterpret_cast<const uint8_t*>(sv.second.data()), sv.second.size() * 4}});
  }
  ASSERT_TRUE(gguf::WriteSafetensors(path, entries).ok());
}

std::vector<float> Normal(std::mt19937& rng, int64_t n, float mean, float stddev) {
  std::normal_distribution<float> d(mean, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

std::string WriteVae(const std::string& name, float gain = 0.f) {
  const std::string path = TempPath(name);
  std::mt19937 rng(7);
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> t;
  const auto layout = mmaudio_vae::BuildMmAudioVaeLayout(mmaudio_vae::MmAudioVaeTinyConfig());
  for (const auto& x : *layout) {
    const auto& shape = x.expected.shapes.front();
    const bool mean = x.logical == "data_mean", std = x.logical == "data_std";
    t[x.expected.file] = {shape, Normal(rng, Elements(shape), mean ? -4.f : std ? 1.5f : 0.f,
                                        std ? 0.1f : 1.f)};
  }
  t["encoder.conv_in.weight"] = {{16, 80, 3}, std::vector<float>(16 * 80 * 3, 0.f)};
  if (gain != 0.f) {
    for (const auto& x : *layout) {
      std::vector<float>& values = t[x.expected.file].second;
      if (x.logical == "gain") values.assign(values.size(), gain);
    }
  }
  WriteFile(path, t);
  return path;
}

TEST(MmAudioVae, DecodesLatentsToMel) {
  auto vae = mmaudio_vae::MmAudioVae::Load(WriteVae("vae.safetensors"));
  ASSERT_TRUE(vae.ok()) << vae.status();
  EXPECT_EQ((*vae)->ignored(), std::vector<std::string>{"encoder.conv_in.weight"});
  EXPECT_GT((*vae)->parameter_bytes(), 0);
  const at::Tensor z = at::randn({9, 20});
  auto mel = (*vae)->Decode(z);
  ASSERT_TRUE(mel.ok()) << mel.status();
  EXPECT_EQ(mel->sizes().vec(), (std::vector<int64_t>{80, 18}));
  EXPECT_EQ(mel->scalar_type(), at::kFloat);
  EXPECT_TRUE(mel->isfinite().all().item<bool>());
  // Un-normalised with data_mean ~ -4 and data_std ~ 1.5: a log-mel-like range.
  EXPECT_NEAR(mel->mean().item<double>(), -4.0, 1.0);
  EXPECT_GT(mel->std().item<double>(), 0.3);
  // Any float dtype in: the same result from bf16-rounded latents given as f32 or bf16.
  const at::Tensor zb = z.to(at::kBFloat16);
  EXPECT_TRUE(at::equal(*(*vae)->Decode(zb), *(*vae)->Decode(zb.to(at::kFloat))));
}

TEST(MmAudioVae, Bf16StaysClose) {
  const std::string path = WriteVae("vae-bf16.safetensors");
  auto f32 = mmaudio_vae::MmAudioVae::Load(path);
  auto bf16 = mmaudio_vae::MmAudioVae::Load(path, {c10::kCPU, at::kBFloat16});
  ASSERT_TRUE(f32.ok() && bf16.ok());
  EXPECT_LT((*bf16)->parameter_bytes(), (*f32)->parameter_bytes());
  const at::Tensor z = at::randn({6, 20});
  const at::Tensor a = *(*f32)->Decode(z), b = *(*bf16)->Decode(z);
  const double rel = RelErr(a, b);
  EXPECT_GT(rel, 1e-6);  // really bf16
  EXPECT_LT(rel, 3e-2);
}

TEST(MmAudioVae, RefusesBadInputsAndFiles) {
  auto vae = mmaudio_vae::MmAudioVae::Load(WriteVae("vae-bad.safetensors"));
  ASSERT_TRUE(vae.ok());
  for (const at::Tensor& bad : {at::randn({4, 19}), at::randn({1, 4, 20}),
                                at::randn({0, 20}), at::ones({3, 20}, at::kLong)}) {
    auto r = (*vae)->Decode(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::StrContains(r.status().message(), "latents must be float [L, 20]"))
        << r.status();
  }
  auto missing = mmaudio_vae::MmAudioVae::Load(TempPath("does-not-exist.safetensors"));
  EXPECT_FALSE(missing.ok());
  auto dtype = mmaudio_vae::MmAudioVae::Load(WriteVae("vae-f16.safetensors"),
                                             {c10::kCPU, at::kHalf});
  EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
  // A NaN learnable gain loaded and made every mel value NaN.
  auto nan_gain = mmaudio_vae::MmAudioVae::Load(WriteVae("vae-nan.safetensors", std::nanf("")));
  ASSERT_FALSE(nan_gain.ok());
  EXPECT_EQ(nan_gain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(nan_gain.status().message(), "learnable gain"))
      << nan_gain.status();
}

// One BigVGAN (tiny config) written in `form`, always from the same random values: direction v
// ~ N(0, 1), gains ~ a unit-variance layer's row norm, so every form describes the same model.
std::string WriteVocoder(const std::string& name, bigvgan::WeightForm form, bool filters = true,
                         const std::string& prefix = "") {
  const std::string path = TempPath(name);
  const auto layout = *bigvgan::BuildBigVganLayout(bigvgan::BigVganTinyConfig(), form, prefix);
  std::mt19937 rng(11);
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> t;
  for (const auto& c : layout.convs) {
    const auto& s = c.weight_shape;
    const int64_t rows = s[0], row = Elements(s) / rows;
    std::vector<float> v = Normal(rng, Elements(s), 0, 1);
    std::vector<float> g = Normal(rng, rows, 1, 0.05f);
    const double fan = c.transposed ? double(s[0] * s[2]) / c.stride : double(s[1] * s[2]);
    for (int64_t r = 0; r < rows; ++r) {
      g[r] *= static_cast<float>(std::sqrt(row / fan) * (c.logical == "conv_post" ? 0.05 : 1.0));
      if (form != bigvgan::WeightForm::kFolded) continue;
      double sq = 0;
      for (int64_t i = 0; i < row; ++i) sq += double{v[r * row + i]} * v[r * row + i];
      for (int64_t i = 0; i < row; ++i) v[r * row + i] *= static_cast<float>(g[r] / std::sqrt(sq));
    }
    if (!c.gain.empty()) t[c.gain] = {{rows, 1, 1}, g};
    t[c.weight] = {s, v};
    const int64_t nb = c.transposed ? s[1] : s[0];
    t[c.bias] = {{nb}, Normal(rng, nb, 0, 0.02f)};
  }
  const std::vector<float> filter = bigvgan::KaiserSincFilter();
  for (const auto& a : layout.acts) {
    t[a.alpha] = {{a.channels}, Normal(rng, a.channels, 0, 0.3f)};
    t[a.beta] = {{a.channels}, Normal(rng, a.channels, 0, 0.3f)};
    if (filters) {
      t[a.up_filter] = {{1, 1, 12}, filter};
      t[a.down_filter] = {{1, 1, 12}, filter};
    }
  }
  WriteFile(path, t);
  return path;
}

at::Tensor Vocode(const std::string& path, const at::Tensor& mel,
                  at::ScalarType dtype = at::kFloat) {
  auto v = bigvgan::BigVgan::Load(path, {c10::kCPU, dtype});
  EXPECT_TRUE(v.ok()) << v.status();
  auto y = (*v)->Vocode(mel);
  EXPECT_TRUE(y.ok()) << y.status();
  return *y;
}

TEST(BigVgan, VocodesMelToWaveform) {
  const at::Tensor mel = at::randn({80, 5});
  const at::Tensor y = Vocode(WriteVocoder("voc.safetensors", bigvgan::WeightForm::kWeightNorm), mel);
  EXPECT_EQ(y.sizes().vec(), std::vector<int64_t>{5 * 256});
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_LE(y.abs().max().item<double>(), 1.0);
  EXPECT_GT(y.std().item<double>(), 0.01);
  EXPECT_LT(y.abs().gt(0.99).to(at::kFloat).mean().item<double>(), 0.05);
}

TEST(BigVgan, AllWeightFormsFoldToTheSameModel) {
  const at::Tensor mel = at::randn({80, 3});
  const at::Tensor g_v = Vocode(WriteVocoder("wn.safetensors", bigvgan::WeightForm::kWeightNorm), mel);
  const at::Tensor param =
      Vocode(WriteVocoder("p.safetensors", bigvgan::WeightForm::kParametrized), mel);
  const at::Tensor prefixed = Vocode(
      WriteVocoder("gen.safetensors", bigvgan::WeightForm::kWeightNorm, true, "generator."), mel);
  const at::Tensor folded = Vocode(WriteVocoder("f.safetensors", bigvgan::WeightForm::kFolded), mel);
  EXPECT_TRUE(at::equal(g_v, param));     // the same numbers under other names
  EXPECT_TRUE(at::equal(g_v, prefixed));
  // Folded here in double vs by ovid in f32: equal up to f32 rounding.
  EXPECT_LT(RelErr(g_v, folded), 1e-5) << RelErr(g_v, folded);
  EXPECT_FALSE(at::equal(g_v, Vocode(WriteVocoder("f2.safetensors", bigvgan::WeightForm::kFolded),
                                     at::randn({80, 3}))));
}

TEST(BigVgan, ComputesFiltersWhenAbsent) {
  const at::Tensor mel = at::randn({80, 2});
  const at::Tensor with = Vocode(WriteVocoder("fl.safetensors", bigvgan::WeightForm::kWeightNorm), mel);
  const at::Tensor without =
      Vocode(WriteVocoder("nofl.safetensors", bigvgan::WeightForm::kWeightNorm, false), mel);
  EXPECT_TRUE(at::equal(with, without));  // the file's buffers are the same computation
}

TEST(BigVgan, Bf16StaysClose) {
  const std::string path = WriteVocoder("voc-bf16.safetensors", bigvgan::WeightForm::kWeightNorm);
  const at::Tensor mel = at::randn({80, 4});
  const at::Tensor a = Vocode(path, mel), b = Vocode(path, mel, at::kBFloat16);
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  const double rel = RelErr(a, b);
  EXPECT_GT(rel, 1e-6);
  EXPECT_LT(rel, 0.1);  // 6 stages of bf16 convs feeding sin(): a few percent
}

TEST(BigVgan, RefusesBadMel) {
  auto v = bigvgan::BigVgan::Load(WriteVocoder("voc-bad.safetensors", bigvgan::WeightForm::kFolded));
  ASSERT_TRUE(v.ok());
  for (const at::Tensor& bad : {at::randn({79, 4}), at::randn({1, 80, 4}), at::randn({80, 0})}) {
    auto r = (*v)->Vocode(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::StrContains(r.status().message(), "mel must be float [80, T]")) << r.status();
  }
  // A VAE file is not a vocoder, and the error says what was looked for.
  auto wrong = bigvgan::BigVgan::Load(WriteVae("not-a-vocoder.safetensors"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "not a BigVGAN generator file"))
      << wrong.status();
}

}  // namespace
}  // namespace ovid
