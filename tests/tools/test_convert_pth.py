"""ovid-gguf convert on torch.save checkpoints (read without PyTorch by ovid's zip + restricted
unpickler): files written here by real torch.save, converted to safetensors and GGUF, and every
tensor compared bit for bit with the safetensors and gguf Python packages. Also: nested training
checkpoints and --select, non-contiguous and shared storages, ZIP64 archives, and corrupt,
truncated and hostile files, whose errors must name the file and what is wrong."""
import collections
import io
import struct
import zipfile

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader
from safetensors.torch import load_file

from conftest import run


def raw(t):
    """The bytes of a tensor as stored (bf16 through its int16 view)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def state_dict(seed=0):
    gen = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    sd["conv_pre.weight"] = torch.randn(8, 4, 7, generator=gen)
    sd["conv_pre.bias"] = torch.randn(8, generator=gen).to(torch.bfloat16)
    sd["ups.0.weight"] = torch.randn(8, 4, 4, generator=gen).to(torch.float16)
    sd["blocks.0.scale"] = torch.randn(1, 1, 8, generator=gen).to(torch.bfloat16)
    sd["empty"] = torch.zeros(0, 3)
    sd["scalar"] = torch.tensor(1.5)
    return sd


@pytest.fixture()
def training_ckpt(tmp_path):
    """A training checkpoint: weights under 'generator' next to optimizer state and counters,
    a transposed (non-contiguous) view and two tensors sharing one storage."""
    sd = state_dict()
    base = torch.randn(6, 5)
    sd["proj.weight_t"] = base.t()  # strides (1, 5)
    sd["proj.rows"] = base[2:4]  # storage offset 10, shares base's storage
    sd["param"] = torch.nn.Parameter(torch.randn(3, 2))
    opt = {"state": {0: {"exp_avg": torch.randn(3), "step": torch.tensor(4.0)}},
           "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.99), "params": [0]}]}
    path = tmp_path / "best_netG.pt"
    torch.save({"generator": sd, "optimizer_state": opt, "steps": 5, "name": "run"}, path)
    return path, sd


def test_pth_to_safetensors_is_bit_exact(training_ckpt, tmp_path):
    src, sd = training_ckpt
    out = tmp_path / "g.safetensors"
    proc = run("convert", src, out, "--select", "generator")
    assert "(pth)" in proc.stdout and f"{len(sd)} tensors" in proc.stdout
    got = load_file(str(out))
    assert list(got) == list(sd)  # state-dict order kept
    for name, ref in sd.items():
        assert got[name].dtype == ref.dtype, name
        assert tuple(got[name].shape) == tuple(ref.shape), name
        assert raw(got[name]) == raw(ref), name


def test_pth_to_gguf_is_bit_exact(training_ckpt, tmp_path):
    src, sd = training_ckpt
    out = tmp_path / "g.gguf"
    run("convert", src, out, "--select", "generator")
    reader = GGUFReader(out)
    got = {t.name: t for t in reader.tensors}
    assert set(got) == set(sd)
    types = {torch.float32: GGMLQuantizationType.F32, torch.float16: GGMLQuantizationType.F16,
             torch.bfloat16: GGMLQuantizationType.BF16}
    for name, ref in sd.items():
        t = got[name]
        assert t.tensor_type == types[ref.dtype], name
        if ref.numel() > 0:
            assert t.data.tobytes() == raw(ref), name
        assert int(np.prod(t.shape)) == ref.numel(), name
    assert reader.fields["general.architecture"].contents() == "unknown"


def test_nested_checkpoint_needs_select(training_ckpt, tmp_path):
    src, _ = training_ckpt
    proc = run("convert", src, tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 1
    err = proc.stderr
    assert str(src) in err and "--select" in err
    assert "'generator' (" in err and "'optimizer_state' (2 tensors)" in err
    proc = run("convert", src, tmp_path / "o.safetensors", "--select", "nope", check=False)
    assert proc.returncode == 1
    assert "no key 'nope'" in proc.stderr and "'steps' (int)" in proc.stderr
    proc = run("convert", src, tmp_path / "o.safetensors", "--select", "steps", check=False)
    assert proc.returncode == 1 and "'steps' is of type int, not a dict of tensors" in proc.stderr
    # A bare torch.save(tensor): no --select was given, so none is named.
    bare = tmp_path / "bare.pt"
    torch.save(torch.ones(2, 3), bare)
    proc = run("convert", bare, tmp_path / "bare.gguf", check=False)
    assert proc.returncode == 1 and "--select" not in proc.stderr
    assert "the file holds one object of type tensor, not a dict of tensors" in proc.stderr
    # A dotted path reaches deeper dicts; int keys work as path components.
    out = tmp_path / "opt.safetensors"
    run("convert", src, out, "--select", "optimizer_state.state")
    assert sorted(load_file(str(out))) == ["0.exp_avg", "0.step"]
    assert not (tmp_path / "o.safetensors").exists()


def test_flat_state_dict_needs_no_select_and_f64_becomes_f32(tmp_path):
    sd = state_dict(seed=1)
    sd["double"] = torch.randn(4, 4, dtype=torch.float64)
    sd["ints"] = torch.arange(6, dtype=torch.int64)
    src = tmp_path / "v1-16.pth"
    torch.save(sd, src)
    out = tmp_path / "v.safetensors"
    proc = run("convert", src, out)
    assert "1 F64 tensors were stored as F32" in proc.stdout
    got = load_file(str(out))
    assert got["double"].dtype == torch.float32
    assert torch.equal(got["double"], sd["double"].float())
    assert torch.equal(got["ints"], sd["ints"])  # safetensors keeps integer tensors
    # GGUF holds floats only: the integer tensor is named in the error.
    proc = run("convert", src, tmp_path / "v.gguf", check=False)
    assert proc.returncode == 1 and "ints (I64)" in proc.stderr
    assert not (tmp_path / "v.gguf").exists()


def rezip(src, dst, force_zip64=False, compress=zipfile.ZIP_STORED, extra_entries=0):
    """Copies a torch.save archive entry by entry with Python's zipfile."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compress) as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename)
            out.compress_type = compress
            with zout.open(out, "w", force_zip64=force_zip64) as f:
                f.write(zin.read(info.filename))
        # Past 65535 entries zipfile writes the ZIP64 end-of-central-directory record.
        for i in range(extra_entries):
            zout.writestr(zipfile.ZipInfo(f"pad/{i}"), b"")


