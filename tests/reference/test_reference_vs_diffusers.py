"""The Ovi reference (ovi_reference.py) against the pinned diffusers' Wan transformer pieces:
the sinusoidal time embedding (cos first), the time/text embedding MLPs, the 3-D RoPE split and one
WanTransformerBlock (self-attention, text cross-attention, FFN) with weights mapped from Ovi names.
Agreement: ‖a−b‖/‖b‖ < 1e-5 (diffusers computes these in float32)."""
import math

import pytest
import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed, get_timestep_embedding
from diffusers.models.transformers.transformer_wan import (WanRotaryPosEmbed, WanTimeTextImageEmbedding,
                                                           WanTransformerBlock)

from ref_helpers import rel
from ovi_reference import (OviReference, audio_rope_table, apply_rope, load_gguf, rope_split,
                           sinusoidal_embedding, video_rope_table)

TOL = 1e-5


@pytest.fixture(scope="module")
def ref(tiny_bf16):
    weights, metadata = load_gguf(tiny_bf16)
    return OviReference(weights, metadata, dtype=torch.float32), weights, metadata


def test_rope_split_formula():
    # t = d − 4⌊d/6⌋ channels, h = w = 2⌊d/6⌋ channels; returned as complex pairs.
    assert rope_split(128) == (22, 21, 21)
    assert rope_split(64) == (12, 10, 10)
    assert rope_split(96) == (16, 16, 16)
    for d in range(12, 258, 2):
        t, h, w = rope_split(d)
        assert 2 * (t + h + w) == d and h == w == d // 6


def test_sinusoidal_embedding_is_cos_first():
    t = torch.tensor([0.0, 1.0, 3.5, 17.0, 250.0, 500.0, 731.25, 999.0, 1000.0])
    ours = sinusoidal_embedding(256, t).float()
    theirs = get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0)
    assert rel(ours, theirs) < TOL
    # the other convention (sin first) is far off: the check discriminates
    sin_first = get_timestep_embedding(t, 256, flip_sin_to_cos=False, downscale_freq_shift=0)
    assert rel(ours, sin_first) > 0.5
    # explicit values: t=0 gives cos=1, sin=0
    assert torch.equal(sinusoidal_embedding(256, [0.0])[0, :128], torch.ones(128, dtype=torch.float64))
    assert torch.equal(sinusoidal_embedding(256, [0.0])[0, 128:], torch.zeros(128, dtype=torch.float64))


@pytest.mark.parametrize("tower", ["video", "audio"])
def test_time_and_text_embedding_match_wan(ref, tower):
    model, _, _ = ref
    tw = model.video if tower == "video" else model.audio
    cfg = tw.cfg
    emb = WanTimeTextImageEmbedding(dim=cfg.dim, time_freq_dim=cfg.freq_dim, time_proj_dim=6 * cfg.dim,
                                    text_embed_dim=cfg.text_dim)
    sd = {
        "time_embedder.linear_1.weight": tw["time_embedding.0.weight"], "time_embedder.linear_1.bias": tw["time_embedding.0.bias"],
        "time_embedder.linear_2.weight": tw["time_embedding.2.weight"], "time_embedder.linear_2.bias": tw["time_embedding.2.bias"],
        "time_proj.weight": tw["time_projection.1.weight"], "time_proj.bias": tw["time_projection.1.bias"],
        "text_embedder.linear_1.weight": tw["text_embedding.0.weight"], "text_embedder.linear_1.bias": tw["text_embedding.0.bias"],
        "text_embedder.linear_2.weight": tw["text_embedding.2.weight"], "text_embedder.linear_2.bias": tw["text_embedding.2.bias"],
    }
    emb.load_state_dict(sd, strict=True)
    g = torch.Generator().manual_seed(11)
    ctx = torch.randn(13, cfg.text_dim, generator=g)
    t = torch.tensor([999.0, 713.0, 250.0, 0.0])
    padded = torch.zeros(model.text_len, cfg.text_dim)
    padded[:13] = ctx
    with torch.no_grad():
        # the embedding MLPs are fed the float64 sinusoid (rounded to float32) so that this
        # comparison isolates them; diffusers' own float32 sinusoid is checked above
        temb = emb.time_embedder(sinusoidal_embedding(cfg.freq_dim, t).float())
        tproj = emb.time_proj(emb.act_fn(temb))
        text = emb.text_embedder(padded[None])
        e, e0 = tw.time_embedding(t.double())
        ctx_emb = tw.text_embedding(ctx, model.text_len)
    assert rel(e, temb) < TOL
    assert rel(e0, tproj.unflatten(1, (6, cfg.dim))) < TOL
    assert rel(ctx_emb, text[0]) < TOL
    # padding rows become W2·gelu(b0)+b2 and are all equal
    assert torch.allclose(ctx_emb[13:], ctx_emb[-1].expand(model.text_len - 13, -1))


