"""ovid-gguf quantize: per-tensor types exactly as documented (plain and --rules ovi), values close
to the originals when dequantized by gguf-py, metadata copied, file_type set, errors named."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from conftest import MIXES, expected_ovi_type, fields, ovi_layout, run

# Relative RMS error bounds for Gaussian data: about 1.4x what ggml's reference quantizers give
# (measured here on 64x512 N(0,1): Q8_0 0.0054, Q6_K 0.018, Q5_K 0.036, Q5_0 0.043, Q5_1 0.038,
# Q4_K 0.072, Q4_0 0.086, Q4_1 0.078, Q3_K 0.151, Q2_K 0.297, F16 2e-4, BF16 1.7e-3).
REL_RMS = {"Q8_0": 0.008, "Q6_K": 0.025, "Q5_K": 0.05, "Q5_0": 0.06, "Q5_1": 0.055,
           "Q4_K": 0.1, "Q4_0": 0.12, "Q4_1": 0.11, "Q3_K": 0.21, "Q2_K": 0.42,
           "F16": 5e-4, "BF16": 4e-3}


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A generic (non-Ovi) GGUF: 2-D tensors of several row lengths and float types, 1-D and 3-D
    tensors, and an already-quantized one."""
    rng = np.random.default_rng(5)
    tensors = {
        "w.f32": rng.standard_normal((8, 512)).astype(np.float32),
        "w.f16": rng.standard_normal((4, 256)).astype(np.float16),
        "w.row96": rng.standard_normal((6, 96)).astype(np.float32),  # not a K-quant row length
        "w.row100": rng.standard_normal((3, 100)).astype(np.float32),  # suits no block type
        "b.1d": rng.standard_normal(512).astype(np.float32),
        "c.3d": rng.standard_normal((2, 4, 256)).astype(np.float32),
        "w.bf16": rng.standard_normal((4, 256)).astype(np.float32),
        "w.q8": rng.standard_normal((2, 256)).astype(np.float32),
    }
    path = tmp_path_factory.mktemp("plain") / "plain.gguf"
    w = GGUFWriter(str(path), "test")
    w.add_string("test.note", "kept")
    w.add_uint32("general.file_type", 0)
    for name, a in tensors.items():
        if name == "w.bf16":
            w.add_tensor(name, quantize(a, Q.BF16), raw_dtype=Q.BF16)
        elif name == "w.q8":
            w.add_tensor(name, quantize(a, Q.Q8_0), raw_dtype=Q.Q8_0)
        else:
            w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    originals = {n: a.astype(np.float32) for n, a in tensors.items()}
    originals["w.bf16"] = dequantize(quantize(tensors["w.bf16"], Q.BF16), Q.BF16)
    return path, originals


def tensor_map(path):
    return {t.name: t for t in GGUFReader(path).tensors}


def values(t):
    shape = tuple(int(x) for x in reversed(t.shape))
    return dequantize(t.data, t.tensor_type).reshape(shape)


def rel_rms(x, ref):
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.sqrt(np.mean(ref ** 2)))


@pytest.mark.parametrize("mix", ["Q4_K_M", "Q8_0", "Q3_K_S", "Q5_0", "F16"])
def test_without_rules_every_suitable_2d_float_tensor_converts(plain_model, tmp_path, mix):
    src, originals = plain_model
    out = tmp_path / "q.gguf"
    proc = run("quantize", src, out, "--type", mix, "--threads", 2)
    base = MIXES[mix][0]
    block = {"Q8_0": 32, "Q5_0": 32, "F16": 1}.get(base, 256)
    got = tensor_map(out)
    source_types = {n: t.tensor_type for n, t in tensor_map(src).items()}
    for name, t in got.items():
        ne = [int(x) for x in t.shape]
        eligible = (source_types[name] in (Q.F32, Q.F16, Q.BF16) and len(ne) == 2
                    and ne[0] % block == 0)
        want = Q[base] if eligible else source_types[name]
        assert t.tensor_type == want, (name, t.tensor_type, want)
        if eligible:
            assert rel_rms(values(t), originals[name]) < REL_RMS[base], name
        else:
            assert t.data.tobytes() == tensor_map(src)[name].data.tobytes(), name
    meta = fields(GGUFReader(out))
    assert meta["test.note"] == "kept"
    assert meta["general.architecture"] == "test"
    assert meta["general.file_type"] == MIXES[mix][2]
    if base != "F16":
        assert meta["general.quantization_version"] == 2
    assert base.lower().replace("_k", "_K") in proc.stdout  # the per-type summary


def test_legacy_types_match_gguf_py_quantizer_bytes(plain_model, tmp_path):
    src, originals = plain_model
    for mix in ("Q8_0", "Q4_0", "Q5_1"):
        out = tmp_path / f"{mix}.gguf"
        run("quantize", src, out, "--type", mix)
        t = tensor_map(out)["w.f32"]
        assert t.data.tobytes() == quantize(originals["w.f32"], Q[mix]).tobytes(), mix


