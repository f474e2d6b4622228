// File: engine/tensor/weight_store.cc
#include "engine/tensor/weight_store.h"

#include <ATen/ops/empty.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/device_index.h"
#include "engine/ops/host_upload.h"
#include "engine/ops/quant_ops.h"
#include "engine/ops/torch_status.h"
#include "ovid/engine_log.h"

namespace ovid {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The torch dtype a plain (unquantized) ggml type is stored as in the file.
std::optional<at::ScalarType> FileDtype(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return at::kFloat;
    case GgmlType::kF16:
      return at::kHalf;
    case GgmlType::kBF16:
      return at::kBFloat16;
    case GgmlType::kF64:
      return at::kDouble;
    case GgmlType::kI8:
      return at::kChar;
    case GgmlType::kI16:
      return at::kShort;
    case GgmlType::kI32:
      return at::kInt;
    case GgmlType::kI64:
      return at::kLong;
    default:
      return std::nullopt;
  }
}

std::string DtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "f32";
    case at::kHalf:
      return "f16";
    case at::kBFloat16:
      return "bf16";
    case at::kDouble:
      return "f64";
    case at::kChar:
      return "i8";
    case at::kShort:
      return "i16";
    case at::kInt:
      return "i32";
    case at::kLong:
      return "i64";
    default:
      return c10::toString(t);
  }
}

bool IsFloat(at::ScalarType t) { return c10::isFloatingType(t); }

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::StatusOr<std::unique_ptr<WeightStore>> WeightStore::Load(const std::string& path,
                                                               c10::Device device,
                                                               LoadOptions options) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(path));
  return FromFile(std::move(file), device, std::move(options));
}

absl::StatusOr<std::unique_ptr<WeightStore>> WeightStore::FromFile(
    std::unique_ptr<gguf::GgufFile> file, c10::Device device, LoadOptions options) {
  std::unique_ptr<WeightStore> store(new WeightStore());
  store->file_ = std::move(file);
  store->device_ = ops::WithIndex(device);  // "cuda" as its tensors report it: "cuda:N"
  store->options_ = std::move(options);
  OVID_RETURN_IF_ERROR(store->LoadAll());
  if (store->options_.log) {
    const VramAccounting a = store->Accounting();
    EngineLog(EngineLogLevel::kInfo, absl::StrCat(store->file_->path(), ": ", a.Summary()));
    EngineLog(EngineLogLevel::kInfo, absl::StrCat("resident by type: ", a.ByTypeLine()));
  }
  return store;
}

