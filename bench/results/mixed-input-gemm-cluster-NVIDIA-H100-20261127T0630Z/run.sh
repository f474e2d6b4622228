#!/bin/bash
# Builds this folder's experiment (with the tenth session's programs it starts from) in a
# temporary folder and runs it on the GPU machine, from the repository root:
#   bash bench/results/mixed-input-gemm-cluster-NVIDIA-H100-20261127T0630Z/run.sh [forms|soak|build] [ROUNDS]
# forms: every form and ablation, interleaved with cuBLAS and lazy (dequantize + cuBLAS);
# soak:  cuBLAS, the mixed kernel and lazy each alone for 3 s at [14336,3072] x 15004 tokens,
#        with nvidia-smi sampling clocks and power every 100 ms (into $OUT, or the current folder);
# lazy:  lazy_caching.cu (dequantize + cuBLAS with plain or evict-first stores, weights rotating)
#        and lazy_discard.cu (the workspace's L2 lines dropped after the GEMM);
# build: compile only.
set -eu
mode=${1:-forms}
rounds=${2:-7}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
prev=$here/../mixed-input-gemm-large-m-NVIDIA-H100-20261127T0450Z
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$prev"/*.cuh "$prev"/mixed_gemm.cu "$prev"/mixed_gemm_unit_loop.patch "$prev"/make_wgmma.py \
  "$here"/mixed_gemm_clusterN.patch "$here"/lazy_caching.cu \
  "$here"/lazy_discard.cu "$here"/rotating_weights.cuh "$work"/
cd "$work"
python3 make_wgmma.py
patch -s -o mixed_gemm_unit.cu mixed_gemm.cu mixed_gemm_unit_loop.patch
patch -s -o mixed_gemm_clusterN.cu mixed_gemm_unit.cu mixed_gemm_clusterN.patch
# shellcheck disable=SC2054  # the comma belongs to -gencode
nv=(nvcc -O3 -std=c++17 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a -I"$repo" -I.
  "$repo"/kernels/cuda/dequantize.cu "$repo"/kernels/ggml_types.cc -lcublas -lcuda)

# name, source, flags
forms=(
  "tenth-session mixed_gemm.cu"
  "unit-loop mixed_gemm_unit.cu"
  "cluster2-3stages mixed_gemm_clusterN.cu -DSTAGES=3"
  "cluster2-4stages-wait0 mixed_gemm_clusterN.cu -DSTAGES=4 -DWAIT0"
  "cluster2-4stages-wait0-NO_MATH mixed_gemm_clusterN.cu -DSTAGES=4 -DWAIT0 -DNO_MATH"
  "cluster2-4stages-wait0-NO_PEER mixed_gemm_clusterN.cu -DSTAGES=4 -DWAIT0 -DNO_PEER"
  "cluster4-4stages-wait0 mixed_gemm_clusterN.cu -DSTAGES=4 -DWAIT0 -DCL=4"
)
if [ "$mode" = lazy ]; then
  "${nv[@]}" lazy_caching.cu -o lazy_caching
  "${nv[@]}" lazy_discard.cu -o lazy_discard
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  timeout 300 ./lazy_caching "$rounds"
  timeout 300 ./lazy_discard 21
  exit 0
fi
if [ "$mode" = soak ]; then
  forms=("cluster2-4stages-wait0 mixed_gemm_clusterN.cu -DSTAGES=4 -DWAIT0"
    "cluster2-4stages-wait0-NO_MATH mixed_gemm_clusterN.cu -DSTAGES=4 -DWAIT0 -DNO_MATH")
fi
for f in "${forms[@]}"; do
  read -r name src flags <<<"$f"
  # shellcheck disable=SC2086  # flags are several words
  "${nv[@]}" $flags "$src" -o "$name" 2>&1 | grep -iE "error|warning: .*spill" &
done
wait
[ "$mode" = build ] && { ls; exit 0; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ "$mode" = soak ]; then
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active \
    --format=csv,noheader -lms 100 >"${OUT:-$here}/soak-nvidia-smi.csv" &
  smi=$!
  sleep 1
fi
for f in "${forms[@]}"; do
  read -r name src flags <<<"$f"
  echo "=== $name: $src $flags"
  if [ "$mode" = soak ]; then timeout 90 "./$name" 1 12 soak; else timeout 90 "./$name" "$rounds" 12; fi
done
if [ "$mode" = soak ]; then sleep 1; kill "$smi"; fi
