// File: engine/pipeline/denoise_job.h
// The "denoise" stage of one job: the text contexts from the request's embeddings, Ovi's seeded
// noise, and the guided sampling loop over the denoiser, reporting progress after every step
// and polling the cancel token before every step. Runs on the caller's thread with whatever
// worker slot it has bound (SlotBinding).
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/pipeline/request_plan.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::pipeline {

struct DenoiseInputs {
  const JobPlan* plan = nullptr;
  uint64_t seed = 0;
  FaultHooks faults;
  std::chrono::steady_clock::time_point job_start;  // elapsed_seconds counts from here
};

// Where the stage stood when it returned; the caller words its errors with it.
struct DenoiseState {
  uint32_t step = 0;                   // the denoising step (1-based) running or last run
  bool injected_device_fault = false;  // FaultHooks::device_error_at_step fired
};

struct DenoisedLatents {
  at::Tensor video;  // [C_v, F, h, w], model dtype, model device
  at::Tensor audio;  // [L, C_a]
};

// The token's status if it stopped the loop; the model's errors as they are (RESOURCE_EXHAUSTED
// for device OOM, ...): the caller maps them.
absl::StatusOr<DenoisedLatents> RunDenoise(const ovi::OviModel& model, const DenoiseInputs& in,
                                           ProgressSink& sink, const CancelToken& cancel,
                                           DenoiseState* state);

// The request's bf16 [tokens, dim] bytes as a CPU tensor (a copy).
at::Tensor EmbeddingTensor(const TextEmbedding& embedding);

}  // namespace ovid::pipeline
