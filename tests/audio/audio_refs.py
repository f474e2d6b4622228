"""Shared helpers of the audio decoder reference tests: running ovid-audio-cli, a PyTorch
reference of the MMAudio 16 kHz VAE decoder written from the spec (encoders.md §4, independent of
ovid's C++), and NVIDIA's BigVGAN generator from the PyPI package `bigvgan`."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import gguf
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

BIN = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-audio-cli"


# The models here are tiny: one thread each. On a busy 2-core CI machine, OpenMP threads that spin
# waiting for a core made a 6-frame vocode 5x slower than a single thread.
torch.set_num_threads(1)
ENV = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def cli(*args, check=True):
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, env=ENV)
    if check and proc.returncode != 0:
        raise AssertionError(f"ovid-audio-cli {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def run(tmp_path, mode, models, x, *flags):
    """ovid-audio-cli MODE MODELS... IN OUT with tensor x in, y out."""
    inp, out = tmp_path / "x.safetensors", tmp_path / "y.safetensors"
    save_file({"x": x.contiguous()}, str(inp))
    cli(mode, *models, inp, out, *flags)
    return load_file(str(out))["y"]


def write_gguf(sd, path, dtype=np.float32):
    """A GGUF holding the state dict: conv weights in `dtype`, everything else F32 (the gguf
    package writes ne in reverse, as GGUF files in the wild have it)."""
    w = gguf.GGUFWriter(str(path), arch="ovid-test")
    for k, v in sd.items():
        a = v.reshape(1) if v.dim() == 0 else v  # GGUF has no 0-d tensors
        w.add_tensor(k, a.numpy().astype(dtype if "weight" in k else np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def rel_err(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


# ---------------------------------------------------------------------------------------------
# MMAudio VAE_16k decoder, from spec §4. Structure: hidden * ch_mult channels per level, 3 residual
# blocks per decoder level, attention only in the middle, x2 upsample after level 1.

CH_MULT = (1, 2, 4)
BLOCKS = 3
EMBED, MELS = 20, 80


def vae_shapes(hidden):
    """name -> shape of v1-16.pth's decoder tensors (spec §4 key list), plus the statistics."""
    top = hidden * CH_MULT[-1]
    s = {"decoder.conv_in.weight": (top, EMBED, 3)}
    for b in (1, 2):
        s[f"decoder.mid.block_{b}.conv1.weight"] = (top, top, 3)
        s[f"decoder.mid.block_{b}.conv2.weight"] = (top, top, 3)
    s["decoder.mid.attn_1.qkv.weight"] = (3 * top, top, 1)
    s["decoder.mid.attn_1.proj_out.weight"] = (top, top, 1)
    cin = top
    for lvl in (2, 1, 0):
        c = hidden * CH_MULT[lvl]
        for b in range(BLOCKS):
            i = cin if b == 0 else c
            s[f"decoder.up.{lvl}.block.{b}.conv1.weight"] = (c, i, 3)
            s[f"decoder.up.{lvl}.block.{b}.conv2.weight"] = (c, c, 3)
            if i != c:
                s[f"decoder.up.{lvl}.block.{b}.nin_shortcut.weight"] = (c, i, 1)
        if lvl == 1:
            s[f"decoder.up.{lvl}.upsample.conv.weight"] = (c, c, 3)
        cin = c
    s["decoder.conv_out.weight"] = (MELS, hidden, 3)
    s["decoder.learnable_gain"] = ()
    s["data_mean"] = (1, MELS, 1)
    s["data_std"] = (1, MELS, 1)
    return s


def make_vae_state(hidden, seed, encoder=True):
    """Random weights: MPConv weights N(0, 1) as MMAudio initialises them (their scale is
    normalised away at load), a non-zero gain, plausible mel statistics. With `encoder`, a few
    encoder tensors too (v1-16.pth holds the encoder; ovid must ignore them)."""
    g = torch.Generator().manual_seed(seed)
    sd = {k: torch.randn(v, generator=g) for k, v in vae_shapes(hidden).items()}
    sd["decoder.learnable_gain"] = torch.tensor(0.3)
    sd["data_mean"] = -4 + torch.randn(1, MELS, 1, generator=g)
    sd["data_std"] = 1.5 + 0.2 * torch.rand(1, MELS, 1, generator=g)
    if encoder:
        sd["encoder.conv_in.weight"] = torch.randn(hidden, MELS, 3, generator=g)
        sd["encoder.learnable_gain"] = torch.tensor(0.0)
    return sd


def _fold(w, gain=1.0):
    # MPConv1D.remove_weight_norm (spec §4): per output channel,
    # n = 1e-4 + ||w_o|| / sqrt(in*k); w_o / n / sqrt(in*k).
    fan_in = w[0].numel()
    n = 1e-4 + w.flatten(1).norm(dim=1).view(-1, 1, 1) / fan_in ** 0.5
    return w / n / fan_in ** 0.5 * gain


