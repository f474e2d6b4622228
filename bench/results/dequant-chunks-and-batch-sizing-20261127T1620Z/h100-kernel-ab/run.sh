#!/bin/bash
# A/B/C of the per-warp dequantization on one H100, three interleaved rounds: bench-old
# (ovid-bench-cuda built at d63873c), bench-fold (one FADD for the integer offset), bench-new
# (fold + 1024-output chunks for Q6_K/Q3_K copied in 8-byte pieces, as in 644adb5). The three
# binaries and cuda_kernels_test were built on the workstation (sm_90a) and placed next to this
# script; OUT is the device tool's output folder.
set -u
cd "$(dirname "$0")" || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
./cuda_kernels_test --gtest_brief=1 >"$OUT/cuda_kernels_test.txt" 2>&1
echo "tests rc=$?" | tee -a "$OUT/cuda_kernels_test.txt"
for round in 1 2 3; do
  for v in old fold new; do
    "./bench-$v" --quick --skip-fused >"$OUT/r$round-$v.txt" 2>&1
    echo "== round $round $v"
    grep -E "^copy D2D|^(q4_K|q6_K|q8_0) +bf16" "$OUT/r$round-$v.txt"
  done
done
