// File: engine/tensor/quantized_linear.h
// y = x . W^T + b with W kept as raw GGUF blocks.
//
// Modes (LinearMode):
//   kLazy  (default) the blocks stay resident. At token counts where it is the faster path
//          (measured per count on the card at load, engine/tensor/fused_dispatch.h, else up to
//          a fixed limit per type), a fused quantized matmul kernel reads the blocks directly
//          (when kernels/cuda has one for the type); elsewhere W is expanded into the worker's
//          DequantWorkspace and a dense GEMM runs on it. Extra VRAM: one layer's dense copy per
//          worker.
//   kEager the weight was expanded once at load (the old behaviour; for comparison).
//   kCache lazy, except for layers the WeightStore chose to keep a dense copy of as well
//          (CachePlanner: the most time saved per byte within a VRAM budget); those run the
//          dense GEMM on their copy.
// Compute dtype: bf16 on CUDA, f32 on the CPU (CPU: the reference dequantizer to f32, then an
// f32 GEMM), so CI runs the same layer without a GPU. The lazy dequantize+GEMM path and eager
// use the same dequantizer and the same GEMM on equally aligned operands: bit-identical outputs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "engine/tensor/dequant_workspace.h"
#include "engine/tensor/quantized_tensor.h"

namespace ovid {

class FusedDispatch;  // engine/tensor/fused_dispatch.h

enum class LinearMode { kLazy, kEager, kCache };
const char* LinearModeName(LinearMode mode);

struct LinearOptions {
  // Compute in f32 on CUDA too (weights expanded to f32, dense weights kept f32, no fused
  // kernel): the reference path that checks a CUDA model against its CPU f32 run. Off for
  // generation, where CUDA computes in bf16 as Ovi does.
  bool exact_f32 = false;
  // Token counts (rows of x) up to this use the fused kernel where one exists; above it the
  // weight is expanded into the workspace and cuBLAS runs. The default is for the types only
  // the portable fused kernel handles (measured on an H200 with ovid-bench-linear: it wins up to
  // 8-32 tokens by 5-15% and loses from 128 on). Hence 32.
  int64_t fused_max_tokens = 32;
  // Per-type limits where the Hopper panel kernel runs the type at the layer's K
  // (kernels/cuda/fused_matmul_panel.cuh: a build with sm_90a code on a compute capability 9
  // card); elsewhere the portable kernel runs these types too and `fused_max_tokens` applies.
  // Measured on an H100, ovid-bench-cuda --quick --skip-dequant, 2026-11-27 (bench/NOTES.md,
  // thirteenth session, Q6_K's conflict-free loads): fused / (dequantize + cuBLAS) time summed
  // over 5 x [3072,3072] + [14336,3072] + [3072,14336]:
  //          16 tok  64 tok  157 tok  314 tok  512 tok
  //   Q4_K   0.48    0.53    0.62     0.80     1.19     -> 314
  //   Q5_K   0.52    0.56    0.64     0.81     1.24     -> 314
  //   Q8_0   0.58    0.60    0.66     0.86     1.33     -> 314
  //   Q6_K   0.66    0.68    0.73     0.97     1.61     -> 314 (was 1.10 at 314 before)
  std::map<GgmlType, int64_t> fused_max_tokens_by_type = {
      {GgmlType::kQ4_K, 314}, {GgmlType::kQ5_K, 314}, {GgmlType::kQ8_0, 314}, {GgmlType::kQ6_K, 314}};
  // The faster path per token count, measured on this card at load (WeightStore,
  // LoadOptions::measure_dispatch), per (type, out, in). A shape measured there follows the
  // measurement; the fixed limits above apply to the rest.
  std::shared_ptr<const FusedDispatch> measured_dispatch;

