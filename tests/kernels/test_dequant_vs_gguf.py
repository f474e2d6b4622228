"""ovid's CPU dequantization against gguf-py's numpy reference (bit-exact with ggml's C).

Random blocks for every supported type: random bytes with finite f16 scales written into the
d/dmin slots, plus blocks with NaN/Inf scales, all-zero blocks and negative scales. The f32
output must equal gguf.quants.dequantize bit for bit; the f16/bf16 outputs must equal that f32
result rounded to nearest even (by this file's own numpy helpers). NaN must sit exactly where
the reference has NaN.
"""

import os
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import quants

CLI = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-blocks-cli"

# name: (gguf enum, block size, type size, byte offsets of the f16 scales in a block)
TYPES = {
    "f32": (Q.F32, 1, 4, ()),
    "f16": (Q.F16, 1, 2, ()),
    "bf16": (Q.BF16, 1, 2, ()),
    "q4_0": (Q.Q4_0, 32, 18, (0,)),
    "q4_1": (Q.Q4_1, 32, 20, (0, 2)),
    "q5_0": (Q.Q5_0, 32, 22, (0,)),
    "q5_1": (Q.Q5_1, 32, 24, (0, 2)),
    "q8_0": (Q.Q8_0, 32, 34, (0,)),
    "q2_K": (Q.Q2_K, 256, 84, (80, 82)),
    "q3_K": (Q.Q3_K, 256, 110, (108,)),
    "q4_K": (Q.Q4_K, 256, 144, (0, 2)),
    "q5_K": (Q.Q5_K, 256, 176, (0, 2)),
    "q6_K": (Q.Q6_K, 256, 210, (208,)),
}

N_BLOCKS = 1024  # per type; K-quants give 256 Ki values


def round_f32_to_bf16(x):
    """RNE fp32 -> bf16 bits; NaN keeps its sign and gets the quiet bit."""
    u = x.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = ((u >> 16) | 0x40).astype(np.uint16)
    return np.where((u & 0x7FFFFFFF) > 0x7F800000, nan, rounded)


def round_f32_to_f16(x):
    """RNE fp32 -> f16 bits from the bit pattern (normal, subnormal, overflow, NaN)."""
    u = x.view(np.uint32).astype(np.int64)
    sign = (u >> 16) & 0x8000
    a = u & 0x7FFFFFFF
    # Normal results: rebias the exponent and round away 13 bits.
    r = a - (112 << 23)
    k = r >> 13
    rem = r & 0x1FFF
    normal = k + ((rem > 0x1000) | ((rem == 0x1000) & ((k & 1) == 1)))
    # Subnormal results: shift the full significand right by (126 - e), rounding to even.
    e = a >> 23
    m = (a & 0x7FFFFF) | 0x800000
    shift = np.clip(126 - e, 1, 40)
    ks = m >> shift
    rs = m & ((1 << shift) - 1)
    halfway = 1 << (shift - 1)
    sub = ks + ((rs > halfway) | ((rs == halfway) & ((ks & 1) == 1)))
    h = np.where(a < 0x38800000, sub, normal)
    h = np.where(a >= 0x477FF000, 0x7C00, h)
    h = np.where(a > 0x7F800000, 0x7E00, h)
    return (sign | h).astype(np.uint16)


def random_blocks(name, rng):
    qtype, bs, ts, scale_offsets = TYPES[name]
    if name == "f32":
        v = rng.standard_normal(N_BLOCKS * 256).astype(np.float32)
        v *= np.exp2(rng.integers(-20, 20, v.size)).astype(np.float32)
        v[:3] = [np.nan, np.inf, -np.inf]
        return v.view(np.uint8).reshape(-1, 4)
    if name in ("f16", "bf16"):
        raw = rng.integers(0, 65536, N_BLOCKS * 256, dtype=np.uint16)  # includes NaN/Inf
        return raw.view(np.uint8).reshape(-1, 2)
    data = rng.integers(0, 256, (N_BLOCKS, ts), dtype=np.uint8)
    n_special = 8
    for off in scale_offsets:
        # Finite scales over a wide range, both signs, subnormal halves included.
        s = rng.standard_normal(N_BLOCKS).astype(np.float32)
        s *= np.exp2(rng.integers(-24, 12, N_BLOCKS)).astype(np.float32)
        data[:, off:off + 2] = s.astype(np.float16).view(np.uint8).reshape(-1, 2)
        # Special blocks at the end: NaN, +Inf, -Inf, negative zero, smallest subnormal.
        specials = np.array([0x7E00, 0x7C00, 0xFC00, 0x8000, 0x0001, 0xFE01, 0xBC00, 0x3C00],
                            dtype=np.uint16)
        data[-n_special:, off:off + 2] = specials.view(np.uint8).reshape(-1, 2)
    data[0] = 0  # an all-zero block
    return data


