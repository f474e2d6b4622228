#!/usr/bin/env bash
# Guided sample loop, two passes per step vs one batch-2 pass, lazy and eager, on the full model.
# Run from the repository root after `source .device-deps/env.sh`.
set -eo pipefail
work=$(mktemp -d)
python3 - "$work" <<'PY'
import sys
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(0)
for name, (f, h, w, l) in {"704x704_5s": (31, 44, 44, 157), "960x960_10s": (61, 60, 60, 314)}.items():
    ctx = lambda: torch.randn(120, 4096, generator=g)
    inputs = {"video_latent": torch.randn(48, f, h, w, generator=g),
              "audio_latent": torch.randn(l, 20, generator=g),
              "video_context": ctx(), "audio_context": ctx(),
              "video_negative_context": ctx(), "audio_negative_context": ctx()}
    save_file(inputs, f"{sys.argv[1]}/{name}.sample.safetensors")
PY
model=build-device/ovi-full-Q4_K_M.gguf
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for size in ${SIZES:-704x704_5s 960x960_10s}; do
  for round in 1 2; do
    for weights in lazy eager; do
      for batch in off on; do
        echo "== $size round $round: $weights, batch-guidance $batch"
        build-device/bin/ovid-forward --model "$model" --inputs "$work/$size.sample.safetensors" \
          --out "$work/$size-$weights-$batch.safetensors" --device cuda --dtype bf16 --mode sample \
          --steps "${STEPS:-4}" --solver unipc --slg-layer 11 --seed 42 --weights "$weights" \
          --batch-guidance "$batch" 2>&1 | grep -E "steps:|peak|error|Error|resident" | tail -4
      done
    done
  done
  python3 - "$work" "$size" <<'PY'
import sys
from safetensors.torch import load_file
w, size = sys.argv[1], sys.argv[2]
for weights in ("lazy", "eager"):
    a = load_file(f"{w}/{size}-{weights}-off.safetensors"); b = load_file(f"{w}/{size}-{weights}-on.safetensors")
    for k in sorted(a):
        x, y = a[k].float(), b[k].float()
        print(f"{size} {weights}: batched vs two-pass {k}: max|diff|/max|x| = {((x-y).abs().max()/x.abs().max()).item():.3e}, "
              f"rms diff / rms = {((x-y).pow(2).mean().sqrt()/x.pow(2).mean().sqrt()).item():.3e}")
a = load_file(f"{w}/{size}-lazy-off.safetensors"); b = load_file(f"{w}/{size}-eager-off.safetensors")
for k in sorted(a):
    x, y = a[k].float(), b[k].float()
    print(f"{size} lazy vs eager (two-pass) {k}: max|diff|/max|x| = {((x-y).abs().max()/x.abs().max()).item():.3e}")
PY
done
rm -rf "$work"
