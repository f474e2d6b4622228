#!/usr/bin/env bash
# The A/B run of this folder (thirty-fourth session), run on the GPU machine from the repository
# root with ab_old_block_decode.cuh / ab_old_panel_stage_decode.cuh (the files at ab61dc3) beside
# the tree. Writes into $OUT when set.
set -e
# shellcheck source=/dev/null  # packed on the GPU machine, absent from a clone
source .device-deps/env.sh
out=${OUT:-/tmp}
b=build-device
cmake --preset device -B $b -DOVID_TESTS=ON >/dev/null 2>&1
cmake --build $b -j16 --target cuda_kernels_test ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
$b/bin/cuda_kernels_test --gtest_brief=1 > "$out/cuda_kernels_test.txt" 2>&1 || true
tail -4 "$out/cuda_kernels_test.txt"
cp $b/bin/ovid-bench-cuda /tmp/bench-new
cp kernels/cuda/block_decode.cuh kernels/cuda/panel_stage_decode.cuh /tmp/
cp ab_old_block_decode.cuh kernels/cuda/block_decode.cuh
cp ab_old_panel_stage_decode.cuh kernels/cuda/panel_stage_decode.cuh
touch kernels/cuda/block_decode.cuh kernels/cuda/panel_stage_decode.cuh
cmake --build $b -j16 --target ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
cp $b/bin/ovid-bench-cuda /tmp/bench-old
cp /tmp/block_decode.cuh /tmp/panel_stage_decode.cuh kernels/cuda/
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for r in 1 2 3; do for v in old new; do
  echo "=== $v round $r"
  /tmp/bench-$v --quick --skip-fused 2>&1 | grep -E '^copy|(q6_K|q4_K|q8_0|q4_0) +(bf16|f32) .* stream '
done; done