def _conv(x, w):
    return F.conv1d(x, w, padding=w.shape[-1] // 2)


def _pixel_norm(x, dim):
    return x / (1e-4 + x.norm(dim=dim, keepdim=True) / x.shape[dim] ** 0.5)


def _mp_silu(x):
    return F.silu(x) / 0.596


def _mp_sum(a, b):
    return (0.7 * a + 0.3 * b) / 0.58 ** 0.5


def reference_vae_decode(sd, z, dtype=torch.float64):
    """z [L, 20] -> mel [80, 2L], the spec's decoder forward, in `dtype` (float64: a reference
    whose own rounding is negligible next to ovid's f32)."""
    w = {k: _fold(v.to(dtype)) for k, v in sd.items() if k.endswith("weight")}
    w["decoder.conv_out.weight"] = _fold(sd["decoder.conv_out.weight"].to(dtype),
                                         1.0 + float(sd["decoder.learnable_gain"]))

    def res(x, p):
        x = _pixel_norm(x, 1)
        h = _conv(_mp_silu(_conv(_mp_silu(x), w[p + ".conv1.weight"])), w[p + ".conv2.weight"])
        if p + ".nin_shortcut.weight" in w:
            x = _conv(x, w[p + ".nin_shortcut.weight"])
        return _mp_sum(x, h)

    def attn(x):
        b, c, l = x.shape
        y = _conv(x, w["decoder.mid.attn_1.qkv.weight"]).reshape(b, 1, c, 3, l)
        q, k, v = _pixel_norm(y, 2).unbind(3)
        q, k, v = (t.transpose(-1, -2) for t in (q, k, v))  # [B, 1, L, C]
        a = torch.softmax(q @ k.transpose(-1, -2) / c ** 0.5, dim=-1) @ v
        h = _conv(a.transpose(-1, -2).reshape(b, c, l), w["decoder.mid.attn_1.proj_out.weight"])
        return _mp_sum(x, h)

    h = _conv(z.to(dtype).t().unsqueeze(0), w["decoder.conv_in.weight"])
    h = res(h, "decoder.mid.block_1")
    h = attn(h)
    h = res(h, "decoder.mid.block_2").clamp(-256, 256)
    for lvl in (2, 1, 0):
        for b in range(BLOCKS):
            h = res(h, f"decoder.up.{lvl}.block.{b}").clamp(-256, 256)
        if lvl == 1:
            h = _conv(F.interpolate(h, scale_factor=2.0, mode="nearest"),
                      w["decoder.up.1.upsample.conv.weight"])
    h = _conv(_mp_silu(h), w["decoder.conv_out.weight"])
    return (h * sd["data_std"].to(dtype) + sd["data_mean"].to(dtype))[0]


# ---------------------------------------------------------------------------------------------
# BigVGAN from the PyPI package (NVIDIA's code).

def import_bigvgan():
    """The package's generator module. Its __init__ also imports the dataset and plotting helpers
    (meldataset: librosa; utils: matplotlib, scipy), which the generator never calls and the venv
    does not install: those third-party modules are stubbed when absent, only for the import.
    The generator, AMP blocks, SnakeBeta, Activation1d and the kaiser_sinc filters under test are
    the package's own, unmodified code."""
    stubs = {"librosa": ["librosa.filters"], "matplotlib": ["matplotlib.pylab"],
             "scipy": ["scipy.io", "scipy.io.wavfile"]}
    for top, subs in stubs.items():
        if importlib.util.find_spec(top) is None:
            for name in [top, *subs]:
                sys.modules.setdefault(name, mock.MagicMock(name=name))
    import bigvgan.bigvgan as bv  # noqa: E402
    from bigvgan.env import AttrDict
    return bv, AttrDict


def bigvgan_config(initial_channel):
    """MMAudio's bigvgan_vocoder.yml (spec §5) at a chosen width."""
    return dict(num_mels=80, upsample_initial_channel=initial_channel,
                upsample_rates=[4, 4, 2, 2, 2, 2], upsample_kernel_sizes=[8, 8, 4, 4, 4, 4],
                resblock="1", resblock_kernel_sizes=[3, 7, 11],
                resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                activation="snakebeta", snake_logscale=True, use_tanh_at_final=True,
                use_bias_at_final=True)


def make_bigvgan(initial_channel, seed):
    """NVIDIA's BigVGAN with random weights scaled so the signal keeps its size (direction
    N(0, 1), gain ~ the row norm for a unit-variance layer) and tanh is not saturated; log-scale
    alpha/beta and biases randomised too."""
    bv, AttrDict = import_bigvgan()
    torch.manual_seed(seed)
    model = bv.BigVGAN(AttrDict(bigvgan_config(initial_channel)), use_cuda_kernel=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_v"):
                p.normal_()
            elif name.endswith(".alpha") or name.endswith(".beta"):
                p.normal_(0, 0.3)
            elif name.endswith("bias"):
                p.normal_(0, 0.02)
        for name, m in model.named_modules():
            if not hasattr(m, "weight_g"):
                continue
            v = m.weight_v
            transposed = isinstance(m, torch.nn.ConvTranspose1d)
            fan_in = v.shape[0] * v.shape[2] / m.stride[0] if transposed else v.shape[1] * v.shape[2]
            scale = (0.05 if name == "conv_post" else 1.0) / fan_in ** 0.5
            row = v[0].numel()
            m.weight_g.copy_(scale * row ** 0.5 * (1 + 0.05 * torch.randn_like(m.weight_g)))
    return model


def parametrized_names(sd):
    """weight_g/weight_v -> parametrizations.weight.original0/1 (what torch's parametrization
    load hook renames them to)."""
    out = {}
    for k, v in sd.items():
        k = k.replace(".weight_g", ".parametrizations.weight.original0")
        k = k.replace(".weight_v", ".parametrizations.weight.original1")
        out[k] = v
    return out
