#!/usr/bin/env bash
# The A/B run of this folder (twenty-fifth session), run on the GPU machine from the repository
# root with ab_old_dequantize.cu / ab_old_async_copy.cuh (the files at 267f260) beside the tree.
set -e
# shellcheck source=/dev/null  # packed on the GPU machine, absent from a clone
source .device-deps/env.sh
b=build-device
cmake --preset device -B $b -DOVID_TESTS=ON >/dev/null 2>&1
cmake --build $b -j16 --target cuda_kernels_test ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
$b/bin/cuda_kernels_test --gtest_brief=1 2>&1 | tail -4
cp $b/bin/ovid-bench-cuda /tmp/bench-new
cp ab_old_dequantize.cu kernels/cuda/dequantize.cu; cp ab_old_async_copy.cuh kernels/cuda/async_copy.cuh
touch kernels/cuda/dequantize.cu kernels/cuda/async_copy.cuh
cmake --build $b -j16 --target ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
cp $b/bin/ovid-bench-cuda /tmp/bench-old
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for r in 1 2 3; do for v in old new; do
  echo "=== $v round $r"
  /tmp/bench-$v --quick --skip-fused 2>&1 | grep -E '^copy|(q6_K|q4_K|q8_0) +bf16 .* stream '
done; done
