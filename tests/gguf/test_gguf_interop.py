"""GGUF interop with gguf-py (the reference reader/writer).

1. Files written by gguf.GGUFWriter read back exactly through `ovid-gguf inspect --json`:
   metadata types and values (nested arrays too), tensor infos, and the tensor bytes at the
   absolute offsets inspect reports.
2. The sample file written by ovid's GgufWriter (tests/gguf/sample_gguf.cc) reads back exactly
   through gguf.GGUFReader.
"""
import json
import os
import subprocess
from pathlib import Path

import gguf
import numpy as np
import pytest

BIN = Path(os.environ["OVID_BIN"])
VT = gguf.GGUFValueType
QT = gguf.GGMLQuantizationType


def inspect_json(path):
    out = subprocess.run([BIN / "ovid-gguf", "inspect", str(path), "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# (key, value, type, sub_type) written with GGUFWriter.add_key_value.
GGUF_PY_METADATA = [
    ("test.u8", 255, VT.UINT8, None),
    ("test.i8", -128, VT.INT8, None),
    ("test.u16", 65535, VT.UINT16, None),
    ("test.i16", -32768, VT.INT16, None),
    ("test.u32", 4294967295, VT.UINT32, None),
    ("test.i32", -2147483648, VT.INT32, None),
    ("test.f32", 0.1, VT.FLOAT32, None),
    ("test.bool", True, VT.BOOL, None),
    ("test.string", "Ovi \u2014 video+audio \U0001F3AC", VT.STRING, None),
    ("test.u64", 2**64 - 1, VT.UINT64, None),
    ("test.i64", -(2**63), VT.INT64, None),
    ("test.f64", 1.0 / 3.0, VT.FLOAT64, None),
    ("test.arr_u8", [0, 1, 254], VT.ARRAY, VT.UINT8),
    ("test.arr_i16", [-5, 5], VT.ARRAY, VT.INT16),
    ("test.arr_u64", [2**63, 1], VT.ARRAY, VT.UINT64),
    ("test.arr_f32", [0.25, -1e30, 3.5], VT.ARRAY, VT.FLOAT32),
    ("test.arr_f64", [1e-300, 2.5], VT.ARRAY, VT.FLOAT64),
    ("test.arr_bool", [True, False, True], VT.ARRAY, VT.BOOL),
    ("test.arr_str", ["<s>", "", "\u00e9t\u00e9"], VT.ARRAY, VT.STRING),
    ("test.nested_int", [[1, 2, 3], [4]], VT.ARRAY, VT.ARRAY),
    ("test.nested_str", [["a"], ["b", "c"]], VT.ARRAY, VT.ARRAY),
    ("test.nested3", [[[1.5]], [[2.5, 3.5]]], VT.ARRAY, VT.ARRAY),
]


def expected_json_value(value, vtype, sub_type):
    """What inspect --json must print for a value gguf-py wrote (see README.md, "inspect --json")."""
    if vtype == VT.FLOAT32:
        return float(np.float32(value))
    if vtype != VT.ARRAY:
        return value
    if sub_type == VT.ARRAY:
        # gguf-py types each inner array from its first element.
        out = []
        for inner in value:
            inner_type = VT.get_type(inner[0])
            out.append({"elem_type": inner_type.name,
                        "value": expected_json_value(
                            inner, VT.ARRAY, VT.ARRAY if inner_type == VT.ARRAY else inner_type)})
        return out
    return [expected_json_value(v, sub_type, None) for v in value]


def tensor_bytes(seed, n):
    return np.random.default_rng(seed).integers(0, 256, size=n, dtype=np.uint8)


# (name, ggml type, torch-order shape); data are random bytes of the right size.
GGUF_PY_TENSORS = [
    ("blk.0.f32", QT.F32, (3, 8)),
    ("blk.0.f16", QT.F16, (2, 4, 8)),
    ("blk.0.bf16", QT.BF16, (16,)),
    ("blk.0.q8_0", QT.Q8_0, (4, 64)),
    ("blk.0.q4_k", QT.Q4_K, (2, 512)),
    ("blk.0.q6_k", QT.Q6_K, (1, 256)),
]


def write_with_gguf_py(path, alignment=None, endianess=gguf.GGUFEndian.LITTLE):
    w = gguf.GGUFWriter(str(path), arch="ovi-test", endianess=endianess)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, value, vtype, sub_type in GGUF_PY_METADATA:
        w.add_key_value(key, value, vtype, sub_type)
    datas = {}
    for i, (name, qtype, shape) in enumerate(GGUF_PY_TENSORS):
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        byte_shape = (*shape[:-1], shape[-1] // block * type_size)
        raw = tensor_bytes(i, int(np.prod(byte_shape))).reshape(byte_shape)
        if qtype == QT.F32:
            w.add_tensor(name, raw.view(np.float32))
        elif qtype == QT.F16:
            w.add_tensor(name, raw.view(np.float16))
        else:
            w.add_tensor(name, raw, raw_dtype=qtype)
        datas[name] = raw.tobytes()
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return datas


@pytest.mark.parametrize("alignment", [None, 64])
def test_gguf_py_file_reads_back_exactly(tmp_path, alignment):
    path = tmp_path / "from_gguf_py.gguf"
    datas = write_with_gguf_py(path, alignment)
    got = inspect_json(path)
    raw = path.read_bytes()
    assert got["version"] == 3
    assert got["alignment"] == (alignment or 32)
    assert got["file_size"] == len(raw)

    meta = {m["key"]: m for m in got["metadata"]}
    assert meta["general.architecture"] == {"key": "general.architecture", "type": "STRING",
                                            "value": "ovi-test"}
    for key, value, vtype, sub_type in GGUF_PY_METADATA:
        m = meta[key]
        assert m["type"] == vtype.name, key
        if vtype == VT.ARRAY:
            assert m["elem_type"] == sub_type.name, key
        assert m["value"] == expected_json_value(value, vtype, sub_type), key
    if alignment:
        assert meta["general.alignment"]["type"] == "UINT32"
        assert meta["general.alignment"]["value"] == alignment

    reader = gguf.GGUFReader(str(path))
    ref = {t.name: t for t in reader.tensors}
    assert [t["name"] for t in got["tensors"]] == [n for n, _, _ in GGUF_PY_TENSORS]
    for t, (name, qtype, shape) in zip(got["tensors"], GGUF_PY_TENSORS):
        assert t["type"].upper() == qtype.name
        assert t["type_id"] == int(qtype)
        assert tuple(t["shape"]) == shape
        assert t["ne"] == list(reversed(shape))
        assert t["n_elements"] == int(np.prod(shape))
        assert t["nbytes"] == len(datas[name])
        assert t["file_offset"] == ref[name].data_offset
        assert t["file_offset"] % (alignment or 32) == 0
        assert raw[t["file_offset"]:t["file_offset"] + t["nbytes"]] == datas[name]

    per_type = {p["type"].upper(): p for p in got["totals_per_type"]}
    for _, qtype, _ in GGUF_PY_TENSORS:
        names = [n for n, q, _ in GGUF_PY_TENSORS if q == qtype]
        assert per_type[qtype.name]["tensors"] == len(names)
        assert per_type[qtype.name]["nbytes"] == sum(len(datas[n]) for n in names)
    total_elems = sum(int(np.prod(s)) for _, _, s in GGUF_PY_TENSORS)
    assert got["totals"]["n_elements"] == total_elems
    assert got["totals"]["bf16_nbytes"] == 2 * total_elems
    assert got["totals"]["nbytes"] == sum(len(d) for d in datas.values())


def test_big_endian_gguf_py_file_is_refused_by_name(tmp_path):
    path = tmp_path / "big_endian.gguf"
    w = gguf.GGUFWriter(str(path), arch="ovi-test", endianess=gguf.GGUFEndian.BIG)
    w.add_uint32("test.u32", 7)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = subprocess.run([BIN / "ovid-gguf", "inspect", str(path)], capture_output=True, text=True)
    assert out.returncode == 1
    assert str(path) in out.stderr
    assert "big-endian" in out.stderr
    assert "byte offset 4" in out.stderr


def test_inspect_human_output_and_usage(tmp_path):
    path = tmp_path / "h.gguf"
    write_with_gguf_py(path)
    out = subprocess.run([BIN / "ovid-gguf", "inspect", str(path)], capture_output=True,
                         text=True, check=True).stdout
    for name, _, _ in GGUF_PY_TENSORS:
        assert name in out
    assert "test.nested_str" in out and "totals per type" in out and "in bf16" in out
    usage = subprocess.run([BIN / "ovid-gguf", "inspect"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    missing = subprocess.run([BIN / "ovid-gguf", "inspect", str(tmp_path / "nope.gguf")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "nope.gguf" in missing.stderr


# ---- 2. ovid's writer -> gguf-py ---------------------------------------------------------------

# The sample of tests/gguf/sample_gguf.cc, described independently: (key, type, value).
# Nested arrays are (elem_type, [items]) pairs.
SAMPLE_METADATA = [
    ("general.architecture", VT.STRING, "ovi-test"),
    ("test.u8", VT.UINT8, 200),
    ("test.i8", VT.INT8, -100),
    ("test.u16", VT.UINT16, 60000),
    ("test.i16", VT.INT16, -30000),
    ("test.u32", VT.UINT32, 4000000000),
    ("test.i32", VT.INT32, -2000000000),
    ("test.f32", VT.FLOAT32, float(np.float32(3.14159274))),
    ("test.bool_true", VT.BOOL, True),
    ("test.bool_false", VT.BOOL, False),
    ("test.string", VT.STRING, "hello, ovid \u2713"),
    ("test.u64", VT.UINT64, 2**64 - 1),
    ("test.i64", VT.INT64, -(2**63)),
    ("test.f64", VT.FLOAT64, 2.718281828459045),
    ("test.arr_u8", VT.ARRAY, (VT.UINT8, [1, 2, 255])),
    ("test.arr_i32", VT.ARRAY, (VT.INT32, [-1, 7])),
    ("test.arr_f32", VT.ARRAY, (VT.FLOAT32, [0.5, -2.25])),
    ("test.arr_str", VT.ARRAY, (VT.STRING, ["a", "bc", ""])),
    ("test.arr_bool", VT.ARRAY, (VT.BOOL, [True, False])),
    ("test.arr_empty", VT.ARRAY, (VT.UINT32, [])),
    ("test.nested_i16", VT.ARRAY, (VT.ARRAY, [(VT.INT16, [1, -2]), (VT.INT16, [3])])),
    ("test.nested_str", VT.ARRAY, (VT.ARRAY, [(VT.STRING, ["x"]), (VT.STRING, ["y", "z"])])),
    ("test.nested3", VT.ARRAY, (VT.ARRAY, [(VT.ARRAY, [(VT.UINT64, [42])])])),
]
# (name, type, ne in ggml order)
SAMPLE_TENSORS = [
    ("t.f32", QT.F32, [8, 4]),
    ("t.f16", QT.F16, [16, 2]),
    ("t.bf16", QT.BF16, [32]),
    ("t.q4_0", QT.Q4_0, [64, 2]),
    ("t.q8_0", QT.Q8_0, [32, 3]),
    ("t.q4_k", QT.Q4_K, [256, 2]),
    ("t.q6_k", QT.Q6_K, [512]),
    ("patch_embedding.weight", QT.F32, [2, 2, 1, 3, 4]),
]


def decode_parts(parts, i, vtype):
    """Decodes one value from a gguf-py ReaderField's raw parts, returning (value, next index).
    gguf-py flattens nested arrays in field.contents(), so the parts are walked instead."""
    if vtype == VT.STRING:
        return bytes(parts[i + 1]).decode("utf-8"), i + 2
    if vtype == VT.ARRAY:
        elem = VT(int(parts[i][0]))
        count = int(parts[i + 1][0])
        i += 2
        items = []
        for _ in range(count):
            item, i = decode_parts(parts, i, elem)
            items.append(item)
        return (elem, items), i
    value = parts[i][0].item()
    return (bool(value) if vtype == VT.BOOL else value), i + 1


@pytest.mark.parametrize("alignment", [32, 64])
def test_ovid_written_file_reads_back_in_gguf_py(tmp_path, alignment):
    path = tmp_path / "sample.gguf"
    subprocess.run([BIN / "write_sample_gguf", str(path), str(alignment)], check=True)
    reader = gguf.GGUFReader(str(path))
    fields = dict(reader.fields)
    if alignment != 32:
        assert fields.pop("general.alignment").contents() == alignment
    # gguf-py adds pseudo-fields for the header; they must match too.
    assert fields.pop("GGUF.version").contents() == 3
    assert fields.pop("GGUF.tensor_count").contents() == len(SAMPLE_TENSORS)
    assert fields.pop("GGUF.kv_count").contents() == len(SAMPLE_METADATA) + (alignment != 32)
    assert list(fields) == [k for k, _, _ in SAMPLE_METADATA]
    for key, vtype, value in SAMPLE_METADATA:
        field = fields[key]
        assert field.types[0] == vtype, key
        decoded, end = decode_parts(field.parts, 3, vtype)
        assert end == len(field.parts), key
        assert decoded == value, key

    assert reader.alignment == alignment
    assert [t.name for t in reader.tensors] == [n for n, _, _ in SAMPLE_TENSORS]
    for index, (t, (name, qtype, ne)) in enumerate(zip(reader.tensors, SAMPLE_TENSORS)):
        assert t.tensor_type == qtype
        assert list(t.shape) == ne
        assert t.n_elements == int(np.prod(ne))
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        nbytes = t.n_elements // block * type_size
        assert t.n_bytes == nbytes
        assert t.data_offset % alignment == 0
        expected = ((131 * np.arange(nbytes, dtype=np.uint64) + 17 * index + 7) % 256)
        assert np.asarray(t.data).view(np.uint8).tobytes() == expected.astype(np.uint8).tobytes()
    assert path.stat().st_size % alignment == 0


def test_the_inspect_table_escapes_control_bytes_of_the_file(tmp_path):
    """A string of the file is one row of the table: a NUL cut the line short, a newline faked a
    row of its own, and escape sequences reached the terminal."""
    path = tmp_path / "strings.gguf"
    w = gguf.GGUFWriter(str(path), "test")
    w.add_string("general.name", "abc\x00def")
    w.add_string("general.description", "line1\nspoofed.key UINT32 42\x1b[2J")
    w.add_string("general.license", "c1\u009b2J")  # CSI as a C1 control, in UTF-8
    w.add_tensor("t\x07.weight", np.zeros((2, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = subprocess.run([BIN / "ovid-gguf", "inspect", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert '"abc\\x00def"' in out
    assert '"line1\\x0aspoofed.key UINT32 42\\x1b[2J"' in out
    assert "t\\x07.weight" in out
    assert '"c1\\u009b2J"' in out and "\u009b" not in out
    assert not any(line.startswith("spoofed.key") for line in out.splitlines())
    assert "\x1b" not in out and "\x07" not in out
