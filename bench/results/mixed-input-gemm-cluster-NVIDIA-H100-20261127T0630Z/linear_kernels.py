# Which cuBLAS kernels and times torch's linear gets at Ovi's 15,004-token shapes (bf16), with and
# without bias, weights rotating over > 256 MB, against x @ w.t().
import torch, torch.nn.functional as F
from torch.profiler import profile, ProfilerActivity
print(torch.__version__, torch.cuda.get_device_name(), "bf16 reduced-precision reduction:",
      torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction)
def bench(fn, n=20):
    for _ in range(3): fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    ts = []
    for _ in range(5):
        s.record()
        for _ in range(n): fn()
        e.record(); e.synchronize(); ts.append(s.elapsed_time(e) * 1000 / n)
    return sorted(ts)[2]
for (N, K) in [(3072, 3072), (14336, 3072), (3072, 14336)]:
    M = 15004
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
    nw = max(2, (256 << 20) // (N * K * 2) + 1)
    ws = [torch.randn(N, K, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(nw)]
    b = torch.randn(N, device="cuda", dtype=torch.bfloat16)
    i = [0]
    def rot():
        i[0] = (i[0] + 1) % nw
        return ws[i[0]]
    r = {}
    r["linear+bias"] = bench(lambda: F.linear(x, rot(), b))
    r["linear"] = bench(lambda: F.linear(x, rot()))
    r["x@w.t()"] = bench(lambda: x @ rot().t())
    r["linear+bias same w"] = bench(lambda: F.linear(x, ws[0], b))
    names = {}
    for key, fn in [("linear+bias", lambda: F.linear(x, ws[0], b)), ("linear", lambda: F.linear(x, ws[0]))]:
        with profile(activities=[ProfilerActivity.CUDA]) as p:
            fn(); torch.cuda.synchronize()
        names[key] = [ev.name[:90] for ev in p.events() if ev.device_type == torch.autograd.DeviceType.CUDA]
    print(f"[{N},{K}] M {M}: " + ", ".join(f"{k} {v:.1f} us" for k, v in r.items()))
    for k, v in names.items(): print("   ", k, "->", v)