absl::Status WeightStore::LoadAll() {
  const auto start = Clock::now();
  const std::string& path = file_->path();
  // Refuse what cannot be used before moving a byte, naming every offender.
  std::vector<std::string> unsupported;
  for (const gguf::TensorInfo& t : file_->tensors()) {
    const GgmlTypeInfo& info = GgmlInfo(t.type);
    if (info.quantized ? !info.dequantizable : !FileDtype(t.type).has_value()) {
      unsupported.push_back(absl::StrCat("'", t.name, "' (", info.name, ")"));
    }
  }
  if (!unsupported.empty()) {
    return absl::UnimplementedError(absl::StrCat(path, ": ovid cannot expand the ggml type of ",
                                                 unsupported.size(),
                                                 " tensor(s): ", absl::StrJoin(unsupported, ", ")));
  }

  // A card this build has no kernel code for is refused here, by name, not in every layer later.
  OVID_RETURN_IF_ERROR(ops::CheckKernelsRunOn(device_));
  VramAccounting& acc = accounting_;
  acc = VramAccounting();
  acc.device = device_.str();
  acc.mode = LinearModeName(options_.mode);
  const at::ScalarType compute = compute_dtype();
  const at::ScalarType plain = options_.plain_dtype.value_or(compute);

  // Phase 1: every tensor's bytes to the device, copies overlapping file reads.
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<ops::HostUploader> uploader,
                        ops::HostUploader::Create(device_, options_.staging_bytes));
  // Raw blocks share one allocation (lazy and cache modes): one cudaMalloc instead of hundreds,
  // and none of the caching allocator's per-tensor rounding (tensors over 10 MB get their own
  // segment rounded up to 2 MB: ~1 MB lost per layer, ~0.7 GB for Ovi). Eager mode frees the
  // blocks once expanded, so there each tensor is allocated on its own.
  constexpr int64_t kArenaAlign = 256;  // kernels need 16; cudaMalloc gives 256
  const std::vector<gguf::TensorInfo>& infos = file_->tensors();
  std::vector<int64_t> arena_offset(infos.size(), -1);
  at::Tensor arena;
  if (options_.mode != LinearMode::kEager) {
    int64_t total = 0;
    for (size_t i = 0; i < infos.size(); ++i) {
      if (!GgmlInfo(infos[i].type).quantized) continue;
      arena_offset[i] = total;
      total +=
          (static_cast<int64_t>(infos[i].nbytes) + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
    }
    absl::StatusOr<at::Tensor> allocated = ops::GuardTorch("allocating the weight arena", [&] {
      return at::empty({total}, at::TensorOptions().dtype(at::kByte).device(device_));
    });
    if (!allocated.ok()) {
      return absl::Status(allocated.status().code(),
                          absl::StrCat(path, ": ", total, " bytes of quantized weights: ",
                                       allocated.status().message()));
    }
    arena = *std::move(allocated);
    acc.arena_bytes = total;
  }
  std::vector<at::Tensor> raw;
  raw.reserve(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    const gguf::TensorInfo& t = infos[i];
    absl::StatusOr<at::Tensor> bytes;
    if (arena_offset[i] >= 0) {
      bytes = arena.narrow(0, arena_offset[i], static_cast<int64_t>(t.nbytes));
      if (absl::Status s = uploader->UploadInto(file_->TensorData(t), *bytes); !s.ok()) bytes = s;
    } else {
      bytes = uploader->Upload(file_->TensorData(t));
    }
    if (!bytes.ok()) {
      return absl::Status(bytes.status().code(), absl::StrCat(path, ": tensor '", t.name,
                                                              "': ", bytes.status().message()));
    }
    raw.push_back(*std::move(bytes));
  }
  OVID_RETURN_IF_ERROR(uploader->Finish());
  const double upload_seconds = Seconds(start);
  acc.uploaded_bytes = uploader->bytes_uploaded();
  acc.upload_gbps = upload_seconds > 0 ? acc.uploaded_bytes / upload_seconds / 1e9 : 0;

  // Phase 2: wrap, convert or expand, now that the bytes have landed.
  for (size_t i = 0; i < raw.size(); ++i) {
    const gguf::TensorInfo& t = file_->tensors()[i];
    const GgmlTypeInfo& info = GgmlInfo(t.type);
    std::vector<int64_t> shape = t.TorchShape();
    acc.tensors += 1;
    acc.bf16_equivalent_bytes += 2 * t.n_elements;
    if (info.quantized) {
      OVID_ASSIGN_OR_RETURN(QuantizedTensor q,
                            QuantizedTensor::FromBlocks(t.name, t.type, shape, std::move(raw[i])));
      acc.largest_layer_elements = std::max(acc.largest_layer_elements, q.numel());
      if (options_.mode == LinearMode::kEager) {
        absl::StatusOr<at::Tensor> dense = q.Dequantize(compute);
        if (!dense.ok()) {
          return absl::Status(dense.status().code(),
                              absl::StrCat(path, ": ", dense.status().message()));
        }
        acc.bytes_by_type[DtypeName(compute)] += dense->nbytes();
        dense_.emplace(t.name, *std::move(dense));
      } else {
        acc.quantized += 1;
        acc.bytes_by_type[info.name] += q.nbytes();
        quantized_.emplace(t.name, std::make_shared<const QuantizedTensor>(std::move(q)));
      }
      continue;
    }
    const at::ScalarType file_dtype = *FileDtype(t.type);
    absl::StatusOr<at::Tensor> dense =
        ops::GuardTorch("converting a plain tensor", [&]() -> at::Tensor {
          at::Tensor typed = raw[i].view(file_dtype).view(shape);
          return IsFloat(file_dtype) ? typed.to(plain).contiguous() : typed;
        });
    raw[i] = at::Tensor();
    if (!dense.ok()) {
      return absl::Status(dense.status().code(), absl::StrCat(path, ": tensor '", t.name,
                                                              "': ", dense.status().message()));
    }
    acc.bytes_by_type[DtypeName(dense->scalar_type())] += dense->nbytes();
    dense_.emplace(t.name, *std::move(dense));
  }
  for (const auto& [type, bytes] : acc.bytes_by_type) acc.weight_bytes += bytes;
  MeasureDispatch();
  if (options_.mode == LinearMode::kCache) OVID_RETURN_IF_ERROR(PlanAndFillCache());
  acc.load_seconds = Seconds(start);
  return absl::OkStatus();
}

