#!/usr/bin/env bash
# The daemon end to end on the GPU machine: `ovid` serves a full-size random-weight Ovi (Q4_K_M,
# lazy) and answers N generation requests from `ovidctl`; /metrics is scraped before and after,
# so the VRAM figures show whether memory returns to its idle level. Run after
# `source .device-deps/env.sh` (gRPC, prometheus-cpp and LibTorch come from there).
#
# usage: bench/daemon-bench.sh [REQUESTS] [STEPS]      (defaults 20 and 2; 704x704, 5 s)
# env:   BUILD_DIR (default build-device), RESULTS_DIR (default bench/results), TYPE (Q4_K_M),
#        DAEMON_FLAGS (extra `ovid` flags, e.g. "--batch-guidance=off"; split on spaces)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
requests=${1:-20}
steps=${2:-2}
type=${TYPE:-Q4_K_M}
build=${BUILD_DIR:-$root/build-device}
results=${RESULTS_DIR:-$root/bench/results}
work=$(mktemp -d)
mkdir -p "$results"
cd "$root"
# shellcheck source=bench/full-model.sh
. "$root/bench/full-model.sh"
build_device_targets "$build" ovid ovidctl ovid-gguf
model=$(full_model "$build" "$type")

# UMT5-shaped embeddings ([tokens, 4096]) for the prompt and both negatives.
python3 - "$work/embedding.safetensors" <<'PY'
import sys
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(0)
save_file({k: torch.randn(120, 4096, generator=g)
           for k in ("context", "video_negative", "audio_negative")}, sys.argv[1])
PY

card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
out="$results/daemon-$card-$(date -u +%Y%m%dT%H%M%SZ).txt"
log="$work/ovid.log"
read -r -a daemon_flags <<<"${DAEMON_FLAGS:-}"
"$build/bin/ovid" --model="$model" --device=cuda --listen=127.0.0.1:0 \
  --metrics-listen=127.0.0.1:0 "${daemon_flags[@]}" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port_of() { sed -n "s/.*INFO $1 .*port=\([0-9]*\).*/\1/p" "$log" | head -n 1; }
for _ in $(seq 1 1200); do
  [ -n "$(port_of listening)" ] && "$build/bin/ovidctl" --address="127.0.0.1:$(port_of listening)" \
    health --service ovid.v1.Generation >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.25
done
address="127.0.0.1:$(port_of listening)"
metrics="http://127.0.0.1:$(port_of 'metrics listening')/metrics"
scrape() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$metrics"; }
vram_line() {
  scrape | awk -v what="$1" '
    /^ovid_torch_allocated_bytes / {a=$2} /^ovid_torch_reserved_bytes / {r=$2}
    /^ovid_gpu_memory_used_bytes / {u=$2} /^ovid_dequant_workspace_bytes / {w=$2}
    END {printf "%s: torch allocated %.1f MiB, reserved %.1f MiB, device used %.1f MiB, workspace %.1f MiB\n", what, a/1048576, r/1048576, u/1048576, w/1048576}'
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  # OVID_COMMIT first: the GPU machine gets a copy of the working tree, whose .git (if any) is stale.
  echo "commit: ${OVID_COMMIT:-$(git -C "$root" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)}"
  echo "model: ovi-full $type, lazy; $requests requests of $steps UniPC steps at 704x704 5 s (CFG + SLG)"
  echo "daemon flags: ${DAEMON_FLAGS:-(none)}"
  grep -E "loaded in|resident by type|INFO (model loaded|vram|ready)" "$log"
  vram_line "idle after warm-up"
  for i in $(seq 1 "$requests"); do
    t0=$(date +%s.%N)
    "$build/bin/ovidctl" --address="$address" generate --embedding "$work/embedding.safetensors" \
      --steps "$steps" --seed "$i" --width 704 --height 704 --out-dir "$work" >"$work/req.txt" 2>&1 ||
      { cat "$work/req.txt"; exit 1; }
    t1=$(date +%s.%N)
    printf 'request %2d: %.2f s wall; %s; %s\n' "$i" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
      "$(grep -E '^ *denoise .*peak VRAM' "$work/req.txt" | tr -s ' ')" \
      "$(grep -oE 'passes (batched|apart)' "$work/req.txt")"
    if [ "$i" -eq 1 ]; then vram_line "after request 1"; fi
  done
  vram_line "after request $requests"
  scrape | grep -E '^ovid_(requests_total|denoise_step_seconds_(sum|count)|request_peak_gpu_memory_bytes_(sum|count)|weights_resident_bytes|weights_bf16_equivalent_bytes)' 
  "$build/bin/ovidctl" --address="$address" model | head -n 40
} | tee "$out"
# Outside the pipeline above: only this shell can wait for the daemon it started.
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
trap 'rm -rf "$work"' EXIT
echo "daemon exit code after SIGTERM: $rc" | tee -a "$out"
echo "written: $out"
