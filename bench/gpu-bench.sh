#!/usr/bin/env bash
# bench/gpu-bench.sh: the GPU benchmark in one command (needs a CUDA GPU and LibTorch; a few
# minutes on an H100/H200, build included).
#   1. builds ovid-bench-gpu and ovid-bench-cuda with the `device` preset (SKIP_BUILD=1 skips);
#   2. ovid-bench-gpu: copy roofline, dequantization GB/s and % of copy (engine vs a
#      ComfyUI-GGUF-style baseline), Ovi linear layers (bf16 cuBLAS vs QuantizedLinear lazy/eager
#      vs the baseline) and the goal sums over one Ovi block (bench/gpu/);
#   3. ovid-bench-cuda --quick: the kernels alone (dequantization per output format, fused matmul
#      vs cuBLAS); GPU_BENCH_KERNELS=0 skips it;
#   4. the Ovi denoiser (issue 4): bench/forward-bench.sh (full-size random Q4_K_M, plain vs fused
#      chains, LibTorch vs FlashInfer attention, lazy vs eager, both reference sizes, the
#      guided loop's seconds per step; makes the model once, ~2 min), the same with a bf16
#      model (makes it once: 23 GB on disk), and, when the
#      original code is exported (.ovi-original, bench/original/README.md), its step time on the
#      same card; GPU_BENCH_FORWARD=0 skips both. About 7 minutes in all on an H100, cold.
#   FlashInfer's headers must be there for its attention kernel: on the GPU machine, carry the
#   .flashinfer folder that bench/pack-flashinfer.sh makes here.
# Writes bench/results/gpu-<card>-<UTC stamp>.json (card, commit, date, both programs' results)
# and .txt (everything printed). Environment: BUILD_DIR (default build-device), RESULTS_DIR
# (default bench/results), OVID_COMMIT (default `git rev-parse HEAD`, else "uncommitted").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-$root/build-device}
results=${RESULTS_DIR:-$root/bench/results}
kernels=${GPU_BENCH_KERNELS:-1}
mkdir -p "$results"

configure() {
  # The repository checks and the CPU benchmark need tools a GPU machine may lack (shellcheck,
  # protoc, Google Benchmark). None of them is built or run here, so stand-ins let CMake finish.
  local args=()
  local pair
  for pair in OVID_SHELLCHECK:shellcheck OVID_PROTOC:protoc OVID_GRPC_CPP_PLUGIN:grpc_cpp_plugin; do
    command -v "${pair#*:}" >/dev/null || args+=("-D${pair%%:*}=/bin/false")
  done
  if cmake --preset device -B "$build" "${args[@]}" >"$build.configure.log" 2>&1; then return; fi
  mkdir -p "$build/ovid-stubs"
  printf '%s\n' 'if(NOT TARGET benchmark::benchmark)' \
    '  add_library(benchmark::benchmark INTERFACE IMPORTED)' 'endif()' \
    >"$build/ovid-stubs/benchmarkConfig.cmake"
  cmake --preset device -B "$build" "${args[@]}" -Dbenchmark_DIR="$build/ovid-stubs" \
    >"$build.configure.log" 2>&1 || { tail -30 "$build.configure.log"; return 1; }
}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  start=$(date +%s)
  mkdir -p "$build"
  configure
  cmake --build "$build" -j"$(nproc)" --target ovid-bench-gpu
  if [ "$kernels" = 1 ]; then
    cmake --build "$build" -j"$(nproc)" --target ovid-bench-cuda || kernels=0
  fi
  echo "build: $(($(date +%s) - start)) s"
fi

commit=${OVID_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo uncommitted)}
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
slug=$(echo "${card:-gpu}" | tr '[:upper:]' '[:lower:]' | grep -o 'h[0-9]00\|a100\|l40s' |
  head -1 || true)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="$results/gpu-${slug:-gpu}-$stamp"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

merge() {  # one JSON: ovid-bench-gpu's, plus ovid-bench-cuda's under "kernels" once it exists
  python3 - "$tmp" "$base.json" "$card" "$commit" <<'PY'
import json, os, sys
tmp, dest, card, commit = sys.argv[1:5]
out = json.load(open(os.path.join(tmp, "linear.json")))
out["card"] = card or out["card"]
out["commit"] = commit
k = os.path.join(tmp, "kernels.json")
if os.path.exists(k):
    out["kernels"] = json.load(open(k))
json.dump(out, open(dest, "w"), indent=1)
PY
}

echo "ovid GPU benchmark, $stamp, card: ${card:-unknown}, commit: $commit" | tee "$base.txt"
echo "== ovid-bench-gpu (engine layers; copy and bf16 baselines in the same process) ==" |
  tee -a "$base.txt"
"$build/bin/ovid-bench-gpu" --json "$tmp/linear.json" --commit "$commit" 2>&1 |
  tee -a "$base.txt" || echo "ovid-bench-gpu failed" | tee -a "$base.txt"
[ -f "$tmp/linear.json" ] && merge
if [ "$kernels" = 1 ]; then
  echo "== ovid-bench-cuda --quick (kernels; its own copy and cuBLAS baselines) ==" |
    tee -a "$base.txt"
  if "$build/bin/ovid-bench-cuda" --quick --json "$tmp/kernels.json" 2>&1 | tee -a "$base.txt"
  then [ -f "$tmp/linear.json" ] && merge; fi
fi
if [ "${GPU_BENCH_FORWARD:-1}" = 1 ]; then
  echo "== bench/forward-bench.sh (the Ovi denoiser per pass; configs in one run) ==" |
    tee -a "$base.txt"
  BUILD_DIR=$build RESULTS_DIR=$tmp OVID_COMMIT=$commit bash "$root/bench/forward-bench.sh" 2>&1 |
    grep -v '^CMake Warning\|^  \|^Call Stack\|^$' | tee -a "$base.txt" ||
    echo "forward-bench failed" | tee -a "$base.txt"
  echo "== bench/forward-bench.sh BF16 (the same passes with unquantized bf16 weights) ==" |
    tee -a "$base.txt"
  BUILD_DIR=$build RESULTS_DIR=$tmp OVID_COMMIT=$commit CONFIGS=eager:fused:default REPEAT=3 \
    SAMPLE_STEPS=0 bash "$root/bench/forward-bench.sh" BF16 2>&1 |
    grep -v '^CMake Warning\|^  \|^Call Stack\|^$' | tee -a "$base.txt" ||
    echo "forward-bench BF16 failed" | tee -a "$base.txt"
  if [ -f "$root/.ovi-original/ovi/modules/fusion.py" ]; then
    echo "== the original Ovi code on the same card (bench/original, SDPA's own backend) ==" |
      tee -a "$base.txt"
    BUILD_DIR=$build SKIP_COMPARE=1 TIME_BACKENDS=auto RESULTS_DIR=$tmp/original \
      OVID_COMMIT=$commit bash "$root/bench/original/run-gpu.sh" 2>&1 |
      grep -E 's/step|FusionModel' | tee -a "$base.txt" ||
      echo "original timing failed" | tee -a "$base.txt"
  else
    echo "(.ovi-original not exported: the original's timing is skipped)" | tee -a "$base.txt"
  fi
fi
echo
grep '^GOAL' "$base.txt" || true
echo "wrote $base.txt$([ -f "$base.json" ] && echo " and $base.json")"