void WeightStore::MeasureDispatch() {
  if (!options_.measure_dispatch || !options_.layer_usage || !device_.is_cuda() ||
      options_.mode == LinearMode::kEager || options_.linear.exact_f32 ||
      options_.linear.measured_dispatch != nullptr) {
    return;
  }
  // HasFusedMatmul asks the current device: make it the store's ("cuda:1" from a thread on 0).
  const c10::DeviceGuard on_store_device(device_);
  // One target per shape: its first layer's blocks, every token count a layer of that shape
  // runs at (per pass, and with both guidance passes in one batch), and the GELU if one of its
  // layers feeds one.
  std::map<LinearShape, DispatchTarget> by_shape;
  for (const auto& [name, q] : quantized_) {
    if (q->shape().size() != 2 || !ops::HasFusedMatmul(q->type())) continue;
    const LayerUsage usage = options_.layer_usage(name);
    if (usage.tokens <= 0 || usage.tokens > kDispatchMaxTokens) continue;
    DispatchTarget& target = by_shape[LinearShape{q->type(), q->shape()[0], q->shape()[1]}];
    if (target.weight == nullptr) {
      target.weight = q;
      target.fixed_max_tokens = options_.linear.FusedMaxTokens(
          q->type(), ops::HasPanelFusedMatmul(q->type(), q->shape()[1]));
    }
    target.tokens.push_back(usage.tokens);
    target.tokens.push_back(2 * usage.tokens);
    target.gelu |= usage.gelu;
  }
  if (by_shape.empty()) return;
  std::vector<DispatchTarget> targets;
  for (auto& [shape, target] : by_shape) targets.push_back(std::move(target));
  const auto start = Clock::now();
  absl::StatusOr<FusedDispatch> measured = MeasureFusedDispatch(targets);
  if (!measured.ok()) {
    EngineLog(EngineLogLevel::kWarning,
              absl::StrCat(file_->path(),
                           ": the fused dispatch was not measured, the fixed "
                           "per-type limits apply: ",
                           measured.status().ToString()));
    return;
  }
  accounting_.dispatch_seconds = Seconds(start);
  if (options_.log) {
    EngineLog(EngineLogLevel::kInfo,
              absl::StrFormat("%s: fused dispatch measured on this card in %.2f s", file_->path(),
                              accounting_.dispatch_seconds));
    for (const std::string& line : measured->SummaryLines()) {
      EngineLog(EngineLogLevel::kInfo, absl::StrCat("  ", line));
    }
  }
  options_.linear.measured_dispatch = std::make_shared<const FusedDispatch>(*std::move(measured));
}

absl::Status WeightStore::PlanAndFillCache() {
  const at::ScalarType compute = compute_dtype();
  const auto element_bytes = static_cast<int64_t>(c10::elementSize(compute));
  std::vector<CacheCandidate> candidates;
  std::vector<const QuantizedTensor*> layers;
  for (const auto& [name, q] : quantized_) {
    if (q->shape().size() != 2) continue;  // only linear weights go through the workspace
    const LayerUsage usage = options_.layer_usage ? options_.layer_usage(name) : LayerUsage{};
    // With both guidance passes in one batch a step is one forward at twice the rows.
    const StepCalls step = StepCallsOf(usage);
    const bool dequantizes =
        step.tokens <= 0 || QuantizedPathFor(q->type(), q->shape()[0], q->shape()[1], step.tokens,
                                             device_, options_.linear) == LinearPath::kDequantGemm;
    CacheCandidate c{name,
                     q->type(),
                     q->numel(),
                     q->nbytes(),
                     dequantizes ? std::max(0.0, step.calls) : 0.0,
                     element_bytes};
    // Measured at the layer's own token count: what a copy saves on the path it takes, the
    // fused kernel's included (it is slower than a bf16 GEMM at some shapes and cards).
    if (const FusedDispatch* measured = options_.linear.measured_dispatch.get();
        measured != nullptr && step.tokens > 0) {
      if (std::optional<double> saved = measured->SavedSecondsByDenseCopy(
              LinearShape{q->type(), q->shape()[0], q->shape()[1]}, step.tokens)) {
        c.calls_per_step = std::max(0.0, step.calls);
        c.measured_saved_seconds = *saved;
      }
    }
    candidates.push_back(std::move(c));
    layers.push_back(q.get());
  }
  const CachePlan plan = PlanCache(candidates, options_.cache_budget_bytes, options_.cost_model);
  accounting_.cache_saved_seconds_per_step = plan.saved_seconds_per_step;
  for (size_t i : plan.chosen) {
    absl::StatusOr<at::Tensor> dense = layers[i]->Dequantize(compute);
    if (!dense.ok()) {
      return absl::Status(dense.status().code(),
                          absl::StrCat(file_->path(), ": cache: ", dense.status().message()));
    }
    accounting_.cache_bytes += dense->nbytes();
    accounting_.cached_layers += 1;
    cache_.emplace(layers[i]->name(), *std::move(dense));
  }
  return absl::OkStatus();
}

bool WeightStore::Contains(std::string_view name) const {
  return file_->FindTensor(name) != nullptr;
}

