// File: engine/ops/attention.h
// Scaled dot-product attention with a chosen backend. The engine's default takes FlashInfer's
// Hopper kernel (kernels/cuda/sm90, when built) for long key sequences, where it beat LibTorch
// 2.11's fastest kernel by 4-7% on an H100, and LibTorch's own choice
// (at::scaled_dot_product_attention) for everything else, where cuDNN is faster
// (bench/NOTES.md, "Attention backends"). The explicit ones are there to measure and to check.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace at {
class Tensor;
}  // namespace at

namespace ovid::ops {

enum class AttentionBackend {
  kDefault,     // kFlashInfer where it applies and the keys are long, else kTorch
  kTorch,       // LibTorch's choice (at::scaled_dot_product_attention)
  kFlashInfer,  // FlashInfer's sm_90a kernel: bf16, head_dim 128, Hopper, if built
  kCudnn,       // cuDNN fused attention (bf16/f16 CUDA only)
  kFlash,       // FlashAttention-2 as built into LibTorch (bf16/f16 CUDA only)
  kEfficient,   // memory-efficient attention (xformers-derived)
  kMath,        // the unfused reference: softmax(q k^T / sqrt(d)) v in the input dtype
};

// "default", "torch", "flashinfer", "cudnn", "flash", "efficient", "math".
absl::StatusOr<AttentionBackend> ParseAttentionBackend(std::string_view name);
const char* AttentionBackendName(AttentionBackend backend);

// Non-causal attention, scale 1/sqrt(head_dim): q [B, H, Lq, d], k/v [B, H, Lk, d] (last dim
// contiguous) -> [B, H, Lq, d]. Throws c10::Error when the chosen backend cannot take the
// inputs.
// Whether kFlashInfer can take these inputs here (built in, Hopper, bf16, head_dim 128, aligned).
bool FlashInferAttentionApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Shortest key sequence kDefault gives to kFlashInfer (measured crossover, bench/NOTES.md).
inline constexpr int64_t kFlashInferMinKeys = 8192;

at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     AttentionBackend backend);

}  // namespace ovid::ops
