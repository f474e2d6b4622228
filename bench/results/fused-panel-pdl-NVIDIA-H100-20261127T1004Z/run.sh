#!/bin/bash
# The programmatic-dependent-launch experiment (README.md). From the repository root:
#   bash bench/results/fused-panel-pdl-NVIDIA-H100-20261127T1004Z/run.sh prepare
#       here, with git: writes the panel kernel and launcher before PDL (c5fb40e) into before/;
#   bash .../run.sh [--chain | --chain-trigger]
#       on the GPU machine: builds the A/B program of the Q6_K loads experiment (ab_panel.cu,
#       next door) with the tree's kernel ("new", PDL) and the one from before/ ("old") and runs
#       it: back to back, or each call after a plain / an early-triggering elementwise kernel;
#   bash .../run.sh dequant
#       on the GPU machine: dq_pdl_ab.cu, the dequantization with PDL against the one before
#       (bdf68a0), back to back and after an early-triggering elementwise kernel.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
ab=$repo/bench/results/fused-q6k-realigned-loads-NVIDIA-H100-20261127T0951Z/ab_panel.cu
if [ "${1:-}" = prepare ]; then
  mkdir -p "$here/before/kernels/cuda"
  for f in fused_matmul_panel_kernel.cuh fused_matmul_panel_launch.cuh; do
    git -C "$repo" show "c5fb40e:kernels/cuda/$f" >"$here/before/kernels/cuda/$f"
  done
  git -C "$repo" show bdf68a0:kernels/cuda/dequantize.cu >"$here/before/dequantize.cu"
  exit 0
fi
[ -f "$here/before/kernels/cuda/fused_matmul_panel_kernel.cuh" ] ||
  { echo "run.sh: run 'run.sh prepare' first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2054  # the comma belongs to -gencode
nv=(nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a)
if [ "${1:-}" = dequant ]; then
  "${nv[@]}" -I"$repo" -c "$here/before/dequantize.cu" -o "$work/old.o" \
    -DDequantizeCuda=DequantizeCudaOld -DDequantizeRowsCuda=DequantizeRowsCudaOld \
    -DDequantizeCudaSupports=DequantizeCudaSupportsOld
  "${nv[@]}" -I"$repo" "$here/dq_pdl_ab.cu" "$repo/kernels/cuda/dequantize.cu" \
    "$repo/kernels/ggml_types.cc" "$repo/bench/cuda/bench_timer.cc" "$work/old.o" -o "$work/dq"
  "$work/dq" | tee "${OUT:-.}/dq-pdl-ab.txt"
  exit 0
fi
bash "$(dirname "$ab")/build_ab.sh" "$here/before" "$work/ab"
"$work/ab" "$@" | tee "${OUT:-.}/ab-pdl${1:-}.txt"
