"""Is a bf16 GEMM at 15,004 tokens faster from some weight buffers than from others?

Run 2 (run2-rotated.py) found the same weights 2.4-7.3% slower from a clone than from the
original buffer. Here eight clones of one randn * 0.02 weight, each run alone for ~0.25 s per
round (long against the clock controller's lag), in eight rounds with the order rotated. If the
per-buffer medians differ by more than the rounds' spread, the buffer itself matters.
"""
import torch

torch.manual_seed(0)
dev = "cuda"
M = 15004
N_BUF = 8
print(torch.cuda.get_device_name(), torch.__version__, flush=True)
for out, inp in [(3072, 14336), (3072, 3072)]:
    x = torch.randn(M, inp, device=dev, dtype=torch.bfloat16)
    bias = torch.randn(out, device=dev, dtype=torch.bfloat16).mul(0.1)
    base = torch.randn(out, inp, device=dev, dtype=torch.bfloat16).mul(0.02)
    bufs = [base] + [base.clone() for _ in range(N_BUF - 1)]
    est_ms = 2 * M * out * inp / 6e14 * 1e3
    seg = max(4, int(250 / est_ms))
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for w in bufs:
        torch.nn.functional.linear(x, w, bias)
    res = [[] for _ in bufs]
    for r in range(N_BUF):
        for i in list(range(r, N_BUF)) + list(range(r)):
            s.record()
            for _ in range(seg):
                torch.nn.functional.linear(x, bufs[i], bias)
            e.record()
            e.synchronize()
            res[i].append(s.elapsed_time(e) * 1e3 / seg)
    print(f"\n[{out} x {inp}] at {M} tokens: {N_BUF} buffers of the same values, {N_BUF} rotated rounds of {seg} calls")
    meds = [sorted(v)[len(v) // 2] for v in res]
    ref = min(meds)
    for i, v in enumerate(res):
        v2 = sorted(v)
        print(f"  buffer {i} @0x{bufs[i].data_ptr():x}: median {meds[i]:8.1f} us ({meds[i] / ref:.4f}), "
              f"rounds {' '.join(f'{t:7.1f}' for t in v)}")
    del x, bufs, base
    torch.cuda.empty_cache()
