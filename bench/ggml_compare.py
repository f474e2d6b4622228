#!/usr/bin/env python3
"""Byte-for-byte comparison of ovid's CPU kernels with a locally built ggml (not a test).

    ggml_compare.py LIBGGML_BASE_SO [--bin BUILD/bin] [--rows N] [--seed S]

LIBGGML_BASE_SO is libggml-base.so from any ggml checkout built outside this repository
(for example `cmake -B build -DBUILD_SHARED_LIBS=ON && cmake --build build --target ggml-base`).
Through ctypes it calls ggml_quantize_chunk (no importance matrix, i.e. quantize_row_*_ref) and
each type's to_float, and reports per type and data distribution how many blocks ovid's
quantizers produce identical to ggml's, and whether ovid's dequantization of random blocks
(finite, NaN and Inf scales) is bit-identical to ggml's.
"""

import argparse
import ctypes
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# name: (ggml id, block size, type size, f16 scale offsets)
TYPES = {
    "q4_0": (2, 32, 18, (0,)), "q4_1": (3, 32, 20, (0, 2)), "q5_0": (6, 32, 22, (0,)),
    "q5_1": (7, 32, 24, (0, 2)), "q8_0": (8, 32, 34, (0,)), "q2_K": (10, 256, 84, (80, 82)),
    "q3_K": (11, 256, 110, (108,)), "q4_K": (12, 256, 144, (0, 2)),
    "q5_K": (13, 256, 176, (0, 2)), "q6_K": (14, 256, 210, (208,)),
}


class TypeTraits(ctypes.Structure):  # struct ggml_type_traits (ggml.h)
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def load_ggml(path):
    lib = ctypes.CDLL(path)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                        ctypes.c_void_p]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    return lib


def ggml_quantize(lib, tid, x):
    rows, n = x.shape
    _, bs, ts, _ = next(v for v in TYPES.values() if v[0] == tid)
    out = np.zeros(rows * n // bs * ts, dtype=np.uint8)
    src = np.ascontiguousarray(x, dtype=np.float32)
    got = lib.ggml_quantize_chunk(tid, src.ctypes.data, out.ctypes.data, 0, rows, n, None)
    assert got == out.size, f"ggml_quantize_chunk wrote {got} bytes, expected {out.size}"
    return out.reshape(-1, ts)


def ggml_dequantize(lib, tid, blocks, n):
    out = np.empty(n, dtype=np.float32)
    TO_FLOAT(lib.ggml_get_type_traits(tid).contents.to_float)(blocks.ctypes.data,
                                                              out.ctypes.data, n)
    return out


def ovid(bin_dir, *args):
    subprocess.run([str(Path(bin_dir) / "ovid-blocks-cli"), *map(str, args)], check=True)


def distributions(rng, rows, n):
    normal = rng.standard_normal((rows, n)).astype(np.float32)
    spikes = rng.random((rows, n)) < 0.01
    zero_rows = normal.copy()
    zero_rows[::7] = 0
    return {
        "normal": normal,
        "weights(0.02)": (normal * np.float32(0.02)).astype(np.float32),
        "uniform": rng.uniform(-1, 3, (rows, n)).astype(np.float32),
        "outliers": np.where(spikes, normal * 50, normal).astype(np.float32),
        "zero_rows": zero_rows,
    }


def random_blocks(rng, name, n_blocks):
    _, _, ts, offsets = TYPES[name]
    data = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
    for off in offsets:
        s = rng.standard_normal(n_blocks).astype(np.float32)
        s *= np.exp2(rng.integers(-24, 12, n_blocks)).astype(np.float32)
        data[:, off:off + 2] = s.astype(np.float16).view(np.uint8).reshape(-1, 2)
        data[-4:, off:off + 2] = np.array([0x7E00, 0x7C00, 0xFC00, 0x8000],
                                          np.uint16).view(np.uint8).reshape(-1, 2)
    data[0] = 0
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libggml")
    parser.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lib = load_ggml(args.libggml)
    rng = np.random.default_rng(args.seed)
    n = 4096
    data = distributions(rng, args.rows, n)
    print(f"{'type':5} {'distribution':14} {'blocks':>7} {'identical':>10}")
    totals = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, (tid, bs, ts, _) in TYPES.items():
            for dist, x in data.items():
                x.tofile(tmp / "x.f32")
                ovid(args.bin, "quantize", name, tmp / "x.f32", tmp / "q.bin")
                ours = np.fromfile(tmp / "q.bin", np.uint8).reshape(-1, ts)
                theirs = ggml_quantize(lib, tid, x)
                same = int(np.all(ours == theirs, axis=1).sum())
                t = totals.setdefault(name, [0, 0])
                t[0] += same
                t[1] += len(ours)
                print(f"{name:5} {dist:14} {len(ours):7d} {100 * same / len(ours):9.3f}%")
        print("\nquantize, all distributions:")
        for name, (same, total) in totals.items():
            print(f"  {name:5} {same}/{total} blocks identical ({100 * same / total:.3f}%)")
        print("\ndequantize f32 of random blocks (incl. NaN/Inf/zero scales) vs ggml to_float:")
        for name, (tid, bs, ts, _) in TYPES.items():
            blocks = random_blocks(rng, name, 4096)
            blocks.tofile(tmp / "b.bin")
            ovid(args.bin, "dequant", name, "f32", tmp / "b.bin", tmp / "y.f32")
            ours = np.fromfile(tmp / "y.f32", np.float32)
            with np.errstate(all="ignore"):
                theirs = ggml_dequantize(lib, tid, blocks, ours.size)
            nan_same = np.array_equal(np.isnan(ours), np.isnan(theirs))
            ok = ~np.isnan(theirs)
            diff = int((ours.view(np.uint32)[ok] != theirs.view(np.uint32)[ok]).sum())
            print(f"  {name:5} {ours.size} values: {diff} differ, NaN positions "
                  f"{'equal' if nan_same else 'DIFFER'}")


if __name__ == "__main__":
    main()
