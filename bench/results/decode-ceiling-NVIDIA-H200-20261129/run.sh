#!/usr/bin/env bash
# The Q4_K decode ceiling per SM (decode_ceiling.cu) on the GPU machine; run from the repository
# root, writes into $OUT.
set -e
here=bench/results/decode-ceiling-NVIDIA-H200-20261129
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/card.txt"
nvcc -O3 -std=c++17 -arch=sm_90a -I. -Xptxas -v "$here/decode_ceiling.cu" -o /tmp/decode_ceiling \
  2>&1 | grep -E 'registers|spill|error' | tee "$out/ptxas.txt"
/tmp/decode_ceiling | tee "$out/decode-ceiling.txt"
# The decode is in the loop, not hoisted: per kernel, the count of each instruction that matters.
cuobjdump --dump-sass /tmp/decode_ceiling | awk '/Function :/{f=$NF; next}
  {for (i = 1; i <= NF; ++i) if ($i ~ /^(PRMT|FFMA|F2FP|STS|LDS|BAR|BRA)/) {
     split($i, a, "."); c[f " " a[1]]++; break }}
  END {for (k in c) print c[k], k}' | sort -k2 | tee "$out/sass-counts.txt"
