// File: engine/ops/attention.h
// Scaled dot-product attention with a chosen backend. The engine uses LibTorch's own choice
// (at::scaled_dot_product_attention): on an H100 with torch 2.11 it was as fast as the fastest
// explicit backend at Ovi's long video sequences and as accurate as every other
// (bench/NOTES.md, "Attention backends"). The explicit ones are there to measure and to check.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace at {
class Tensor;
}  // namespace at

namespace ovid::ops {

enum class AttentionBackend {
  kDefault,    // LibTorch's choice (at::scaled_dot_product_attention)
  kCudnn,      // cuDNN fused attention (bf16/f16 CUDA only)
  kFlash,      // FlashAttention-2 as built into LibTorch (bf16/f16 CUDA only)
  kEfficient,  // memory-efficient attention (xformers-derived)
  kMath,       // the unfused reference: softmax(q k^T / sqrt(d)) v in the input dtype
};

// "default", "cudnn", "flash", "efficient", "math".
absl::StatusOr<AttentionBackend> ParseAttentionBackend(std::string_view name);
const char* AttentionBackendName(AttentionBackend backend);

// Non-causal attention, scale 1/sqrt(head_dim): q [B, H, Lq, d], k/v [B, H, Lk, d] (last dim
// contiguous) -> [B, H, Lq, d]. Throws c10::Error when the chosen backend cannot take the
// inputs.
at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     AttentionBackend backend);

}  // namespace ovid::ops
