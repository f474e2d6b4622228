"""ovid-gguf dequant: raw little-endian floats in torch shape order, bit-exact with gguf-py's
dequantize for every supported type, f16/bf16 outputs as one rounding of those f32 values."""
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from conftest import run

# gguf-py can write these itself; the K-quants come from `ovid-gguf quantize`.
PY_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
K_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{type name: (gguf path, tensor name)}; tensors are [3, 4, 512] so the torch order of a
    3-D tensor is exercised too."""
    rng = np.random.default_rng(11)
    a = (rng.standard_normal((3, 4, 512)) * 0.05).astype(np.float32)
    a[0, 0, :32] = 0.0  # an all-zero block
    d = tmp_path_factory.mktemp("dq")
    src = d / "py.gguf"
    w = GGUFWriter(str(src), "test")
    for t in PY_TYPES:
        if t == "F32":
            w.add_tensor("t.F32", a)
        else:
            w.add_tensor(f"t.{t}", quantize(a, Q[t]), raw_dtype=Q[t])
    w.add_tensor("k.src", a.reshape(12, 512))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = {t: (src, f"t.{t}") for t in PY_TYPES}
    for t in K_TYPES:
        path = d / f"{t}.gguf"
        run("quantize", src, path, "--type", t)
        out[t] = (path, "k.src")
    return out


def reference(path, name):
    t = next(x for x in GGUFReader(path).tensors if x.name == name)
    shape = tuple(int(v) for v in reversed(t.shape))
    assert t.tensor_type.name in PY_TYPES + K_TYPES
    return dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)


@pytest.mark.parametrize("qtype", PY_TYPES + K_TYPES)
def test_f32_output_is_bit_exact_with_gguf_py(models, tmp_path, qtype):
    path, name = models[qtype]
    ref = reference(path, name)
    out = tmp_path / "out.f32"
    run("dequant", path, name, "-o", out)
    got = np.fromfile(out, dtype="<f4")
    assert got.size == ref.size
    np.testing.assert_array_equal(got.view(np.uint32), ref.reshape(-1).view(np.uint32))


@pytest.mark.parametrize("qtype", ["F32", "BF16", "Q8_0", "Q4_K", "Q6_K", "Q3_K"])
def test_f16_and_bf16_outputs_round_the_f32_values_once(models, tmp_path, qtype):
    path, name = models[qtype]
    ref = torch.from_numpy(reference(path, name).reshape(-1).copy())
    run("dequant", path, name, "-o", tmp_path / "h", "--dtype", "f16")
    run("dequant", path, name, "-o", tmp_path / "b", "--dtype", "bf16")
    h = np.fromfile(tmp_path / "h", dtype="<u2")
    b = np.fromfile(tmp_path / "b", dtype="<u2")
    np.testing.assert_array_equal(h, ref.to(torch.float16).view(torch.int16).numpy().view(np.uint16))
    np.testing.assert_array_equal(b, ref.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))


def test_dequant_errors_name_the_problem(models, tmp_path):
    path, _ = models["Q8_0"]
    proc = run("dequant", path, "t.Q8_O", "-o", tmp_path / "x", check=False)
    assert proc.returncode == 1
    assert "'t.Q8_O'" in proc.stderr and "did you mean: t.Q8_0" in proc.stderr, proc.stderr
    assert str(path) in proc.stderr
    assert not (tmp_path / "x").exists()
    proc = run("dequant", tmp_path / "absent.gguf", "t", "-o", tmp_path / "x", check=False)
    assert proc.returncode == 1 and "absent.gguf" in proc.stderr
    proc = run("dequant", path, "t.F32", "-o", tmp_path / "x", "--dtype", "f8", check=False)
    assert proc.returncode == 2 and "'f8'" in proc.stderr
    proc = run("dequant", path, "t.F32", check=False)
    assert proc.returncode == 2 and "-o" in proc.stderr


def test_dequant_over_its_own_input_leaves_no_partial_file(models, tmp_path):
    # OUT is written beside itself and renamed at the end: naming the (memory-mapped) input as
    # OUT cannot truncate it under its own reader (that was a SIGBUS and an empty model), and
    # the floats come out whole.
    src, _ = models["Q8_0"]
    copy = tmp_path / "model.gguf"
    copy.write_bytes(src.read_bytes())
    want = reference(src, "t.Q8_0")
    proc = run("dequant", copy, "t.Q8_0", "-o", copy, check=False)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.fromfile(copy, np.float32).reshape(want.shape), want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]  # no temporary left
