// File: engine/pipeline/ovi_pipeline.cc
// Loading the Ovi pipeline and what it reports about itself: Describe (GetModel), Vram
// (/metrics), Warmup (readiness) and EstimateVram (admission). Run is in pipeline_run.cc.
#include <ATen/ops/zeros.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <new>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/torch_status.h"
#include "engine/pipeline/device_util.h"
#include "engine/pipeline/output_stage.h"
#include "engine/pipeline/ovi_pipeline_impl.h"
#include "engine/pipeline/vram_estimate.h"
#include "engine/tensor/vram_accounting.h"
#include "kernels/ggml_types.h"

namespace ovid {
namespace pipeline {
namespace {

LinearMode LinearModeOf(WeightMode mode) {
  switch (mode) {
    case WeightMode::kEager:
      return LinearMode::kEager;
    case WeightMode::kCache:
      return LinearMode::kCache;
    default:
      return LinearMode::kLazy;
  }
}

const char* DtypeName(at::ScalarType t) {
  return t == at::kBFloat16 ? "bf16" : t == at::kHalf ? "f16" : "f32";
}

std::string KnownVariants() {
  std::vector<std::string> names;
  for (const ovi::OviVariant& v : ovi::OviVariants()) names.push_back(v.name);
  return absl::StrJoin(names, ", ");
}

// One worker's warm-up, on its slot's thread with the slot bound. Two passes: one video token
// (the fused quantized matmul's range) and 32x32 = 1024 tokens (dequantize + cuBLAS GEMM, beyond
// any fused threshold), so every kernel path, the slot thread's cuBLAS handles and their
// workspaces on the slot's stream exist before readiness: the first request then finds the
// device memory at its steady level rather than adding the library's one-time allocations.
absl::Status WarmupPasses(ovi::OviModel& model, const ovi::OviConfig& c, int worker) {
  const std::string what = absl::StrCat("warmup on worker ", worker);
  for (const int64_t side : {int64_t{2}, int64_t{64}}) {
    OVID_ASSIGN_OR_RETURN(auto inputs, ops::GuardTorch(what.c_str(), [&] {
                            const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
                            return std::tuple{at::zeros({c.video_in_dim, 1, side, side}, f32),
                                              at::zeros({1, c.audio_in_dim}, f32),
                                              at::zeros({1, c.text_dim}, f32)};
                          }));
    const auto& [video, audio, context] = inputs;
    absl::StatusOr<ovi::OviContextCache> ctx = model.PrepareContext(context, context);
    if (!ctx.ok())
      return absl::Status(ctx.status().code(), absl::StrCat(what, ": ", ctx.status().message()));
    absl::StatusOr<ovi::OviForwardOutputs> out = model.Forward({video, audio, 999.0}, *ctx);
    if (!out.ok())
      return absl::Status(out.status().code(), absl::StrCat(what, ": ", out.status().message()));
    // Copying a value back waits for the slot's stream: readiness means the pass finished.
    OVID_RETURN_IF_ERROR(ops::GuardTorch(what.c_str(), [&] { (void)out->video.to(at::kCPU); }));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OviPipeline>> OviPipeline::Load(const PipelineOptions& options) {
  const std::string& path = options.model_path;
  if (path.empty()) return absl::InvalidArgumentError("model_path is empty");
  std::unique_ptr<OviPipeline> p(new OviPipeline());
  p->options_ = options;
  absl::StatusOr<c10::Device> device = ResolveDevice(options.device);
  if (!device.ok()) return InFile(device.status(), path);
  p->device_ = *device;
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": workers must be >= 1, got ", options.workers));
  }

