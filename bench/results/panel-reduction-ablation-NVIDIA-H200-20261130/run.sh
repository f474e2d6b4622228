#!/usr/bin/env bash
# The ablation run of this folder (thirty-seventh session): the fused panel kernel with
# ablation-reduction.patch applied, which reads OVID_ABLATE at launch: 0 the kernel as it is,
# 1 each block sums only its own partial (no remote reads), 2 also no partial tile written,
# 3 also no cluster barriers. Outputs are wrong from 1 up; only the times matter. Run on the GPU
# machine from the repository root with the patch applied; writes into $OUT.
set -e
# shellcheck source=/dev/null  # packed on the GPU machine, absent from a clone
source .device-deps/env.sh
out=${OUT:-/tmp}
b=build-device
cmake --preset device -B $b >/dev/null 2>&1
cmake --build $b -j16 --target ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
for r in 1 2; do for a in 0 1 2 3; do
  echo "=== ablate $a round $r"
  OVID_ABLATE=$a $b/bin/ovid-bench-cuda --quick --skip-dequant 2>&1 | grep -E '^(q4_K|q6_K) +[0-9x]+ +(16|157|314) ' || true
done; done | tee "$out/ablation.txt"