@pytest.mark.parametrize("grid", [(1, 1, 1), (3, 4, 5), (31, 22, 22), (61, 2, 3)])
def test_video_rope_matches_wan_rotary_pos_embed(grid):
    f, h, w = grid
    rope = WanRotaryPosEmbed(attention_head_dim=128, patch_size=(1, 2, 2), max_seq_len=1024)
    cos, sin = rope(torch.zeros(1, 48, f, 2 * h, 2 * w))  # [1, L, 1, 128], each pair repeated
    table = video_rope_table(grid, 128)  # [L, 64] complex128
    assert table.shape == (f * h * w, 64)
    ours = torch.stack([table.real, table.imag]).repeat_interleave(2, dim=2)
    assert rel(ours, torch.stack([cos[0, :, 0], sin[0, :, 0]])) < TOL
    # the split: 22 temporal pairs depend only on f, then 21 on h, then 21 on w
    ang = torch.angle(table).reshape(f, h, w, 64)
    assert torch.allclose(ang[..., :22], ang[:, :1, :1, :22].expand(f, h, w, 22))
    assert torch.allclose(ang[..., 22:43], ang[:1, :, :1, 22:43].expand(f, h, w, 21))
    assert torch.allclose(ang[..., 43:], ang[:1, :1, :, 43:].expand(f, h, w, 21))


def test_audio_rope_scales_the_temporal_band():
    scale = 0.19676
    L = 314
    table = audio_rope_table(L, 128, scale)
    # the first 22 pairs: diffusers' 1-D RoPE of 44 channels at positions scale·p
    theirs = get_1d_rotary_pos_embed(44, torch.arange(L, dtype=torch.float64) * scale, theta=10000.0,
                                     use_real=False, freqs_dtype=torch.float64)
    assert rel(torch.view_as_real(table[:, :22]), torch.view_as_real(theirs)) < 1e-12
    # equal to the video temporal band at the scaled position (checked at integer positions)
    video = video_rope_table((L, 1, 1), 128)
    assert torch.allclose(audio_rope_table(L, 128, 1.0)[:, :22], video[:, :22], atol=1e-12)
    # the other 42 pairs are not rotated
    assert torch.equal(table[:, 22:], torch.ones(L, 42, dtype=torch.complex128))
    x = torch.randn(L, 2, 128, dtype=torch.float64)
    y = apply_rope(x, table)
    assert torch.equal(y[..., 44:], x[..., 44:])
    assert rel(y[..., :44], x[..., :44]) > 0.1


