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
#include "absl/strings/str_replace.h"
#include "engine/gguf/status_macros.h"
#include "engine/pipeline/device_util.h"
#include "engine/pipeline/latents_output.h"
#include "engine/pipeline/ovi_pipeline_impl.h"
#include "engine/sampling/flow_schedule.h"
#include "engine/tensor/vram_accounting.h"

namespace ovid::pipeline {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

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
  explicit RunningJob(std::atomic<int>* running) : running_(running) {
    alone_ = running_->fetch_add(1) == 0;
  }
  ~RunningJob() { running_->fetch_sub(1); }
  // No other job was running when this one started.
  bool started_alone() const { return alone_; }
  // No other job is running now.
  bool alone() const { return running_->load() == 1; }

 private:
  std::atomic<int>* running_;
  bool alone_ = false;
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
  const std::string where = state.step > 0 ? absl::StrCat("at denoising step ", state.step)
                                           : std::string("before the first denoising step");
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
  const auto job_start = std::chrono::steady_clock::now();
  OVID_ASSIGN_OR_RETURN(JobPlan plan, PlanJob(request, limits_));
  if (!healthy()) {
    return absl::UnavailableError(
        "the device had a sticky error; this process cannot run jobs until it restarts");
  }
  OVID_RETURN_IF_ERROR(cancel.status());

  GenerationResult result;
  result.seed = plan.seed.has_value() ? *plan.seed : RandomSeed();
  result.parameters = plan.parameters;

  WorkerPool::Lease lease = pool_->Acquire();
  const SlotBinding bind(lease.slot());
  absl::StatusOr<DenoisedLatents> latents;
  DenoiseState state;
  const auto denoise_start = std::chrono::steady_clock::now();
  uint64_t peak = 0;
  {
    RunningJob job(&running_);
    // The allocator's peak is per device, not per job: with several workers it also covers
    // the jobs running beside this one. It is reset only when this job starts alone, so the
    // figure is never lower than this job's own peak (it includes the resident weights).
    if (job.started_alone()) ResetPeakAllocated(device_);
    latents =
        RunDenoise(*model_, {&plan, result.seed, options_.faults, job_start}, sink, cancel, &state);
    if (device_.is_cuda()) {
      const AllocatorStats stats = QueryAllocatorStats(device_.has_index() ? device_.index() : 0);
      if (stats.valid) peak = static_cast<uint64_t>(stats.peak_allocated);
    }
    if (!latents.ok()) return MapJobError(latents.status(), state, lease.slot(), job.alone());
  }
  result.stages.push_back({"denoise", SecondsSince(denoise_start), peak});
  result.peak_vram_bytes = peak;

  const EffectiveParameters& p = plan.parameters;
  const std::map<std::string, std::string> metadata = {
      {"seed", absl::StrCat(result.seed)},
      {"steps", absl::StrCat(p.steps)},
      {"solver", SolverName(p.solver)},
      {"shift", absl::StrCat(p.shift)},
      {"video_guidance", absl::StrCat(p.video_guidance)},
      {"audio_guidance", absl::StrCat(p.audio_guidance)},
      {"slg_layer", absl::StrCat(p.slg_layer)},
      {"variant", limits_.variant.name},
      {"width", absl::StrCat(p.width)},
      {"height", absl::StrCat(p.height)},
  };
  for (OutputFormat format : p.outputs) {
    // PlanJob admits LATENTS only while no decoder is loaded.
    if (format != OutputFormat::kLatents) continue;
    absl::StatusOr<std::string> bytes = SerializeLatents(latents->video, latents->audio, metadata);
    if (!bytes.ok()) return MapJobError(bytes.status(), state, lease.slot(), false);
    sink.OnOutput({OutputFormat::kLatents, *std::move(bytes)});
  }
  return result;
}

}  // namespace ovid::pipeline
