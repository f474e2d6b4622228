#include "engine/models/ovi/ovi_block.h"

#include <ATen/ops/gelu.h>

namespace ovid::ovi {
namespace {

// [B, L, D] -> [B, L, heads, head_dim]
at::Tensor SplitHeads(const at::Tensor& t, int64_t heads) {
  return t.view({t.size(0), t.size(1), heads, t.size(2) / heads});
}

}  // namespace

TextKv PrepareTextKv(const OviCrossAttentionWeights& w, const at::Tensor& context, int64_t heads) {
  const at::Tensor k = RmsNorm(w.k.forward(context), w.norm_k);  // [B, Lt, D]
  const at::Tensor v = w.v.forward(context);                     // [B, Lt, D]
  return {SplitHeads(k, heads).transpose(1, 2).contiguous(),     // [B, heads, Lt, hd]
          SplitHeads(v, heads).transpose(1, 2).contiguous()};    // [B, heads, Lt, hd]
}

at::Tensor SelfAttention(const OviSelfAttentionWeights& w, const at::Tensor& x,
                         const RopeTable& rope, int64_t heads) {
  const at::Tensor q = ApplyRope(SplitHeads(RmsNorm(w.q.forward(x), w.norm_q), heads), rope);
  const at::Tensor k = ApplyRope(SplitHeads(RmsNorm(w.k.forward(x), w.norm_k), heads), rope);
  const at::Tensor v = SplitHeads(w.v.forward(x), heads);  // [B, L, heads, hd]
  const at::Tensor out =
      AttentionHeads(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2));  // [B, L, D]
  return w.o.forward(out);                                                      // [B, L, D]
}

at::Tensor FusionCrossAttention(const OviCrossAttentionWeights& w, const at::Tensor& x,
                                const at::Tensor& target, const TextKv& text,
                                const RopeTable& src_rope, const RopeTable& tgt_rope,
                                int64_t heads) {
  const at::Tensor q = SplitHeads(RmsNorm(w.q.forward(x), w.norm_q), heads);   // [B, L, heads, hd]
  const at::Tensor x_txt = AttentionHeads(q.transpose(1, 2), text.k, text.v);  // [B, L, D]
  const at::Tensor tgt =
      LayerNorm(target, w.pre_attn_norm_fusion_w, w.pre_attn_norm_fusion_b);  // [B, Lt, D]
  const at::Tensor k_t =
      SplitHeads(RmsNorm(w.k_fusion.forward(tgt), w.norm_k_fusion), heads);  // [B, Lt, heads, hd]
  const at::Tensor v_t = SplitHeads(w.v_fusion.forward(tgt), heads);         // [B, Lt, heads, hd]
  const at::Tensor x_av =
      AttentionHeads(ApplyRope(q, src_rope).transpose(1, 2),    // [B, heads, L, hd]
                     ApplyRope(k_t, tgt_rope).transpose(1, 2),  // [B, heads, Lt, hd]
                     v_t.transpose(1, 2));                      // -> [B, L, D]
  return w.o.forward(x_txt.add(x_av));                          // [B, L, D]
}

at::Tensor FeedForward(const OviBlockWeights& w, const at::Tensor& x) {
  return w.ffn2.forward(at::gelu(w.ffn0.forward(x), "tanh"));  // [B, L, D]
}

void FusedBlock(const OviBlockWeights& audio_w, const OviBlockWeights& video_w,
                const TextKv& audio_text, const TextKv& video_text, int64_t heads,
                TowerStream* audio, TowerStream* video) {
  // Rows 0..5: shift_msa, scale_msa, gate_msa, shift_ffn, scale_ffn, gate_ffn.
  const Modulation ea = audio->e0.Plus(audio_w.modulation);  // [B, 6, D]
  const Modulation ev = video->e0.Plus(video_w.modulation);  // [B, 6, D]
  at::Tensor& a = audio->x;                                  // [B, La, D]
  at::Tensor& v = video->x;                                  // [B, Lv, D]

  a = a.add(
      ea.Gate(SelfAttention(audio_w.self_attn, ea.Affine(LayerNorm(a), 0, 1), audio->rope, heads),
              2));  // [B, La, D]
  v = v.add(
      ev.Gate(SelfAttention(video_w.self_attn, ev.Affine(LayerNorm(v), 0, 1), video->rope, heads),
              2));            // [B, Lv, D]
  const at::Tensor a_sa = a;  // [B, La, D] audio after self-attention, the video's target

  a = a.add(FusionCrossAttention(audio_w.cross_attn, LayerNorm(a, audio_w.norm3_w, audio_w.norm3_b),
                                 v, audio_text, audio->rope, video->rope, heads));  // [B, La, D]
  a = a.add(ea.Gate(FeedForward(audio_w, ea.Affine(LayerNorm(a), 3, 4)), 5));       // [B, La, D]

  v = v.add(FusionCrossAttention(video_w.cross_attn, LayerNorm(v, video_w.norm3_w, video_w.norm3_b),
                                 a_sa, video_text, video->rope, audio->rope, heads));  // [B, Lv, D]
  v = v.add(ev.Gate(FeedForward(video_w, ev.Affine(LayerNorm(v), 3, 4)), 5));          // [B, Lv, D]
}

}  // namespace ovid::ovi
