// WanVae (engine/models/wan_vae/wan_vae.h) on small random files written here: shapes, the
// chunking invariance and prefix property of the causal decoder, cancellation, bf16, and the
// errors for bad inputs and files. The comparison with diffusers is tests/wan_vae/*.py.
#include "engine/models/wan_vae/wan_vae.h"

#include <ATen/ops/allclose.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/gguf/safetensors_writer.h"
#include "tests/common/temp_dir.h"
#include "engine/models/wan_vae/wan_vae_keys.h"

namespace ovid::wan_vae {
namespace {

// Wan2.2's structure at widths 16/8, one residual block per stage (two in the decoder).
WanVaeConfig SmallConfig() {
  WanVaeConfig c;
  c.num_res_blocks = 1;
  c.dec_in_dim = 16;
  c.dec_stage_dims = {16, 16, 8, 8};
  c.enc_in_dim = 8;
  c.enc_stage_dims = {8, 16, 16, 16};
  return c;
}

// Writes `c` in the diffusers layout with random weights scaled by 1/sqrt(fan-in), gammas ~1.
std::string WriteModel(const WanVaeConfig& c, const std::string& name) {
  const std::string path = testing::ProcessTempDir().File(name);
  const KeyTable* table = *BuiltinKeyTable(WanVaeLayout::kDiffusers);
  const std::vector<WanVaeTensor> layout = *BuildWanVaeLayout(c, *table);
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<std::vector<float>> data;
  std::vector<gguf::SafetensorsEntry> entries;
  for (const WanVaeTensor& t : layout) {
    int64_t n = 1, fan_in = 1;
    for (size_t i = 0; i < t.shape.size(); ++i) {
      n *= t.shape[i];
      if (i > 0) fan_in *= t.shape[i];
    }
    const bool gamma = absl::EndsWith(t.logical, "gamma");
    std::vector<float> v(n);
    for (float& x : v) {
      x = gamma ? 1.f + 0.1f * normal(rng)
                : normal(rng) / std::sqrt(static_cast<float>(t.shape.size() > 1 ? fan_in : 16));
    }
    data.push_back(std::move(v));
  }
  for (size_t i = 0; i < layout.size(); ++i) {
    entries.push_back({layout[i].file, "F32", layout[i].shape,
                       {reinterpret_cast<const uint8_t*>(data[i].data()), data[i].size() * 4}});
  }
  EXPECT_TRUE(gguf::WriteSafetensors(path, entries).ok());
  return path;
}

class WanVaeModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { path_ = new std::string(WriteModel(SmallConfig(), "small.st")); }
  static void TearDownTestSuite() { delete path_; }
  static std::unique_ptr<WanVae> Load(WanVaeOptions o = {}) {
    absl::StatusOr<std::unique_ptr<WanVae>> vae = WanVae::Load(*path_, o);
    EXPECT_TRUE(vae.ok()) << vae.status();
    return vae.ok() ? *std::move(vae) : nullptr;
  }
  static at::Tensor Latents(int64_t frames) {
    return at::randn({48, frames, 2, 3}, at::TensorOptions().dtype(at::kFloat));
  }
  static std::string* path_;
};
std::string* WanVaeModelTest::path_ = nullptr;

TEST_F(WanVaeModelTest, DecodesToTheDocumentedShapeAndRange) {
  auto vae = Load();
  ASSERT_NE(vae, nullptr);
  EXPECT_EQ(vae->layout(), WanVaeLayout::kDiffusers);
  EXPECT_TRUE(vae->has_encoder());
  absl::StatusOr<at::Tensor> v = vae->Decode(Latents(3));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->sizes().vec(), (std::vector<int64_t>{3, 9, 32, 48}));
  EXPECT_EQ(v->scalar_type(), at::kFloat);
  EXPECT_LE(v->abs().max().item<float>(), 1.f);
  EXPECT_GT(v->std().item<float>(), 1e-3f);  // not a constant picture
}

TEST_F(WanVaeModelTest, ChunkSizesGiveTheSameFramesAndDecodingIsCausal) {
  auto vae = Load();
  ASSERT_NE(vae, nullptr);
  const at::Tensor z = Latents(4);
  const at::Tensor base = *vae->Decode(z);
  for (int64_t chunk : {2, 3, 4, 9}) {
    DecodeOptions o;
    o.chunk_frames = chunk;
    absl::StatusOr<at::Tensor> v = vae->Decode(z, o);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(at::allclose(*v, base, 1e-5, 1e-5)) << "chunk " << chunk;
  }
  for (int64_t chunk : {1, 4}) {
    for (int64_t stage_frames : {1, 2, 3}) {
      DecodeOptions o;
      o.chunk_frames = chunk;
      o.stage_frames = stage_frames;
      absl::StatusOr<at::Tensor> v = vae->Decode(z, o);
      ASSERT_TRUE(v.ok()) << v.status();
      EXPECT_TRUE(at::allclose(*v, base, 1e-5, 1e-5))
          << "chunk " << chunk << ", stage_frames " << stage_frames;
    }
  }
  // Latent frame k only changes pixel frames 4k-3.. on: the first 2 latents give frames 0..4.
  const at::Tensor prefix = *vae->Decode(z.narrow(1, 0, 2).contiguous());
  EXPECT_TRUE(at::allclose(prefix, base.narrow(1, 0, 5), 1e-5, 1e-5));
  EXPECT_FALSE(at::allclose(prefix, base.narrow(1, 1, 5), 1e-3, 1e-3));
}

