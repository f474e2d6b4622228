// File: kernels/cuda/sm90/flash_attention.cuh
// Non-causal multi-head attention on Hopper (sm_90a) through FlashInfer's FA3-style prefill
// kernel (TMA loads by a producer warp group, wgmma by two consumer warp groups, softmax
// overlapped with the next tile's matmul). FlashInfer comes from its pinned PyPI package as
// headers (cmake/FlashInfer.cmake); this launcher instantiates the one case ovid needs: bf16 in
// and out, head_dim 128, no mask, as many key/value heads as query heads.
//
// Why not LibTorch's SDPA: on an H100 this kernel ran Ovi's 54,900-token video self-attention
// at 631 TFLOP/s against 587 for LibTorch 2.11's fastest (cuDNN), 7% of a 960x960 10 s pass. It
// is slower for short key sequences (512 text tokens), so engine/ops picks it by shape.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ovid {

inline constexpr int kFlashAttentionSm90HeadDim = 128;

struct FlashAttentionSm90Args {
  const void* q = nullptr;  // bf16 [batch, q_len, heads, 128] at the strides below
  const void* k = nullptr;  // bf16 [batch, kv_len, heads, 128]
  const void* v = nullptr;  // bf16 [batch, kv_len, heads, 128]
  void* out = nullptr;      // bf16 [batch, q_len, heads, 128]
  // Element strides {batch, token, head}; the 128 head channels are contiguous. TMA needs every
  // base address 16-byte aligned and every stride a multiple of 8 elements.
  int64_t q_stride[3] = {}, k_stride[3] = {}, v_stride[3] = {}, out_stride[3] = {};
  int batch = 0, q_len = 0, kv_len = 0, heads = 0;
  float scale = 0;  // softmax scale, usually 1/sqrt(128)
};

// True when the arguments meet the kernel's layout needs (see FlashAttentionSm90Args).
bool FlashAttentionSm90Accepts(const FlashAttentionSm90Args& a);

// Enqueues softmax(q k^T * scale) v per batch entry and head on `stream`. Arguments the kernel
// cannot take return cudaErrorInvalidValue; otherwise the launch status.
cudaError_t FlashAttentionSm90(const FlashAttentionSm90Args& a, cudaStream_t stream);

}  // namespace ovid
