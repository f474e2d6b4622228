// File: engine/ops/dit_ops.cc
// Binds engine/ops/dit_ops.h to kernels/cuda/dit_elementwise.cuh; the only file that learns
// those launchers' names.
#include "engine/ops/dit_ops.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "engine/ops/torch_status.h"

#if defined(OVID_TORCH_CUDA) && defined(OVID_HAVE_CUDA_KERNELS)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda/dit_elementwise.cuh"
#define OVID_DIT_KERNELS 1
#endif

namespace ovid::ops {
namespace {

absl::Status CheckActivation(const at::Tensor& x, const char* what) {
  if (!DitFusedAvailable(x) || x.dim() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": the fused kernels take a contiguous bf16 CUDA tensor [B, L, D] "
                     "with D a multiple of 8, got ",
                     x.defined() ? x.toString() : std::string("an undefined tensor"), " of ",
                     x.defined() ? x.dim() : 0, " dims"));
  }
  return absl::OkStatus();
}

absl::Status CheckRows(const at::Tensor* rows, const at::Tensor& x, const char* what) {
  if (rows == nullptr || !rows->defined()) return absl::OkStatus();
  const bool ok = rows->is_contiguous() && rows->scalar_type() == x.scalar_type() &&
                  rows->device() == x.device() && rows->dim() == 3 && rows->size(0) == x.size(0) &&
                  rows->size(2) == x.size(2);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": modulation rows must be contiguous [B, n, D] of the activation's dtype and "
                     "device"));
  }
  return absl::OkStatus();
}

// The row indices a kernel will read: each must name one of the n rows of `rows` (and of
// `clean`, which the kernels walk with the same batch stride, so it must also have n rows).
absl::Status CheckIndices(const DitModulation& m, std::initializer_list<int64_t> indices,
                          const char* what) {
  if (m.rows == nullptr || !m.rows->defined()) return absl::OkStatus();
  const int64_t n = m.rows->size(1);
  const bool clean = m.clean_tokens > 0 && m.clean != nullptr && m.clean->defined();
  if (clean && m.clean->size(1) != n) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the first-frame rows have ",
                                                   m.clean->size(1), " rows, the others ", n));
  }
  for (int64_t i : indices) {
    if (i >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": modulation row ", i, " asked of ", n, " rows"));
    }
  }
  return absl::OkStatus();
}

absl::Status SameDevice(const at::Tensor& t, const at::Tensor& x, const char* what,
                        const char* name) {
  if (t.defined() && t.device() == x.device()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": ", name, " must be on ", x.device().str(), ", got ",
      t.defined() ? t.device().str() : std::string("an undefined tensor")));
}

#ifdef OVID_DIT_KERNELS
cudaStream_t CurrentStream(const at::Tensor& x) {
  return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
}

absl::Status FromCuda(cudaError_t err, const char* what, const at::Tensor& x) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("CUDA ", what, " on [", x.size(0), ", ", x.size(1), ", ",
                                          x.size(2), "]: ", cudaGetErrorString(err)));
}

const void* Row(const at::Tensor* rows, int64_t index) {
  if (rows == nullptr || !rows->defined() || index < 0) return nullptr;
  return static_cast<const uint16_t*>(rows->const_data_ptr()) + index * rows->size(2);
}

DitModulationRows Rows(const DitModulation& m, int64_t shift, int64_t scale, int64_t gate) {
  DitModulationRows r;
  r.shift = Row(m.rows, shift);
  r.scale = Row(m.rows, scale);
  r.gate = Row(m.rows, gate);
  if (m.clean_tokens > 0 && m.clean != nullptr && m.clean->defined()) {
    r.clean_shift = Row(m.clean, shift);
    r.clean_scale = Row(m.clean, scale);
    r.clean_gate = Row(m.clean, gate);
    r.clean_tokens = m.clean_tokens;
  }
  r.batch_stride = m.rows->size(1) * m.rows->size(2);
  return r;
}
#endif

}  // namespace

