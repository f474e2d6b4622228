#!/usr/bin/env bash
# ncu of the fused panel kernel as committed (thirty-fourth session): one launch each of Q4_K at
# 157 tokens for [14336, 3072] and [3072, 3072] (ovid-bench-cuda --profile), full set, plus the
# SASS source page with stall samples. Run on the GPU machine from the repository root; writes
# into $OUT.
set -e
# shellcheck source=/dev/null  # packed on the GPU machine, absent from a clone
source .device-deps/env.sh
out=${OUT:-/tmp}
b=build-device
cmake --preset device -B $b -DOVID_TESTS=ON >/dev/null 2>&1
cmake --build $b -j16 --target ovid-bench-cuda 2>&1 | grep -E 'error|FAILED' | head -20 || true
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
"$ncu" --version | tail -1
"$ncu" -k regex:FusedPanelKernel --launch-count 2 --set full --import-source no \
  -o "$out/panel" -f "$b/bin/ovid-bench-cuda" --profile > "$out/ncu-run.txt" 2>&1 || tail -20 "$out/ncu-run.txt"
"$ncu" -i "$out/panel.ncu-rep" --page details > "$out/details.txt"
for k in 1 2; do
  "$ncu" -i "$out/panel.ncu-rep" --page source --csv --print-source sass \
    --launch-skip $((k - 1)) --launch-count 1 > "$out/source-$k.csv" 2>/dev/null || true
done
ls -la "$out"
