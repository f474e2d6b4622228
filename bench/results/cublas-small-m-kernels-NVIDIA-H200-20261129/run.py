"""Which kernels cuBLAS (through torch's linear, the same nvjet kernels as cublasGemmEx, see
bench/NOTES.md) runs for Ovi's weight shapes at small token counts, and how long they take: the
structure a fused kernel has to beat (grid, block, split-K). Times: CUDA events over 200 calls
rotating 16 weight copies (more than L2 holds), bf16, with a bias as the layers have."""
import sys

import torch

shapes = [(3072, 3072), (14336, 3072), (3072, 14336)]
tokens = [16, 157, 314]
torch.manual_seed(0)
dev = "cuda"
profile = len(sys.argv) > 1 and sys.argv[1] == "--profile"
for n, k in shapes:
    copies = max(2, (256 << 20) // (n * k * 2))
    ws = [torch.randn(n, k, device=dev, dtype=torch.bfloat16) * 0.02 for _ in range(copies)]
    b = torch.randn(n, device=dev, dtype=torch.bfloat16)
    for m in tokens:
        x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
        if profile:
            torch.cuda.nvtx.range_push(f"linear_{n}x{k}_m{m}")
            torch.nn.functional.linear(x, ws[0], b)
            torch.cuda.synchronize()
            torch.cuda.nvtx.range_pop()
            continue
        for i in range(20):
            torch.nn.functional.linear(x, ws[i % copies], b)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        reps = 200
        start.record()
        for i in range(reps):
            torch.nn.functional.linear(x, ws[i % copies], b)
        end.record()
        torch.cuda.synchronize()
        print(f"[{n},{k}] m={m}: {start.elapsed_time(end) * 1000 / reps:.2f} us per call "
              f"({copies} weight copies)")
