// File: engine/ops/attention.cc
#include "engine/ops/attention.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/_scaled_dot_product_attention_math.h>
#include <ATen/ops/_scaled_dot_product_cudnn_attention.h>
#include <ATen/ops/_scaled_dot_product_efficient_attention.h>
#include <ATen/ops/_scaled_dot_product_flash_attention.h>
#include <ATen/ops/scaled_dot_product_attention.h>

#include <array>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::ops {
namespace {

constexpr std::array<std::pair<AttentionBackend, const char*>, 5> kNames = {{
    {AttentionBackend::kDefault, "default"},
    {AttentionBackend::kCudnn, "cudnn"},
    {AttentionBackend::kFlash, "flash"},
    {AttentionBackend::kEfficient, "efficient"},
    {AttentionBackend::kMath, "math"},
}};

at::Tensor Cudnn(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return std::get<0>(at::_scaled_dot_product_cudnn_attention(q, k, v, std::nullopt,
                                                             /*compute_log_sumexp=*/false));
}

}  // namespace

absl::StatusOr<AttentionBackend> ParseAttentionBackend(std::string_view name) {
  for (const auto& [backend, text] : kNames) {
    if (name == text) return backend;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown attention backend '", std::string(name),
                   "' (valid: default, cudnn, flash, efficient, math)"));
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
      return at::scaled_dot_product_attention(q, k, v);
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