  // `panel_kernel`: whether the panel kernel runs this type at this layer's K here.
  int64_t FusedMaxTokens(GgmlType type, bool panel_kernel) const {
    if (!panel_kernel) return fused_max_tokens;
    auto it = fused_max_tokens_by_type.find(type);
    return it == fused_max_tokens_by_type.end() ? fused_max_tokens : it->second;
  }
};

// An activation applied to the layer's output. kGeluTanh on CUDA in bf16 runs in the GEMM's
// epilogue (cuBLASLt GELU_BIAS: GELU of the f32 accumulator + bias, rounded once) instead of a
// second pass over the [M, out] output; elsewhere it is at::gelu(tanh) after the layer, so the
// CPU reference keeps Ovi's two roundings.
enum class LinearActivation { kNone, kGeluTanh };

// Which path a Forward() took (tests and benchmarks check it).
enum class LinearPath { kNone, kFused, kDequantGemm, kDenseGemm };

class QuantizedLinear {
 public:
  QuantizedLinear() = default;

  // `weight` [out, in] quantized, kept shared (the WeightStore owns the blocks). `dense`: the
  // already expanded weight (eager, or the cache copy), else undefined. `bias`: [out] or
  // undefined; converted to the compute dtype here.
  static absl::StatusOr<QuantizedLinear> Create(std::shared_ptr<const QuantizedTensor> weight,
                                                at::Tensor dense, at::Tensor bias, LinearMode mode,
                                                LinearOptions options = {});
  // A plain dense layer (unquantized weight in the file): always the dense GEMM.
  static absl::StatusOr<QuantizedLinear> Dense(at::Tensor weight, at::Tensor bias,
                                               LinearOptions options = {});

  // x [..., in] -> [..., out], in x's dtype. Errors: INVALID_ARGUMENT on a shape/device
  // mismatch, FAILED_PRECONDITION without a workspace where one is needed, RESOURCE_EXHAUSTED on
  // OOM.
  // `path`, if given, receives the path taken. Const and free of shared mutable state: workers
  // on different streams may run the same layer at once, each with its own workspace.
  absl::StatusOr<at::Tensor> Forward(const at::Tensor& x, DequantWorkspace* workspace,
                                     LinearPath* path = nullptr,
                                     LinearActivation activation = LinearActivation::kNone) const;
  // LibTorch-style: uses the thread's DequantWorkspace::Current() and throws
  // ops::StatusException on error (GuardTorch at the engine boundary turns it back into a Status).
  at::Tensor forward(const at::Tensor& x,
                     LinearActivation activation = LinearActivation::kNone) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  LinearMode mode() const { return mode_; }
  bool has_dense() const { return dense_.defined(); }
  const QuantizedTensor* weight() const { return weight_.get(); }
  const LinearOptions& options() const { return options_; }

 private:
  std::shared_ptr<const QuantizedTensor> weight_;  // null for a dense layer
  at::Tensor dense_;
  at::Tensor bias_;
  LinearMode mode_ = LinearMode::kLazy;
  LinearOptions options_;
  int64_t in_ = 0;
  int64_t out_ = 0;
};

// The path a layer without a dense copy takes for `tokens` rows of input on `device`: kFused
// where a fused kernel runs the type and `tokens` is within its limit (the measured one for a
// shape in options.measured_dispatch, else the fixed one), else kDequantGemm. The cache planner
// asks it too.
LinearPath QuantizedPathFor(GgmlType type, int64_t out_features, int64_t in_features,
                            int64_t tokens, c10::Device device, const LinearOptions& options);

// x2d [M, in] times w [out, in]^T plus bias, then the activation: the dense GEMM of the
// dequantize and dense paths. The GELU goes into cuBLASLt's epilogue where LibTorch offers it
// (CUDA, bf16, a bias, M > 1 as cuBLASLt wants), else it is at::gelu(tanh) after the GEMM.
at::Tensor GemmActivation(const at::Tensor& x2d, const at::Tensor& w, const at::Tensor& bias,
                          LinearActivation activation);

// The dtype layers compute in on `device`: bf16 on CUDA, f32 elsewhere.
at::ScalarType ComputeDtype(c10::Device device);

}  // namespace ovid
