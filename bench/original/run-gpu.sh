#!/usr/bin/env bash
# The original Ovi code (github character-ai/Ovi, in .ovi-original/) beside ovid on a GPU:
#   1. builds ovid-gguf and ovid-forward for CUDA (bench/full-model.sh's build_device_targets),
#   2. synthesizes tiny GGUFs (ovi-tiny, F32 and Q4_K_M, random weights),
#   3. compares the original forward (one guidance branch, 4 timestep/first-frame/SLG cases) and
#      a 3-step guided UniPC sample with ovid-forward on CUDA, in f32 and in bf16, and once on
#      the CPU in f32 (the exact check: ~1e-6; on CUDA ovid's linears compute in bf16 even with
#      --dtype f32, see bench/original/README.md, so CUDA f32 agrees only to ~5e-3),
#   4. times the full-size original (random bf16 weights, SDPA attention) per denoising step
#      (both guidance passes, SLG in the negative one) at 704x704 5 s and 960x960 10 s, with
#      SDPA's own backend choice (auto) and with PyTorch's FlashAttention-2 kernel (flash),
#   5. prints one summary table.
# Run from the repository root on the GPU machine, after `source .device-deps/env.sh`, with
# .ovi-original/ carried (bench/original/README.md). About 3-6 minutes on an H100, most of it the
# build when build-device/ is cold.
#
# env: RESULTS_DIR (default $OUT if set, else bench/results/original), BUILD_DIR (default
#      build-device), OVI_SRC (default .ovi-original), SKIP_TIME=1 / SKIP_COMPARE=1,
#      SDPA_BACKEND for compare (auto|flash|efficient|cudnn|math, default auto),
#      TIME_BACKENDS for time (default "auto flash"), KEEP_WORK=1 (keep GGUFs and outputs)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
results=${RESULTS_DIR:-${OUT:-$root/bench/results/original}}
build=${BUILD_DIR:-$root/build-device}
ovi_src=${OVI_SRC:-$root/.ovi-original}
backend=${SDPA_BACKEND:-auto}
time_backends=${TIME_BACKENDS:-auto flash}
py=${PYTHON:-python3}
mkdir -p "$results"
log="$results/run-gpu.log"
exec > >(tee "$log") 2>&1
start=$SECONDS
say() { echo "[run-gpu +$((SECONDS - start))s] $*"; }
die() { echo "run-gpu: $*" >&2; exit 1; }

[[ -f $ovi_src/ovi/modules/fusion.py ]] ||
  die "$ovi_src holds no ovi/modules/fusion.py: export it (bench/original/export-original.sh) and carry .ovi-original"
[[ -d $ovi_src/pydeps/gguf ]] ||
  die "$ovi_src/pydeps has no gguf (gguf-py is not on the GPU machine): see bench/original/README.md"
command -v nvidia-smi >/dev/null || die "no nvidia-smi: run this on the GPU machine"
"$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  die "$py's torch sees no CUDA device"
[[ -n ${CMAKE_PREFIX_PATH:-} ]] || die "CMAKE_PREFIX_PATH is empty: source .device-deps/env.sh first"

say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n1)"
say "original: character-ai/Ovi $(cat "$ovi_src/.ovi-commit" 2>/dev/null || echo unknown)"
say "ovid: ${OVID_COMMIT:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)}"

say "building ovid-gguf, ovid-forward in $build"
# shellcheck source=bench/full-model.sh
. "$root/bench/full-model.sh"
build_device_targets "$build" ovid-gguf ovid-forward || die "build failed (rerun: cmake --build $build --target ovid-forward)"
bin=$build/bin
work=$(mktemp -d)  # GGUFs, inputs and raw outputs; KEEP_WORK=1 keeps them under RESULTS_DIR
if [[ ${KEEP_WORK:-0} == 1 ]]; then rm -rf "$work"; work=$results/work; mkdir -p "$work"; else trap 'rm -rf "$work"' EXIT; fi

