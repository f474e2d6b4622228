// File: engine/ops/attention.cc
#include "engine/ops/attention.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/_scaled_dot_product_attention_math.h>
#include <ATen/ops/_scaled_dot_product_cudnn_attention.h>
#include <ATen/ops/_scaled_dot_product_efficient_attention.h>
#include <ATen/ops/_scaled_dot_product_flash_attention.h>
#include <ATen/ops/scaled_dot_product_attention.h>

#include <array>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#if defined(OVID_TORCH_CUDA) && defined(OVID_HAVE_FLASH_SM90)
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda/sm90/flash_attention.cuh"
#define OVID_FLASH_SM90 1
#endif

namespace ovid::ops {
namespace {

constexpr std::array<std::pair<AttentionBackend, const char*>, 7> kNames = {{
    {AttentionBackend::kDefault, "default"},
    {AttentionBackend::kTorch, "torch"},
    {AttentionBackend::kFlashInfer, "flashinfer"},
    {AttentionBackend::kCudnn, "cudnn"},
    {AttentionBackend::kFlash, "flash"},
    {AttentionBackend::kEfficient, "efficient"},
    {AttentionBackend::kMath, "math"},
}};

at::Tensor Cudnn(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return std::get<0>(at::_scaled_dot_product_cudnn_attention(q, k, v, std::nullopt,
                                                             /*compute_log_sumexp=*/false));
}

#ifdef OVID_FLASH_SM90
// q [B, H, Lq, d], k/v [B, H, Lk, d] views -> FlashInfer's {batch, token, head} strides; the
// output is a fresh contiguous [B, Lq, H, d] at `out` (its strides follow from q's shape).
FlashAttentionSm90Args FlashArgs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 void* out) {
  FlashAttentionSm90Args a;
  a.q = q.data_ptr();
  a.k = k.data_ptr();
  a.v = v.data_ptr();
  a.out = out;
  auto strides = [](const at::Tensor& t, int64_t(&s)[3]) {
    s[0] = t.stride(0);
    s[1] = t.stride(2);
    s[2] = t.stride(1);
  };
  strides(q, a.q_stride);
  strides(k, a.k_stride);
  strides(v, a.v_stride);
  const int64_t heads = q.size(1), q_len = q.size(2), head_dim = q.size(3);
  a.out_stride[0] = q_len * heads * head_dim;
  a.out_stride[1] = heads * head_dim;
  a.out_stride[2] = head_dim;
  a.batch = static_cast<int>(q.size(0));
  a.heads = static_cast<int>(heads);
  a.q_len = static_cast<int>(q_len);
  a.kv_len = static_cast<int>(k.size(2));
  a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  return a;
}

bool IsHopper(const at::Tensor& t) {
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(t.device().index());
  return p->major == 9 && p->minor == 0;
}

at::Tensor FlashInfer(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(FlashInferAttentionApplies(q, k, v),
              "flashinfer attention takes bf16 CUDA q/k/v [B, H, L, 128] on a Hopper GPU with "
              "the head channels contiguous and 16-byte aligned rows, got q ",
              q.sizes(), " ", q.scalar_type(), " on ", q.device());
  const c10::cuda::CUDAGuard guard(q.device());
  const at::Tensor out = at::empty({q.size(0), q.size(2), q.size(1), q.size(3)}, q.options());
  const cudaError_t err = FlashAttentionSm90(FlashArgs(q, k, v, out.data_ptr()),
                                             c10::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == cudaSuccess, "flashinfer attention on q ", q.sizes(), ", k ", k.sizes(), ": ",
              cudaGetErrorString(err));
  return out.transpose(1, 2);  // [B, H, Lq, d], a view of [B, Lq, H, d]
}
#else
at::Tensor FlashInfer(const at::Tensor& q, const at::Tensor&, const at::Tensor&) {
  TORCH_CHECK(false,
              "flashinfer attention is not built in (configure with FlashInfer's headers: "
              "scripts/install-flashinfer.sh fetches them; cmake/FlashInfer.cmake)");
  return q;
}
#endif

}  // namespace

bool FlashInferAttentionApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#ifdef OVID_FLASH_SM90
  for (const at::Tensor* t : {&q, &k, &v}) {
    if (!t->defined() || !t->is_cuda() || t->scalar_type() != at::kBFloat16 || t->dim() != 4 ||
        t->size(3) != kFlashAttentionSm90HeadDim || t->stride(3) != 1 ||
        t->device() != q.device()) {
      return false;
    }
  }
  const bool shapes = k.sizes() == v.sizes() && k.size(0) == q.size(0) && k.size(1) == q.size(1) &&
                      q.size(2) > 0 && k.size(2) > 0 && q.size(2) < (int64_t{1} << 31) &&
                      k.size(2) < (int64_t{1} << 31);
  // The output comes from LibTorch's allocator (256-byte aligned); q's pointer stands in for it.
  return shapes && IsHopper(q) && FlashAttentionSm90Accepts(FlashArgs(q, k, v, q.data_ptr()));
#else
  (void)q, (void)k, (void)v;
  return false;
#endif
}

absl::StatusOr<AttentionBackend> ParseAttentionBackend(std::string_view name) {
  for (const auto& [backend, text] : kNames) {
    if (name == text) return backend;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown attention backend '", std::string(name),
                   "' (valid: default, torch, flashinfer, cudnn, flash, efficient, math)"));
}

const char* AttentionBackendName(AttentionBackend backend) {
  for (const auto& [b, text] : kNames) {
    if (b == backend) return text;
  }
  return "?";
}

at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     AttentionBackend backend) {
  switch (backend) {
    case AttentionBackend::kDefault:
      if (k.dim() == 4 && k.size(2) >= kFlashInferMinKeys && FlashInferAttentionApplies(q, k, v)) {
        return FlashInfer(q, k, v);
      }
      return at::scaled_dot_product_attention(q, k, v);
    case AttentionBackend::kTorch:
      return at::scaled_dot_product_attention(q, k, v);
    case AttentionBackend::kFlashInfer:
      return FlashInfer(q, k, v);
    case AttentionBackend::kCudnn:
      return Cudnn(q, k, v);
    case AttentionBackend::kFlash:
      return std::get<0>(at::_scaled_dot_product_flash_attention(q, k, v));
    case AttentionBackend::kEfficient:
      return std::get<0>(at::_scaled_dot_product_efficient_attention(q, k, v, std::nullopt,
                                                                     /*compute_log_sumexp=*/false));
    case AttentionBackend::kMath:
      return std::get<0>(at::_scaled_dot_product_attention_math(q, k, v));
  }
  return at::scaled_dot_product_attention(q, k, v);
}

}  // namespace ovid::ops
