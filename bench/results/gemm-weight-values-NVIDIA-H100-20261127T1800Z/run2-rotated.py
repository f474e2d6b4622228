"""Does a bf16 GEMM's time at 15,004 tokens depend on the weight's values?

ovid-bench-gpu times its bf16 baseline on randn * 0.02 weights, but its eager and lazy layers
on random GGUF blocks expanded to bf16 (values up to ~1, uniform bit patterns). Eager is the same
GEMM on the same shapes, yet it read 1.010-1.025x bf16 at [3072, 14336] in six of six H100 runs.
This times torch.nn.functional.linear (cuBLAS) on one shape with several weight value sets, in
interleaved rounds, and samples the SM clock and power while each set runs alone for a second.
"""
import sys

import torch

torch.manual_seed(0)
dev = "cuda"
M = 15004
SHAPES = [(3072, 14336), (14336, 3072), (3072, 3072)]


def q4k_random(out, inp):
    # Random Q4_K blocks as ovid-bench-gpu makes them, expanded: d, dmin ~ U(-0.001, 0.001) in
    # fp16 per 256 weights; 6-bit scale and min per 32; 4-bit quants.
    nb = out * inp // 256
    d = (torch.rand(nb, 1, 1, device=dev) - 0.5).mul(0.002).half().float()
    dm = (torch.rand(nb, 1, 1, device=dev) - 0.5).mul(0.002).half().float()
    sc = torch.randint(0, 64, (nb, 8, 1), device=dev).float()
    mn = torch.randint(0, 64, (nb, 8, 1), device=dev).float()
    q = torch.randint(0, 16, (nb, 8, 32), device=dev).float()
    return (d * sc * q - dm * mn).reshape(out, inp).bfloat16()


def q6k_random(out, inp):
    nb = out * inp // 256
    d = (torch.rand(nb, 1, 1, device=dev) - 0.5).mul(0.002).half().float()
    sc = torch.randint(-128, 128, (nb, 16, 1), device=dev).float()
    q = torch.randint(0, 64, (nb, 16, 16), device=dev).float()
    return (d * sc * (q - 32)).reshape(out, inp).bfloat16()


def q4k_of(w):
    # A Q4_K-like rounding of w (per 32 weights: min and a 4-bit step), the kind of values a file
    # quantized from these weights expands to.
    out, inp = w.shape
    b = w.float().reshape(-1, 32)
    lo = b.min(1, keepdim=True).values
    step = (b.max(1, keepdim=True).values - lo) / 15
    return (lo + torch.round((b - lo) / step) * step).reshape(out, inp).bfloat16()


def timed(fn, calls):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(calls):
        fn()
    e.record()
    e.synchronize()
    return s.elapsed_time(e) * 1e3 / calls


print(torch.cuda.get_device_name(), torch.__version__, flush=True)
for out, inp in SHAPES:
    x = torch.randn(M, inp, device=dev, dtype=torch.bfloat16)
    bias = torch.randn(out, device=dev, dtype=torch.bfloat16).mul(0.1)
    base = torch.randn(out, inp, device=dev, dtype=torch.bfloat16).mul(0.02)
    sets = {
        "randn*0.02": base,
        "randn*0.02 (copy)": base.clone(),
        "q4k random blocks": q4k_random(out, inp),
        "q6k random blocks": q6k_random(out, inp),
        "q4k of randn*0.02": q4k_of(base),
        "zeros": torch.zeros_like(base),
    }
    est_ms = 2 * M * out * inp / 6e14 * 1e3
    calls = max(2, int(20 / est_ms))
    names = list(sets)
    for w in sets.values():
        timed(lambda: torch.nn.functional.linear(x, w, bias), calls)
    # Run 1 timed short batches in a fixed order and saw mostly the position in the round (the
    # clock a set inherits from the one before it). Here each set runs alone for ~0.6 s, long
    # against the clock controller's lag, and the order rotates every round.
    seg = max(4, int(600 / est_ms))
    rounds = len(names)
    res = {k: [] for k in names}
    for r in range(rounds):
        for k in names[r:] + names[:r]:
            w = sets[k]
            res[k].append(timed(lambda: torch.nn.functional.linear(x, w, bias), seg))
    ref = sorted(res["randn*0.02"])[rounds // 2]
    print(f"\n[{out} x {inp}] at {M} tokens, {rounds} rotated rounds of {seg} calls each, median us (ratio to randn*0.02)")
    for k, v in res.items():
        v = sorted(v)
        print(f"  {k:22s} {v[rounds // 2]:9.1f}  ({v[rounds // 2] / ref:.4f})  min {v[0]:9.1f} max {v[-1]:9.1f}")
    # Short batches, as ovid-bench-gpu times them (~20 ms), in a rotated order too.
    res = {k: [] for k in names}
    for r in range(4 * rounds):
        order = names[r % rounds:] + names[:r % rounds]
        for k in order:
            w = sets[k]
            res[k].append(timed(lambda: torch.nn.functional.linear(x, w, bias), calls))
    ref = sorted(res["randn*0.02"])[2 * rounds]
    print(f"  short batches of {calls} calls, {4 * rounds} rotated rounds:")
    for k, v in res.items():
        v = sorted(v)
        print(f"  {k:22s} {v[len(v) // 2]:9.1f}  ({v[len(v) // 2] / ref:.4f})")
    del x, sets, base
    torch.cuda.empty_cache()
sys.stdout.flush()