@pytest.mark.parametrize("mix", ["Q4_K_M", "Q3_K_M", "Q5_K_S", "Q2_K", "Q8_0"])
def test_ovi_rules_types_per_tensor_as_documented(tiny_synth_bf16, tmp_path, mix):
    out = tmp_path / "q.gguf"
    run("quantize", tiny_synth_bf16, out, "--type", mix, "--rules", "ovi")
    layout = ovi_layout()
    src = tensor_map(tiny_synth_bf16)
    got = tensor_map(out)
    assert set(got) == set(layout)
    counts = {}
    for name, t in got.items():
        want = expected_ovi_type(name, layout[name][1], mix, "BF16")
        assert t.tensor_type.name == want, (name, t.tensor_type.name, want)
        counts[want] = counts.get(want, 0) + 1
        if want == "BF16":
            assert t.data.tobytes() == src[name].data.tobytes(), name
    assert sum(counts.values()) == 237
    # One sample weight of each quantized type is close to the BF16 original.
    checked = set()
    for name, t in got.items():
        if t.tensor_type.name != "BF16" and t.tensor_type.name not in checked:
            checked.add(t.tensor_type.name)
            assert rel_rms(values(t), values(src[name])) < REL_RMS[t.tensor_type.name], name
    assert fields(GGUFReader(out))["general.file_type"] == MIXES[mix][2]
    assert fields(GGUFReader(out))["ovi.synth.seed"] == 3  # metadata copied


def test_thread_count_does_not_change_the_bytes(tiny_synth_bf16, tmp_path):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    run("quantize", tiny_synth_bf16, a, "--type", "Q4_K_M", "--rules", "ovi", "--threads", 1)
    run("quantize", tiny_synth_bf16, b, "--type", "Q4_K_M", "--rules", "ovi", "--threads", 2)
    assert a.read_bytes() == b.read_bytes()


def test_quantize_errors_name_the_problem(plain_model, tmp_path):
    src, _ = plain_model
    proc = run("quantize", src, tmp_path / "o.gguf", "--type", "Q4_K_X", check=False)
    assert proc.returncode == 2 and "'Q4_K_X'" in proc.stderr
    proc = run("quantize", tmp_path / "missing.gguf", tmp_path / "o.gguf", "--type", "Q4_K",
               check=False)
    assert proc.returncode == 1 and "missing.gguf" in proc.stderr
    proc = run("quantize", src, tmp_path / "o.gguf", "--type", "Q4_K", "--rules", "llama",
               check=False)
    assert proc.returncode == 2 and "'llama'" in proc.stderr
    proc = run("quantize", src, tmp_path / "o.gguf", check=False)
    assert proc.returncode == 2 and "--type" in proc.stderr
    assert not (tmp_path / "o.gguf").exists()


def test_requantizing_copies_quantized_tensors_and_keeps_the_label(tiny_synth_bf16, tmp_path):
    # "Q4_K_M as Q8_0" converts nothing but the float tensors; the label said Q8_0 (7) over a file
    # of q4_K/q6_K tensors.
    q4 = tmp_path / "q4.gguf"
    run("quantize", tiny_synth_bf16, q4, "--type", "Q4_K_M", "--rules", "ovi")
    again = tmp_path / "again.gguf"
    proc = run("quantize", q4, again, "--type", "Q8_0")
    assert "are quantized already (54 q4_K, 18 q6_K) and are copied unchanged" in proc.stderr
    assert "general.file_type keeps the input's value (15)" in proc.stderr
    before, after = GGUFReader(str(q4)), GGUFReader(str(again))
    assert fields(after)["general.file_type"] == fields(before)["general.file_type"] == 15
    kinds = {t.name: t.tensor_type for t in before.tensors}
    for t in after.tensors:
        if kinds[t.name] in (Q.Q4_K, Q.Q6_K):
            assert t.tensor_type == kinds[t.name], t.name
    # From float weights there is nothing to note.
    plain = run("quantize", tiny_synth_bf16, tmp_path / "q8.gguf", "--type", "Q8_0")
    assert "note" not in plain.stderr


def write_gguf(path, tensors):
    """A GGUF of {name: (array, raw ggml type or None for the array's own)}, no metadata."""
    w = GGUFWriter(str(path), "test")
    for name, (data, raw) in tensors.items():
        if raw is None:
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_values_past_f16s_range_are_counted_when_they_become_inf(tmp_path):
    a = np.full((4, 256), 1e6, np.float32)
    a[0, :10] = 1.0
    a[1, 0] = 65519.0   # rounds down to 65504, F16's largest
    a[1, 1] = -65520.0  # halfway to the next step: rounds to -inf
    src = write_gguf(tmp_path / "big.gguf", {"big.weight": (a, None)})
    out = tmp_path / "f16.gguf"
    proc = run("quantize", src, out, "--type", "F16")
    assert "tensor 'big.weight': 1013 finite values are beyond F16's range" in proc.stderr
    got = GGUFReader(str(out)).tensors[0].data.astype(np.float32).reshape(4, 256)
    assert np.isinf(got).sum() == 1013
    assert got[1, 0] == 65504.0 and got[1, 1] == -np.inf


def test_a_requantized_file_without_a_label_gets_none(tmp_path):
    # Mostly Q8_0 tensors already and no general.file_type: claiming the requested type would be
    # wrong, so the key is left out.
    a = np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32)
    tensors = {f"q{i}.weight": (quantize(a, Q.Q8_0), Q.Q8_0) for i in range(3)}
    src = write_gguf(tmp_path / "q8_nolabel.gguf", {**tensors, "f.weight": (a, None)})
    out = tmp_path / "out.gguf"
    proc = run("quantize", src, out, "--type", "Q4_K_M")
    assert "general.file_type is left out (the input has none)" in proc.stderr
    assert "general.file_type" not in fields(GGUFReader(str(out)))
