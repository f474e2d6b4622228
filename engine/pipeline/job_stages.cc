// File: engine/pipeline/job_stages.cc
#include "engine/pipeline/job_stages.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/wan_vae/wan_vae.h"
#include "engine/pipeline/audio_stage.h"
#include "engine/ops/shared_tensors.h"
#include "engine/pipeline/device_util.h"
#include "engine/pipeline/latents_output.h"
#include "engine/pipeline/text_stage.h"
#include "engine/pipeline/video_stage.h"
#include "engine/tensor/vram_accounting.h"

namespace ovid::pipeline {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Times one stage and reads the device's peak allocation at its end. The peak is reset at the
// stage's start when the job runs alone, so it is that stage's own peak (resident weights
// included); with other jobs running it is the device's peak since the last reset, never lower
// than the stage's.
class StageClock {
 public:
  StageClock(const JobContext& job, DenoiseState* state, std::string name, GenerationResult* result)
      : job_(job), name_(std::move(name)), result_(result) {
    state->stage = name_;
    if (job_.device.is_cuda() && job_.alone()) ResetPeakAllocated(job_.device);
    start_ = std::chrono::steady_clock::now();
  }
  // Called once the stage succeeded on the host: waits for its device work, so the seconds are
  // the stage's own and a late device error is the stage's.
  absl::Status Done() {
    OVID_RETURN_IF_ERROR(ops::WaitForCurrentStream(job_.device, name_.c_str()));
    uint64_t peak = 0;
    if (job_.device.is_cuda()) {
      const AllocatorStats s = QueryAllocatorStats(job_.device.has_index() ? job_.device.index() : 0);
      if (s.valid) peak = static_cast<uint64_t>(s.peak_allocated);
    }
    result_->stages.push_back({name_, SecondsSince(start_), peak});
    result_->peak_vram_bytes = std::max(result_->peak_vram_bytes, peak);
    return absl::OkStatus();
  }

 private:
  const JobContext& job_;
  std::string name_;
  GenerationResult* result_;
  std::chrono::steady_clock::time_point start_;
};

void Report(const JobContext& job, ProgressSink& sink, const char* stage, uint32_t step,
            uint32_t total) {
  sink.OnProgress({stage, step, total, SecondsSince(job.job_start), 0});
}

absl::StatusOr<TextContexts> TextStage(const JobContext& job, ProgressSink& sink,
                                       DenoiseState* state, GenerationResult* result) {
  const JobPlan& plan = *job.plan;
  // Embeddings only: EncodeText just copies them, no stage to time.
  if (!plan.NeedsTextEncoder()) return EncodeText(plan, *job.components);
  StageClock clock(job, state, "text_encode", result);
  Report(job, sink, "text_encode", 0, 1);
  OVID_ASSIGN_OR_RETURN(TextContexts t, EncodeText(plan, *job.components));
  OVID_RETURN_IF_ERROR(clock.Done());
  Report(job, sink, "text_encode", 1, 1);
  return t;
}

absl::StatusOr<at::Tensor> FirstFrameStage(const JobContext& job, ProgressSink& sink,
                                           DenoiseState* state, GenerationResult* result) {
  StageClock clock(job, state, "image_encode", result);
  Report(job, sink, "image_encode", 0, 1);
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<wan_vae::WanVae> vae,
                        job.components->video_vae.Acquire());
  const RgbImage& image = *job.first_frame;
  const EffectiveParameters& p = job.plan->parameters;
  OVID_ASSIGN_OR_RETURN(at::Tensor latent,
                        EncodeFirstFrame(*vae, image.rgb.data(), image.width, image.height,
                                         p.width, p.height));
  OVID_RETURN_IF_ERROR(clock.Done());
  Report(job, sink, "image_encode", 1, 1);
  return latent;
}

absl::StatusOr<at::Tensor> AudioStage(const JobContext& job, const at::Tensor& latents,
                                      ProgressSink& sink, DenoiseState* state,
                                      GenerationResult* result) {
  StageClock clock(job, state, "audio_decode", result);
  Report(job, sink, "audio_decode", 0, 1);
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<AudioDecoders> audio, job.components->audio.Acquire());
  OVID_ASSIGN_OR_RETURN(at::Tensor samples, DecodeAudio(*audio, latents));
  OVID_RETURN_IF_ERROR(clock.Done());
  Report(job, sink, "audio_decode", 1, 1);
  return samples;
}

