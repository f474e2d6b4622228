#!/usr/bin/env bash
# The register-A Q4_K decode + wgmma core loop (rs_decode_mma.cu) on the GPU machine; run from
# the repository root, writes into $OUT.
set -e
here=bench/results/rs-decode-mma-NVIDIA-H200-20261130
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/card.txt"
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xptxas -v "$here/rs_decode_mma.cu" \
  -lcublas -o /tmp/rs_decode_mma 2>&1 | grep -E 'registers|spill|error|warning|Performance' | tee "$out/ptxas.txt"
cuobjdump -sass /tmp/rs_decode_mma | grep -E "HGMMA|DEPBAR" > "$out/sass-hgmma.txt" || true
/tmp/rs_decode_mma | tee "$out/rs-decode-mma.txt"
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I. -Xptxas -v "$here/rs_fused_q4k.cu" \
  -lcublas -o /tmp/rs_fused_q4k 2>&1 | grep -E 'registers|spill|error|warning|Performance' | tee "$out/ptxas-fused.txt"
timeout 60 /tmp/rs_fused_q4k | tee "$out/rs-fused-q4k.txt"
