// File: tests/pipeline/pipeline_test_util.h
// Shared pieces of the pipeline tests: the tiny model (written once per test process by the real
// `ovid-gguf synth --preset ovi-tiny`, variant 128x128_5s), requests with random embeddings,
// and a sink that records what Run reports.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::testing {

// The tiny Q4_K_M model's path ("" if synth failed); removed when the process exits.
const std::string& TinyModelPath();

// LoadOviPipeline over the tiny model with `options` (model_path and device set).
absl::StatusOr<std::unique_ptr<LoadedPipeline>> LoadTiny(PipelineOptions options = {},
                                                         const std::string& device = "cpu");

// Random bf16 [tokens, dim] embedding, deterministic by `seed`.
TextEmbedding RandomEmbedding(uint32_t tokens, uint32_t dim, uint32_t seed);

// A valid request for the tiny model: embeddings for all three conditionings, `steps` steps,
// the given seed; everything else default.
GenerationRequest TinyRequest(uint32_t steps, uint64_t seed);

class RecordingSink : public ProgressSink {
 public:
  void OnProgress(const Progress& progress) override;
  void OnOutput(Output output) override;
  std::vector<Progress> progress() const;
  std::vector<Output> outputs() const;
  // Called (on the job's thread) after each recorded progress.
  std::function<void(const Progress&)> on_progress;

 private:
  mutable std::mutex mu_;
  std::vector<Progress> progress_;
  std::vector<Output> outputs_;
};

}  // namespace ovid::testing
