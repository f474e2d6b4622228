"""Files written by the `safetensors` package read back exactly through SafetensorsFile
(via the safetensors_dump helper): names, dtypes, shapes, bytes; corrupt files fail by name."""
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

BIN = Path(os.environ["OVID_BIN"])

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
}


def dump(path):
    out = subprocess.run([BIN / "safetensors_dump", str(path)], capture_output=True, text=True)
    return out


def sample_tensors():
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for i, dtype in enumerate(DTYPES):
        shape = [(2, 3), (5,), (1, 2, 2), (0, 4), (3, 1, 1, 2)][i % 5]
        base = torch.randn(*shape, generator=g) * 10
        tensors[f"blocks.{i}.weight"] = base > 0 if dtype == torch.bool else base.to(dtype)
    tensors["scalar"] = torch.tensor(1.25)
    return tensors


def test_safetensors_package_file_reads_back(tmp_path):
    path = tmp_path / "model.safetensors"
    tensors = sample_tensors()
    save_file(tensors, str(path), metadata={"format": "pt", "note": "ovid"})
    out = dump(path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    raw = path.read_bytes()
    assert got["metadata"] == {"format": "pt", "note": "ovid"}
    assert sorted(t["name"] for t in got["tensors"]) == sorted(tensors)
    for t in got["tensors"]:
        ref = tensors[t["name"]]
        assert t["dtype"] == DTYPES[ref.dtype]
        assert t["shape"] == list(ref.shape)
        assert t["n_elements"] == ref.numel()
        data = ref.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
        assert t["nbytes"] == len(data)
        assert raw[t["file_offset"]:t["file_offset"] + t["nbytes"]] == data


def write_raw(path, header, data=b""):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


@pytest.mark.parametrize("case,header,data,fragment", [
    ("bad_dtype", {"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 2]}}, b"..",
     "unknown dtype 'Q4'"),
    ("mismatch", {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"x" * 8,
     "tensor 'w'"),
    ("past_end", {"w": {"dtype": "U8", "shape": [16], "data_offsets": [0, 16]}}, b"x" * 8,
     "data_offsets [0, 16)"),
])
def test_corrupt_files_fail_by_name(tmp_path, case, header, data, fragment):
    path = tmp_path / f"{case}.safetensors"
    write_raw(path, header, data)
    out = dump(path)
    assert out.returncode == 1
    assert str(path) in out.stderr and fragment in out.stderr


def test_truncated_package_file(tmp_path):
    path = tmp_path / "cut.safetensors"
    save_file({"w": torch.zeros(64)}, str(path))
    path.write_bytes(path.read_bytes()[:-10])
    out = dump(path)
    assert out.returncode == 1
    assert "tensor 'w'" in out.stderr and "data section" in out.stderr
    path.write_bytes(path.read_bytes()[:20])
    out = dump(path)
    assert out.returncode == 1 and "past the end of the file" in out.stderr
