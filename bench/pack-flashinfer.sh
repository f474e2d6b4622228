#!/usr/bin/env bash
# Copies the FlashInfer/CUTLASS/libcu++ headers that kernels/cuda/sm90 includes (found with
# nvcc -M, about 18 MB) from .deps/flashinfer (scripts/install-flashinfer.sh) into .flashinfer/,
# the folder cmake/FlashInfer.cmake looks in first. Run here, then carry ".flashinfer" to the
# GPU machine, which has no package registry: run's carry limit (64 MiB) has no room for the
# whole package beside .device-deps.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=$root/.deps/flashinfer/data
[ -d "$data/include/flashinfer" ] || {
  echo "pack-flashinfer: no FlashInfer headers in .deps/flashinfer (scripts/install-flashinfer.sh)" >&2
  exit 1
}
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
out=$root/.flashinfer
deps=$(mktemp)
trap 'rm -f "$deps"' EXIT
"$nvcc" -std=c++17 --generate-code=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr \
  -I"$root" -I"$data/cccl/libcudacxx/include" -I"$data/include" -I"$data/cutlass/include" \
  -I"$data/cutlass/tools/util/include" -M "$root/kernels/cuda/sm90/flash_attention.cu" -o "$deps"
rm -rf "$out"
sed -e 's/\\$//' "$deps" | tr ' ' '\n' | grep "^$data/" | sort -u | while read -r file; do
  rel=${file#"$data"/}
  mkdir -p "$out/$(dirname "$rel")"
  cp "$file" "$out/$rel"
done
echo "pack-flashinfer: $(find "$out" -type f | wc -l) headers, $(du -sh "$out" | cut -f1) in .flashinfer/"
