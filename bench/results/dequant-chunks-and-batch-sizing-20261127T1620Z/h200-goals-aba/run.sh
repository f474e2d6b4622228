#!/bin/bash
# Same warm H200 as the build (build-device: this commit's tree; build-old: d63873c's, from
# `git archive d63873c`): gpu-bench with the forward pass off, then d63873c's ovid-bench-gpu,
# then this tree's again (A/B/A of the batch-sizing fix; the new binary also has 644adb5).
set -u
# shellcheck disable=SC1091
source .device-deps/env.sh && export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SKIP_BUILD=1 GPU_BENCH_FORWARD=0 RESULTS_DIR=$OUT OVID_COMMIT=${COMMIT:-uncommitted} \
  bash bench/gpu-bench.sh >"$OUT/gpu-bench-new.log" 2>&1
grep '^GOAL' "$OUT/gpu-bench-new.log"
build-old/bin/ovid-bench-gpu --json "$OUT/old.json" --commit d63873c >"$OUT/old.txt" 2>&1
echo "== old"
grep '^GOAL' "$OUT/old.txt"
build-device/bin/ovid-bench-gpu --json "$OUT/new2.json" --commit "${COMMIT:-uncommitted}" \
  >"$OUT/new2.txt" 2>&1
echo "== new again"
grep '^GOAL' "$OUT/new2.txt"
