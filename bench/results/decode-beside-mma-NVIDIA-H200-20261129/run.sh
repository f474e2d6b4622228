#!/usr/bin/env bash
# The decode beside a busy MMA warpgroup (decode_beside_mma.cu) on the GPU machine; run from the
# repository root, writes into $OUT.
set -e
here=bench/results/decode-beside-mma-NVIDIA-H200-20261129
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/card.txt"
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I. -Xptxas -v "$here/decode_beside_mma.cu" \
  -o /tmp/decode_beside_mma 2>&1 | grep -E 'registers|spill|error|warning' | tee "$out/ptxas.txt"
/tmp/decode_beside_mma | tee "$out/decode-beside-mma.txt"
