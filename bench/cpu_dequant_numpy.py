#!/usr/bin/env python3
"""gguf-py's numpy dequantization timed on the shapes ovid-bench-cpu-dequant uses.

    cpu_dequant_numpy.py [--repeats N] [--ovid-json FILE]

Prints one JSON line per (type, output) with GB/s = (bytes read + bytes written) / best time.
With --ovid-json (Google Benchmark JSON from ovid-bench-cpu-dequant) it prints instead one
table with ovid's single- and multi-threaded numbers next to numpy's.
"""

import argparse
import json
import time

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import quants

ROWS, COLS = 2048, 4096  # keep in sync with kRows/kCols in cpu_dequant_bench.cc

# name: (gguf type, block size, type size, f16 scale offsets)
TYPES = {
    "f16": (Q.F16, 1, 2, ()), "bf16": (Q.BF16, 1, 2, ()),
    "q4_0": (Q.Q4_0, 32, 18, (0,)), "q4_1": (Q.Q4_1, 32, 20, (0, 2)),
    "q5_0": (Q.Q5_0, 32, 22, (0,)), "q5_1": (Q.Q5_1, 32, 24, (0, 2)),
    "q8_0": (Q.Q8_0, 32, 34, (0,)), "q2_K": (Q.Q2_K, 256, 84, (80, 82)),
    "q3_K": (Q.Q3_K, 256, 110, (108,)), "q4_K": (Q.Q4_K, 256, 144, (0, 2)),
    "q5_K": (Q.Q5_K, 256, 176, (0, 2)), "q6_K": (Q.Q6_K, 256, 210, (208,)),
}


def make_blocks(name, rng):
    """Random blocks with small finite scales (numpy's speed does not depend on the values)."""
    _, bs, ts, offsets = TYPES[name]
    if bs == 1:
        v = (rng.standard_normal((ROWS, COLS)) * 0.02).astype(np.float32)
        bits = v.astype(np.float16).view(np.uint16) if name == "f16" else (
            v.view(np.uint32) >> 16).astype(np.uint16)
        return bits.view(np.uint8).reshape(ROWS, COLS * 2)
    data = rng.integers(0, 256, (ROWS * COLS // bs, ts), dtype=np.uint8)
    for off in offsets:
        s = (rng.random(data.shape[0]) * 1e-3).astype(np.float16)
        data[:, off:off + 2] = s.view(np.uint8).reshape(-1, 2)
    return data.reshape(ROWS, -1)


def time_numpy(repeats):
    rng = np.random.default_rng(0)
    results = []
    for name, (qtype, _, _, _) in TYPES.items():
        data = make_blocks(name, rng)
        for out, convert in (("f32", None), ("f16", np.float16)):
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                y = quants.dequantize(data, qtype)
                if convert is not None:
                    y = y.astype(convert)
                best = min(best, time.perf_counter() - t0)
            moved = data.nbytes + y.nbytes
            results.append({"type": name, "out": out, "seconds": best, "gbps": moved / best / 1e9})
    return results


def ovid_numbers(path):
    with open(path) as f:
        doc = json.load(f)
    table = {}
    for b in doc["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration" or "bytes_per_second" not in b:
            continue
        # dequant/<type>/<out>/threads:<n>/real_time
        _, name, out, threads = b["name"].split("/")[:4]
        table[(name, out, int(threads.split(":")[1]))] = b["bytes_per_second"] / 1e9
    return table


def print_table(numpy_results, ovid, threads_all):
    npy = {(r["type"], r["out"]): r["gbps"] for r in numpy_results}
    many = f"ovid {threads_all}T GB/s"
    header = (f"{'type':6} {'out':5} {'ovid 1T GB/s':>13} {many:>13}"
              f" {'numpy GB/s':>11} {'ovid/numpy':>11}")
    print(header)
    print("-" * len(header))
    for name in TYPES:
        for out in ("f32", "f16", "bf16"):
            one = ovid.get((name, out, 1))
            many = ovid.get((name, out, threads_all), one)
            ref = npy.get((name, out))
            best = max(v for v in (one, many) if v is not None) if one is not None else None
            cells = [f"{v:13.2f}" if v is not None else f"{'-':>13}" for v in (one, many)]
            ref_cell = f"{ref:11.2f}" if ref is not None else f"{'-':>11}"
            ratio = f"{best / ref:10.1f}x" if (best is not None and ref) else f"{'-':>11}"
            print(f"{name:6} {out:5} {cells[0]} {cells[1]} {ref_cell} {ratio}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ovid-json", help="Google Benchmark JSON of ovid-bench-cpu-dequant")
    args = parser.parse_args()
    results = time_numpy(args.repeats)
    if not args.ovid_json:
        for r in results:
            print(json.dumps(r))
        return
    ovid = ovid_numbers(args.ovid_json)
    threads_all = max(t for (_, _, t) in ovid) if ovid else 1
    print_table(results, ovid, threads_all)


if __name__ == "__main__":
    main()