bool DitFusedAvailable(const at::Tensor& x) {
#ifdef OVID_DIT_KERNELS
  return x.defined() && x.is_cuda() && x.scalar_type() == at::kBFloat16 && x.is_contiguous() &&
         x.dim() >= 1 && x.size(-1) % 8 == 0 && x.size(-1) <= kDitMaxDim && x.numel() > 0;
#else
  (void)x;
  return false;
#endif
}

namespace {

absl::Status RmsNormRopeImpl(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                             const at::Tensor& sin, int64_t head_dim, double eps, NormRope out) {
  if (absl::Status s = CheckActivation(x, "RmsNormRope"); !s.ok()) return s;
  if (out.normed == nullptr && out.roped == nullptr) {
    return absl::InvalidArgumentError("RmsNormRope: no output requested");
  }
#ifdef OVID_DIT_KERNELS
  const int64_t tokens = x.size(1), dim = x.size(2);
  if (weight.numel() != dim || head_dim <= 0 || dim % head_dim != 0 || head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("RmsNormRope: weight of ", weight.numel(),
                                                   " values or head_dim ", head_dim,
                                                   " does not fit D = ", dim));
  }
  at::Tensor c, s;
  if (out.roped != nullptr) {
    c = cos.to(at::kFloat).contiguous();
    s = sin.to(at::kFloat).contiguous();
    if (c.device() != x.device() || s.device() != x.device() ||
        c.numel() != tokens * head_dim / 2 || s.numel() != c.numel()) {
      return absl::InvalidArgumentError(absl::StrCat("RmsNormRope: cos/sin tables must be [",
                                                     tokens, ", ", head_dim / 2, "] on ",
                                                     x.device().str()));
    }
  }
  const at::Tensor w = weight.to(x.device(), at::kBFloat16).contiguous();
  const c10::cuda::CUDAGuard guard(x.device());
  if (out.normed != nullptr) *out.normed = at::empty_like(x);
  if (out.roped != nullptr) *out.roped = at::empty_like(x);
  return FromCuda(RmsNormRopeCuda(x.const_data_ptr(), w.const_data_ptr(),
                                  c.defined() ? c.const_data_ptr<float>() : nullptr,
                                  s.defined() ? s.const_data_ptr<float>() : nullptr,
                                  out.normed != nullptr ? out.normed->mutable_data_ptr() : nullptr,
                                  out.roped != nullptr ? out.roped->mutable_data_ptr() : nullptr,
                                  x.size(0) * tokens, dim, head_dim, tokens,
                                  static_cast<float>(eps), CurrentStream(x)),
                  "RMSNorm+RoPE", x);
#else
  (void)weight, (void)cos, (void)sin, (void)head_dim, (void)eps;
  return absl::FailedPreconditionError("RmsNormRope: built without the CUDA kernels");
#endif
}