def run_cli(*args):
    res = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res


def assert_same_bits(got, want, what):
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    assert np.array_equal(got_nan, want_nan), f"{what}: NaN positions differ"
    ok = ~want_nan
    bad = np.flatnonzero(got.view(np.uint32 if got.dtype == np.float32 else np.uint16)[ok]
                         != want.view(np.uint32 if want.dtype == np.float32 else np.uint16)[ok])
    assert bad.size == 0, f"{what}: {bad.size} values differ, first at {bad[:5]}"


def test_rounding_helpers_agree_with_numpy_float16():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = x[np.isfinite(x)]
    with np.errstate(over="ignore"):  # numpy warns when rounding overflows to Inf
        want = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(round_f32_to_f16(x), want)
    ties = np.array([1 + 2**-11, 1 + 3 * 2**-11, 2**-25, 3 * 2**-25, 65520, 65519.996],
                    dtype=np.float32)
    np.testing.assert_array_equal(round_f32_to_f16(ties),
                                  np.array([0x3C00, 0x3C02, 0, 2, 0x7C00, 0x7BFF], np.uint16))
    assert round_f32_to_bf16(np.array([0x3F808000, 0x3F818000], np.uint32).view(np.float32)
                             ).tolist() == [0x3F80, 0x3F82]


@pytest.mark.parametrize("name", list(TYPES))
def test_dequantize_matches_gguf_bit_exactly(name, tmp_path):
    qtype = TYPES[name][0]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    data = random_blocks(name, rng)
    src = tmp_path / "blocks.bin"
    data.tofile(src)
    with np.errstate(all="ignore"):
        want = quants.dequantize(data.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
    for fmt, dtype in (("f32", np.float32), ("f16", np.uint16), ("bf16", np.uint16)):
        out = tmp_path / f"out.{fmt}"
        run_cli("dequant", name, fmt, src, out)
        got = np.fromfile(out, dtype=dtype)
        assert got.size == want.size, f"{name} {fmt}: {got.size} values, want {want.size}"
        if fmt == "f32":
            assert_same_bits(got, want, f"{name} f32")
        else:
            ref = round_f32_to_f16(want) if fmt == "f16" else round_f32_to_bf16(want)
            as_float = (got.view(np.float16).astype(np.float32) if fmt == "f16"
                        else (got.astype(np.uint32) << 16).view(np.float32))
            ref_float = (ref.view(np.float16).astype(np.float32) if fmt == "f16"
                         else (ref.astype(np.uint32) << 16).view(np.float32))
            assert np.array_equal(np.isnan(as_float), np.isnan(ref_float)), f"{name} {fmt} NaN"
            ok = ~np.isnan(ref_float)
            bad = np.flatnonzero(got[ok] != ref[ok])
            assert bad.size == 0, f"{name} {fmt}: {bad.size} values differ, first at {bad[:5]}"


def test_selected_rows_match_gguf(tmp_path):
    rng = np.random.default_rng(5)
    rows, row_elements = 16, 512
    data = random_blocks("q6_K", rng)[: rows * 2]
    data.tofile(tmp_path / "t.bin")
    ids = np.array([15, 2, 2, 0], dtype=np.int64)
    ids.tofile(tmp_path / "ids.bin")
    run_cli("rows", "q6_K", "f32", row_elements, tmp_path / "t.bin", tmp_path / "ids.bin",
            tmp_path / "out.bin")
    with np.errstate(all="ignore"):
        full = quants.dequantize(data.reshape(rows, -1), Q.Q6_K)
    got = np.fromfile(tmp_path / "out.bin", np.float32).reshape(len(ids), row_elements)
    np.testing.assert_array_equal(got.view(np.uint32), full[ids].view(np.uint32))


def test_cli_reports_bad_input(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\0" * 100)
    res = subprocess.run([str(CLI), "dequant", "q4_K", "f32", tmp_path / "x.bin",
                          tmp_path / "o.bin"], capture_output=True, text=True)
    assert res.returncode == 1 and "not a whole number of q4_K blocks" in res.stderr
    (tmp_path / "iq.bin").write_bytes(b"\0" * 66)  # one whole iq2_xxs block
    res = subprocess.run([str(CLI), "dequant", "iq2_xxs", "f32", tmp_path / "iq.bin",
                          tmp_path / "o.bin"], capture_output=True, text=True)
    assert res.returncode == 1 and "cannot dequantize type iq2_xxs" in res.stderr
    res = subprocess.run([str(CLI), "dequant", "q9_9", "f32", "a", "b"], capture_output=True,
                         text=True)
    assert res.returncode == 1 and "unknown ggml type 'q9_9'" in res.stderr
