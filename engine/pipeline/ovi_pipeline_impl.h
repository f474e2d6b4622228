// File: engine/pipeline/ovi_pipeline_impl.h
// The LoadedPipeline behind LoadOviPipeline (ovid/ovi_pipeline.h): the denoiser, its worker
// slots and the health flag. Internal to engine/pipeline; the daemon sees only the interface.
//   ovi_pipeline.cc  loading, Describe, Vram, Warmup, EstimateVram and the batching choice
//   pipeline_run.cc  Run and the mapping of a job's failures to the API's error classes
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "engine/models/ovi/ovi_model.h"
#include "engine/pipeline/components.h"
#include "engine/pipeline/denoise_job.h"
#include "engine/pipeline/request_plan.h"
#include "engine/pipeline/worker_pool.h"
#include "ovid/ovi_pipeline.h"

namespace ovid::pipeline {

class OviPipeline final : public LoadedPipeline {
 public:
  static absl::StatusOr<std::unique_ptr<OviPipeline>> Load(const PipelineOptions& options);

  absl::StatusOr<GenerationResult> Run(const GenerationRequest& request, ProgressSink& sink,
                                       const CancelToken& cancel) override;
  absl::StatusOr<uint64_t> EstimateVram(const GenerationRequest& request) const override;
  // Runs the first frame through the decoder (no RGB) so that data only the decoder rejects is
  // refused at admission. Bounded, since it runs on the caller's RPC thread: images up to
  // kAdmissionDecodeMaxPixels, at most kAdmissionDecodes at once; a request beyond either (or
  // when host memory runs short) skips the check, and its job decodes the image as before.
  absl::Status CheckContents(const GenerationRequest& request) const override;
  static constexpr int64_t kAdmissionDecodeMaxPixels = int64_t{4096} * 4096;
  static constexpr int kAdmissionDecodes = 2;
  ModelDescription Describe() const override { return description_; }
  VramSnapshot Vram() const override;
  bool healthy() const override { return healthy_.load(std::memory_order_acquire); }
  absl::Status Warmup() override;
  void SetJobVramShare(uint64_t bytes) override {
    job_vram_share_.store(bytes, std::memory_order_relaxed);
  }

  const ModelLimits& limits() const { return limits_; }

 private:
  OviPipeline() = default;
  // Run's work; Run itself turns anything thrown (a host allocation outside a guard, a sink that
  // throws) into a Status.
  absl::StatusOr<GenerationResult> RunUnguarded(const GenerationRequest& request,
                                                ProgressSink& sink, const CancelToken& cancel);
  void Describe(const PipelineOptions& options, const ovi::OviModel& model);
  // A reloaded (offloaded) denoiser against the startup one: FAILED_PRECONDITION naming what
  // differs (the file was replaced since startup).
  absl::Status SameAsStartup(const ovi::OviModel& m) const;
  // Warmup's passes, one per worker slot; the model they acquired is released on return.
  absl::Status WarmupSlots();
  // A planned job's device memory for admission, and whether it batches its guidance passes
  // (PipelineOptions::batch_guidance); EstimateVram and Run share it, so the job runs the way
  // it was admitted.
  struct JobEstimate {
    uint64_t bytes = 0;
    bool batched = false;
  };
  JobEstimate EstimateJob(const JobPlan& plan) const;
  // A failed job's status in the API's terms (see pipeline_run.cc); may mark the pipeline
  // unhealthy.
  absl::Status MapJobError(const absl::Status& status, const DenoiseState& state,
                           const WorkerSlot& slot, bool alone);

  PipelineOptions options_;
  c10::Device device_{c10::kCPU};
  // The denoiser: resident, or (--offload denoiser) loaded per job for its denoise stage. What
  // the pipeline needs of it between jobs is kept apart: its spec, dtype and load bytes (weights
  // and cache copies).
  OnDemand<ovi::OviModel> model_;
  ovi::OviModelSpec spec_;
  at::ScalarType dtype_ = at::kFloat;
  uint64_t denoiser_load_bytes_ = 0;
  // The fused dispatch measured at startup (null: not measured); reloads reuse it.
  std::shared_ptr<const FusedDispatch> measured_dispatch_;
  std::unique_ptr<Components> components_;
  std::unique_ptr<WorkerPool> pool_;
  ModelLimits limits_;
  ModelDescription description_;
  std::map<std::string, uint32_t> resident_tensors_by_type_;  // storage type -> tensors
  std::atomic<bool> healthy_{true};
  std::atomic<int> running_{0};                    // jobs inside Run's device part
  std::atomic<uint64_t> job_vram_share_{0};        // SetJobVramShare
  mutable std::atomic<int> admission_decodes_{0};  // CheckContents' decodes under way
};

}  // namespace ovid::pipeline
