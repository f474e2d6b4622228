#!/usr/bin/env bash
# The A/B run of this folder (thirty-seventh session): the fused panel kernel of the tree (no
# cluster barrier without a split; a relaxed one at the end with a split) against the kernel at
# 7911bb3 (ab_old_fused_matmul_panel_kernel.cuh beside this script), plus the kernels' GPU
# tests with the new one. Run on the GPU machine from the repository root; writes into $OUT.
set -e
# shellcheck source=/dev/null  # packed on the GPU machine, absent from a clone
source .device-deps/env.sh
out=${OUT:-/tmp}
here=bench/results/panel-reduction-ablation-NVIDIA-H200-20261130
b=build-device
k=kernels/cuda/fused_matmul_panel_kernel.cuh
cmake --preset device -B $b -DOVID_TESTS=ON >/dev/null 2>&1
cmake --build $b -j16 --target cuda_kernels_test ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
$b/bin/cuda_kernels_test --gtest_brief=1 > "$out/cuda_kernels_test.txt" 2>&1 || true
tail -3 "$out/cuda_kernels_test.txt"
cp $b/bin/ovid-bench-cuda /tmp/bench-new
cp $k /tmp/new-kernel.cuh
cp $here/ab_old_fused_matmul_panel_kernel.cuh $k
touch $k
cmake --build $b -j16 --target ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
cp $b/bin/ovid-bench-cuda /tmp/bench-old
cp /tmp/new-kernel.cuh $k
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for r in 1 2 3; do for v in old new; do
  echo "=== $v round $r"
  /tmp/bench-$v --quick --skip-dequant 2>&1 | grep -E '^(q4_K|q5_K|q6_K|q8_0) +[0-9x]+ +(16|64|157|314|512|628) ' || true
done; done | tee "$out/ab.txt"
