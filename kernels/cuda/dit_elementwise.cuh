// File: kernels/cuda/dit_elementwise.cuh
// Fused elementwise kernels for Wan-style diffusion transformer blocks (Ovi's towers), bf16 in
// and out with f32 math. Each one replaces a chain of ATen ops that read and write the whole
// [tokens, dim] activation several times (casts to f32 and back, one op per product):
//
//   RmsNormRope       q/k RMSNorm (x * rsqrt(mean(x^2) + eps), rounded, times the weight) and
//                     the rotary embedding, optionally writing both the normed and the rotated
//                     tensor (Ovi's fusion q is used both ways).
//   LayerNormModulate LayerNorm without or with an affine weight, then optionally the adaLN
//                     modulation x * (1 + scale) + shift with per-sample rows and an optional
//                     first-frame segment that uses other rows.
//   GateResidual      x + y * gate with the same per-sample rows/segment.
//
// Rounding: each kernel rounds to bf16 where the plain ATen chain does (after the norm, after
// each bf16 product), with the f32 products of the rotation computed without FMA contraction,
// so the outputs equal the plain chain's except where a sum's order (the norm statistics)
// moves a value across a rounding boundary. Launchers take device pointers and a stream, enqueue
// asynchronously and return the launch status; bad sizes are cudaErrorInvalidValue.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ovid {

// Largest row (dim) the kernels take: every thread keeps its share of a row in registers.
inline constexpr int64_t kDitMaxDim = 32768;

// x [rows, dim] bf16, row r is token (r % tokens) of its sample; weight [dim] bf16; cos/sin
// [tokens, head_dim/2] f32 (may be null when out_rope is null). dim % 8 == 0, head_dim even,
// dim % head_dim == 0. out_normed (the normed x) and out_rope (the normed x rotated pairwise per
// head: (a, b) -> (a cos - b sin, a sin + b cos)) may each be null, not both.
cudaError_t RmsNormRopeCuda(const void* x, const void* weight, const float* cos, const float* sin,
                            void* out_normed, void* out_rope, int64_t rows, int64_t dim,
                            int64_t head_dim, int64_t tokens, float eps, cudaStream_t stream);

// Per-sample modulation rows: sample b uses shift/scale/gate + b * batch_stride (bf16, dim
// each); its first `clean_tokens` tokens use the clean_* rows instead (null when unused).
struct DitModulationRows {
  const void* shift = nullptr;
  const void* scale = nullptr;
  const void* gate = nullptr;
  const void* clean_shift = nullptr;
  const void* clean_scale = nullptr;
  const void* clean_gate = nullptr;
  int64_t batch_stride = 0;  // elements between samples' rows
  int64_t clean_tokens = 0;
};

// out = LayerNorm(x) over dim (weight/bias f32 [dim], both null for none), rounded to bf16;
// then, when mod.shift and mod.scale are set, out = bf16(bf16(out * bf16(1 + scale)) + shift).
// x, out [rows, dim] bf16 with rows = samples * tokens; dim % 8 == 0. out may not alias x.
cudaError_t LayerNormModulateCuda(const void* x, const float* weight, const float* bias,
                                  const DitModulationRows& mod, void* out, int64_t rows,
                                  int64_t dim, int64_t tokens, float eps, cudaStream_t stream);

// out = bf16(x + bf16(y * gate)) with mod.gate (and mod.clean_gate) rows; x, y, out [rows, dim]
// bf16, rows = samples * tokens, dim % 8 == 0. out may alias x.
cudaError_t GateResidualCuda(const void* x, const void* y, const DitModulationRows& mod, void* out,
                             int64_t rows, int64_t dim, int64_t tokens, cudaStream_t stream);

}  // namespace ovid
