// File: engine/models/ovi/ovi_block.h
// One fused Ovi block (spec ovi.md §3): audio self-attention, video self-attention, then each
// tower's fusion cross-attention (text + the other tower's tokens) and FFN. The text half of the
// cross-attention keys/values depends only on the prompt, so it comes precomputed (TextKv).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "engine/models/ovi/ovi_layers.h"
#include "engine/models/ovi/ovi_rope.h"
#include "engine/models/ovi/ovi_weights.h"

namespace ovid::ovi {

// How a block runs (not what it computes): heads, the attention backend, and whether the
// norm/RoPE/modulation/residual chains go through the fused kernels (engine/ops/dit_ops.h; they
// apply only to contiguous bf16 CUDA activations, the plain chains everywhere else).
struct BlockExec {
  int64_t heads = 0;
  ops::AttentionBackend attention = ops::AttentionBackend::kDefault;
  bool fused = false;
};

// A block's text-attention keys and values, split into heads.
struct TextKv {
  at::Tensor k;  // [B, heads, text_len, head_dim], norm_k applied
  at::Tensor v;  // [B, heads, text_len, head_dim]
};
// k = norm_k(Wk ctx), v = Wv ctx for the embedded context [B, text_len, D].
TextKv PrepareTextKv(const OviCrossAttentionWeights& w, const at::Tensor& context,
                     const BlockExec& exec);

// Self-attention with q/k RMSNorm and RoPE on both: x [B, L, D] -> [B, L, D].
at::Tensor SelfAttention(const OviSelfAttentionWeights& w, const at::Tensor& x,
                         const RopeTable& rope, const BlockExec& exec);

// Fusion cross-attention: o(attn(q, text) + attn(rope(q, src), rope(k_t, tgt), v_t)), with
// q = norm_q(Wq x) shared. x: norm3(src) [B, L, D]; target: the other tower's tokens
// [B, Lt, D] (pre_attn_norm_fusion is applied here).
at::Tensor FusionCrossAttention(const OviCrossAttentionWeights& w, const at::Tensor& x,
                                const at::Tensor& target, const TextKv& text,
                                const RopeTable& src_rope, const RopeTable& tgt_rope,
                                const BlockExec& exec);

// ffn.2(gelu_tanh(ffn.0(x))): [B, L, D] -> [B, L, D]. `fused`: the GELU in ffn.0's GEMM
// epilogue where the layer can (LinearActivation::kGeluTanh; bf16 CUDA), one rounding fewer.
at::Tensor FeedForward(const OviBlockWeights& w, const at::Tensor& x, bool fused = false);

// One tower's running state through the blocks.
struct TowerStream {
  at::Tensor x;    // [B, L, D] tokens
  Modulation e0;   // rows [B, 6, D] (time_projection output)
  RopeTable rope;  // [L, head_dim/2]
};

// Fused block i: updates audio.x and video.x in place of the spec's order.
void FusedBlock(const OviBlockWeights& audio_w, const OviBlockWeights& video_w,
                const TextKv& audio_text, const TextKv& video_text, const BlockExec& exec,
                TowerStream* audio, TowerStream* video);

}  // namespace ovid::ovi
