// File: engine/pipeline/pipeline_run.cc
// OviPipeline::Run: one job from request to outputs on a leased worker slot, and what its
// failures mean for the caller:
//   the token's CANCELLED / DEADLINE_EXCEEDED   as they are
//   device OOM (c10::OutOfMemoryError, bad_alloc, or a CUDA "out of memory" error)
//                                               RESOURCE_EXHAUSTED "out of device memory at
//                                               denoising step N: ..."; the next job runs
//   a sticky device error (survives cudaGetLastError) or FaultHooks::device_error_at_step
//                                               INTERNAL, and healthy() turns false for good
//   anything else                               as the layer below returned it
#include <random>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"
#include "engine/pipeline/device_util.h"
#include "engine/pipeline/job_stages.h"
#include "engine/pipeline/ovi_pipeline_impl.h"
#include "ovid/host_memory.h"

namespace ovid::pipeline {
namespace {

const char* SolverName(Solver s) {
  switch (s) {
    case Solver::kEuler:
      return "euler";
    case Solver::kDpmpp:
      return "dpm++";
    default:
      return "unipc";
  }
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Counts the jobs on the device, for the peak counter and the cache release below.
class RunningJob {
 public:
  explicit RunningJob(std::atomic<int>* running) : running_(running) { running_->fetch_add(1); }
  ~RunningJob() { running_->fetch_sub(1); }
  // No other job is running now.
  bool alone() const { return running_->load() == 1; }

 private:
  std::atomic<int>* running_;
};

bool IsOutOfMemory(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kResourceExhausted) return true;
  // cuBLAS/cuDNN workspace failures and cudaErrorMemoryAllocation come as plain c10::Errors.
  return s.code() == absl::StatusCode::kInternal &&
         (absl::StrContains(s.message(), "out of memory") ||
          absl::StrContains(s.message(), "CUBLAS_STATUS_ALLOC_FAILED"));
}

}  // namespace

absl::Status OviPipeline::MapJobError(const absl::Status& status, const DenoiseState& state,
                                      const WorkerSlot& slot, bool alone) {
  const absl::StatusCode code = status.code();
  if (code == absl::StatusCode::kCancelled || code == absl::StatusCode::kDeadlineExceeded) {
    return status;
  }
  const std::string where =
      state.stage != "denoise"   ? absl::StrCat("in stage ", state.stage)
      : state.step > 0           ? absl::StrCat("at denoising step ", state.step)
                                 : std::string("before the first denoising step");
  if (IsHostOutOfMemory(status)) {
    // Host RAM, not the device: its cache stays, and the message says which memory ran out.
    const std::string detail =
        absl::StrReplaceAll(status.message(), {{"out of host memory: ", ""}});
    return HostOutOfMemoryError(absl::StrCat("out of host memory ", where, ": ", detail));
  }
  if (IsOutOfMemory(status)) {
    // The job's tensors are gone by now (they lived in RunDenoise). The caching allocator keeps
    // their blocks for the next job, which is what normally avoids cudaMalloc between jobs;
    // after an OOM those blocks may be fragmented in sizes the next job cannot use, so they go
    // back to the driver - but only when no other job runs (emptyCache is process-wide and
    // would make a running job pay for fresh cudaMallocs).
    if (alone) ReleaseCachedMemory(device_);
    const std::string detail =
        absl::StrReplaceAll(status.message(), {{"out of device memory: ", ""}});
    return absl::ResourceExhaustedError(absl::StrCat("out of device memory ", where, ": ", detail));
  }
  if (code == absl::StatusCode::kInternal &&
      (state.injected_device_fault ||
       DeviceHasStickyError(device_, slot.stream ? &*slot.stream : nullptr))) {
    healthy_.store(false, std::memory_order_release);
    return absl::InternalError(absl::StrCat("device error ", where, ": ", status.message(),
                                            " (the device is unusable until the process "
                                            "restarts)"));
  }
  return status;
}

absl::StatusOr<GenerationResult> OviPipeline::Run(const GenerationRequest& request,
                                                  ProgressSink& sink, const CancelToken& cancel) {
  return ops::GuardTorch("job", [&] { return RunUnguarded(request, sink, cancel); });
}

absl::StatusOr<GenerationResult> OviPipeline::RunUnguarded(const GenerationRequest& request,
                                                           ProgressSink& sink,
                                                           const CancelToken& cancel) {
  const auto job_start = std::chrono::steady_clock::now();
  // Image to video: the image is read first, since its aspect sets the video's size.
  std::optional<RgbImage> first_frame;
  std::optional<ImageSize> first_frame_size;
  if (!request.first_frame.empty() && limits_.video_vae_encoder && limits_.media) {
    OVID_ASSIGN_OR_RETURN(first_frame, ReadFirstFrame(request.first_frame));
    first_frame_size = ImageSize{static_cast<uint32_t>(first_frame->width),
                                 static_cast<uint32_t>(first_frame->height)};
  }
  OVID_ASSIGN_OR_RETURN(JobPlan plan, PlanJob(request, limits_, first_frame_size));
  if (!healthy()) {
    return absl::UnavailableError(
        "the device had a sticky error; this process cannot run jobs until it restarts");
  }
  OVID_RETURN_IF_ERROR(cancel.status());

  GenerationResult result;
  result.seed = plan.seed.has_value() ? *plan.seed : RandomSeed();
  result.parameters = plan.parameters;
  result.parameters.guidance_batched = EstimateJob(plan).batched;
  const EffectiveParameters& p = result.parameters;

  JobContext job;
  job.plan = &plan;
  job.seed = result.seed;
  job.first_frame = first_frame ? &*first_frame : nullptr;
  job.model = &model_;
  job.components = components_.get();
  job.options = &options_;
  job.device = device_;
  job.job_start = job_start;
  job.latents_metadata = {
      {"seed", absl::StrCat(result.seed)},
      {"steps", absl::StrCat(p.steps)},
      {"solver", SolverName(p.solver)},
      // %.9g reads back as the same float (StrCat keeps 6 digits): the file reproduces its run.
      {"shift", absl::StrFormat("%.9g", p.shift)},
      {"video_guidance", absl::StrFormat("%.9g", p.video_guidance)},
      {"audio_guidance", absl::StrFormat("%.9g", p.audio_guidance)},
      {"slg_layer", absl::StrCat(p.slg_layer)},
      {"guidance_batched", p.guidance_batched ? "1" : "0"},
      {"variant", limits_.variant.name},
      {"width", absl::StrCat(p.width)},
      {"height", absl::StrCat(p.height)},
  };

  WorkerPool::Lease lease = pool_->Acquire();
  DenoiseState state;
  RunningJob running(&running_);
  job.alone = [&running] { return running.alone(); };
  absl::Status status;
  // On the slot's thread, the error's mapping too: the sticky-error check reads the CUDA
  // runtime's per-thread last error.
  lease.Run([&] {
    // Guarded here as well, so an exception is mapped like any error of the job (an OOM, a
    // sticky device error) and never crosses the slot's thread.
    status =
        ops::GuardTorch("job", [&] { return RunJobStages(job, sink, cancel, &state, &result); });
    if (!status.ok()) status = MapJobError(status, state, lease.slot(), running.alone());
  });
  if (!status.ok()) return status;
  return result;
}

}  // namespace ovid::pipeline
