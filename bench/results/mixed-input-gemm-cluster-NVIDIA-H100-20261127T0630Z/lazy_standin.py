# Lazy's shape with torch only, run with the GPU machine's torch:
#   python3 lazy_standin.py B [bias|nobias]
# Copy a bf16 weight (rotating sources, > 256 MB) into one workspace, then F.linear(x, workspace,
# bias); against F.linear on rotating resident weights, the copy alone and the linear on the
# workspace alone. Interleaved rounds, batches of B calls behind a spin kernel.
import sys, torch, torch.nn.functional as F
torch.manual_seed(0)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 20
use_bias = (sys.argv[2] if len(sys.argv) > 2 else "bias") == "bias"
rounds = 15
def timed(fns, calls):
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    res = [[] for _ in fns]
    for r in range(rounds + 2):
        for i, fn in enumerate(fns):
            torch.cuda._sleep(2_000_000)
            s.record()
            for _ in range(calls): fn()
            e.record(); e.synchronize()
            if r >= 2: res[i].append(s.elapsed_time(e) * 1000 / calls)
    return [sorted(v)[len(v) // 2] for v in res]
print(torch.cuda.get_device_name(), "batch", B, "bias" if use_bias else "no bias")
for (N, K) in [(3072, 3072), (14336, 3072)]:
    M = 15004
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(N, device="cuda", dtype=torch.bfloat16) * 0.1 if use_bias else None
    nw = (256 << 20) // (N * K * 2) + 2
    ws = [torch.randn(N, K, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(nw)]
    # The copy reads the full bf16 weight where a Q4_K dequantization reads 0.28 of it; the
    # writes, which dominate, are the same.
    work = torch.empty(N, K, device="cuda", dtype=torch.bfloat16)
    it = {"w": 0, "c": 0, "d": 0}
    def nxt(k):
        it[k] = (it[k] + 1) % nw
        return ws[it[k]]
    bf16 = lambda: F.linear(x, nxt("w"), b)
    lazy = lambda: (work.copy_(nxt("c")), F.linear(x, work, b))
    copy = lambda: work.copy_(nxt("d"))
    wsgemm = lambda: F.linear(x, work, b)
    t = timed([bf16, lazy, copy, wsgemm], B)
    print(f"[{N},{K}] M {M}: bf16 {t[0]:.1f} us | copy+linear {t[1]:.1f} us ({t[1]/t[0]:.4f}x, extra {t[1]-t[0]:.1f}) | copy alone {t[2]:.1f} us | linear on workspace alone {t[3]:.1f} us ({t[3]/t[0]:.4f}x)")
