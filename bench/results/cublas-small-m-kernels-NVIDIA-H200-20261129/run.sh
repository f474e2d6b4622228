#!/usr/bin/env bash
# cuBLAS's kernels for Ovi's shapes at 16/157/314 tokens on the GPU machine: times (CUDA events)
# and ncu launch statistics (kernel name, grid, block, registers, shared memory, duration).
# Run from the repository root; writes into $OUT.
set -e
here=bench/results/cublas-small-m-kernels-NVIDIA-H200-20261129
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/card.txt"
python3 "$here/run.py" | tee "$out/times.txt"
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
"$ncu" --clock-control none --section LaunchStats --section SpeedOfLight \
  python3 "$here/run.py" --profile > "$out/ncu.txt" 2>&1 || tail -30 "$out/ncu.txt"
grep -E '^  [a-zA-Z_].*\(|Grid Size|Block Size|Registers Per|Dynamic Shared|Static Shared|Duration|Cluster Size|Waves Per' "$out/ncu.txt" > "$out/ncu-summary.txt" || true
head -150 "$out/ncu-summary.txt"
