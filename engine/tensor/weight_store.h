// File: engine/tensor/weight_store.h
// Every tensor of one GGUF file, resident on one device, by name.
//
// Load() memory-maps and validates the file (engine/gguf), then streams each tensor's bytes to
// the device through pinned double-buffered staging (ops::HostUploader, copies overlapped with
// reading the file) and keeps:
//   - quantized tensors as QuantizedTensor (raw blocks, all in one device allocation) - or, in
//     LinearMode::kEager, expanded once to the compute dtype (the old behaviour, for
//     comparison; the load then briefly holds all blocks and all dense copies);
//   - unquantized tensors as plain at::Tensors, floats converted to LoadOptions::plain_dtype;
//   - in LinearMode::kCache, dense copies of the layers CachePlanner picks within the budget.
// It accounts for what all that costs (VramAccounting) and logs one summary line.
//
// Models bind their parameters by name (Tensor(), Linear()); errors name the tensor and file:
// NOT_FOUND for a missing tensor, INVALID_ARGUMENT for a wrong shape, UNIMPLEMENTED for a type
// ovid cannot expand (refused at load, so a bad file fails at start-up). Thread-safe after Load.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tensor/cache_planner.h"
#include "engine/tensor/dequant_workspace.h"
#include "engine/tensor/fused_dispatch.h"
#include "engine/tensor/quantized_linear.h"
#include "engine/tensor/quantized_tensor.h"
#include "engine/tensor/vram_accounting.h"

namespace ovid {

struct LoadOptions {
  LinearMode mode = LinearMode::kLazy;
  // Storage dtype of unquantized float tensors; unset: the compute dtype (bf16 CUDA, f32 CPU).
  std::optional<at::ScalarType> plain_dtype;
  int64_t cache_budget_bytes = 0;             // kCache only
  CostModel cost_model;                       // kCache only
  // How the model runs each 2-D weight (by tensor name): the token counts the dispatch is
  // measured at, and for kCache each layer's calls per step. A layer whose forwards take the
  // fused kernel saves by a copy what the measurement says (fused minus a bf16 GEMM); where
  // nothing was measured, nothing, and it is planned last. Unset: no dispatch measurement, and
  // every layer one dequantize per step.
  std::function<LayerUsage(std::string_view name)> layer_usage;
  // CUDA, kLazy/kCache, with layer_usage and no linear.measured_dispatch yet: time the fused
  // kernel against dequantize + cuBLAS at the layers' token counts on this card and dispatch by
  // that (engine/tensor/fused_dispatch.h; 0.85 s for Ovi Q4_K_M on an H200). A failure (out of memory,
  // say) is logged and leaves the fixed per-type limits. Off: the fixed limits, the same on every
  // card.
  bool measure_dispatch = true;
  int64_t staging_bytes = int64_t{64} << 20;  // per pinned staging buffer (two are used)
  LinearOptions linear;
  bool log = true;  // print the accounting summary to stderr
};

class WeightStore {
 public:
  static absl::StatusOr<std::unique_ptr<WeightStore>> Load(const std::string& path,
                                                           c10::Device device,
                                                           LoadOptions options = {});
  // The same from an already opened file (tests use GgufFile::FromBuffer).
  static absl::StatusOr<std::unique_ptr<WeightStore>> FromFile(std::unique_ptr<gguf::GgufFile> file,
                                                               c10::Device device,
                                                               LoadOptions options = {});

  const gguf::GgufFile& file() const { return *file_; }
  c10::Device device() const { return device_; }
  const LoadOptions& options() const { return options_; }
  // What quantized tensors expand to: bf16 on CUDA, f32 on the CPU (f32 everywhere with
  // LinearOptions::exact_f32).
  at::ScalarType compute_dtype() const;
  bool Contains(std::string_view name) const;
  std::vector<std::string> Names() const;  // file order

  // The tensor as a dense tensor. A plain (or eagerly expanded) one is returned as stored; a
  // quantized one is expanded into a fresh tensor of the compute dtype (costs its dense size).
  // `expected_shape` (torch order), if given, must match.
  absl::StatusOr<at::Tensor> Tensor(std::string_view name,
                                    const std::vector<int64_t>& expected_shape = {}) const;
  // The raw blocks of a quantized tensor (not available in kEager mode).
  absl::StatusOr<std::shared_ptr<const QuantizedTensor>> Quantized(std::string_view name) const;

  // A linear layer with weight [out, in] and, unless `bias` is empty, bias [out]. Quantized
  // weights give the store's mode (lazy / cache copy when planned); plain ones a dense layer.
  absl::StatusOr<QuantizedLinear> Linear(std::string_view weight, std::string_view bias,
                                         int64_t out_features, int64_t in_features) const;

  // A workspace for one worker: `bytes`, or WorkspaceBytes() when unset. Counted in
  // Accounting() while alive.
  absl::StatusOr<std::shared_ptr<DequantWorkspace>> NewWorkspace(
      std::optional<int64_t> bytes = std::nullopt) const;
  // The largest quantized tensor in the compute dtype: what one worker's lazy layers expand
  // into at most (0 in eager mode, whose layers never expand a block).
  int64_t WorkspaceBytes() const;

  // The load-time figures plus current workspace and allocator figures.
  VramAccounting Accounting() const;
  // What MeasureFusedDispatch found at load; null where it did not run or failed.
  const std::shared_ptr<const FusedDispatch>& measured_dispatch() const {
    return options_.linear.measured_dispatch;
  }

 private:
  WeightStore() = default;
  absl::Status LoadAll();
  void MeasureDispatch();
  absl::Status PlanAndFillCache();
  absl::Status NotFound(std::string_view name) const;
  absl::Status CheckShape(std::string_view name, const std::vector<int64_t>& actual,
                          const std::vector<int64_t>& expected) const;

  std::unique_ptr<gguf::GgufFile> file_;
  c10::Device device_{c10::kCPU};
  LoadOptions options_;
  std::map<std::string, std::shared_ptr<const QuantizedTensor>, std::less<>> quantized_;
  std::map<std::string, at::Tensor, std::less<>> dense_;  // plain and eagerly expanded tensors
  std::map<std::string, at::Tensor, std::less<>> cache_;  // kCache dense copies
  VramAccounting accounting_;

  mutable std::mutex workspaces_mu_;
  mutable std::vector<std::weak_ptr<DequantWorkspace>> workspaces_;
};

}  // namespace ovid
