// File: tests/pipeline/pipeline_test_util.cc
#include "tests/pipeline/pipeline_test_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

namespace ovid::testing {
namespace {

struct TinyFile {
  TinyFile() {
    const char* dir = std::getenv("TEST_TMPDIR");
    const std::string p =
        absl::StrCat(dir ? dir : "/tmp", "/ovid_", getpid(), "_pipeline_tiny.gguf");
    const std::string cmd = absl::StrCat(
        OVID_GGUF_BIN, " synth ", p, " --preset ovi-tiny --seed 3 --type Q4_K_M > /dev/null 2>&1");
    if (std::system(cmd.c_str()) == 0) path = p;
  }
  ~TinyFile() {
    if (!path.empty()) std::remove(path.c_str());
  }
  std::string path;
};

}  // namespace

const std::string& TinyModelPath() {
  static const TinyFile file;
  return file.path;
}

absl::StatusOr<std::unique_ptr<LoadedPipeline>> LoadTiny(PipelineOptions options,
                                                         const std::string& device) {
  options.model_path = TinyModelPath();
  options.device = device;
  return LoadOviPipeline(options);
}

TextEmbedding RandomEmbedding(uint32_t tokens, uint32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  TextEmbedding e;
  e.tokens = tokens;
  e.dim = dim;
  e.bf16.resize(size_t{2} * tokens * dim);
  for (size_t i = 0; i < size_t{tokens} * dim; ++i) {
    const float x = dist(rng);
    uint32_t bits = 0;
    std::memcpy(&bits, &x, 4);
    const uint16_t half = static_cast<uint16_t>(bits >> 16);  // truncation is a valid bf16
    std::memcpy(&e.bf16[2 * i], &half, 2);
  }
  return e;
}

GenerationRequest TinyRequest(uint32_t steps, uint64_t seed) {
  GenerationRequest r;
  r.conditioning = RandomEmbedding(7, 256, 1);
  r.video_negative = RandomEmbedding(4, 256, 2);
  r.audio_negative = RandomEmbedding(5, 256, 3);
  r.steps = steps;
  r.seed = seed;
  return r;
}

void RecordingSink::OnProgress(const Progress& progress) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.push_back(progress);
  }
  if (on_progress) on_progress(progress);
}

void RecordingSink::OnOutput(Output output) {
  std::lock_guard<std::mutex> lock(mu_);
  outputs_.push_back(std::move(output));
}

std::vector<Progress> RecordingSink::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

std::vector<Output> RecordingSink::outputs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outputs_;
}

}  // namespace ovid::testing