absl::StatusOr<at::Tensor> LayerNormModulateImpl(const at::Tensor& x, const at::Tensor& weight,
                                                 const at::Tensor& bias, const DitModulation* mod,
                                                 int64_t shift, int64_t scale, double eps) {
  if (absl::Status s = CheckActivation(x, "LayerNormModulate"); !s.ok()) return s;
  if (mod != nullptr) {
    if (absl::Status s = CheckRows(mod->rows, x, "LayerNormModulate"); !s.ok()) return s;
    if (absl::Status s = CheckRows(mod->clean, x, "LayerNormModulate"); !s.ok()) return s;
    if (absl::Status s = CheckIndices(*mod, {shift, scale}, "LayerNormModulate"); !s.ok()) {
      return s;
    }
  }
#ifdef OVID_DIT_KERNELS
  const int64_t dim = x.size(2);
  if (weight.defined() != bias.defined() ||
      (weight.defined() && (weight.numel() != dim || bias.numel() != dim))) {
    return absl::InvalidArgumentError(
        absl::StrCat("LayerNormModulate: weight and bias must both be [", dim, "] or both absent"));
  }
  const at::Tensor w =
      weight.defined() ? weight.to(x.device(), at::kFloat).contiguous() : at::Tensor();
  const at::Tensor b = bias.defined() ? bias.to(x.device(), at::kFloat).contiguous() : at::Tensor();
  const DitModulationRows rows =
      mod != nullptr && mod->rows != nullptr && mod->rows->defined() ? Rows(*mod, shift, scale, -1)
                                                                     : DitModulationRows{};
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty_like(x);
  absl::Status st = FromCuda(
      LayerNormModulateCuda(x.const_data_ptr(), w.defined() ? w.const_data_ptr<float>() : nullptr,
                            b.defined() ? b.const_data_ptr<float>() : nullptr, rows,
                            out.mutable_data_ptr(), x.size(0) * x.size(1), dim, x.size(1),
                            static_cast<float>(eps), CurrentStream(x)),
      "LayerNorm+modulation", x);
  if (!st.ok()) return st;
  return out;
#else
  (void)weight, (void)bias, (void)shift, (void)scale, (void)eps;
  return absl::FailedPreconditionError("LayerNormModulate: built without the CUDA kernels");
#endif
}

absl::StatusOr<at::Tensor> GateResidualImpl(const at::Tensor& x, const at::Tensor& y,
                                            const DitModulation& mod, int64_t gate) {
  if (absl::Status s = CheckActivation(x, "GateResidual"); !s.ok()) return s;
  if (absl::Status s = CheckActivation(y, "GateResidual"); !s.ok()) return s;
  if (!x.sizes().equals(y.sizes()) || mod.rows == nullptr || !mod.rows->defined()) {
    return absl::InvalidArgumentError("GateResidual: x and y must have one shape, rows given");
  }
  if (absl::Status s = SameDevice(y, x, "GateResidual", "y"); !s.ok()) return s;
  if (absl::Status s = CheckRows(mod.rows, x, "GateResidual"); !s.ok()) return s;
  if (absl::Status s = CheckRows(mod.clean, x, "GateResidual"); !s.ok()) return s;
  if (absl::Status s = CheckIndices(mod, {gate}, "GateResidual"); !s.ok()) return s;
#ifdef OVID_DIT_KERNELS
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty_like(x);
  absl::Status st =
      FromCuda(GateResidualCuda(x.const_data_ptr(), y.const_data_ptr(), Rows(mod, -1, -1, gate),
                                out.mutable_data_ptr(), x.size(0) * x.size(1), x.size(2), x.size(1),
                                CurrentStream(x)),
               "gated residual", x);
  if (!st.ok()) return st;
  return out;
#else
  (void)gate;
  return absl::FailedPreconditionError("GateResidual: built without the CUDA kernels");
#endif
}

}  // namespace

// The entry points: LibTorch may throw (an allocation that runs out of memory, a conversion of
// an unusable tensor); GuardTorch turns that into the Status these functions promise.
absl::Status RmsNormRope(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                         const at::Tensor& sin, int64_t head_dim, double eps, NormRope out) {
  return GuardTorch("RmsNormRope",
                    [&] { return RmsNormRopeImpl(x, weight, cos, sin, head_dim, eps, out); });
}

absl::StatusOr<at::Tensor> LayerNormModulate(const at::Tensor& x, const at::Tensor& weight,
                                             const at::Tensor& bias, const DitModulation* mod,
                                             int64_t shift, int64_t scale, double eps) {
  return GuardTorch("LayerNormModulate", [&] {
    return LayerNormModulateImpl(x, weight, bias, mod, shift, scale, eps);
  });
}

absl::StatusOr<at::Tensor> GateResidual(const at::Tensor& x, const at::Tensor& y,
                                        const DitModulation& mod, int64_t gate) {
  return GuardTorch("GateResidual", [&] { return GateResidualImpl(x, y, mod, gate); });
}

}  // namespace ovid::ops