run_py() { PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore "$py" "$root/bench/original/run_original.py" --ovi-src "$ovi_src" "$@"; }

if [[ ${SKIP_COMPARE:-0} != 1 ]]; then
  for type in F32 Q4_K_M; do
    gguf=$work/ovi-tiny-$type.gguf
    say "synth $gguf"
    "$bin/ovid-gguf" synth "$gguf" --preset ovi-tiny --type "$type" --seed 3 | tail -n 1
    say "compare original vs ovid-forward on cuda ($type)"
    run_py compare --gguf "$gguf" --ovid-forward "$bin/ovid-forward" --device cuda \
      --precisions f32,bf16 --sample-steps 3 --out-dir "$work/compare-$type" \
      --json "$results/compare-$type.json" --sdpa-backend "$backend"
  done
  say "compare original vs ovid-forward on the CPU, f32 (F32)"
  run_py compare --gguf "$work/ovi-tiny-F32.gguf" --ovid-forward "$bin/ovid-forward" --device cpu \
    --precisions f32 --sample-steps 3 --out-dir "$work/compare-cpu" \
    --json "$results/compare-F32-cpu.json" --tol 1e-4 ||
    say "WARNING: ovid f32 and the original f32 disagree on the CPU (above 1e-4); see the table"
fi

if [[ ${SKIP_TIME:-0} != 1 ]]; then
  for tb in $time_backends; do
    say "time: full-size original, random bf16 weights (704x704_5s, 960x960_10s), SDPA $tb"
    run_py time --sizes 704x704_5s,960x960_10s --warmup 1 --iters 3 --json "$results/time-$tb.json" \
      --sdpa-backend "$tb"
  done
fi

say "summary"
"$py" - "$results" <<'PY' | tee "$results/summary.txt"
import json, sys
from pathlib import Path
res = Path(sys.argv[1])
for f in sorted(res.glob("compare-*.json")):
    d = json.load(open(f))
    rows = d["rows"]
    if not rows:
        continue
    print(f"== {f.stem}: {rows[0]['model']} on {rows[0]['device']} (original {d['original_commit'][:12]}); "
          f"rel = |a-b|/|b|, max over the forward cases; sample = 3-step UniPC")
    print(f"{'a':<14} {'b':<16} {'fwd video':>10} {'fwd audio':>10} {'smp video':>10} {'smp audio':>10}")
    pairs = []
    for r in rows:
        if (r["a"], r["b"]) not in pairs:
            pairs.append((r["a"], r["b"]))
    for a, b in pairs:
        fw = [r for r in rows if r["a"] == a and r["b"] == b and not r["case"].startswith("sample")]
        sm = [r for r in rows if r["a"] == a and r["b"] == b and r["case"].startswith("sample")]
        fv = max(r["video"] for r in fw); fa = max(r["audio"] for r in fw)
        sv = f"{sm[0]['video']:.2e}" if sm else "-"; sa = f"{sm[0]['audio']:.2e}" if sm else "-"
        print(f"{a:<14} {b:<16} {fv:>10.2e} {fa:>10.2e} {sv:>10} {sa:>10}")
    print()
for t in sorted(res.glob("time-*.json")):
    d = json.load(open(t))
    print(f"== {t.stem}: original Ovi ({d['original_commit'][:12]}), {d['params']/1e9:.2f} B params, random bf16 weights, "
          f"SDPA instead of flash-attn; one step = cond + uncond (SLG) passes")
    print(f"{'size':<13} {'tokens v+a':>12} {'s/step':>8} {'peak GiB':>9} {'weights GiB':>11}  attention / device")
    for r in d["rows"]:
        print(f"{r['size']:<13} {str(r['video_tokens'])+'+'+str(r['audio_tokens']):>12} {r['s_per_step']:>8.3f} "
              f"{r['peak_gib']:>9.2f} {r['weights_gib']:>11.2f}  {','.join(r['attention'])} / {r['device']}")
PY
say "done; results in $results"