TEST_F(WanVaeModelTest, OnChunkReportsProgressAndCancels) {
  auto vae = Load();
  ASSERT_NE(vae, nullptr);
  std::vector<std::pair<int64_t, int64_t>> seen;
  DecodeOptions o;
  o.on_chunk = [&](int64_t done, int64_t total) {
    seen.push_back({done, total});
    return done >= 2 ? absl::CancelledError("client went away") : absl::OkStatus();
  };
  absl::StatusOr<at::Tensor> v = vae->Decode(Latents(4), o);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, int64_t>>{{1, 4}, {2, 4}}));
}

TEST_F(WanVaeModelTest, Bf16IsCloseButNotTheSame) {
  auto f32 = Load();
  WanVaeOptions o;
  o.dtype = at::kBFloat16;
  auto bf16 = Load(o);
  ASSERT_TRUE(f32 && bf16);
  const at::Tensor z = Latents(2);
  const at::Tensor a = *f32->Decode(z), b = *bf16->Decode(z);
  const double rel = a.sub(b).norm().item<double>() / a.norm().item<double>();
  EXPECT_GT(rel, 1e-5);
  EXPECT_LT(rel, 5e-2);
  EXPECT_LT(bf16->parameter_bytes(), f32->parameter_bytes());
}

TEST_F(WanVaeModelTest, EncodesFramesToLatents) {
  auto vae = Load();
  ASSERT_NE(vae, nullptr);
  absl::StatusOr<at::Tensor> z = vae->EncodeImage(at::randn({3, 32, 48}).clamp(-1, 1));
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->sizes().vec(), (std::vector<int64_t>{48, 1, 2, 3}));
  absl::StatusOr<at::Tensor> clip = vae->EncodeVideo(at::randn({3, 5, 32, 48}).clamp(-1, 1));
  ASSERT_TRUE(clip.ok()) << clip.status();
  EXPECT_EQ(clip->sizes().vec(), (std::vector<int64_t>{48, 2, 2, 3}));
  EXPECT_EQ(vae->EncodeVideo(at::randn({3, 4, 32, 48})).status().code(),
            absl::StatusCode::kInvalidArgument);  // not 1+4k frames
  absl::StatusOr<at::Tensor> bad = vae->EncodeImage(at::randn({3, 30, 48}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "multiples of 16")) << bad.status();
}

TEST_F(WanVaeModelTest, RefusesBadInputs) {
  auto vae = Load();
  ASSERT_NE(vae, nullptr);
  absl::StatusOr<at::Tensor> wrong = vae->Decode(at::randn({16, 2, 2, 3}));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "[48, F, h, w]")) << wrong.status();
  DecodeOptions o;
  o.chunk_frames = 0;
  EXPECT_EQ(vae->Decode(Latents(1), o).status().code(), absl::StatusCode::kInvalidArgument);
  o.chunk_frames = 1;
  o.stage_frames = -1;
  EXPECT_EQ(vae->Decode(Latents(1), o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WanVaeModelTest, DecoderOnlyLoadHasNoEncoder) {
  WanVaeOptions o;
  o.load_encoder = false;
  auto vae = Load(o);
  ASSERT_NE(vae, nullptr);
  EXPECT_FALSE(vae->has_encoder());
  absl::StatusOr<at::Tensor> z = vae->EncodeImage(at::randn({3, 32, 32}));
  EXPECT_EQ(z.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(z.status().message(), *path_)) << z.status();
}

TEST(WanVaeLoadTest, ErrorsNameTheFile) {
  absl::StatusOr<std::unique_ptr<WanVae>> missing = WanVae::Load("/nonexistent/vae.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "/nonexistent/vae.safetensors"));

  WanVaeConfig c = SmallConfig();
  c.z_dim = 16;  // a Wan2.1-sized latent: no statistics table
  const std::string path = WriteModel(c, "z16.st");
  absl::StatusOr<std::unique_ptr<WanVae>> z16 = WanVae::Load(path);
  ASSERT_FALSE(z16.ok());
  EXPECT_EQ(z16.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(z16.status().message(), path + ": z_dim 16")) << z16.status();
}

}  // namespace
}  // namespace ovid::wan_vae
