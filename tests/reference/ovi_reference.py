"""Plain PyTorch reference of the Ovi FusionModel forward pass (shared spec ovi.md §2-§3).

This file is the specification in code: it is written from the spec, runs in float32 or float64
on the CPU, and favours readability over speed. The C++ model (`ovid-forward --mode forward`) is
checked against it. Every intermediate stays in the chosen dtype, except RoPE and the sinusoidal
time embedding, which are computed in float64 as in the original (they are then cast back).

Weights come from a GGUF file (gguf-py). Quantized tensors are dequantized to float32. The
configuration (dim, heads, layers, patch size, ...) is inferred from tensor shapes and the `ovi.*`
metadata, so the same code runs the 11B model and the `ovid-gguf synth --preset ovi-tiny` models.

Entry points:
    weights = load_gguf(path)                    # {name: float32 tensor, torch shape}
    model = OviReference(weights, metadata)      # or OviReference.from_gguf(path)
    out_video, out_audio = model.forward(video_latent, audio_latent, video_context,
                                         audio_context, timestep, first_frame_clean, slg_layer)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_gguf(path):
    """Returns (weights, metadata): weights maps tensor name -> float32 torch tensor in torch
    order (reversed ggml ne); metadata maps the `ovi.*` keys to Python values."""
    import gguf  # gguf-py; imported here so that the pure-math helpers need only torch

    reader = gguf.GGUFReader(str(path))
    weights = {}
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        values = gguf.quants.dequantize(t.data, t.tensor_type)  # F32/F16/BF16 and all quants
        weights[t.name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).reshape(shape)
    metadata = {}
    for name, field in reader.fields.items():
        if name.startswith("ovi."):
            value = field.contents()
            metadata[name] = value
    return weights, metadata


@dataclass
class TowerConfig:
    dim: int
    ffn_dim: int
    num_heads: int
    head_dim: int
    num_layers: int
    freq_dim: int
    text_dim: int
    in_dim: int
    out_dim: int
    patch_size: tuple  # (pt, ph, pw) for video, (1,) for audio
    eps: float = 1e-6


def rope_split(head_dim):
    """Complex-pair counts (temporal, height, width) of a head: the temporal band has
    d - 4*floor(d/6) channels, height and width 2*floor(d/6) each. 128 -> (22, 21, 21) pairs."""
    t = head_dim - 4 * (head_dim // 6)
    hw = 2 * (head_dim // 6)
    return t // 2, hw // 2, hw // 2


# ---------------------------------------------------------------------------------------------
# Pure functions (also checked against diffusers' Wan pieces)
# ---------------------------------------------------------------------------------------------


def sinusoidal_embedding(freq_dim, t):
    """[N] timesteps -> [N, freq_dim] float64: cat(cos(t*w), sin(t*w)), w_k = 10000^(-k/half)."""
    half = freq_dim // 2
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
    w = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half)
    arg = torch.outer(t, w)
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


def rope_freqs(n_positions, channels, theta=10000.0, scale=1.0):
    """[n_positions, channels/2] complex128: exp(i * p * scale * theta^(-2j/channels))."""
    inv = 1.0 / torch.pow(theta, torch.arange(0, channels, 2, dtype=torch.float64) / channels)
    angles = torch.outer(torch.arange(n_positions, dtype=torch.float64), scale * inv)
    return torch.polar(torch.ones_like(angles), angles)


def video_rope_table(grid, head_dim):
    """Per-token rotation [F*h*w, head_dim/2] complex128 for tokens in (f, h, w) row-major order:
    freqs_t[f] ‖ freqs_h[h] ‖ freqs_w[w]."""
    f, h, w = grid
    ct, ch, cw = rope_split(head_dim)
    ft = rope_freqs(max(f, 1), 2 * ct)
    fh = rope_freqs(max(h, 1), 2 * ch)
    fw = rope_freqs(max(w, 1), 2 * cw)
    table = torch.cat([
        ft[:f].view(f, 1, 1, ct).expand(f, h, w, ct),
        fh[:h].view(1, h, 1, ch).expand(f, h, w, ch),
        fw[:w].view(1, 1, w, cw).expand(f, h, w, cw),
    ], dim=-1)
    return table.reshape(f * h * w, ct + ch + cw)


def audio_rope_table(length, head_dim, scale):
    """Per-token rotation [L, head_dim/2] complex128: the first `t` pairs use the temporal
    frequencies scaled by `scale` at position p; the remaining pairs are 1 (unrotated)."""
    ct, ch, cw = rope_split(head_dim)
    table = torch.ones(length, head_dim // 2, dtype=torch.complex128)
    table[:, :ct] = rope_freqs(length, 2 * ct, scale=scale)
    return table


def apply_rope(x, table):
    """x [L, heads, head_dim] (real) rotated by table [L, head_dim/2] (complex128) on interleaved
    pairs (2i, 2i+1); computed in float64, returned in x's dtype."""
    L, n, d = x.shape
    xc = torch.view_as_complex(x.to(torch.float64).reshape(L, n, d // 2, 2).contiguous())
    out = torch.view_as_real(xc * table[:, None, :]).reshape(L, n, d)
    return out.to(x.dtype)


def layer_norm(x, weight=None, bias=None, eps=1e-6):
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def rms_norm(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def attention(q, k, v):
    """Full (non-causal) multi-head attention. q [Lq,n,d], k/v [Lk,n,d] -> [Lq, n*d]."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.einsum("qnd,knd->nqk", q, k) * scale
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("nqk,knd->qnd", probs, v)
    return out.reshape(q.shape[0], -1)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class Tower:
    """One WanModel tower's weights (prefix `video_model.` or `audio_model.`) in one dtype."""

    def __init__(self, weights, prefix, cfg: TowerConfig, dtype):
        self.cfg = cfg
        self.prefix = prefix
        self.w = {k[len(prefix):]: v.to(dtype) for k, v in weights.items() if k.startswith(prefix)}
        # Modulations may be stored [1,6,D] (checkpoint) or [6,D] (llama-quantize drops the 1).
        for k in list(self.w):
            if k.endswith("modulation"):
                self.w[k] = self.w[k].reshape(-1, cfg.dim)

    def __getitem__(self, name):
        return self.w[name]

    def linear(self, x, name, bias=True):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias") if bias else None)

    # -- embeddings --

    def time_embedding(self, t_tokens):
        """t per token [L] -> (e [L,D], e0 [L,6,D])."""
        sin = sinusoidal_embedding(self.cfg.freq_dim, t_tokens).to(self["time_embedding.0.weight"].dtype)
        e = self.linear(F.silu(self.linear(sin, "time_embedding.0")), "time_embedding.2")
        e0 = self.linear(F.silu(e), "time_projection.1").unflatten(1, (6, self.cfg.dim))
        return e, e0

    def text_embedding(self, ctx, text_len):
        """[Lt, text_dim] -> [text_len, D]: zero-padded to text_len rows, then Linear-GELU-Linear
        (padding rows become W2·gelu(b0)+b2 and take part in cross-attention)."""
        assert ctx.shape[0] <= text_len, f"context has {ctx.shape[0]} rows > text_len {text_len}"
        padded = torch.zeros(text_len, ctx.shape[1], dtype=ctx.dtype)
        padded[: ctx.shape[0]] = ctx
        return self.linear(gelu_tanh(self.linear(padded, "text_embedding.0")), "text_embedding.2")

    # -- block pieces --

    def self_attention(self, i, x, rope):
        b = f"blocks.{i}.self_attn."
        n, d = self.cfg.num_heads, self.cfg.head_dim
        q = rms_norm(self.linear(x, b + "q"), self[b + "norm_q.weight"]).view(-1, n, d)
        k = rms_norm(self.linear(x, b + "k"), self[b + "norm_k.weight"]).view(-1, n, d)
        v = self.linear(x, b + "v").view(-1, n, d)
        y = attention(apply_rope(q, rope), apply_rope(k, rope), v)
        return self.linear(y, b + "o")

    def fusion_cross_attention(self, i, src, ctx, src_rope, target, target_rope):
        """Text attention plus cross-modal attention; shared q and o (spec §3)."""
        b = f"blocks.{i}.cross_attn."
        n, d = self.cfg.num_heads, self.cfg.head_dim
        x = layer_norm(src, self[f"blocks.{i}.norm3.weight"], self[f"blocks.{i}.norm3.bias"])
        q = rms_norm(self.linear(x, b + "q"), self[b + "norm_q.weight"]).view(-1, n, d)
        # text: no RoPE, all text_len rows
        k = rms_norm(self.linear(ctx, b + "k"), self[b + "norm_k.weight"]).view(-1, n, d)
        v = self.linear(ctx, b + "v").view(-1, n, d)
        x_txt = attention(q, k, v)
        # the other tower's tokens, normalised and projected by this tower's fusion layers
        tgt = layer_norm(target, self[b + "pre_attn_norm_fusion.weight"], self[b + "pre_attn_norm_fusion.bias"])
        k_t = rms_norm(self.linear(tgt, b + "k_fusion"), self[b + "norm_k_fusion.weight"]).view(-1, n, d)
        v_t = self.linear(tgt, b + "v_fusion").view(-1, n, d)
        x_av = attention(apply_rope(q, src_rope), apply_rope(k_t, target_rope), v_t)
        return self.linear(x_txt + x_av, b + "o")

    def ffn(self, i, x):
        b = f"blocks.{i}.ffn."
        return self.linear(gelu_tanh(self.linear(x, b + "0")), b + "2")

    def modulation(self, i, e0):
        """e0 [L,6,D] + blocks.i.modulation.modulation [6,D] -> six [L,D] chunks."""
        e = self[f"blocks.{i}.modulation.modulation"] + e0
        return [e[:, j] for j in range(6)]

    def block_self_attention(self, i, x, m, rope):
        """x + SA(LN(x)*(1+scale_msa)+shift_msa) * gate_msa (norm1: LayerNorm without affine)."""
        return x + self.self_attention(i, layer_norm(x) * (1 + m[1]) + m[0], rope) * m[2]

    def block_cross_ffn(self, i, x, m, ctx, rope, target, target_rope):
        """x + CA(norm3(x), ctx, target); then x + FFN(LN(x)*(1+scale_ffn)+shift_ffn) * gate_ffn."""
        x = x + self.fusion_cross_attention(i, x, ctx, rope, target, target_rope)
        return x + self.ffn(i, layer_norm(x) * (1 + m[4]) + m[3]) * m[5]

    def head(self, x, e):
        """LN(x)*(1+scale)+shift with (shift, scale) = head.modulation + e (e, not e0)."""
        m = self["head.modulation"]  # [2, D]
        shift, scale = m[0] + e, m[1] + e
        return self.linear(layer_norm(x) * (1 + scale) + shift, "head.head")


class OviReference:
    def __init__(self, weights, metadata=None, dtype=torch.float32):
        metadata = metadata or {}
        self.dtype = dtype
        self.head_dim = int(metadata.get("ovi.head_dim", 128))
        self.text_len = int(metadata.get("ovi.text_len", 512))
        self.audio_rope_scale = float(metadata.get("ovi.audio_rope_scale", 0.19676))
        self.video_cfg = self._config(weights, "video_model.")
        self.audio_cfg = self._config(weights, "audio_model.")
        assert self.video_cfg.num_layers == self.audio_cfg.num_layers
        self.num_layers = self.video_cfg.num_layers
        self.video = Tower(weights, "video_model.", self.video_cfg, dtype)
        self.audio = Tower(weights, "audio_model.", self.audio_cfg, dtype)

    @classmethod
    def from_gguf(cls, path, dtype=torch.float32):
        weights, metadata = load_gguf(path)
        return cls(weights, metadata, dtype)

    def _config(self, w, p):
        dim = w[p + "time_embedding.2.weight"].shape[0]
        layers = 1 + max(int(m.group(1)) for k in w
                         if (m := re.match(re.escape(p) + r"blocks\.(\d+)\.", k)))
        if p == "video_model.":
            pe = w[p + "patch_embedding.weight"]  # [D, Cin, pt, ph, pw]
            in_dim, patch = pe.shape[1], tuple(pe.shape[2:])
            out_dim = w[p + "head.head.weight"].shape[0] // math.prod(patch)
        else:
            in_dim, patch = w[p + "patch_embedding.0.weight"].shape[1], (1,)
            out_dim = w[p + "head.head.weight"].shape[0]
        assert dim % self.head_dim == 0
        return TowerConfig(dim=dim, ffn_dim=w[p + "blocks.0.ffn.0.weight"].shape[0],
                           num_heads=dim // self.head_dim, head_dim=self.head_dim, num_layers=layers,
                           freq_dim=w[p + "time_embedding.0.weight"].shape[1],
                           text_dim=w[p + "text_embedding.0.weight"].shape[1],
                           in_dim=in_dim, out_dim=out_dim, patch_size=patch)

    # -- patch embeddings / unpatchify --

    def video_patch_embed(self, latent):
        """[Cin,F,H,W] -> tokens [F*h*w, D] in (f,h,w) order, grid (F/pt, H/ph, W/pw)."""
        w = self.video
        x = F.conv3d(latent[None], w["patch_embedding.weight"], w["patch_embedding.bias"],
                     stride=self.video_cfg.patch_size)[0]
        grid = tuple(x.shape[1:])
        return x.flatten(1).transpose(0, 1), grid

    def audio_patch_embed(self, latent):
        """[L,Cin] channel-last -> [L,D]: Conv1d(k7,p3), SiLU, ConvMLP w2(silu(w1 x) * w3 x)."""
        w = self.audio
        x = latent.transpose(0, 1)[None]  # [1, Cin, L]
        x = F.conv1d(x, w["patch_embedding.0.weight"], w["patch_embedding.0.bias"], padding=3)
        x = F.silu(x)
        h1 = F.conv1d(x, w["patch_embedding.2.w1.weight"], padding=3)
        h3 = F.conv1d(x, w["patch_embedding.2.w3.weight"], padding=3)
        x = F.conv1d(F.silu(h1) * h3, w["patch_embedding.2.w2.weight"], padding=3)
        return x[0].transpose(0, 1)

    def unpatchify_video(self, u, grid):
        f, h, w = grid
        pt, ph, pw = self.video_cfg.patch_size
        c = self.video_cfg.out_dim
        u = u[: f * h * w].reshape(f, h, w, pt, ph, pw, c)
        u = torch.einsum("fhwpqrc->cfphqwr", u)
        return u.reshape(c, f * pt, h * ph, w * pw)

    # -- forward --

    @torch.no_grad()
    def forward(self, video_latent, audio_latent, video_context, audio_context, timestep,
                first_frame_clean=False, slg_layer=-1):
        dt = self.dtype
        video_latent, audio_latent = video_latent.to(dt), audio_latent.to(dt)
        V, A = self.video, self.audio

        v, grid = self.video_patch_embed(video_latent)
        a = self.audio_patch_embed(audio_latent)
        Lv, La = v.shape[0], a.shape[0]

        t = float(torch.as_tensor(timestep, dtype=torch.float64).reshape(-1)[0])
        t_video = torch.full((Lv,), t, dtype=torch.float64)
        if first_frame_clean:  # latent frame 0 (the first h*w tokens) is clean: t = 0
            t_video[: grid[1] * grid[2]] = 0.0
        t_audio = torch.full((La,), t, dtype=torch.float64)
        ev, ev0 = V.time_embedding(t_video)
        ea, ea0 = A.time_embedding(t_audio)

        ctx_v = V.text_embedding(video_context.to(dt), self.text_len)
        ctx_a = A.text_embedding(audio_context.to(dt), self.text_len)

        rope_v = video_rope_table(grid, self.head_dim)
        rope_a = audio_rope_table(La, self.head_dim, self.audio_rope_scale)

        for i in range(self.num_layers):
            if slg_layer > 0 and i == slg_layer:  # skip-layer guidance: skip the fused block
                continue
            m_a = A.modulation(i, ea0)
            m_v = V.modulation(i, ev0)
            a = A.block_self_attention(i, a, m_a, rope_a)       # audio SA
            v = V.block_self_attention(i, v, m_v, rope_v)       # video SA
            a_sa = a
            a = A.block_cross_ffn(i, a, m_a, ctx_a, rope_a, v, rope_v)     # target: post-SA video
            v = V.block_cross_ffn(i, v, m_v, ctx_v, rope_v, a_sa, rope_a)  # target: audio after SA

        out_video = self.unpatchify_video(V.head(v, ev), grid)
        out_audio = A.head(a, ea)[:La]
        return out_video, out_audio

    __call__ = forward
