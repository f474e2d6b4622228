#include "engine/models/ovi/ovi_block.h"

#include <ATen/ops/gelu.h>

#include "engine/ops/dit_ops.h"
#include "engine/ops/torch_status.h"

namespace ovid::ovi {
namespace {

// [B, L, D] -> [B, L, heads, head_dim]
at::Tensor SplitHeads(const at::Tensor& t, int64_t heads) {
  return t.view({t.size(0), t.size(1), heads, t.size(2) / heads});
}

// norm(x) [B, L, D] split into heads, rotated by `rope` when given; `normed`, when not null,
// also gets the unrotated heads (the fusion q serves the text attention unrotated).
at::Tensor NormRope(const at::Tensor& x, const at::Tensor& weight, const RopeTable* rope,
                    const BlockExec& exec, at::Tensor* normed = nullptr) {
  if (exec.fused && ops::DitFusedAvailable(x) && x.dim() == 3) {
    at::Tensor n, r;
    ops::NormRope out{normed != nullptr || rope == nullptr ? &n : nullptr,
                      rope != nullptr ? &r : nullptr};
    ops::ThrowIfError(ops::RmsNormRope(x, weight, rope ? rope->cos : at::Tensor(),
                                       rope ? rope->sin : at::Tensor(), x.size(2) / exec.heads,
                                       kOviEps, out));
    if (normed != nullptr) *normed = SplitHeads(n, exec.heads);
    return SplitHeads(rope != nullptr ? r : n, exec.heads);  // [B, L, heads, hd]
  }
  const at::Tensor n = SplitHeads(RmsNorm(x, weight), exec.heads);  // [B, L, heads, hd]
  if (normed != nullptr) *normed = n;
  return rope != nullptr ? ApplyRope(n, *rope) : n;
}

}  // namespace

TextKv PrepareTextKv(const OviCrossAttentionWeights& w, const at::Tensor& context,
                     const BlockExec& exec) {
  const at::Tensor k = NormRope(w.k.forward(context), w.norm_k, nullptr, exec);  // [B,Lt,h,hd]
  const at::Tensor v = SplitHeads(w.v.forward(context), exec.heads);             // [B,Lt,h,hd]
  return {k.transpose(1, 2).contiguous(),   // [B, heads, Lt, hd]
          v.transpose(1, 2).contiguous()};  // [B, heads, Lt, hd]
}

at::Tensor SelfAttention(const OviSelfAttentionWeights& w, const at::Tensor& x,
                         const RopeTable& rope, const BlockExec& exec) {
  const at::Tensor q = NormRope(w.q.forward(x), w.norm_q, &rope, exec);  // [B, L, heads, hd]
  const at::Tensor k = NormRope(w.k.forward(x), w.norm_k, &rope, exec);  // [B, L, heads, hd]
  const at::Tensor v = SplitHeads(w.v.forward(x), exec.heads);           // [B, L, heads, hd]
  const at::Tensor out = AttentionHeads(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                        exec.attention);  // [B, L, D]
  return w.o.forward(out);                                // [B, L, D]
}

at::Tensor FusionCrossAttention(const OviCrossAttentionWeights& w, const at::Tensor& x,
                                const at::Tensor& target, const TextKv& text,
                                const RopeTable& src_rope, const RopeTable& tgt_rope,
                                const BlockExec& exec) {
  at::Tensor q;  // [B, L, heads, hd], normed, not rotated
  const at::Tensor q_rot = NormRope(w.q.forward(x), w.norm_q, &src_rope, exec, &q);
  const at::Tensor x_txt =
      AttentionHeads(q.transpose(1, 2), text.k, text.v, exec.attention);  // [B, L, D]
  const at::Tensor tgt = LayerNorm(target, w.pre_attn_norm_fusion_w, w.pre_attn_norm_fusion_b,
                                   exec.fused);  // [B, Lt, D]
  const at::Tensor k_t =
      NormRope(w.k_fusion.forward(tgt), w.norm_k_fusion, &tgt_rope, exec);  // [B, Lt, heads, hd]
  const at::Tensor v_t = SplitHeads(w.v_fusion.forward(tgt), exec.heads);   // [B, Lt, heads, hd]
  const at::Tensor x_av = AttentionHeads(q_rot.transpose(1, 2),             // [B, heads, L, hd]
                                         k_t.transpose(1, 2),               // [B, heads, Lt, hd]
                                         v_t.transpose(1, 2),               // -> [B, L, D]
                                         exec.attention);
  return w.o.forward(x_txt.add(x_av));  // [B, L, D]
}

at::Tensor FeedForward(const OviBlockWeights& w, const at::Tensor& x, bool fused) {
  if (fused) return w.ffn2.forward(w.ffn0.forward(x, LinearActivation::kGeluTanh));  // [B, L, D]
  return w.ffn2.forward(at::gelu(w.ffn0.forward(x), "tanh"));                        // [B, L, D]
}

void FusedBlock(const OviBlockWeights& audio_w, const OviBlockWeights& video_w,
                const TextKv& audio_text, const TextKv& video_text, const BlockExec& exec,
                TowerStream* audio, TowerStream* video) {
  // Rows 0..5: shift_msa, scale_msa, gate_msa, shift_ffn, scale_ffn, gate_ffn.
  const Modulation ea = audio->e0.Plus(audio_w.modulation);  // [B, 6, D]
  const Modulation ev = video->e0.Plus(video_w.modulation);  // [B, 6, D]
  const bool fused = exec.fused;
  at::Tensor& a = audio->x;  // [B, La, D]
  at::Tensor& v = video->x;  // [B, Lv, D]

  a = ea.AddGated(
      a, SelfAttention(audio_w.self_attn, ea.NormAffine(a, 0, 1, fused), audio->rope, exec), 2,
      fused);  // [B, La, D]
  v = ev.AddGated(
      v, SelfAttention(video_w.self_attn, ev.NormAffine(v, 0, 1, fused), video->rope, exec), 2,
      fused);                 // [B, Lv, D]
  const at::Tensor a_sa = a;  // [B, La, D] audio after self-attention, the video's target

  a = a.add(FusionCrossAttention(audio_w.cross_attn,
                                 LayerNorm(a, audio_w.norm3_w, audio_w.norm3_b, fused), v,
                                 audio_text, audio->rope, video->rope, exec));  // [B, La, D]
  a = ea.AddGated(a, FeedForward(audio_w, ea.NormAffine(a, 3, 4, fused), fused), 5,
                  fused);  // [B, La, D]

  v = v.add(FusionCrossAttention(video_w.cross_attn,
                                 LayerNorm(v, video_w.norm3_w, video_w.norm3_b, fused), a_sa,
                                 video_text, video->rope, audio->rope, exec));  // [B, Lv, D]
  v = ev.AddGated(v, FeedForward(video_w, ev.NormAffine(v, 3, 4, fused), fused), 5,
                  fused);  // [B, Lv, D]
}

}  // namespace ovid::ovi
