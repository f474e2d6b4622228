#!/usr/bin/env bash
# Times the Ovi denoiser (ovid-forward) on a full-size random-weight model at Ovi's two reference
# sizes: a few forward passes and a 2-step guided sample (two passes per step), with the LibTorch
# allocator's VRAM figures. Run on the GPU machine (after `source .device-deps/env.sh`).
#
# usage: bench/forward-bench.sh [TYPE]      (TYPE: a quantization mix, default Q4_K_M)
# env:   BUILD_DIR (default build-device), RESULTS_DIR (default bench/results),
#        CONFIGS: space-separated WEIGHTS:ELEMENTWISE:ATTENTION forward-pass configurations
#        (WEIGHTS: lazy, eager, or cache/N: lazy plus bf16 copies within a budget of N GiB)
#        (default "lazy:plain:torch lazy:fused:torch lazy:fused:default eager:fused:default":
#        the engine before the fused kernels, with them, with FlashInfer's Hopper attention for
#        long sequences (the default backend) and eager weights), timed one after another in
#        this order; the 2-step sample uses the last lazy one.
#        SIZES (default "704x704_5s 960x960_10s"), REPEAT (forward passes per config, default 4),
#        SAMPLE_STEPS (default 3; 0 skips the sample): the guided loop's steps, each timed with
#        the device synchronised (the warm steps' median is the real seconds per step),
#        BATCH_GUIDANCE (default "off"; "off on" runs the loop both ways and compares the
#        latents): both passes of a step in one batch-2 forward,
#        PROFILE=1: each configuration's last pass is profiled (ovid-forward --profile: GPU time
#        per kernel family and the top kernels, in the log; Chrome traces in TRACE_DIR if set).
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
  echo "commit: ${OVID_COMMIT:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)} (OVID_COMMIT: the device copy's .git can lag the tree)"
  echo "model: ovi-full $type (lazy)"
  for size in ${SIZES:-704x704_5s 960x960_10s}; do
    sample_flags=()
    for config in ${CONFIGS:-lazy:plain:torch lazy:fused:torch lazy:fused:default eager:fused:default}; do
      IFS=: read -r weights elementwise attention <<<"$config"
      if [[ $weights == cache/* ]]; then
        flags=(--weights cache --cache-budget "$((${weights#cache/} * 1024 * 1024 * 1024))")
      else
        flags=(--weights "$weights")
      fi
      flags+=(--elementwise "$elementwise" --attention "$attention")
      [ "$weights" = lazy ] && sample_flags=("${flags[@]}")
      [ "${PROFILE:-0}" = 1 ] && flags+=(--profile "${TRACE_DIR:-$work}/$size-${config//:/-}.trace.json")
      echo "== $size: forward x${REPEAT:-4}, $config"
      "$build/bin/ovid-forward" --model "$model" --inputs "$work/$size.forward.safetensors" \
        --out "$work/out.safetensors" --device cuda --dtype bf16 --repeat "${REPEAT:-4}" "${flags[@]}" 2>&1
    done
    steps=${SAMPLE_STEPS:-3}
    [ "$steps" -gt 0 ] || continue
    for batch in ${BATCH_GUIDANCE:-off}; do
      echo "== $size: sample, $steps UniPC steps (CFG: 2 passes per step, SLG layer 11), ${sample_flags[*]} --batch-guidance $batch"
      "$build/bin/ovid-forward" --model "$model" --inputs "$work/$size.sample.safetensors" \
        --out "$work/sample-$batch.safetensors" --device cuda --dtype bf16 --mode sample \
        --steps "$steps" --solver unipc --slg-layer 11 --seed 42 --batch-guidance "$batch" \
        "${sample_flags[@]}" 2>&1
    done
    if [ -f "$work/sample-off.safetensors" ] && [ -f "$work/sample-on.safetensors" ]; then
      # Both loops from the same noise: the batched one must land where the two-pass one does.
      python3 - "$work/sample-off.safetensors" "$work/sample-on.safetensors" <<'PY'
import sys
from safetensors.torch import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
for k in sorted(a):
    x, y = a[k].float(), b[k].float()
    err = ((x - y).abs().max() / x.abs().max()).item()
    print(f"batched vs two-pass sample, {k}: max |diff| / max |two-pass| = {err:.3e}")
PY
    fi
    rm -f "$work"/sample-*.safetensors
  done
} | tee "$log"

# Per config: the median of the warm passes (all but the first), model FLOPs per forward pass
# (30 blocks; text K/V excluded: computed once per request), the utilisation of the card's dense
# bf16 peak (989 TFLOP/s for H100 SXM and H200) and the allocator's peak.
python3 - "$log" <<'PY' | tee -a "$log"
import re, statistics, sys
D, F, T, LAYERS, PEAK = 3072, 14336, 512, 30, 989e12
tokens = {"704x704_5s": (15004, 157), "960x960_10s": (54900, 314)}
def flops(lv, la):
    def tower(l, other):  # one tower's block: its linears, attention, fusion k/v of the other's
        lin = 2 * l * D * D * 6 + 2 * 2 * l * D * F + 2 * 2 * other * D * D
        att = 4 * l * l * D + 4 * l * T * D + 4 * l * other * D
        return lin + att
    return LAYERS * (tower(lv, la) + tower(la, lv))
rows, samples, cur = [], [], None
for line in open(sys.argv[1]):
    m = re.match(r"== (\S+): forward x\d+, (\S+)", line)
    if m:
        cur = {"size": m.group(1), "config": m.group(2)}
        rows.append(cur)
    m = re.match(r"== (\S+): sample, \d+ UniPC steps .*?, (--weights.*)", line)
    if m:
        cur = None
        samples.append({"size": m.group(1), "flags": m.group(2).strip()})
    m = re.search(r"\(steps: ([^)]*) s\)", line)
    if m and samples:
        samples[-1]["steps"] = [float(x) for x in m.group(1).split(",")]
    m = re.search(r"\(passes: ([^)]*)\)", line)
    if m and cur:
        cur["passes"] = [float(x.strip().split()[0]) for x in m.group(1).split(",")]
    m = re.search(r"peak ([0-9.]+) GiB", line)
    if m and cur and "peak" not in cur:
        cur["peak"] = float(m.group(1))
print("\n| size | config | warm forward s (median) | ~s per guided step (2 passes) | model TFLOP | TFLOP/s | MFU | peak GiB |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    if "passes" not in r:
        continue
    t = statistics.median(r["passes"][1:] or r["passes"]); f = flops(*tokens[r["size"]])
    print(f"| {r['size']} | {r['config']} | {t:.3f} | {2 * t:.2f} | {f/1e12:.1f} | {f/t/1e12:.0f} | "
          f"{100*f/t/PEAK:.1f}% | {r.get('peak', float('nan')):.2f} |")
if samples:
    print("\n| size | guided sample loop (UniPC, CFG, SLG) | each step, s | warm steps' median, s per step |")
    print("|---|---|---|---|")
for r in samples:
    st = r.get("steps", [])
    warm = statistics.median(st[1:]) if len(st) > 1 else float("nan")
    print(f"| {r['size']} | {r['flags']} | {', '.join(f'{x:.3f}' for x in st)} | {warm:.3f} |")
PY
echo "written: $log"
