#!/bin/bash
# One fresh H100: build this tree (0a61732) and d63873c's ovid-bench-gpu (scratch/old-src from
# `git archive d63873c`), then gpu-bench (forward pass off), d63873c's binary, this one again.
set -u
# shellcheck disable=SC1091
source .device-deps/env.sh && export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
cmake --preset device -B build-device -DOVID_SHELLCHECK=/bin/false >"$OUT/configure-new.log" 2>&1
cmake --build build-device -j16 --target ovid-bench-gpu ovid-bench-cuda >"$OUT/build-new.log" 2>&1
cmake --preset device -S scratch/old-src -B build-old -DOVID_SHELLCHECK=/bin/false \
  >"$OUT/configure-old.log" 2>&1
cmake --build build-old -j16 --target ovid-bench-gpu >"$OUT/build-old.log" 2>&1
SKIP_BUILD=1 GPU_BENCH_FORWARD=0 RESULTS_DIR=$OUT OVID_COMMIT=$COMMIT bash bench/gpu-bench.sh \
  >"$OUT/gpu-bench-new.log" 2>&1
grep '^GOAL' "$OUT/gpu-bench-new.log" | sort -u
build-old/bin/ovid-bench-gpu --json "$OUT/old.json" --commit d63873c >"$OUT/old.txt" 2>&1
echo "== old"
grep '^GOAL' "$OUT/old.txt"
build-device/bin/ovid-bench-gpu --json "$OUT/new2.json" --commit "$COMMIT" >"$OUT/new2.txt" 2>&1
echo "== new again"
grep '^GOAL' "$OUT/new2.txt"