absl::StatusOr<at::Tensor> VideoStage(const JobContext& job, const at::Tensor& latents,
                                      ProgressSink& sink, const CancelToken& cancel,
                                      DenoiseState* state, GenerationResult* result) {
  StageClock clock(job, state, "video_decode", result);
  const auto total = static_cast<uint32_t>(latents.size(1));
  Report(job, sink, "video_decode", 0, total);
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<wan_vae::WanVae> vae,
                        job.components->video_vae.Acquire());
  OVID_ASSIGN_OR_RETURN(
      at::Tensor video,
      DecodeVideo(*vae, latents, job.options->decode.vae_chunk_frames,
                  [&](int64_t done, int64_t all) -> absl::Status {
                    Report(job, sink, "video_decode", static_cast<uint32_t>(done),
                           static_cast<uint32_t>(all));
                    return cancel.status();
                  }));
  OVID_RETURN_IF_ERROR(clock.Done());
  return video;
}

absl::Status MuxStage(const JobContext& job, const DecodedMedia& media, ProgressSink& sink,
                      const CancelToken& cancel, DenoiseState* state, GenerationResult* result) {
  std::vector<OutputFormat> formats;
  for (OutputFormat f : job.plan->parameters.outputs) {
    if (f != OutputFormat::kLatents) formats.push_back(f);
  }
  if (formats.empty()) return absl::OkStatus();
  StageClock clock(job, state, "mux", result);
  const auto total = static_cast<uint32_t>(formats.size());
  for (uint32_t i = 0; i < total; ++i) {
    Report(job, sink, "mux", i, total);
    OVID_RETURN_IF_ERROR(cancel.status());
    // Each frame checks the token: a 241-frame encode takes seconds.
    absl::StatusOr<std::string> bytes = EncodeMediaOutput(formats[i], media, job.options->decode,
                                                          [&cancel] { return cancel.cancelled(); });
    // The encoder's CANCELLED has its own words; the token knows why (client or deadline).
    OVID_RETURN_IF_ERROR(cancel.status());
    if (!bytes.ok()) return bytes.status();
    sink.OnOutput({formats[i], *std::move(bytes)});
  }
  OVID_RETURN_IF_ERROR(clock.Done());
  Report(job, sink, "mux", total, total);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunJobStages(const JobContext& job, ProgressSink& sink, const CancelToken& cancel,
                          DenoiseState* state, GenerationResult* result) {
  const JobPlan& plan = *job.plan;
  OVID_ASSIGN_OR_RETURN(TextContexts text, TextStage(job, sink, state, result));
  OVID_RETURN_IF_ERROR(cancel.status());

  DenoiseInputs in{&plan,        std::move(text),     at::Tensor(),
                   job.seed,     job.options->faults, result->parameters.guidance_batched,
                   job.job_start};
  if (plan.image_to_video) {
    OVID_ASSIGN_OR_RETURN(in.first_frame_latent, FirstFrameStage(job, sink, state, result));
    OVID_RETURN_IF_ERROR(cancel.status());
  }

  absl::StatusOr<DenoisedLatents> latents;
  {
    StageClock clock(job, state, "denoise", result);
    // An offloaded denoiser is loaded here and freed when `model` goes, before the decoders.
    OVID_ASSIGN_OR_RETURN(std::shared_ptr<ovi::OviModel> model, job.model->Acquire());
    latents = RunDenoise(*model, in, sink, cancel, state);
    if (!latents.ok()) return latents.status();
    OVID_RETURN_IF_ERROR(clock.Done());
  }
  in = DenoiseInputs();  // the text contexts and the first frame's latent are done with
  // The sampler checks the token before each step, not after the last: a cancel or deadline
  // during that step must not end in outputs and success.
  OVID_RETURN_IF_ERROR(cancel.status());

  if (plan.Wants(OutputFormat::kLatents)) {
    state->stage = "latents";  // a failure here is not one of a denoising step
    OVID_ASSIGN_OR_RETURN(std::string bytes,
                          SerializeLatents(latents->video, latents->audio, job.latents_metadata));
    sink.OnOutput({OutputFormat::kLatents, std::move(bytes)});
  }

  DecodedMedia media;
  const bool bench_decode = job.options->bench.decode_latents_jobs;
  if (plan.NeedsAudioDecode() || (bench_decode && job.components->has_audio_decoder())) {
    OVID_RETURN_IF_ERROR(cancel.status());
    OVID_ASSIGN_OR_RETURN(media.audio, AudioStage(job, latents->audio, sink, state, result));
  }
  latents->audio = at::Tensor();
  if (plan.NeedsVideoDecode() || (bench_decode && job.components->has_video_decoder())) {
    OVID_RETURN_IF_ERROR(cancel.status());
    OVID_ASSIGN_OR_RETURN(media.video,
                          VideoStage(job, latents->video, sink, cancel, state, result));
  }
  latents->video = at::Tensor();
  return MuxStage(job, media, sink, cancel, state, result);
}

}  // namespace ovid::pipeline
