"""The released PyTorch files, as their loaders will see them after `ovid-gguf convert`: each
component is written by `ovid-gguf synth`, saved with torch.save the way the release is laid out
(UMT5 bf16 state dict with Wan's names; Wan2.2_VAE.pth f32; MMAudio v1-16.pth with its encoder
tensors next to the decoder; BigVGAN best_netG.pt with the generator under 'generator' beside
training state), converted, and loaded by the engine's own CLI. Converted files must give what
the original gives (bit-exact where the dtype is kept)."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGUFReader
from safetensors.torch import load_file, save_file

from conftest import run

BIN_DIR = Path(os.environ.get("OVID_BIN", "build/bin"))


def cli(name, *args):
    exe = BIN_DIR / name
    if not exe.exists():
        pytest.skip(f"{name} is not built (LibTorch build)")
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{name} {args}:\n{proc.stderr}"
    return proc


def synth(tmp_path, name, *args):
    path = tmp_path / name
    run("synth", path, *args, "--seed", "2")
    return path


def test_umt5_pth_to_gguf_loads_and_encodes(tmp_path):
    src = synth(tmp_path, "umt5.gguf", "--preset", "umt5-tiny", "--layout", "pth")
    reader = GGUFReader(str(src))
    # The release is a bf16 state dict with Wan's names (blocks.N.attn.q.weight, ...).
    sd = {t.name: torch.from_numpy(np.array(t.data)).reshape(
        [int(d) for d in reversed(t.shape)]).to(torch.bfloat16) for t in reader.tensors}
    torch.save(sd, tmp_path / "models_t5_umt5-xxl-enc-bf16.pth")
    out = tmp_path / "umt5-bf16.gguf"
    run("convert", tmp_path / "models_t5_umt5-xxl-enc-bf16.pth", out)
    assert run("keys", out, "--expect", "umt5").returncode == 0
    ids = ["--ids", "5,17,200,3,9,44,1", "--ids", "8,2,1"]
    cli("ovid-umt5-cli", "--model", out, *ids, "--out", tmp_path / "a.safetensors")
    cli("ovid-umt5-cli", "--model", src, *ids, "--out", tmp_path / "b.safetensors")
    a, b = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert a.keys() == b.keys() == {"emb.0", "emb.1"}
    for k in a:
        assert a[k].shape == b[k].shape
        # Only the weights' rounding to bf16 separates the two.
        assert float((a[k] - b[k]).norm() / b[k].norm()) < 3e-2, k


def test_wan_vae_pth_to_safetensors_decodes_the_same(tmp_path):
    src = synth(tmp_path, "vae.safetensors", "--preset", "wan-vae-tiny")
    torch.save(load_file(src), tmp_path / "Wan2.2_VAE.pth")
    out = tmp_path / "vae-converted.safetensors"
    run("convert", tmp_path / "Wan2.2_VAE.pth", out)
    assert run("keys", out, "--expect", "wan_vae").returncode == 0
    save_file({"latents": torch.randn(48, 2, 4, 4, generator=torch.Generator().manual_seed(1))},
              tmp_path / "z.safetensors")
    for model, tag in ((src, "a"), (out, "b")):
        cli("ovid-vae-cli", "--model", model, "--latents", tmp_path / "z.safetensors", "--out",
            tmp_path / f"{tag}.safetensors")
    assert torch.equal(load_file(tmp_path / "a.safetensors")["video"],
                       load_file(tmp_path / "b.safetensors")["video"])


def test_mmaudio_pth_with_its_encoder_converts_and_decodes_the_same(tmp_path):
    src = synth(tmp_path, "mmaudio.safetensors", "--preset", "mmaudio-vae-tiny")
    sd = load_file(src)
    # v1-16.pth also holds the encoder (unused for generation): the loader ignores it.
    g = torch.Generator().manual_seed(3)
    sd["encoder.conv_in.weight"] = torch.randn(16, 80, 3, generator=g)
    sd["encoder.learnable_gain"] = torch.zeros(())
    torch.save(sd, tmp_path / "v1-16.pth")
    out = tmp_path / "mmaudio-v1-16.safetensors"
    run("convert", tmp_path / "v1-16.pth", out, "--component", "mmaudio_vae")
    save_file({"x": torch.randn(12, 20, generator=g)}, tmp_path / "z.safetensors")
    for model, tag in ((src, "a"), (out, "b")):
        cli("ovid-audio-cli", "vae", model, tmp_path / "z.safetensors", tmp_path / f"{tag}.safetensors")
    assert torch.equal(load_file(tmp_path / "a.safetensors")["y"],
                       load_file(tmp_path / "b.safetensors")["y"])


def test_bigvgan_generator_is_selected_from_a_training_checkpoint(tmp_path):
    src = synth(tmp_path, "bigvgan.safetensors", "--preset", "bigvgan-tiny")
    # best_netG.pt: {'generator': state dict (weight_g / weight_v), plus training state}.
    torch.save({"generator": load_file(src), "steps": 1000000, "epoch": 3},
               tmp_path / "best_netG.pt")
    out = tmp_path / "bigvgan-16k.safetensors"
    refused = run("convert", tmp_path / "best_netG.pt", out, check=False)
    assert refused.returncode != 0 and "generator" in refused.stderr  # names the sub-dict
    run("convert", tmp_path / "best_netG.pt", out, "--select", "generator")
    assert run("keys", out, "--expect", "bigvgan").returncode == 0
    mel = torch.randn(80, 6, generator=torch.Generator().manual_seed(4)) - 4.0
    save_file({"x": mel}, tmp_path / "mel.safetensors")
    for model, tag in ((src, "a"), (out, "b")):
        cli("ovid-audio-cli", "vocoder", model, tmp_path / "mel.safetensors",
            tmp_path / f"{tag}.safetensors")
    assert torch.equal(load_file(tmp_path / "a.safetensors")["y"],
                       load_file(tmp_path / "b.safetensors")["y"])


# A broken decoder file: its layout check fails early (a tensor of the wrong rank, one absent,
# a misshaped buffer), so by the check's own count no component recognized it and convert wrote
# it unchecked, exit 0. Detection now counts the component's names, so the check's error stops it.
@pytest.mark.parametrize("preset,edit,words", [
    ("wan-vae-tiny",
     lambda t: t.update({"encoder.downsamples.0.downsamples.0.residual.2.weight":
                         t["encoder.downsamples.0.downsamples.0.residual.2.weight"].reshape(-1)}),
     "has rank 1, expected a 5-D weight"),
    ("mmaudio-vae-tiny", lambda t: t.pop("decoder.conv_out.weight"),
     "decoder.conv_out.weight is absent"),
    ("mmaudio-vae-tiny", lambda t: t.update({"data_mean": torch.zeros(3)}),
     "data_mean is [3]"),
    ("bigvgan-tiny", lambda t: t.update({"activation_post.act.alpha": torch.zeros(3)}),
     "activation_post.act.alpha is [3]"),
])
def test_a_broken_decoder_file_is_refused_without_component(tmp_path, preset, edit, words):
    tensors = load_file(str(synth(tmp_path, "whole.safetensors", "--preset", preset)))
    edit(tensors)
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken))
    proc = run("convert", broken, tmp_path / "out.gguf", check=False)
    assert proc.returncode == 1, proc.stdout
    assert words in proc.stderr and str(broken) in proc.stderr, proc.stderr
    assert not (tmp_path / "out.gguf").exists()


def test_encoder_tensors_count_for_mmaudio_only_beside_its_buffers(tmp_path):
    # Latent-diffusion VAEs (SD, SDXL, Flux) have encoder.* tensors and share some decoder names
    # with MMAudio's; counted as MMAudio's, they got its layout check and were refused. Without
    # data_mean/data_std the encoder tensors are nobody's: such a file converts unchecked.
    tensors = load_file(str(synth(tmp_path, "mm.safetensors", "--preset", "mmaudio-vae-tiny")))
    tensors.pop("data_mean")
    tensors.pop("data_std")
    for i in range(len(tensors) + 1):
        tensors[f"encoder.down.{i}.block.0.conv1.weight"] = torch.zeros(2, 2, 3)
    other = tmp_path / "sd_like_vae.safetensors"
    save_file(tensors, str(other))
    proc = run("convert", other, tmp_path / "out.gguf")
    assert "not checked against any component layout" in proc.stdout
