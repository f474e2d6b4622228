"""ovid's Wan2.2 VAE (ovid-vae-cli) against diffusers' AutoencoderKLWan on the same tiny random
weights (tiny_wan_vae.py): decode at several latent lengths (latent frame 0 is the special case)
and chunk sizes, both key layouts, the single-frame encoder, bf16, and the file errors."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from tiny_wan_vae import cli, denormalise, make_tiny, normalise, rel_err

H, W = 2, 3  # latent size -> 32x48 pixels


def latents(frames, seed):
    return torch.randn(48, frames, H, W, generator=torch.Generator().manual_seed(seed))


def reference_decode(vae, z):
    with torch.no_grad():
        return vae.decode(denormalise(z).unsqueeze(0)).sample[0]


def ovid_decode(tmp_path, model, z, *flags):
    inp, out = tmp_path / "z.safetensors", tmp_path / "video.safetensors"
    save_file({"latents": z.contiguous()}, str(inp))
    cli("--model", model, "--latents", inp, "--out", out, *flags)
    return load_file(str(out))["video"]


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_decode_matches_diffusers(tiny, tmp_path, frames):
    vae, d = tiny
    z = latents(frames, seed=frames)
    ref = reference_decode(vae, z)
    got = ovid_decode(tmp_path, d / "tiny-diffusers.safetensors", z)
    assert got.shape == (3, 4 * (frames - 1) + 1, 16 * H, 16 * W)
    assert got.shape == ref.shape
    # The weights are random but not degenerate: little of the output sits at the clamp.
    assert (ref.abs() == 1).float().mean() < 0.05
    err = rel_err(got, ref)
    print(f"frames={frames}: rel err {err:.3e}")
    assert err < 1e-4


def test_chunk_sizes_agree(tiny, tmp_path):
    vae, d = tiny
    z = latents(5, seed=11)
    model = d / "tiny-diffusers.safetensors"
    base = ovid_decode(tmp_path, model, z, "--chunk", "1")
    # 5: the whole-sequence equivalent; --stage-frames cuts chunks again inside the decoder.
    for flags in (["--chunk", "2"], ["--chunk", "3"], ["--chunk", "5"],
                  ["--chunk", "5", "--stage-frames", "2"], ["--chunk", "1", "--stage-frames", "1"]):
        got = ovid_decode(tmp_path, model, z, *flags)
        err = rel_err(got, base)
        print(f"{' '.join(flags)}: rel err vs chunk 1 {err:.3e}")
        assert err < 1e-5
    # The prefix property of a causal decoder: decoding the first 2 latents gives the first 5
    # frames of decoding all 5.
    prefix = ovid_decode(tmp_path, model, z[:, :2].contiguous())
    assert rel_err(prefix, base[:, :5]) < 1e-5


def test_original_layout_decodes_the_same(tiny, tmp_path):
    _, d = tiny
    z = latents(2, seed=5)
    a = ovid_decode(tmp_path, d / "tiny-diffusers.safetensors", z)
    b = ovid_decode(tmp_path, d / "tiny-original.safetensors", z)
    assert torch.equal(a, b)


def test_info_reports_layout_and_config(tiny):
    _, d = tiny
    out = cli("--model", d / "tiny-original.safetensors", "--info").stdout
    assert "layout original" in out
    assert "z_dim 48" in out and "patch 2" in out and "num_res_blocks 2" in out
    assert "decoder 48 | 48,48,24,12" in out
    assert "temporal_upsample 1,1,0" in out
    assert "encoder 8 | 8,16,32,32" in out
    assert "layout diffusers" in cli("--model", d / "tiny-diffusers.safetensors", "--info").stdout


def test_bf16_decode_stays_close(tiny, tmp_path):
    vae, d = tiny
    z = latents(2, seed=9)
    ref = reference_decode(vae, z)
    got = ovid_decode(tmp_path, d / "tiny-diffusers.safetensors", z, "--dtype", "bf16")
    err = rel_err(got, ref)
    print(f"bf16: rel err {err:.3e}")
    assert 1e-5 < err < 5e-2  # really computed in bf16, and still the same picture


def test_round_through_bf16_matches_ovis_weights(tiny, tmp_path):
    """Ovi casts the fp32 checkpoint to bf16 and computes in fp32 (spec §3.5): --round-bf16
    equals diffusers on weights rounded the same way."""
    vae, d = tiny
    rounded = make_tiny(seed=0)
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    z = latents(2, seed=4)
    ref = reference_decode(rounded, z)
    got = ovid_decode(tmp_path, d / "tiny-diffusers.safetensors", z, "--round-bf16")
    err = rel_err(got, ref)
    print(f"round-bf16: rel err {err:.3e} (vs unrounded {rel_err(got, reference_decode(vae, z)):.3e})")
    assert err < 1e-4
    assert rel_err(got, reference_decode(vae, z)) > 1e-4


@pytest.mark.parametrize("frames", [1, 5, 9])
def test_encode_matches_diffusers(tiny, tmp_path, frames):
    """1 frame is Ovi's image-to-video first frame; 5 and 9 cover the 4-frame chunks, the
    stride-2 time convs and AvgDown3D's padding."""
    vae, d = tiny
    video = torch.rand(3, frames, 32, 48, generator=torch.Generator().manual_seed(frames)) * 2 - 1
    with torch.no_grad():
        mu = vae.encode(video.unsqueeze(0)).latent_dist.mean[0]
    ref = normalise(mu)
    inp, out = tmp_path / "px.safetensors", tmp_path / "lat.safetensors"
    pixels = {"image": video[:, 0].contiguous()} if frames == 1 else {"video": video}
    save_file(pixels, str(inp))
    cli("--model", d / "tiny-diffusers.safetensors", "--encode", inp, "--out", out)
    got = load_file(str(out))["latent"]
    assert got.shape == (48, 1 + (frames - 1) // 4, 2, 3)
    err = rel_err(got, ref)
    print(f"encode frames={frames}: rel err {err:.3e}")
    assert err < 1e-4


def test_bad_file_names_file_and_tensors(tiny, tmp_path):
    _, d = tiny
    sd = load_file(str(d / "tiny-diffusers.safetensors"))
    del sd["decoder.mid_block.attentions.0.proj.bias"]
    sd["decoder.conv_out.bias"] = torch.zeros(13)
    bad = tmp_path / "bad.safetensors"
    save_file(sd, str(bad))
    proc = cli("--model", bad, "--info", check=False)
    assert proc.returncode == 1
    msg = proc.stderr
    assert str(bad) in msg
    assert "decoder.mid_block.attentions.0.proj.bias [48]" in msg
    assert "decoder.conv_out.bias is [13], expected [12]" in msg


def test_bad_latents_are_refused(tiny, tmp_path):
    _, d = tiny
    inp = tmp_path / "z.safetensors"
    save_file({"latents": torch.zeros(16, 2, 2, 3)}, str(inp))
    proc = cli("--model", d / "tiny-diffusers.safetensors", "--latents", inp, "--out",
               tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 1
    assert "latents must be float [48, F, h, w]" in proc.stderr
