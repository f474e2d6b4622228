// File: engine/ops/dit_ops.h
// Tensor glue for the fused diffusion-transformer elementwise kernels
// (kernels/cuda/dit_elementwise.cuh): RMSNorm + RoPE, LayerNorm + adaLN modulation, gated
// residual. Each one replaces a chain of ATen ops with one pass over the activation; callers
// check DitFusedAvailable first and keep the plain chain otherwise (CPU, f32, builds without
// the kernels), which stays the reference the fused path is tested against.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace at {
class Tensor;
}  // namespace at

namespace ovid::ops {

// True when x is a contiguous bf16 CUDA tensor whose last dim the kernels take (a multiple of 8,
// at most 32768) and the kernels are built in.
bool DitFusedAvailable(const at::Tensor& x);

// Per-sample modulation rows [B, n, D] (bf16, contiguous, on x's device); when clean_tokens > 0,
// the first clean_tokens tokens of each sample use `clean` (same shape) instead.
struct DitModulation {
  const at::Tensor* rows = nullptr;
  const at::Tensor* clean = nullptr;  // null or undefined: no first-frame segment
  int64_t clean_tokens = 0;
};

struct NormRope {
  at::Tensor* normed = nullptr;  // out: RMSNorm(x) * weight, or null to skip
  at::Tensor* roped = nullptr;   // out: the same rotated per head, or null to skip
};

// x [B, L, D] bf16; weight [D] (any float dtype: used as bf16, as the plain chain does);
// cos/sin [L, head_dim/2] f32 (needed only for `roped`).
absl::Status RmsNormRope(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                         const at::Tensor& sin, int64_t head_dim, double eps, NormRope out);

// LayerNorm over D (weight/bias [D] or both undefined), then, with `mod`, x * (1 + rows[scale])
// + rows[shift]. x [B, L, D] -> new [B, L, D].
absl::StatusOr<at::Tensor> LayerNormModulate(const at::Tensor& x, const at::Tensor& weight,
                                             const at::Tensor& bias, const DitModulation* mod,
                                             int64_t shift, int64_t scale, double eps);

// x + y * rows[gate]: x, y [B, L, D] -> new [B, L, D].
absl::StatusOr<at::Tensor> GateResidual(const at::Tensor& x, const at::Tensor& y,
                                        const DitModulation& mod, int64_t gate);

}  // namespace ovid::ops
