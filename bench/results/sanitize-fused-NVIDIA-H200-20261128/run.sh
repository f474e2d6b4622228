#!/usr/bin/env bash
# One-off for the twenty-fifth session: compute-sanitizer on the fused-matmul tests that cover the
# last weight row's covering word (odd N, K 3072) and the panel kernel's final barrier.
set -uo pipefail
b=build-device
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
run() {
  echo "=== $1 $2"
  timeout 150 "$cs" --tool "$1" --error-exitcode 9 --print-limit 5 "$b/bin/cuda_kernels_test" \
    --gtest_filter="$2" --gtest_brief=1 2>&1 | grep -E 'ERROR SUMMARY|Invalid|Barrier error|PASSED|FAILED' | head -8
}
run memcheck 'Types/FusedMatmulTest.OddNAndLongK/*:Types/FusedPanelTest.LongKOddNAndDispatch/*'
run synccheck 'Types/FusedPanelTest.LongKOddNAndDispatch/q4_K'