  ovi::OviModelOptions mo;
  mo.device = p->device_;
  mo.load.mode = LinearModeOf(options.weights);
  mo.load.cache_budget_bytes = static_cast<int64_t>(options.cache_budget_bytes);
  mo.load.measure_dispatch = options.measure_dispatch;
  // The cache plan counts a step as the jobs will run it. auto batches a job where its batched
  // estimate fits a job's share of the VRAM (EstimateJob): on a GPU with room for a cache, the
  // usual case; never on the CPU, which has no share.
  mo.guidance_batched = options.batch_guidance == BatchGuidance::kOn ||
                        (options.batch_guidance == BatchGuidance::kAuto && p->device_.is_cuda());
  mo.fallback_variant = options.fallback_variant.empty() ? "720x720_5s" : options.fallback_variant;
  mo.default_workspace = false;  // each worker slot brings its own
  // A reload (an offloaded denoiser, per job) must be the model of startup: the plans, limits and
  // VRAM estimates were made from it.
  OviPipeline* self = p.get();
  p->model_.ConfigureFile(
      path,
      [mo, self](const std::string& f) -> absl::StatusOr<std::unique_ptr<ovi::OviModel>> {
        // A reload dispatches (and plans its cache) by startup's measurement: measured again, a
        // near tie could fall the other way and change the cache plan under the VRAM estimates.
        // One that failed at startup is not tried again per job either (VRAM the admission never
        // counted, and a plan that would differ from startup's).
        ovi::OviModelOptions reload = mo;
        reload.load.linear.measured_dispatch = self->measured_dispatch_;
        if (self->denoiser_load_bytes_ != 0) reload.load.measure_dispatch = false;
        OVID_ASSIGN_OR_RETURN(std::unique_ptr<ovi::OviModel> m, ovi::OviModel::Load(f, reload));
        if (self->denoiser_load_bytes_ != 0) OVID_RETURN_IF_ERROR(self->SameAsStartup(*m));
        return m;
      },
      options.offload.denoiser, p->device_);
  // Held until Load returns; an offloaded denoiser is freed then and reloaded per job.
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<ovi::OviModel> model, p->model_.Acquire());
  p->measured_dispatch_ = model->store().measured_dispatch();
  p->spec_ = model->spec();
  p->dtype_ = model->dtype();
  // What a load puts on the device: the weights and, in cache mode, their bf16 copies.
  const VramAccounting& loaded = model->store().Accounting();
  p->denoiser_load_bytes_ = static_cast<uint64_t>(loaded.weight_bytes + loaded.cache_bytes);

  const ovi::OviModelSpec& spec = p->spec_;
  const ovi::OviVariant* variant = ovi::FindOviVariant(spec.variant);
  if (variant == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unknown ovi.variant '", spec.variant,
                                                   "' (known: ", KnownVariants(), ")"));
  }
  p->limits_.text_dim = spec.config.text_dim;
  p->limits_.text_len = spec.text_len;
  p->limits_.layers = spec.config.num_layers;
  p->limits_.variant = *variant;

  DenoiserShape shape;
  shape.variant = spec.variant;
  shape.text_dim = spec.config.text_dim;
  shape.text_len = spec.text_len;
  shape.video_latent_channels = spec.config.video_in_dim;
  shape.audio_latent_channels = spec.config.audio_in_dim;
  absl::StatusOr<std::unique_ptr<Components>> components =
      LoadComponents(options, p->device_, shape);
  if (!components.ok()) return components.status();
  p->components_ = *std::move(components);
  const Components& c = *p->components_;
  // Offloaded stages were loaded once to check their files and are gone again. Their segments
  // go back to the driver now, before the worker slots' workspaces (which live as long as the
  // process) are allocated: the caching allocator would otherwise carve a workspace out of such
  // a free segment and keep the whole segment (5.7 GB for UMT5-XXL Q8_0) reserved for good.
  if (options.offload.text_encoder || options.offload.video_vae || options.offload.audio) {
    ReleaseCachedMemory(p->device_);
  }
  p->limits_.text_encoder = c.has_text();
  p->limits_.video_vae_encoder = c.has_video_encoder();
  p->limits_.video_decoder = c.has_video_decoder();
  p->limits_.audio_decoder = c.has_audio_decoder();
  p->limits_.media = c.media;

  // The slots' workspaces are sized to the largest layer the slot expands (the denoiser's, or a
  // lazy text encoder's if larger) and stay resident, also while an offloaded denoiser is away
  // (they are what its next load would need anyway). A job never grows them.
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(
      model->store(), static_cast<int>(options.workers), c.text_encoder_workspace_bytes);
  if (!pool.ok()) return InFile(pool.status(), path);
  p->pool_ = *std::move(pool);
  p->Describe(options, *model);
  model.reset();
  // An offloaded denoiser's segments likewise (the workspaces above have their own).
  if (options.offload.denoiser) ReleaseCachedMemory(p->device_);
  return p;
}

