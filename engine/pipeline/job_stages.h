// File: engine/pipeline/job_stages.h
// One job's stages in Ovi's order (generate(), spec encoders.md §0): text_encode, the first
// frame's latent (image to video), denoise, audio_decode, video_decode, mux. Each stage reports
// progress, is timed with its peak device memory (GenerationResult::stages), and the token is
// polled between stages (and between VAE chunks). Stages a job does not need are skipped: an
// embeddings-only LATENTS job runs denoise alone.
#pragma once

#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "engine/models/ovi/ovi_model.h"
#include "engine/pipeline/components.h"
#include "engine/pipeline/denoise_job.h"
#include "engine/pipeline/on_demand.h"
#include "engine/pipeline/output_stage.h"
#include "engine/pipeline/request_plan.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::pipeline {

struct JobContext {
  const JobPlan* plan = nullptr;
  uint64_t seed = 0;
  const RgbImage* first_frame = nullptr;  // image to video only
  OnDemand<ovi::OviModel>* model = nullptr;  // acquired for the denoise stage only
  Components* components = nullptr;
  const PipelineOptions* options = nullptr;
  c10::Device device{c10::kCPU};
  // True while no other job runs: only then may a stage reset the device's peak counter (it
  // is per device, not per job).
  std::function<bool()> alone;
  std::map<std::string, std::string> latents_metadata;
  std::chrono::steady_clock::time_point job_start;
};

// Runs every stage the plan needs; fills result->stages and result->peak_vram_bytes. Errors as
// the stages return them (the caller maps them, using *state for where it happened).
absl::Status RunJobStages(const JobContext& job, ProgressSink& sink, const CancelToken& cancel,
                          DenoiseState* state, GenerationResult* result);

}  // namespace ovid::pipeline
