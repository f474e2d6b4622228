#!/usr/bin/env bash
# The prefetch chain (prefetch_chain.cu) on the GPU machine; run from the repository root, writes
# into $OUT.
set -e
here=bench/results/prefetch-dequant-157-NVIDIA-H200-20261130
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/card.txt"
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a "$here/prefetch_chain.cu" -lcublas \
  -o /tmp/prefetch_chain
timeout 120 /tmp/prefetch_chain | tee "$out/prefetch-chain.txt"