def _diffusers_block(tw, i):
    cfg = tw.cfg
    blk = WanTransformerBlock(dim=cfg.dim, ffn_dim=cfg.ffn_dim, num_heads=cfg.num_heads,
                              qk_norm="rms_norm_across_heads", cross_attn_norm=True, eps=1e-6)
    b = f"blocks.{i}."
    sd = {"scale_shift_table": tw[b + "modulation.modulation"].reshape(1, 6, cfg.dim),
          "norm2.weight": tw[b + "norm3.weight"], "norm2.bias": tw[b + "norm3.bias"],
          "ffn.net.0.proj.weight": tw[b + "ffn.0.weight"], "ffn.net.0.proj.bias": tw[b + "ffn.0.bias"],
          "ffn.net.2.weight": tw[b + "ffn.2.weight"], "ffn.net.2.bias": tw[b + "ffn.2.bias"]}
    for ours, theirs in (("self_attn", "attn1"), ("cross_attn", "attn2")):
        for p, q in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("o", "to_out.0")):
            sd[f"{theirs}.{q}.weight"] = tw[f"{b}{ours}.{p}.weight"]
            sd[f"{theirs}.{q}.bias"] = tw[f"{b}{ours}.{p}.bias"]
        sd[f"{theirs}.norm_q.weight"] = tw[f"{b}{ours}.norm_q.weight"]
        sd[f"{theirs}.norm_k.weight"] = tw[f"{b}{ours}.norm_k.weight"]
    blk.load_state_dict(sd, strict=True)
    return blk.eval()


@pytest.mark.parametrize("block", [0, 2])
def test_video_block_matches_wan_transformer_block(ref, block):
    """One video block, self-attention + text cross-attention + FFN, against WanTransformerBlock.
    The cross-modal part of Ovi's cross-attention is switched off by zeroing v_fusion (its
    output is then exactly 0); everything else is the Wan2.2-TI2V block."""
    model, _, _ = ref
    tw = model.video
    cfg = tw.cfg
    blk = _diffusers_block(tw, block)
    grid = (3, 4, 5)
    L = math.prod(grid)
    g = torch.Generator().manual_seed(5 + block)
    x = torch.randn(L, cfg.dim, generator=g)
    ctx = tw.text_embedding(torch.randn(9, cfg.text_dim, generator=g), model.text_len)
    t_tok = torch.full((L,), 640.0, dtype=torch.float64)
    t_tok[: grid[1] * grid[2]] = 0.0  # per-token timesteps (first frame clean), the 4-D temb path
    _, e0 = tw.time_embedding(t_tok)
    rope = video_rope_table(grid, cfg.head_dim)
    target = torch.randn(7, cfg.dim, generator=g)
    target_rope = audio_rope_table(7, cfg.head_dim, model.audio_rope_scale)

    vf_w, vf_b = f"blocks.{block}.cross_attn.v_fusion.weight", f"blocks.{block}.cross_attn.v_fusion.bias"
    saved = tw.w[vf_w], tw.w[vf_b]
    try:
        tw.w[vf_w], tw.w[vf_b] = torch.zeros_like(saved[0]), torch.zeros_like(saved[1])
        with torch.no_grad():
            m = tw.modulation(block, e0)
            ours = tw.block_self_attention(block, x, m, rope)
            ours = tw.block_cross_ffn(block, ours, m, ctx, rope, target, target_rope)
    finally:
        tw.w[vf_w], tw.w[vf_b] = saved

    rot = WanRotaryPosEmbed(attention_head_dim=cfg.head_dim, patch_size=(1, 2, 2), max_seq_len=1024)
    rotary = rot(torch.zeros(1, 48, grid[0], 2 * grid[1], 2 * grid[2]))
    with torch.no_grad():
        theirs = blk(x[None], ctx[None], e0[None], rotary)[0]
    assert rel(ours, theirs) < TOL
    # and the block did something (not an identity)
    assert rel(ours, x) > 1e-2

    # with the real v_fusion the cross-modal attention contributes: the Ovi block differs
    with torch.no_grad():
        m = tw.modulation(block, e0)
        fused = tw.block_cross_ffn(block, tw.block_self_attention(block, x, m, rope), m, ctx, rope, target,
                                   target_rope)
    assert rel(fused, theirs) > 1e-4
