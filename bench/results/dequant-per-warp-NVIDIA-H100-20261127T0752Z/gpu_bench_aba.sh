#!/bin/bash
# On the GPU machine, from the repository root, after `run.sh prepare` here and with .device-deps
# carried: ovid-bench-gpu (bench/gpu-bench.sh, forward pass and kernel program off) with the
# per-warp dequantization, then with the kernel before it (dequantize_before.cu copied over
# kernels/cuda/dequantize.cu in that copy of the tree), then the per-warp one again. Output 13.
set -u
OUT=${OUT:-.}
# shellcheck disable=SC1091  # made by pack-server-deps.sh, carried to the GPU machine
source .device-deps/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
run() {
  mkdir -p "$OUT/$1"
  RESULTS_DIR="$OUT/$1" BUILD_DIR=build-device GPU_BENCH_FORWARD=0 GPU_BENCH_KERNELS=0 OVID_COMMIT="$2" \
    SKIP_BUILD="$3" timeout 150 bash bench/gpu-bench.sh > "$OUT/$1.log" 2>&1
  echo "== $1 ($2)"; grep -E "build:|dequant ovid +q(4_K|6_K)|GOAL video" "$OUT/$1.log"
}
here=$(cd "$(dirname "$0")" && pwd)
cp kernels/cuda/dequantize.cu /tmp/dequantize_new.cu
run 1-new dbb081a 0
cp "$here/dequantize_before.cu" kernels/cuda/dequantize.cu
cmake --build build-device -j16 --target ovid-bench-gpu > "$OUT/rebuild-old.log" 2>&1; echo "rebuild rc $?"
run 2-old "dbb081a with f4e4014's dequantize.cu" 1
cp /tmp/dequantize_new.cu kernels/cuda/dequantize.cu
cmake --build build-device -j16 --target ovid-bench-gpu > "$OUT/rebuild-new.log" 2>&1; echo "rebuild rc $?"
run 3-new dbb081a 1