std::vector<std::string> WeightStore::Names() const {
  std::vector<std::string> names;
  for (const gguf::TensorInfo& t : file_->tensors()) names.push_back(t.name);
  return names;
}

absl::Status WeightStore::NotFound(std::string_view name) const {
  return absl::NotFoundError(
      absl::StrCat("tensor '", std::string(name), "' not found in ", file_->path()));
}

absl::Status WeightStore::CheckShape(std::string_view name, const std::vector<int64_t>& actual,
                                     const std::vector<int64_t>& expected) const {
  if (expected.empty() || actual == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("tensor '", std::string(name), "' in ",
                                                 file_->path(), " has shape ", ShapeString(actual),
                                                 ", expected ", ShapeString(expected)));
}

absl::StatusOr<at::Tensor> WeightStore::Tensor(std::string_view name,
                                               const std::vector<int64_t>& expected_shape) const {
  if (auto it = dense_.find(name); it != dense_.end()) {
    const at::Tensor& t = it->second;
    OVID_RETURN_IF_ERROR(CheckShape(name, {t.sizes().begin(), t.sizes().end()}, expected_shape));
    return t;
  }
  if (auto it = quantized_.find(name); it != quantized_.end()) {
    OVID_RETURN_IF_ERROR(CheckShape(name, it->second->shape(), expected_shape));
    if (auto c = cache_.find(name); c != cache_.end()) return c->second;
    return it->second->Dequantize(compute_dtype());
  }
  return NotFound(name);
}

absl::StatusOr<std::shared_ptr<const QuantizedTensor>> WeightStore::Quantized(
    std::string_view name) const {
  if (auto it = quantized_.find(name); it != quantized_.end()) return it->second;
  if (Contains(name)) {
    return absl::FailedPreconditionError(
        absl::StrCat("tensor '", std::string(name), "' in ", file_->path(),
                     " is not held quantized (mode ", LinearModeName(options_.mode), ")"));
  }
  return NotFound(name);
}

absl::StatusOr<QuantizedLinear> WeightStore::Linear(std::string_view weight, std::string_view bias,
                                                    int64_t out_features,
                                                    int64_t in_features) const {
  at::Tensor bias_tensor;
  if (!bias.empty()) {
    OVID_ASSIGN_OR_RETURN(bias_tensor, Tensor(bias, {out_features}));
  }
  const std::vector<int64_t> shape = {out_features, in_features};
  if (auto it = quantized_.find(weight); it != quantized_.end()) {
    OVID_RETURN_IF_ERROR(CheckShape(weight, it->second->shape(), shape));
    at::Tensor copy;
    if (auto c = cache_.find(weight); c != cache_.end()) copy = c->second;
    return QuantizedLinear::Create(it->second, copy, bias_tensor, options_.mode, options_.linear);
  }
  OVID_ASSIGN_OR_RETURN(at::Tensor dense, Tensor(weight, shape));
  return QuantizedLinear::Dense(dense, bias_tensor, options_.linear);
}

at::ScalarType WeightStore::compute_dtype() const {
  return options_.linear.exact_f32 ? at::kFloat : ComputeDtype(device_);
}

int64_t WeightStore::WorkspaceBytes() const {
  // Eager layers multiply their dense copies and never expand a block, so an eager store's
  // workspaces start empty (a layer that did need one would grow it, visibly): a full one per
  // worker was device memory for nothing, counted as workspace in the lazy-eager comparison.
  const int64_t elements =
      options_.mode == LinearMode::kEager ? 0 : accounting_.largest_layer_elements;
  return elements * static_cast<int64_t>(c10::elementSize(compute_dtype()));
}

absl::StatusOr<std::shared_ptr<DequantWorkspace>> WeightStore::NewWorkspace(
    std::optional<int64_t> bytes) const {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<DequantWorkspace> ws,
                        DequantWorkspace::Create(device_, bytes.value_or(WorkspaceBytes())));
  std::shared_ptr<DequantWorkspace> shared = std::move(ws);
  const std::lock_guard<std::mutex> lock(workspaces_mu_);
  std::erase_if(workspaces_, [](const auto& w) { return w.expired(); });
  workspaces_.push_back(shared);
  return shared;
}

VramAccounting WeightStore::Accounting() const {
  VramAccounting a = accounting_;
  {
    const std::lock_guard<std::mutex> lock(workspaces_mu_);
    for (const auto& weak : workspaces_) {
      if (std::shared_ptr<DequantWorkspace> ws = weak.lock()) {
        a.workspace_bytes += ws->capacity_bytes();
        a.workspaces += 1;
      }
    }
  }
  if (device_.is_cuda())
    a.allocator = QueryAllocatorStats(device_.index() < 0 ? 0 : device_.index());
  return a;
}

}  // namespace ovid
