// `ovid-gguf synth --preset umt5-tiny` files load into Umt5Encoder in both GGUF-able layouts,
// Q8_0 quantizes the Linear weights and the token table (the same model as F32 for one seed),
// and the refused options fail.
#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/models/umt5/umt5_encoder.h"

namespace ovid::umt5 {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/ovid_", getpid(), "_", name);
}

int Synth(const std::string& out, const std::string& extra) {
  const std::string cmd = absl::StrCat(OVID_GGUF_BIN, " synth ", out,
                                       " --preset umt5-tiny --seed 5 ", extra, " >/dev/null 2>&1");
  return std::system(cmd.c_str());
}

std::unique_ptr<Umt5Encoder> Load(const std::string& path) {
  Umt5EncoderOptions o;
  o.load.log = false;
  absl::StatusOr<std::unique_ptr<Umt5Encoder>> enc = Umt5Encoder::Load(path, o);
  EXPECT_TRUE(enc.ok()) << enc.status();
  std::remove(path.c_str());
  return enc.ok() ? *std::move(enc) : nullptr;
}

TEST(Umt5Synth, TinyPresetLoadsInBothLayoutsAndQuantizes) {
  const std::string gguf = TempPath("synth_gguf.gguf"), pth = TempPath("synth_pth.gguf"),
                    q8 = TempPath("synth_q8.gguf");
  ASSERT_EQ(Synth(gguf, "--layout gguf"), 0);
  ASSERT_EQ(Synth(pth, "--layout pth"), 0);
  ASSERT_EQ(Synth(q8, "--type Q8_0"), 0);
  auto a = Load(gguf), b = Load(pth), c = Load(q8);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->spec().layout, Umt5Layout::kGguf);
  EXPECT_EQ(b->spec().layout, Umt5Layout::kPth);
  EXPECT_EQ(a->config().d_model, 64);
  EXPECT_EQ(a->config().layers, 2);
  EXPECT_FALSE(a->quantized_embedding());
  EXPECT_TRUE(c->quantized_embedding());
  EXPECT_EQ(c->store().Accounting().quantized, 15);  // 7 Linear x 2 blocks + the table

  const std::vector<std::vector<int64_t>> prompts = {{100, 7, 1}, {3, 1}};
  absl::StatusOr<std::vector<at::Tensor>> ea = a->Encode(prompts), eb = b->Encode(prompts),
                                          ec = c->Encode(prompts);
  ASSERT_TRUE(ea.ok() && eb.ok() && ec.ok());
  EXPECT_TRUE(at::isfinite((*ea)[0]).all().item<bool>());
  // Values are drawn per tensor name, so the layouts hold different random models: equal only
  // in shape. The Q8_0 file of the same layout and seed is the F32 model, quantized.
  EXPECT_EQ((*ea)[1].sizes(), (*eb)[1].sizes());
  const double rel = (*ec)[0].sub((*ea)[0]).norm().item<double>() / (*ea)[0].norm().item<double>();
  EXPECT_LT(rel, 5e-2);  // Q8_0's own error: 2.9e-2 measured on this seed
  EXPECT_GT(rel, 0.0);
}

TEST(Umt5Synth, RefusesHfNamesAndKQuantsOnTinyRows) {
  EXPECT_NE(Synth(TempPath("hf.gguf"), "--layout hf"), 0);
  EXPECT_NE(Synth(TempPath("q4k.gguf"), "--type Q4_K"), 0);
}

}  // namespace
}  // namespace ovid::umt5
