"""ovid-gguf convert: a tiny-shaped Ovi checkpoint in the release format (safetensors, video_model.*
and audio_model.* keys, bf16 and f32, the 5-D Conv3d) -> GGUF, checked with gguf-py's reader."""
import json
import signal
import struct
import subprocess
import time

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader
from safetensors.torch import save_file

from conftest import BIN, fields, ovi_layout, run

# Tiny but with a different ffn size and 2 layers, so shapes are really inferred.
CONFIG = dict(dim=256, ffn=768, layers=2, text_dim=512, freq_dim=256, hidden=512)


def make_checkpoint(layout, seed=0):
    """Norm weights and biases in f32, everything else bf16 (a mixed-dtype checkpoint)."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (shape, kind) in layout.items():
        t = torch.randn(*shape, generator=gen)
        dtype = torch.float32 if kind == "norm" or name.endswith(".bias") else torch.bfloat16
        tensors[name] = t.to(dtype).contiguous()
    return tensors


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    tensors = make_checkpoint(ovi_layout(**CONFIG))
    save_file(tensors, str(path))
    return path, tensors


def raw_bytes(t):
    return t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()


def test_convert_keeps_names_dtypes_shapes_and_bytes(checkpoint, tmp_path):
    src, tensors = checkpoint
    out = tmp_path / "ovi.gguf"
    run("convert", src, out)
    reader = GGUFReader(out)
    got = {t.name: t for t in reader.tensors}
    assert set(got) == set(tensors)
    assert len(got) == 34 * 2 * 2 + 33
    for name, ref in tensors.items():
        t = got[name]
        want_type = (GGMLQuantizationType.BF16 if ref.dtype == torch.bfloat16
                     else GGMLQuantizationType.F32)
        assert t.tensor_type == want_type, name
        # gguf-py reports ne (ggml order); torch order is its reverse, all dims kept.
        assert tuple(int(x) for x in reversed(t.shape)) == tuple(ref.shape), name
        assert t.data.tobytes() == raw_bytes(ref), name
    patch = got["video_model.patch_embedding.weight"]
    assert len(patch.shape) == 5 and list(patch.shape) == [2, 2, 1, 48, 256]

    meta = fields(reader)
    assert meta["general.architecture"] == "ovi"
    assert meta["ovi.variant"] == "720x720_5s"
    assert meta["ovi.head_dim"] == 128
    assert meta["ovi.text_len"] == 512
    assert meta["ovi.audio_rope_scale"] == pytest.approx(0.19676, rel=1e-6)
    assert meta["general.file_type"] == 32  # mostly BF16
    assert reader.fields["ovi.head_dim"].types[0].name == "UINT32"


def test_convert_honours_overrides(checkpoint, tmp_path):
    src, _ = checkpoint
    out = tmp_path / "ovi.gguf"
    run("convert", src, out, "--variant", "960x960_10s", "--head-dim", "64", "--text-len", "300",
        "--audio-rope-scale", "0.25")
    meta = fields(GGUFReader(out))
    assert meta["ovi.variant"] == "960x960_10s"
    assert meta["ovi.head_dim"] == 64
    assert meta["ovi.text_len"] == 300
    assert meta["ovi.audio_rope_scale"] == 0.25


def test_convert_accepts_f16_f64_and_fp8(tmp_path):
    layout = ovi_layout(**CONFIG)
    tensors = make_checkpoint(layout, seed=1)
    f16_name = "audio_model.blocks.1.ffn.0.weight"
    f64_name = "video_model.blocks.0.norm3.weight"
    fp8 = {"video_model.blocks.1.ffn.2.weight": torch.float8_e4m3fn,
           "audio_model.blocks.0.self_attn.k.weight": torch.float8_e5m2}
    tensors[f16_name] = tensors[f16_name].to(torch.float16)
    tensors[f64_name] = torch.randn(256, dtype=torch.float64)
    for name, dtype in fp8.items():
        x = torch.randn(*layout[name][0]) * 4
        x[0, :4] = torch.tensor([0.0, -0.0, 1e-3, 400.0])  # zeros, a subnormal, a large value
        tensors[name] = x.to(dtype)
    src = tmp_path / "mixed.safetensors"
    save_file(tensors, str(src))
    out = tmp_path / "mixed.gguf"
    run("convert", src, out)
    got = {t.name: t for t in GGUFReader(out).tensors}
    assert got[f16_name].tensor_type == GGMLQuantizationType.F16
    assert got[f16_name].data.tobytes() == tensors[f16_name].numpy().tobytes()
    assert got[f64_name].tensor_type == GGMLQuantizationType.F32
    np.testing.assert_array_equal(got[f64_name].data, tensors[f64_name].numpy().astype(np.float32))
    for name in fp8:  # every FP8 value is exact in BF16
        assert got[name].tensor_type == GGMLQuantizationType.BF16
        assert got[name].data.tobytes() == raw_bytes(tensors[name].to(torch.bfloat16)), name


def test_convert_reports_missing_unexpected_and_misshaped_at_once(tmp_path):
    tensors = make_checkpoint(ovi_layout(**CONFIG), seed=2)
    missing = "audio_model.blocks.1.cross_attn.norm_k_fusion.weight"
    unexpected = "video_model.blocks.0.cross_attn.gate.weight"
    misshaped = "video_model.blocks.1.self_attn.o.bias"
    del tensors[missing]
    tensors[unexpected] = torch.zeros(4)
    tensors[misshaped] = torch.zeros(255)
    src = tmp_path / "bad.safetensors"
    save_file(tensors, str(src))
    out = tmp_path / "bad.gguf"
    proc = run("convert", src, out, check=False)
    assert proc.returncode == 1
    err = proc.stderr
    assert err.count("\n") == 1, err  # ONE message
    assert str(src) in err
    for name in (missing, unexpected, misshaped):
        assert name in err, err
    assert "[255], expected [256]" in err
    assert not out.exists()


def test_convert_errors_name_the_problem(checkpoint, tmp_path):
    src, _ = checkpoint
    proc = run("convert", tmp_path / "nope.safetensors", tmp_path / "o.gguf", check=False)
    assert proc.returncode == 1 and "nope.safetensors" in proc.stderr
    proc = run("convert", src, tmp_path / "o.gguf", "--variant", "1080p", check=False)
    assert proc.returncode == 2 and "1080p" in proc.stderr
    # Sizes are written as uint32 keys: out of range is refused, not wrapped (2^32 + 512 was
    # written as 512).
    proc = run("convert", src, tmp_path / "o.gguf", "--text-len", "4294967808", check=False)
    assert proc.returncode == 2 and "--text-len" in proc.stderr and "1048576" in proc.stderr
    proc = run("convert", src, tmp_path / "o.gguf", "--head-dim", "96", check=False)
    assert proc.returncode == 1 and "head_dim 96" in proc.stderr
    assert not (tmp_path / "o.gguf").exists()
    ints = tmp_path / "ints.safetensors"
    tensors = make_checkpoint(ovi_layout(**CONFIG), seed=4)
    tensors["video_model.head.head.bias"] = torch.zeros(192, dtype=torch.int32)
    save_file(tensors, str(ints))
    proc = run("convert", ints, tmp_path / "o.gguf", check=False)
    assert proc.returncode == 1 and "video_model.head.head.bias (I32)" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_conversion_leaves_no_partial_file(tmp_path, sig):
    # Ctrl-C during a write left the partial output under <out>.tmp.<pid>.<n>: gigabytes for a
    # full model. The tool removes it and dies of the signal as before.
    src = tmp_path / "big.safetensors"
    save_file({f"w{i}": torch.ones(1024, 1024 * 4) for i in range(24)}, str(src))  # 400 MB
    out = tmp_path / "out.gguf"
    proc = subprocess.Popen([str(BIN), "convert", str(src), str(out), "--component", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("out.gguf.tmp.*")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == -sig  # it was still writing (400 MB take far longer than the poll)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.safetensors"]


@pytest.mark.parametrize("suffix", [".gguf", ".safetensors"])
def test_f64_values_past_f32s_range_are_named_when_they_become_inf(tmp_path, suffix):
    src = tmp_path / "f64.safetensors"
    w = torch.ones(4, 8, dtype=torch.float64)
    w[0, :3] = 1e300
    w[1, 0] = -1e39
    w[1, 1] = 3e38  # within range: stays finite
    save_file({"w": w}, str(src))
    out = tmp_path / f"out{suffix}"
    proc = run("convert", src, out, "--component", "none")
    assert "tensor 'w': 4 finite F64 values are beyond F32's range and became +-inf" in proc.stderr


def test_a_name_safetensors_cannot_hold_is_refused_naming_the_output(tmp_path):
    header = json.dumps({"": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    src = tmp_path / "empty_name.safetensors"
    src.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    out = tmp_path / "out.safetensors"
    proc = run("convert", src, out, "--component", "none", check=False)
    assert proc.returncode == 1
    assert f"{out}: safetensors: a tensor name that is empty" in proc.stderr, proc.stderr
    assert not out.exists()


def test_an_ignored_hangup_is_left_ignored(tmp_path):
    # nohup sets SIGHUP to be ignored: the conversion must outlive the terminal, not remove its
    # output and die (the cleanup handler replaced the ignored disposition).
    src = tmp_path / "big.safetensors"
    save_file({f"w{i}": torch.ones(1024, 1024 * 4) for i in range(24)}, str(src))
    out = tmp_path / "out.gguf"
    proc = subprocess.Popen([str(BIN), "convert", str(src), str(out), "--component", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("out.gguf.tmp.*")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.exists() and not list(tmp_path.glob("out.gguf.tmp.*"))
