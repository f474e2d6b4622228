"""ComfyUI-GGUF's own dequantization code, timed on the GPU beside the copy roofline.

Issue 3 asks to check once that ovid's ComfyUI-style baseline (bench/gpu/comfy_dequant.cc, an
op-for-op ATen rewrite) runs at the speed of ComfyUI-GGUF's own code on the same card. This
imports `dequant.py` from an exported ComfyUI-GGUF tree (never committed; see
bench/comfy/README.md) and times its default path - `dequantize(data, qtype, shape,
dtype=None).to(bfloat16)`, what `dequantize_tensor(t, bfloat16)` runs with `dequant_dtype=None`
- on random blocks of Ovi's weight shapes, with CUDA events (median of 7 batches of 10 calls
after 3 warm-up calls). GB/s = (block bytes + bf16 output bytes) / time, as in ovid-bench-gpu.

usage: python3 comfy_gguf_check.py --src DIR [--pydeps DIR]
"""
import argparse
import importlib.util
import statistics
import sys
import types

import torch

SHAPES = [(3072, 3072), (14336, 3072), (3072, 14336)]


def load_dequant(src, pydeps):
    if pydeps:
        sys.path.append(pydeps)  # gguf-py: ComfyUI-GGUF needs its type table
    if "tqdm" not in sys.modules:
        try:
            import tqdm  # noqa: F401  (only the numpy fallback uses it)
        except ImportError:
            stub = types.ModuleType("tqdm")
            stub.tqdm = types.SimpleNamespace(write=print)
            sys.modules["tqdm"] = stub
    spec = importlib.util.spec_from_file_location("comfy_gguf_dequant", f"{src}/dequant.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gpu_ms(fn, calls=10, batches=7):
    for _ in range(3):
        fn()
    times = []
    for _ in range(batches):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / calls)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="exported ComfyUI-GGUF tree (has dequant.py)")
    ap.add_argument("--pydeps", default="", help="extra sys.path entry holding gguf-py")
    a = ap.parse_args()
    dq = load_dequant(a.src, a.pydeps)
    import gguf

    dev = torch.device("cuda")
    n = 1 << 28  # 1 GiB copy roofline, read + write
    src, dst = torch.empty(n, dtype=torch.float32, device=dev), torch.empty(n, dtype=torch.float32, device=dev)
    copy_gbps = 2 * 4 * n / (gpu_ms(lambda: dst.copy_(src), calls=3) * 1e-3) / 1e9
    del src, dst
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; "
          f"copy D2D {copy_gbps:.0f} GB/s (read + write)")
    print("\n| type | shape | ComfyUI-GGUF us | GB/s | % of copy |\n|---|---|---|---|---|")
    g = torch.Generator(device=dev).manual_seed(0)
    for name in ("Q4_K", "Q6_K", "Q8_0"):
        qtype = getattr(gguf.GGMLQuantizationType, name)
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        for rows, cols in SHAPES:
            nbytes = rows * cols // block * type_size
            # Several copies totalling > 256 MB so L2 never holds the one being read.
            copies = max(1, (256 << 20) // (nbytes + 2 * rows * cols) + 1)
            datas = [torch.randint(0, 256, (rows, cols // block * type_size), dtype=torch.uint8,
                                   device=dev, generator=g) for _ in range(copies)]
            i = [0]

            def run():
                d = datas[i[0] % copies]
                i[0] += 1
                return dq.dequantize(d, qtype, (rows, cols), dtype=None).to(torch.bfloat16)

            out = run()
            assert out.shape == (rows, cols) and out.dtype == torch.bfloat16
            ms = gpu_ms(run)
            gbps = (nbytes + 2 * rows * cols) / (ms * 1e-3) / 1e9
            print(f"| {name} | {rows}x{cols} | {ms * 1e3:.1f} | {gbps:.0f} | {100 * gbps / copy_gbps:.1f}% |")
            del datas


if __name__ == "__main__":
    main()