void OviPipeline::Describe(const PipelineOptions& options, const ovi::OviModel& model) {
  const ovi::OviModelSpec& spec = model.spec();
  const ovi::OviConfig& c = spec.config;
  ModelDescription& d = description_;
  d.variant = spec.variant;
  d.dim = static_cast<uint32_t>(c.dim);
  d.ffn_dim = static_cast<uint32_t>(c.ffn_dim);
  d.heads = static_cast<uint32_t>(c.num_heads);
  d.head_dim = static_cast<uint32_t>(c.head_dim);
  d.layers = static_cast<uint32_t>(c.num_layers);
  d.text_len = static_cast<uint32_t>(spec.text_len);
  d.text_dim = static_cast<uint32_t>(c.text_dim);
  d.audio_rope_scale = static_cast<float>(spec.audio_rope_scale);
  for (const ovi::OviTensor& t : ovi::BuildOviLayout(c)) d.parameters += t.Elements();
  d.weight_mode = WeightModeName(options.weights);
  d.batch_guidance = BatchGuidanceName(options.batch_guidance);
  d.fused_dispatch = measured_dispatch_ != nullptr ? "measured" : "fixed";
  d.device = DeviceName(device_);

  // Per ggml type in the file, and per storage type on the device (for Vram()).
  const VramAccounting acc = model.store().Accounting();
  d.tensors_total = static_cast<uint32_t>(acc.tensors);
  d.tensors_quantized = static_cast<uint32_t>(acc.quantized);
  std::map<GgmlType, QuantTypeCount> by_type;
  for (const gguf::TensorInfo& t : model.store().file().tensors()) {
    QuantTypeCount& q = by_type[t.type];
    q.type = GgmlTypeName(t.type);
    q.tensors += 1;
    q.bytes += t.nbytes;
    const bool raw = GgmlInfo(t.type).quantized && options.weights != WeightMode::kEager;
    resident_tensors_by_type_[raw ? GgmlTypeName(t.type) : DtypeName(model.dtype())] += 1;
  }
  for (auto& [type, q] : by_type) d.quantization.push_back(q);

  const std::string file = std::filesystem::path(options.model_path).filename().string();
  d.stages = {{"denoiser", true, options.offload.denoiser, file}};
  DescribeComponents(options, *components_, &d.stages);
  d.output_formats = AvailableOutputFormats(limits_);
}

absl::Status OviPipeline::SameAsStartup(const ovi::OviModel& m) const {
  const ovi::OviModelSpec& s = m.spec();
  const ovi::OviConfig& a = s.config;
  const ovi::OviConfig& b = spec_.config;
  const VramAccounting& acc = m.store().Accounting();
  const auto bytes = static_cast<uint64_t>(acc.weight_bytes + acc.cache_bytes);
  if (s.variant != spec_.variant || a.dim != b.dim || a.ffn_dim != b.ffn_dim ||
      a.num_heads != b.num_heads || a.num_layers != b.num_layers || a.text_dim != b.text_dim ||
      s.text_len != spec_.text_len || bytes != denoiser_load_bytes_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the denoiser is not the one loaded at startup: variant ", s.variant, " (was ",
                     spec_.variant, "), dim ", a.dim, " (was ", b.dim, "), layers ", a.num_layers,
                     " (was ", b.num_layers, "), ", bytes, " bytes on the device (was ",
                     denoiser_load_bytes_, "); restart the daemon to serve a new file"));
  }
  return absl::OkStatus();
}

