#!/bin/bash
# Builds ab_panel.cu into BINARY: the tree's panel kernel ("new") and the same kernel compiled
# with OLD_DIR's headers first on the include path ("old", in a renamed namespace with renamed
# entry points, so both live in one binary). Used by this folder's run.sh and by
# ../fused-panel-pdl-NVIDIA-H100-20261127T1004Z/run.sh.
#   bash build_ab.sh OLD_DIR BINARY
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
old=$1
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2054  # the comma belongs to -gencode
nv=(nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a)
pids=()
for f in fused_matmul_panel fused_matmul_panel_q4_k fused_matmul_panel_q5_k \
  fused_matmul_panel_q6_k fused_matmul_panel_q8_0; do
  "${nv[@]}" -I"$repo" -c "$repo/kernels/cuda/$f.cu" -o "$work/new_$f.o" &
  pids+=($!)
  "${nv[@]}" -I"$old" -I"$repo" -Dcuda_detail=cuda_detail_old \
    -DFusedPanelMatmul=FusedPanelMatmulOld -DFusedPanelSupports=FusedPanelSupportsOld \
    -c "$repo/kernels/cuda/$f.cu" -o "$work/old_$f.o" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
"${nv[@]}" -I"$repo" "$here/ab_panel.cu" "$work"/*.o "$repo/kernels/ggml_types.cc" \
  "$repo/bench/cuda/bench_timer.cc" -lcublas -o "$out"
