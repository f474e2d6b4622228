// File: engine/pipeline/denoise_job.h
// The "denoise" stage of one job: the text contexts from the request's embeddings, Ovi's seeded
// noise, and the guided sampling loop over the denoiser, reporting progress after every step
// and polling the cancel token before every step. Runs on the caller's thread with whatever
// worker slot it has bound (SlotBinding).
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/pipeline/request_plan.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::pipeline {

// The text contexts, [tokens, text_dim] each (any float dtype and device): the request's
// embeddings or the text encoder's output. An undefined negative means "the positive" (the
// plan allows that only where the tower's guidance is 1).
struct TextContexts {
  at::Tensor positive;
  at::Tensor video_negative;
  at::Tensor audio_negative;
};

struct DenoiseInputs {
  const JobPlan* plan = nullptr;
  TextContexts text;
  at::Tensor first_frame_latent;  // image to video: [C_v, 1, h, w]; undefined for text to video
  uint64_t seed = 0;
  FaultHooks faults;
  bool batch_guidance = false;                      // PipelineOptions::batch_guidance
  std::chrono::steady_clock::time_point job_start;  // elapsed_seconds counts from here
};

// Where the job stood when a stage returned; the caller words its errors with it.
struct DenoiseState {
  std::string stage = "text_encode";   // the stage running (Progress::stage names)
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

// INTERNAL naming the tower when a latent holds a NaN or infinity. RunDenoise checks its result
// with it: NaN latents must not come back as a success (LATENTS output), nor reach the encoders,
// which would refuse them as if the request were malformed.
absl::Status CheckLatentsFinite(const DenoisedLatents& latents);

// The request's bf16 [tokens, dim] bytes as a CPU tensor (a copy).
at::Tensor EmbeddingTensor(const TextEmbedding& embedding);

}  // namespace ovid::pipeline