VramSnapshot OviPipeline::Vram() const {
  // An offloaded denoiser between jobs holds no weights; the allocator is asked directly.
  VramAccounting acc;
  const bool loaded =
      model_.Inspect([&acc](const ovi::OviModel& model) { acc = model.store().Accounting(); });
  if (!loaded && device_.is_cuda()) {
    acc.allocator = QueryAllocatorStats(device_.has_index() ? device_.index() : 0);
  }
  VramSnapshot v;
  v.weights_resident_bytes = static_cast<uint64_t>(acc.weight_bytes);
  v.weights_bf16_equivalent_bytes = static_cast<uint64_t>(acc.bf16_equivalent_bytes);
  // From the slots, not the store: an offloaded denoiser's later loads are new stores that never
  // made the workspaces, which stay resident all along (they read 0 that way).
  v.dequant_workspace_bytes = static_cast<uint64_t>(pool_->workspace_bytes());
  v.cache_bytes = static_cast<uint64_t>(acc.cache_bytes);
  if (acc.allocator.valid) {
    v.torch_allocated_bytes = static_cast<uint64_t>(acc.allocator.allocated);
    v.torch_reserved_bytes = static_cast<uint64_t>(acc.allocator.reserved);
    v.torch_peak_bytes = static_cast<uint64_t>(acc.allocator.peak_allocated);
  }
  if (std::optional<DeviceMemory> m = QueryDeviceMemory(device_)) {
    v.device_total_bytes = m->total;
    v.device_used_bytes = m->used;
  }
  // Every storage type of the model, at 0 while an offloaded denoiser is away: the series stay
  // (ovid_weights_resident_bytes{type}), so sums over them read 0 instead of nothing.
  for (const auto& [type, tensors] : resident_tensors_by_type_) {
    auto it = acc.bytes_by_type.find(type);
    const bool resident = it != acc.bytes_by_type.end();
    v.resident_by_type.push_back(
        {type, resident ? tensors : 0u, resident ? static_cast<uint64_t>(it->second) : 0u});
  }
  for (const auto& [type, bytes] : acc.bytes_by_type) {
    if (!resident_tensors_by_type_.contains(type)) {
      v.resident_by_type.push_back({type, 0u, static_cast<uint64_t>(bytes)});
    }
  }
  return v;
}

absl::Status OviPipeline::Warmup() {
  absl::Status warm = WarmupSlots();
  // An offloaded denoiser was loaded for the warm-up and is gone again. Its blocks would stay
  // reserved by the caching allocator, and the daemon's automatic budget (free device memory
  // just after this) would count them as used while every job's estimate counts its load too:
  // hand them back as Load does.
  if (options_.offload.denoiser) ReleaseCachedMemory(device_);
  return warm;
}

absl::Status OviPipeline::WarmupSlots() {
  // Hold every slot, so each one runs once (and no job interleaves).
  std::vector<WorkerPool::Lease> leases;
  for (size_t i = 0; i < pool_->size(); ++i) leases.push_back(pool_->Acquire());
  OVID_ASSIGN_OR_RETURN(std::shared_ptr<ovi::OviModel> model, model_.Acquire());
  for (const WorkerPool::Lease& lease : leases) {
    absl::Status warm;
    lease.Run([&] { warm = WarmupPasses(*model, spec_.config, lease.slot().index); });
    OVID_RETURN_IF_ERROR(warm);
  }
  return absl::OkStatus();
}

absl::Status OviPipeline::CheckContents(const GenerationRequest& request) const {
  if (request.first_frame.empty() || !limits_.video_vae_encoder || !limits_.media) {
    return absl::OkStatus();
  }
  struct Slot {
    std::atomic<int>& count;
    ~Slot() { count.fetch_sub(1, std::memory_order_relaxed); }
  } slot{admission_decodes_};
  if (admission_decodes_.fetch_add(1, std::memory_order_relaxed) >= kAdmissionDecodes) {
    return absl::OkStatus();  // busy: the job's own decode will tell
  }
  if (options_.faults.admission_decode_delay_ms > 0) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(options_.faults.admission_decode_delay_ms));
  }
  try {
    // One probe and the decoder's pass: no RGB conversion, and past the size limit the probe
    // alone (what EstimateVram already ran).
    const absl::Status decoded =
        CheckFirstFrameData(request.first_frame, kAdmissionDecodeMaxPixels);
    // Only the image's own fault refuses it here: host memory running short (libav's ENOMEM comes
    // back as RESOURCE_EXHAUSTED) is the job's decode's to report if it lasts.
    return decoded.code() == absl::StatusCode::kInvalidArgument ? decoded : absl::OkStatus();
  } catch (const std::bad_alloc&) {
    return absl::OkStatus();
  }
}

