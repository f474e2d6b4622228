"""ovid's MMAudio 16 kHz VAE decoder (ovid-audio-cli vae) against a PyTorch reference written from
the spec (audio_refs.reference_vae_decode) on tiny random weights: several latent lengths, bf16,
GGUF input, the encoder tensors being ignored, and the file and input errors."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from audio_refs import cli, reference_vae_decode, rel_err, run, write_gguf


def latents(length, seed):
    return torch.randn(length, 20, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("length", [1, 7, 40])
def test_decode_matches_reference(vae, tmp_path, length):
    sd, path = vae
    z = latents(length, seed=length)
    ref = reference_vae_decode(sd, z)
    got = run(tmp_path, "vae", [path], z)
    assert got.shape == (80, 2 * length)
    # Not degenerate: the mel varies across bins and frames.
    assert ref.std() > 0.5
    err = rel_err(got, ref)
    print(f"L={length}: rel err {err:.3e}, max abs {float((got - ref).abs().max()):.3e}")
    assert err < 1e-5


def test_bf16_decode_stays_close(vae, tmp_path):
    sd, path = vae
    z = latents(16, seed=3)
    ref = reference_vae_decode(sd, z)
    got = run(tmp_path, "vae", [path], z, "--dtype", "bf16")
    err = rel_err(got, ref)
    print(f"bf16: rel err {err:.3e}")
    assert 1e-5 < err < 3e-2  # really computed in bf16, and still the same mel


def test_gguf_decodes_like_safetensors(vae, tmp_path):
    sd, path = vae
    z = latents(5, seed=5)
    base = run(tmp_path, "vae", [path], z)
    f32 = tmp_path / "vae-f32.gguf"
    write_gguf(sd, f32, np.float32)
    assert torch.equal(run(tmp_path, "vae", [f32], z), base)
    f16 = tmp_path / "vae-f16.gguf"
    write_gguf(sd, f16, np.float16)
    err = rel_err(run(tmp_path, "vae", [f16], z), base)
    print(f"F16 GGUF: rel err {err:.3e}")
    assert 0 < err < 1e-2


def test_info_reports_config_and_ignored_encoder(vae):
    _, path = vae
    out = cli("info", path).stdout
    assert "model mmaudio_vae" in out
    assert "embed_dim 20" in out and "data_dim 80" in out and "hidden 16" in out
    assert "ch_mult 1,2,4" in out and "blocks_per_level 3" in out and "length_factor 2" in out
    assert "ignored 2" in out  # encoder.conv_in.weight, encoder.learnable_gain


def test_bad_file_names_file_and_tensors(vae, tmp_path):
    sd, _ = vae
    bad_sd = dict(sd)
    del bad_sd["decoder.mid.attn_1.proj_out.weight"]
    bad_sd["decoder.up.0.block.2.conv2.weight"] = torch.zeros(16, 16, 5)
    bad_sd["decoder.extra.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in bad_sd.items()}, str(bad))
    proc = cli("info", bad, check=False)
    assert proc.returncode == 1
    msg = proc.stderr
    assert str(bad) in msg
    assert "1 missing: decoder.mid.attn_1.proj_out.weight [64, 64, 1]" in msg
    assert "1 unexpected: decoder.extra.weight" in msg
    assert "decoder.up.0.block.2.conv2.weight is [16, 16, 5], expected [16, 16, 3]" in msg
    assert "encoder" not in msg.split("as BigVGAN")[0]  # the encoder is ignored, not unexpected


def test_bad_latents_are_refused(vae, tmp_path):
    _, path = vae
    inp = tmp_path / "x.safetensors"
    save_file({"x": torch.zeros(13, 16)}, str(inp))
    proc = cli("vae", path, inp, tmp_path / "y.safetensors", check=False)
    assert proc.returncode == 1
    assert "latents must be float [L, 20]" in proc.stderr
