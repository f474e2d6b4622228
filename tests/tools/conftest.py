"""Shared helpers for the ovid-gguf command tests: the binary, a runner, and an independent
Python description of Ovi's tensor set (shared spec ovi.md §2) to build test checkpoints."""
import os
import subprocess
from pathlib import Path

import pytest

BIN = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-gguf"

# The documented mixes (README.md, "Quantization types and mixes"): name -> (base type, type of .v.weight and
# .ffn.2.weight under --rules ovi, general.file_type).
MIXES = {
    "F32": ("F32", "F32", 0), "F16": ("F16", "F16", 1), "BF16": ("BF16", "BF16", 32),
    "Q8_0": ("Q8_0", "Q8_0", 7), "Q6_K": ("Q6_K", "Q6_K", 18),
    "Q5_K_M": ("Q5_K", "Q6_K", 17), "Q5_K_S": ("Q5_K", "Q5_K", 16), "Q5_K": ("Q5_K", "Q5_K", 16),
    "Q5_1": ("Q5_1", "Q5_1", 9), "Q5_0": ("Q5_0", "Q5_0", 8),
    "Q4_K_M": ("Q4_K", "Q6_K", 15), "Q4_K_S": ("Q4_K", "Q5_K", 14), "Q4_K": ("Q4_K", "Q4_K", 14),
    "Q4_1": ("Q4_1", "Q4_1", 3), "Q4_0": ("Q4_0", "Q4_0", 2),
    "Q3_K_L": ("Q3_K", "Q5_K", 13), "Q3_K_M": ("Q3_K", "Q4_K", 12),
    "Q3_K_S": ("Q3_K", "Q3_K", 11), "Q3_K": ("Q3_K", "Q3_K", 11), "Q2_K": ("Q2_K", "Q3_K", 10),
}


def run(*args, check=True):
    """Runs ovid-gguf; returns the CompletedProcess (text mode)."""
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"ovid-gguf {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def ovi_layout(dim=256, ffn=512, layers=3, text_dim=256, freq_dim=256, hidden=512,
               video_in=48, audio_in=20, patch=(1, 2, 2)):
    """{name: (torch shape, kind)} for an Ovi model; kind is 'block_linear' for the Linear
    weights inside blocks, 'norm' for norm weights, 'other' otherwise."""
    out = {}
    for tower in ("video_model", "audio_model"):
        p = tower + "."
        for i in (0, 2):
            out[f"{p}text_embedding.{i}.weight"] = ((dim, text_dim if i == 0 else dim), "other")
            out[f"{p}text_embedding.{i}.bias"] = ((dim,), "other")
            out[f"{p}time_embedding.{i}.weight"] = ((dim, freq_dim if i == 0 else dim), "other")
            out[f"{p}time_embedding.{i}.bias"] = ((dim,), "other")
        out[f"{p}time_projection.1.weight"] = ((6 * dim, dim), "other")
        out[f"{p}time_projection.1.bias"] = ((6 * dim,), "other")
        out[f"{p}head.modulation"] = ((1, 2, dim), "other")
        if tower == "video_model":
            head = video_in * patch[0] * patch[1] * patch[2]
            out[f"{p}patch_embedding.weight"] = ((dim, video_in, *patch), "other")
            out[f"{p}patch_embedding.bias"] = ((dim,), "other")
        else:
            head = audio_in
            out[f"{p}patch_embedding.0.weight"] = ((dim, audio_in, 7), "other")
            out[f"{p}patch_embedding.0.bias"] = ((dim,), "other")
            out[f"{p}patch_embedding.2.w1.weight"] = ((hidden, dim, 7), "other")
            out[f"{p}patch_embedding.2.w3.weight"] = ((hidden, dim, 7), "other")
            out[f"{p}patch_embedding.2.w2.weight"] = ((dim, hidden, 7), "other")
        out[f"{p}head.head.weight"] = ((head, dim), "other")
        out[f"{p}head.head.bias"] = ((head,), "other")
        for b in range(layers):
            q = f"{p}blocks.{b}."
            out[q + "modulation.modulation"] = ((1, 6, dim), "other")
            linears = [f"self_attn.{x}" for x in "qkvo"] + [f"cross_attn.{x}" for x in "qkvo"]
            linears += ["cross_attn.k_fusion", "cross_attn.v_fusion"]
            for name in linears:
                out[q + name + ".weight"] = ((dim, dim), "block_linear")
                out[q + name + ".bias"] = ((dim,), "other")
            out[q + "ffn.0.weight"] = ((ffn, dim), "block_linear")
            out[q + "ffn.0.bias"] = ((ffn,), "other")
            out[q + "ffn.2.weight"] = ((dim, ffn), "block_linear")
            out[q + "ffn.2.bias"] = ((dim,), "other")
            for name in ("self_attn.norm_q", "self_attn.norm_k", "cross_attn.norm_q",
                         "cross_attn.norm_k", "cross_attn.norm_k_fusion"):
                out[q + name + ".weight"] = ((dim,), "norm")
            for name in ("norm3", "cross_attn.pre_attn_norm_fusion"):
                out[q + name + ".weight"] = ((dim,), "norm")
                out[q + name + ".bias"] = ((dim,), "other")
    return out


def expected_ovi_type(name, kind, mix, source):
    """The type --rules ovi gives a tensor of `source` type (gguf-py names, e.g. 'BF16')."""
    base, sensitive, _ = MIXES[mix]
    if kind != "block_linear":
        return source
    return sensitive if name.endswith((".v.weight", ".ffn.2.weight")) else base


def fields(reader):
    """GGUF metadata as {key: python value}."""
    return {k: f.contents() for k, f in reader.fields.items()}


@pytest.fixture(scope="session")
def tiny_synth_bf16(tmp_path_factory):
    """A BF16 ovi-tiny model written by synth (seed 3)."""
    path = tmp_path_factory.mktemp("synth") / "tiny_bf16.gguf"
    run("synth", path, "--preset", "ovi-tiny", "--seed", 3)
    return path
