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

// A block's text-attention keys and values, split into heads.
struct TextKv {
  at::Tensor k;  // [B, heads, text_len, head_dim], norm_k applied
  at::Tensor v;  // [B, heads, text_len, head_dim]
};
// k = norm_k(Wk ctx), v = Wv ctx for the embedded context [B, text_len, D].
TextKv PrepareTextKv(const OviCrossAttentionWeights& w, const at::Tensor& context, int64_t heads);

// Self-attention with q/k RMSNorm and RoPE on both: x [B, L, D] -> [B, L, D].
at::Tensor SelfAttention(const OviSelfAttentionWeights& w, const at::Tensor& x,
                         const RopeTable& rope, int64_t heads);

// Fusion cross-attention: o(attn(q, text) + attn(rope(q, src), rope(k_t, tgt), v_t)), with
// q = norm_q(Wq x) shared. x: norm3(src) [B, L, D]; target: the other tower's tokens
// [B, Lt, D] (pre_attn_norm_fusion is applied here).
at::Tensor FusionCrossAttention(const OviCrossAttentionWeights& w, const at::Tensor& x,
                                const at::Tensor& target, const TextKv& text,
                                const RopeTable& src_rope, const RopeTable& tgt_rope,
                                int64_t heads);

// ffn.2(gelu_tanh(ffn.0(x))): [B, L, D] -> [B, L, D].
at::Tensor FeedForward(const OviBlockWeights& w, const at::Tensor& x);

// One tower's running state through the blocks.
struct TowerStream {
  at::Tensor x;    // [B, L, D] tokens
  Modulation e0;   // rows [B, 6, D] (time_projection output)
  RopeTable rope;  // [L, head_dim/2]
};

// Fused block i: updates audio.x and video.x in place of the spec's order.
void FusedBlock(const OviBlockWeights& audio_w, const OviBlockWeights& video_w,
                const TextKv& audio_text, const TextKv& video_text, int64_t heads,
                TowerStream* audio, TowerStream* video);

}  // namespace ovid::ovi
