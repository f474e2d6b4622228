#!/usr/bin/env bash
# Runs every GoogleTest binary that has GPU cases on the GPU machine and writes one log with the
# card, the commit and each binary's summary (bench/results/gpu-tests-<card>-<time>.log).
# Run after `source .device-deps/env.sh`.
#
# env: BUILD_DIR (default build-device), RESULTS_DIR (default bench/results), OVID_COMMIT (the
#      commit the working tree was copied from; the GPU machine has no reliable .git)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-device}
results=${RESULTS_DIR:-$root/bench/results}
suites=(cuda_kernels_test engine_linear_test engine_store_test sampling_test models_ovi_test
        pipeline_test umt5_test)
mkdir -p "$results"
cd "$root"
cmake --preset device -B "$build" -DOVID_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${suites[@]}" >/dev/null
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
log="$results/gpu-tests-$card-$(date -u +%Y%m%dT%H%M%SZ).log"
failed=0
{
  echo "# $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n1), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# commit ${OVID_COMMIT:-unknown}"
  for suite in "${suites[@]}"; do
    echo "## $suite"
    "$build/bin/$suite" --gtest_brief=1 2>&1 || failed=1
  done
} >"$log"
grep -E '^## |\[  PASSED  \]|\[  FAILED  \]|SKIPPED \]' "$log" || true
echo "written: $log"
exit "$failed"