absl::StatusOr<uint64_t> OviPipeline::EstimateVram(const GenerationRequest& request) const {
  std::optional<ImageSize> first_frame_size;
  if (!request.first_frame.empty() && limits_.video_vae_encoder && limits_.media) {
    OVID_ASSIGN_OR_RETURN(first_frame_size, ProbeFirstFrame(request.first_frame));
  }
  OVID_ASSIGN_OR_RETURN(JobPlan plan, PlanJob(request, limits_, first_frame_size));
  if (options_.faults.vram_estimate_bytes != 0) return options_.faults.vram_estimate_bytes;
  return EstimateJob(plan).bytes;
}

OviPipeline::JobEstimate OviPipeline::EstimateJob(const JobPlan& plan) const {
  const ovi::OviConfig& c = spec_.config;
  VramEstimateInputs in;
  in.dim = c.dim;
  in.ffn_dim = c.ffn_dim;
  in.heads = c.num_heads;
  in.layers = c.num_layers;
  in.text_len = limits_.text_len;
  in.audio_convmlp_hidden = c.audio_convmlp_hidden;
  in.element_bytes = static_cast<int64_t>(c10::elementSize(dtype_));
  in.video_tokens = plan.VideoTokens();
  in.audio_tokens = plan.audio_latents;
  in.video_latent_elements =
      c.video_in_dim * plan.latent_frames * plan.latent_height * plan.latent_width;
  in.audio_latent_elements = plan.audio_latents * c.audio_in_dim;
  in.negative_pass = !plan.Unguided();

  const Components& comp = *components_;
  StageEstimateInputs stages;
  stages.width = plan.parameters.width;
  stages.height = plan.parameters.height;
  stages.vae_chunk_frames = options_.decode.vae_chunk_frames;
  stages.vae_element_bytes = options_.decode.video_vae_bf16 ? 2 : 4;
  stages.text = plan.NeedsTextEncoder();
  // BenchOptions::decode_latents_jobs runs the decoders for LATENTS jobs too.
  const bool bench_decode = options_.bench.decode_latents_jobs;
  stages.video =
      plan.NeedsVideoDecode() || plan.image_to_video || (bench_decode && comp.has_video_decoder());
  stages.audio = plan.NeedsAudioDecode() || (bench_decode && comp.has_audio_decoder());
  stages.text_weights = comp.text_encoder_transient_bytes;
  stages.video_weights = comp.video_vae_transient_bytes;
  stages.audio_weights = comp.audio_transient_bytes;
  // An offloaded denoiser's weights (and cache copies) come back for its stage.
  const uint64_t weights = options_.offload.denoiser ? denoiser_load_bytes_ : 0;
  const auto estimate = [&](bool batched) {
    in.batch_guidance = batched;
    return EstimatePipelineBytes(EstimateJobBytes(in) + weights, stages);
  };
  const uint64_t two_passes = estimate(false);
  if (plan.Unguided()) return {two_passes, false};
  switch (options_.batch_guidance) {
    case BatchGuidance::kOff:
      return {two_passes, false};
    case BatchGuidance::kOn:
      return {estimate(true), true};
    case BatchGuidance::kAuto: {
      // The whole job's figure: at large sizes the video decoder's peak may exceed the
      // batched denoiser's, and then batching costs no admission room at all.
      const uint64_t batched = estimate(true);
      const uint64_t share = job_vram_share_.load(std::memory_order_relaxed);
      if (share != 0 && batched <= share) return {batched, true};
      return {two_passes, false};
    }
  }
  return {two_passes, false};
}

}  // namespace pipeline

absl::StatusOr<std::unique_ptr<LoadedPipeline>> LoadOviPipeline(const PipelineOptions& options) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<pipeline::OviPipeline> p,
                        pipeline::OviPipeline::Load(options));
  return std::unique_ptr<LoadedPipeline>(std::move(p));
}

}  // namespace ovid
