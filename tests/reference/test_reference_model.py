"""Self-checks of the Ovi reference (ovi_reference.py) on ovi-tiny GGUFs: configuration inference,
GGUF loading (quantized tensors, [6,D] modulations), precision, and the forward-pass semantics of
the spec (§3) that the comparisons against diffusers do not cover."""
import math

import pytest
import torch

from ref_helpers import rel, synth
from ovi_reference import OviReference, load_gguf


@pytest.fixture(scope="module")
def loaded(tiny_bf16):
    return load_gguf(tiny_bf16)


@pytest.fixture(scope="module")
def ref(loaded):
    return OviReference(*loaded, dtype=torch.float32)


def inputs(seed=0, F_=2, H=4, W=6, L=13):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(48, F_, H, W, generator=g), torch.randn(L, 20, generator=g),
            torch.randn(7, 256, generator=g), torch.randn(9, 256, generator=g))


def test_config_is_inferred_from_shapes_and_metadata(ref, loaded):
    _, metadata = loaded
    assert metadata["ovi.head_dim"] == 128 and metadata["ovi.text_len"] == 512
    assert abs(metadata["ovi.audio_rope_scale"] - 0.19676) < 1e-7
    for cfg, in_dim, patch in ((ref.video_cfg, 48, (1, 2, 2)), (ref.audio_cfg, 20, (1,))):
        assert (cfg.dim, cfg.num_heads, cfg.head_dim, cfg.num_layers) == (256, 2, 128, 3)
        assert (cfg.ffn_dim, cfg.freq_dim, cfg.text_dim) == (512, 256, 256)
        assert (cfg.in_dim, cfg.out_dim, cfg.patch_size) == (in_dim, in_dim, patch)
    assert ref.text_len == 512 and ref.num_layers == 3


def test_output_shapes_and_precision(ref, loaded):
    x = inputs()
    ov, oa = ref(*x, 600.0)
    assert ov.shape == x[0].shape and oa.shape == x[1].shape and ov.dtype == torch.float32
    assert torch.isfinite(ov).all() and torch.isfinite(oa).all()
    ref64 = OviReference(*loaded, dtype=torch.float64)
    ov64, oa64 = ref64(*x, 600.0)
    assert rel(ov, ov64) < 1e-5 and rel(oa, oa64) < 1e-5


