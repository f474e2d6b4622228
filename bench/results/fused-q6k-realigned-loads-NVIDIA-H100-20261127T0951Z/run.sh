#!/bin/bash
# The Q6_K decoder loads experiment (README.md). From the repository root:
#   bash bench/results/fused-q6k-realigned-loads-NVIDIA-H100-20261127T0951Z/run.sh prepare
#       here, with git: writes the decoders before this change (a68e197) into before/;
#   bash .../run.sh [profile | switch [--chain-trigger]]
#       on the GPU machine: builds ab_panel.cu with the tree's panel kernel ("new") and the same
#       kernel compiled from before/ in a renamed namespace ("old"), runs it (output into $OUT,
#       or the current folder); "profile" runs it under ncu instead (one launch of each);
#       "switch" takes before-switch/ (4170d87: the runtime-realigned loads on every path) as
#       "old" instead, for the compile-time word offset on Q6_K's TMA path.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [ "${1:-}" = prepare ]; then
  mkdir -p "$here/before/kernels/cuda"
  git -C "$repo" show a68e197:kernels/cuda/panel_stage_decode.cuh \
    >"$here/before/kernels/cuda/panel_stage_decode.cuh"
  mkdir -p "$here/before-switch/kernels/cuda"
  for f in panel_stage_decode.cuh fused_matmul_panel_kernel.cuh; do
    git -C "$repo" show "4170d87:kernels/cuda/$f" >"$here/before-switch/kernels/cuda/$f"
  done
  exit 0
fi
[ -f "$here/before/kernels/cuda/panel_stage_decode.cuh" ] ||
  { echo "run.sh: run 'run.sh prepare' first" >&2; exit 1; }
out=${OUT:-.}
old=$here/before
[ "${1:-}" = switch ] && old=$here/before-switch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$here/build_ab.sh" "$old" "$work/ab"
if [ "${1:-}" = profile ]; then
  ncu --kernel-name-base function -k regex:FusedPanelKernel --launch-count 18 \
    --section SpeedOfLight --section WarpStateStats \
    --metrics smsp__inst_executed.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,regex:smsp__average_warps_issue_stalled_.*_per_issue_active.ratio \
    "$work/ab" --profile >"$out/ncu-types.txt" 2>&1
  exit 0
fi
if [ "${1:-}" = switch ]; then
  "$work/ab" "${2:-}" | tee "$out/ab-q6k-switch${2:+-chain-trigger}.txt"
  exit 0
fi
"$work/ab" | tee "$out/ab-panel.txt"
