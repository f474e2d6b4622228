"""`ovid-gguf synth --preset wan-vae-tiny|wan-vae-2.2` (tools/ovid_gguf/synth_wan_vae.cc).

- The full-size preset's plan (--plan, nothing written) against spec encoders.md §3.2, written
  down here independently of ovid's key tables: the CausalConv3d counts (34 decoder, 26
  encoder), the parameter totals (decoder ~556 M, encoder ~149 M) and a sample of exact shapes.
- The tiny file: the planned names and shapes, deterministic by seed, gammas 1, conv weights at
  1/sqrt(fan_in), bf16 = the f32 values rounded.
- ovid-vae-cli loads it, and a decode of N(0,1) latents is finite and non-trivial inside the
  [-1, 1] clamp (not mostly clipped); the encoder runs on an image too.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

BIN = Path(os.environ.get("OVID_BIN", "build/bin"))
GGUF = BIN / "ovid-gguf"
VAE_CLI = BIN / "ovid-vae-cli"


def run(*args):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


def plan(preset, *extra):
    return json.loads(run(GGUF, "synth", "--preset", preset, "--plan", *extra))


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_full_plan_matches_the_spec():
    p = plan("wan-vae-2.2")
    shapes = {t["name"]: t["shape"] for t in p["tensors"]}
    assert len(shapes) == len(p["tensors"]) == p["totals"]["tensors"]
    expected = {  # spec §3.2
        "encoder.conv1.weight": [160, 12, 3, 3, 3],
        "encoder.downsamples.1.downsamples.0.shortcut.weight": [320, 160, 1, 1, 1],
        "encoder.downsamples.1.downsamples.2.time_conv.weight": [320, 320, 3, 1, 1],
        "encoder.downsamples.2.downsamples.2.resample.1.weight": [640, 640, 3, 3],
        "encoder.middle.1.to_qkv.weight": [1920, 640, 1, 1],
        "encoder.head.0.gamma": [640, 1, 1, 1],
        "encoder.head.2.weight": [96, 640, 3, 3, 3],
        "conv1.weight": [96, 96, 1, 1, 1],
        "conv2.weight": [48, 48, 1, 1, 1],
        "decoder.conv1.weight": [1024, 48, 3, 3, 3],
        "decoder.middle.1.norm.gamma": [1024, 1, 1],
        "decoder.middle.1.to_qkv.weight": [3072, 1024, 1, 1],
        "decoder.upsamples.0.upsamples.3.time_conv.weight": [2048, 1024, 3, 1, 1],
        "decoder.upsamples.1.upsamples.3.resample.1.weight": [1024, 1024, 3, 3],
        "decoder.upsamples.2.upsamples.0.shortcut.weight": [512, 1024, 1, 1, 1],
        "decoder.upsamples.2.upsamples.3.resample.1.weight": [512, 512, 3, 3],
        "decoder.upsamples.3.upsamples.0.residual.0.gamma": [512, 1, 1, 1],
        "decoder.upsamples.3.upsamples.2.residual.6.weight": [256, 256, 3, 3, 3],
        "decoder.head.2.weight": [12, 256, 3, 3, 3],
    }
    for name, shape in expected.items():
        assert shapes.get(name) == shape, name
    assert "decoder.upsamples.2.upsamples.3.time_conv.weight" not in shapes  # upsample2d
    assert "encoder.downsamples.0.downsamples.2.time_conv.weight" not in shapes  # downsample2d
    assert "decoder.upsamples.3.upsamples.3.resample.1.weight" not in shapes  # last stage

    def conv3d(side):
        return sum(1 for n, s in shapes.items()
                   if n.startswith(side + ".") and n.endswith(".weight") and len(s) == 5)

    assert conv3d("decoder") == 34 and conv3d("encoder") == 26  # sd.cpp's _conv_num
    params = {side: sum(numel(s) for n, s in shapes.items() if n.startswith(side + "."))
              for side in ("decoder", "encoder")}
    assert abs(params["decoder"] / 556e6 - 1) < 0.01, params
    assert abs(params["encoder"] / 149e6 - 1) < 0.01, params
    total = sum(numel(s) for s in shapes.values())
    assert p["totals"]["parameters"] == total
    assert p["totals"]["bytes"] == 4 * total
    assert plan("wan-vae-2.2", "--dtype", "bf16")["totals"]["bytes"] == 2 * total


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth_wan_vae")
    run(GGUF, "synth", d / "tiny.safetensors", "--preset", "wan-vae-tiny", "--seed", "5")
    return d / "tiny.safetensors"


def test_tiny_file_is_the_plan_and_deterministic(tiny, tmp_path):
    p = plan("wan-vae-tiny")
    with safe_open(str(tiny), "pt") as f:
        assert set(f.keys()) == {t["name"] for t in p["tensors"]}
        assert f.metadata()["ovid.synth.preset"] == "wan-vae-tiny"
    w = load_file(str(tiny))
    for t in p["tensors"]:
        assert list(w[t["name"]].shape) == t["shape"] and w[t["name"]].dtype == torch.float32
    for name, v in w.items():
        if name.endswith("gamma"):
            assert torch.all(v == 1), name
    big = w["decoder.upsamples.0.upsamples.0.residual.2.weight"]  # [48, 48, 3, 3, 3]
    assert abs(float(big.std()) * (48 * 27) ** 0.5 - 1) < 0.05
    assert abs(float(big.mean())) < 0.01

    again, other, bf16 = (tmp_path / n for n in ("again.st", "other.st", "bf16.st"))
    run(GGUF, "synth", again, "--preset", "wan-vae-tiny", "--seed", "5", "--threads", "2")
    run(GGUF, "synth", other, "--preset", "wan-vae-tiny", "--seed", "6")
    run(GGUF, "synth", bf16, "--preset", "wan-vae-tiny", "--seed", "5", "--dtype", "bf16")
    assert again.read_bytes() == tiny.read_bytes()
    assert not torch.equal(load_file(str(other))["decoder.conv1.weight"],
                           w["decoder.conv1.weight"])
    for name, v in load_file(str(bf16)).items():
        assert v.dtype == torch.bfloat16
        assert torch.equal(v, w[name].to(torch.bfloat16)), name


needs_cli = pytest.mark.skipif(not VAE_CLI.exists(), reason="ovid-vae-cli not built (no LibTorch)")


@needs_cli
def test_tiny_decodes_to_a_non_trivial_video(tiny, tmp_path):
    info = run(VAE_CLI, "--model", tiny, "--info")
    assert "encoder 8 | 8,16,32,32" in info and "decoder 48 | 48,48,24,12" in info, info
    g = torch.Generator().manual_seed(0)
    save_file({"latents": torch.randn(48, 2, 4, 4, generator=g)}, str(tmp_path / "z.st"))
    run(VAE_CLI, "--model", tiny, "--latents", tmp_path / "z.st", "--out", tmp_path / "v.st")
    video = load_file(str(tmp_path / "v.st"))["video"]
    assert list(video.shape) == [3, 5, 64, 64]
    assert torch.isfinite(video).all()
    assert 0.05 < float(video.std()) < 0.9, float(video.std())
    clipped = float((video.abs() >= 0.999).float().mean())
    assert clipped < 0.2, clipped
    # Every output frame carries signal, not just the first.
    assert all(float(video[:, t].std()) > 0.02 for t in range(5))


@needs_cli
def test_tiny_encodes_an_image(tiny, tmp_path):
    g = torch.Generator().manual_seed(1)
    save_file({"image": torch.rand(3, 64, 48, generator=g) * 2 - 1}, str(tmp_path / "img.st"))
    run(VAE_CLI, "--model", tiny, "--encode", tmp_path / "img.st", "--out", tmp_path / "z.st")
    z = load_file(str(tmp_path / "z.st"))["latent"]
    assert list(z.shape) == [48, 1, 4, 3]
    assert torch.isfinite(z).all() and float(z.std()) > 0.01