def test_modulation_may_be_stored_without_the_leading_one(ref, loaded):
    weights, metadata = loaded
    squeezed = {k: (v.reshape(v.shape[1:]) if k.endswith("modulation") else v) for k, v in weights.items()}
    assert squeezed["video_model.blocks.0.modulation.modulation"].shape == (6, 256)
    assert squeezed["audio_model.head.modulation"].shape == (2, 256)
    x = inputs(1)
    a = OviReference(squeezed, metadata)(*x, 321.0)
    b = ref(*x, 321.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("type_", ["Q8_0", "Q4_K_M"])
def test_quantized_gguf_loads_close_to_bf16(tmp_path, type_):
    bf16 = load_gguf(synth(tmp_path / "b.gguf", "BF16", seed=5))
    quant = load_gguf(synth(tmp_path / "q.gguf", type_, seed=5))
    assert bf16[0].keys() == quant[0].keys()
    tol = {"Q8_0": 2e-2, "Q4_K_M": 1.5e-1}[type_]
    name = "video_model.blocks.1.ffn.0.weight"
    assert quant[0][name].dtype == torch.float32
    assert 0 < rel(quant[0][name], bf16[0][name]) < tol
    x = inputs(2)
    a = OviReference(*quant)(*x, 500.0)
    b = OviReference(*bf16)(*x, 500.0)
    assert rel(a[0], b[0]) < tol and rel(a[1], b[1]) < tol


def test_video_patch_embedding_is_a_linear_over_patches(ref):
    latent = inputs(3)[0]
    tokens, grid = ref.video_patch_embed(latent)
    assert grid == (2, 2, 3) and tokens.shape == (12, 256)
    w = ref.video["patch_embedding.weight"]  # [D, 48, 1, 2, 2]
    C, Fr, H, W = latent.shape
    patches = latent.reshape(C, Fr, H // 2, 2, W // 2, 2).permute(1, 2, 4, 0, 3, 5).reshape(-1, C * 4)
    expect = patches @ w.reshape(256, -1).T + ref.video["patch_embedding.bias"]
    assert rel(tokens, expect) < 1e-6


def test_unpatchify_inverts_patchify(ref):
    grid = (2, 3, 4)
    u = torch.randn(math.prod(grid), 48 * 4)
    video = ref.unpatchify_video(u, grid)  # [48, 2, 6, 8]
    assert video.shape == (48, 2, 6, 8)
    # token (f,h,w) channel block (p,q,r,c) lands at video[c, f+p, 2h+q, 2w+r]
    f, h, w, q, r, c = 1, 2, 3, 1, 0, 17
    tok = (f * grid[1] + h) * grid[2] + w
    assert video[c, f, 2 * h + q, 2 * w + r] == u[tok, (q * 2 + r) * 48 + c]


def test_context_zero_padding_is_explicit_zero_rows(ref):
    v, a, cv, ca = inputs(4)
    padded_v = torch.cat([cv, torch.zeros(100, 256)])
    out1 = ref(v, a, cv, ca, 400.0)
    out2 = ref(v, a, padded_v, ca, 400.0)
    assert rel(out2[0], out1[0]) < 1e-6 and rel(out2[1], out1[1]) < 1e-6
    # but the padding rows take part in attention: a context of 512 rows of other values differs
    out3 = ref(v, a, torch.cat([cv, torch.ones(505, 256)]), ca, 400.0)
    assert rel(out3[0], out1[0]) > 1e-3


def test_skip_layer_guidance_semantics(ref):
    x = inputs(5)
    base = ref(*x, 800.0, False, -1)
    # Ovi skips block i only when slg_layer > 0 and i == slg_layer: 0 skips nothing
    zero = ref(*x, 800.0, False, 0)
    assert torch.equal(zero[0], base[0]) and torch.equal(zero[1], base[1])
    out_of_range = ref(*x, 800.0, False, 11)  # the tiny model has 3 blocks
    assert torch.equal(out_of_range[0], base[0])
    for layer in (1, 2):
        skipped = ref(*x, 800.0, False, layer)
        assert rel(skipped[0], base[0]) > 1e-3 and rel(skipped[1], base[1]) > 1e-3


def test_first_frame_clean_sets_t0_on_frame_zero_only(ref):
    x = inputs(6)
    # at t = 0 marking frame 0 clean changes nothing
    a, b = ref(*x, 0.0, True), ref(*x, 0.0, False)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    clean, noisy = ref(*x, 900.0, True), ref(*x, 900.0, False)
    assert rel(clean[0], noisy[0]) > 1e-3 and rel(clean[1], noisy[1]) > 1e-4
    # the embedding itself: the first h*w video tokens get e(0), the rest e(900)
    e_clean, e0_clean = ref.video.time_embedding(torch.tensor([0.0, 900.0], dtype=torch.float64))
    t_tok = torch.full((12,), 900.0, dtype=torch.float64)
    t_tok[:6] = 0.0
    e, _ = ref.video.time_embedding(t_tok)
    assert rel(e[:6], e_clean[0].expand(6, -1)) < 1e-6 and rel(e[6:], e_clean[1].expand(6, -1)) < 1e-6
    assert rel(e_clean[0], e_clean[1]) > 1e-2


def test_cross_modal_attention_couples_the_towers(ref):
    v, a, cv, ca = inputs(7)
    base = ref(v, a, cv, ca, 500.0)
    # changing only the audio latent changes the video output (through fusion), and vice versa
    other_audio = ref(v, a + 0.5 * torch.randn_like(a), cv, ca, 500.0)
    assert rel(other_audio[0], base[0]) > 1e-4
    other_video = ref(v + 0.5 * torch.randn_like(v), a, cv, ca, 500.0)
    assert rel(other_video[1], base[1]) > 1e-4
    # the audio context reaches only the audio tower directly, but the video via fusion
    other_ctx = ref(v, a, cv, ca + 1.0, 500.0)
    assert rel(other_ctx[1], base[1]) > 1e-3 and rel(other_ctx[0], base[0]) > 1e-6