def test_zip64_archives_are_read(tmp_path):
    sd = state_dict(seed=2)
    src = tmp_path / "plain.pth"
    torch.save(sd, src)
    for name, kwargs in [("local64.pth", dict(force_zip64=True)),
                         ("eocd64.pth", dict(extra_entries=65536))]:
        path = tmp_path / name
        rezip(src, path, **kwargs)
        out = tmp_path / f"{name}.safetensors"
        run("convert", path, out)
        got = load_file(str(out))
        for k, ref in sd.items():
            assert raw(got[k]) == raw(ref), (name, k)
    with zipfile.ZipFile(tmp_path / "eocd64.pth") as z:
        assert len(z.infolist()) > 65535


def test_compressed_archive_is_refused_by_entry(tmp_path):
    src = tmp_path / "plain.pth"
    torch.save(state_dict(), src)
    deflated = tmp_path / "deflated.pth"
    rezip(src, deflated, compress=zipfile.ZIP_DEFLATED)
    proc = run("convert", deflated, tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 1
    assert str(deflated) in proc.stderr and "compressed (method 8, deflate)" in proc.stderr


def legacy_bytes():
    """What torch.save wrote before the zip format (still available as an option)."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def test_truncated_and_corrupt_files(tmp_path):
    src = tmp_path / "plain.pth"
    torch.save(state_dict(), src)
    data = src.read_bytes()
    cases = {
        "truncated.pth": (data[: len(data) // 2], "end-of-central-directory"),
        "empty.pth": (b"", "0 bytes"),
        "legacy.pth": (legacy_bytes(), "legacy torch.save file"),
        "text.pth": (b"hello world, not a checkpoint", "header"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        proc = run("convert", path, tmp_path / "o.safetensors", check=False)
        assert proc.returncode == 1, name
        assert name in proc.stderr and fragment in proc.stderr, (name, proc.stderr)
    # A storage record cut short: the error names the record and both sizes.
    short = tmp_path / "short.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(short, "w") as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename.endswith("/data/0"):
                body = body[:-4]
            zout.writestr(zipfile.ZipInfo(info.filename), body)
    proc = run("convert", short, tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 1
    assert "short.pth" in proc.stderr and "data/0" in proc.stderr and "truncated" in proc.stderr
    assert not (tmp_path / "o.safetensors").exists()


def write_pickle_archive(path, pickle_bytes, storages=()):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for key, body in storages:
            z.writestr(f"archive/data/{key}", body)


def test_hostile_pickles_are_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    # os.system("touch <marker>"), written opcode by opcode: PROTO 2, GLOBAL, a string, TUPLE1,
    # REDUCE, STOP. Python's pickle would run it; ovid must refuse it by name.
    cmd = f"touch {marker}".encode()
    evil = (b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd + b"\x85R.")
    path = tmp_path / "evil.pth"
    write_pickle_archive(path, evil)
    proc = run("convert", path, tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 1
    assert "evil.pth" in proc.stderr and "refusing global 'os.system'" in proc.stderr
    assert not marker.exists()
    # builtins.eval through STACK_GLOBAL (protocol 4 spelling) is refused the same way.
    sg = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93X\x01\x00\x00\x001\x85R."
    path = tmp_path / "eval.pth"
    write_pickle_archive(path, sg)
    proc = run("keys", path, "--expect", "umt5", check=False)
    assert proc.returncode == 1 and "refusing global 'builtins.eval'" in proc.stderr


def test_unknown_objects_are_opaque_until_needed(tmp_path):
    # {'args': argparse.Namespace(...), 'model': {'w': tensor}}: the Namespace is never built;
    # selecting 'model' works, selecting 'args' names the class.
    import argparse
    sd = {"w": torch.arange(4, dtype=torch.float32)}
    path = tmp_path / "with_args.pt"
    torch.save({"args": argparse.Namespace(lr=1e-3, name="x"), "model": sd}, path)
    out = tmp_path / "m.safetensors"
    run("convert", path, out, "--select", "model")
    assert torch.equal(load_file(str(out))["w"], sd["w"])
    proc = run("convert", path, tmp_path / "a.safetensors", "--select", "args", check=False)
    assert proc.returncode == 1
    assert "argparse.Namespace" in proc.stderr and "with_args.pt" in proc.stderr


def test_storage_record_missing_is_named(tmp_path):
    src = tmp_path / "plain.pth"
    torch.save({"w": torch.ones(3)}, src)
    broken = tmp_path / "nostorage.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(broken, "w") as zout:
        for info in zin.infolist():
            if "/data/" not in info.filename:
                zout.writestr(zipfile.ZipInfo(info.filename), zin.read(info.filename))
    proc = run("convert", broken, tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 1
    assert "nostorage.pth" in proc.stderr and "storage '0'" in proc.stderr
    assert "has no record" in proc.stderr


def test_input_format_is_told_by_content_not_extension(tmp_path):
    sd = state_dict(seed=3)
    path = tmp_path / "weights.bin"  # a torch.save file under another extension
    torch.save(sd, path)
    out = tmp_path / "w.safetensors"
    run("convert", path, out)
    assert set(load_file(str(out))) == set(sd)
    proc = run("convert", path, tmp_path / "w.npz", check=False)
    assert proc.returncode == 2 and ".gguf or .safetensors" in proc.stderr
