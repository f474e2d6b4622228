#!/bin/bash
# The per-warp dequantization experiments (README.md). From the repository root:
#   bash bench/results/dequant-per-warp-NVIDIA-H100-20261127T0752Z/run.sh prepare
#       here, with git: writes dequantize_before.cu (the kernel at f4e4014) into this folder;
#   bash bench/results/dequant-per-warp-NVIDIA-H100-20261127T0752Z/run.sh [all]
#       on the GPU machine: builds write_heavy_ceiling.cu against the tree's kernels and runs it
#       (output into $OUT, or the current folder). "all" adds every traffic-matched form;
#   bash .../run.sh tune
#       on the GPU machine: residency_and_depth.cu (blocks per SM and ring depth of the per-warp
#       kernel);
#   bash .../run.sh after
#       on the GPU machine: after_gemms.cu (the dequantization alone, right after 2 s of GEMMs
#       and after 2 s idle);
#   bash .../run.sh gemms
#       on the GPU machine: dequant_between_gemms.cu (the dequantization between GEMMs at
#       15,004 tokens, new kernel against the one before), twice, nvidia-smi sampling.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [ "${1:-}" = prepare ]; then
  git -C "$repo" show f4e4014:kernels/cuda/dequantize.cu >"$here/dequantize_before.cu"
  exit 0
fi
[ -f "$here/dequantize_before.cu" ] || { echo "run.sh: run 'run.sh prepare' first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2054  # the comma belongs to -gencode
nv=(nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a -I"$repo")
"${nv[@]}" -c "$here/dequantize_before.cu" -o "$work/before.o" -DDequantizeCuda=DequantizeCudaOld \
  -DDequantizeRowsCuda=DequantizeRowsCudaOld -DDequantizeCudaSupports=DequantizeCudaSupportsOld
if [ "${1:-}" = tune ]; then
  sed -e 's/^constexpr int kWholeDepth = 3;/constexpr int kWholeDepth = DQ_DEPTH;/' \
    -e 's/    constexpr int kWholeBlocksPerSm = 3;/    constexpr int kWholeBlocksPerSm = DQ_BLOCKS;/' \
    "$repo/kernels/cuda/dequantize.cu" >"$work/dq_tune.cu"
  for v in "B2D3 2 3" "B3D3 3 3" "B4D3 4 3" "B2D4 2 4" "B3D4 3 4"; do
    read -r name blocks depth <<<"$v"
    "${nv[@]}" -c "$work/dq_tune.cu" -o "$work/$name.o" -DDQ_BLOCKS="$blocks" -DDQ_DEPTH="$depth" \
      -DDequantizeCuda="Dq$name" -DDequantizeRowsCuda="DqRows$name" -DDequantizeCudaSupports="DqSup$name"
  done
  "${nv[@]}" "$here/residency_and_depth.cu" "$work"/B*.o "$repo/kernels/ggml_types.cc" \
    "$repo/bench/cuda/bench_timer.cc" -o "$work/tune"
  "$work/tune" | tee "${OUT:-.}/residency-and-depth.txt"
  exit 0
fi
if [ "${1:-}" = after ]; then
  "${nv[@]}" "$here/after_gemms.cu" "$repo/kernels/cuda/dequantize.cu" "$repo/kernels/ggml_types.cc" \
    "$repo/bench/cuda/bench_timer.cc" "$work/before.o" -lcublas -o "$work/after"
  "$work/after" | tee "${OUT:-.}/after-gemms.txt"
  exit 0
fi
if [ "${1:-}" = gemms ]; then
  "${nv[@]}" "$here/dequant_between_gemms.cu" "$repo/kernels/cuda/dequantize.cu" \
    "$repo/kernels/ggml_types.cc" "$work/before.o" -lcublas -o "$work/dbg"
  nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader -lms 200 >"${OUT:-.}/smi.csv" &
  smi=$!
  "$work/dbg" | tee "${OUT:-.}/between-gemms.txt"
  "$work/dbg" | tee -a "${OUT:-.}/between-gemms.txt"
  kill "$smi"
  exit 0
fi
"${nv[@]}" "$here/write_heavy_ceiling.cu" "$repo/kernels/cuda/dequantize.cu" \
  "$repo/kernels/ggml_types.cc" "$repo/bench/cuda/bench_timer.cc" "$work/before.o" -o "$work/whc"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 400 "$work/whc" "$@" | tee "${OUT:-.}/write-heavy-ceiling.txt"
