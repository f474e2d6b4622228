#!/usr/bin/env bash
# Times the Ovi denoiser (ovid-forward) on a full-size random-weight model at Ovi's two reference
# sizes: a few forward passes and a 2-step guided sample (two passes per step), with the LibTorch
# allocator's VRAM figures. Run on the GPU machine (after `source .device-deps/env.sh`).
#
# usage: bench/forward-bench.sh [TYPE]      (TYPE: a quantization mix, default Q4_K_M)
# env:   BUILD_DIR (default build-device), RESULTS_DIR (default bench/results)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
type=${1:-Q4_K_M}
build=${BUILD_DIR:-$root/build-device}
results=${RESULTS_DIR:-$root/bench/results}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$results"

cd "$root"
# shellcheck source=bench/full-model.sh
. "$root/bench/full-model.sh"
build_device_targets "$build" ovid-gguf ovid-forward
model=$(full_model "$build" "$type")

# Inputs per size: latents [48,F,h,w] and [L,20], 120-token contexts, t = 999 (first UniPC step).
python3 - "$work" <<'PY'
import sys
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(0)
for name, (f, h, w, l) in {"704x704_5s": (31, 44, 44, 157), "960x960_10s": (61, 60, 60, 314)}.items():
    ctx = lambda: torch.randn(120, 4096, generator=g)
    inputs = {"video_latent": torch.randn(48, f, h, w, generator=g),
              "audio_latent": torch.randn(l, 20, generator=g),
              "video_context": ctx(), "audio_context": ctx(), "timestep": torch.tensor([999.0])}
    save_file(inputs, f"{sys.argv[1]}/{name}.forward.safetensors")
    # Sample mode: the latents are the initial noise; negatives instead of a timestep.
    del inputs["timestep"]
    inputs.update(video_negative_context=ctx(), audio_negative_context=ctx())
    save_file(inputs, f"{sys.argv[1]}/{name}.sample.safetensors")
PY

log="$results/forward-$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "commit: $(git -C "$root" rev-parse --verify -q HEAD 2>/dev/null || echo "${OVID_COMMIT:-unknown}")"
  echo "model: ovi-full $type (lazy)"
  for size in 704x704_5s 960x960_10s; do
    echo "== $size: forward x3"
    "$build/bin/ovid-forward" --model "$model" --inputs "$work/$size.forward.safetensors" \
      --out "$work/out.safetensors" --device cuda --dtype bf16 --repeat 3 2>&1
    echo "== $size: sample, 2 UniPC steps (CFG: 2 passes per step, SLG layer 11)"
    "$build/bin/ovid-forward" --model "$model" --inputs "$work/$size.sample.safetensors" \
      --out "$work/out.safetensors" --device cuda --dtype bf16 --mode sample --steps 2 \
      --solver unipc --slg-layer 11 --seed 42 2>&1
  done
} | tee "$log"
echo "written: $log"
