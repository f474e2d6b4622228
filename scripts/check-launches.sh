#!/usr/bin/env bash
# Every CUDA kernel launch is checked (docs/style lesson 4): a `<<<...>>>` launch records no error
# by itself, so within the next 3 lines there must be a launch check (cudaGetLastError,
# cudaPeekAtLastError or an OVID_*CHECK* macro). A cudaLaunchKernelEx call returns its error, so
# its result must be used: returned, assigned, or passed to a check macro on the same line.
#
# usage: scripts/check-launches.sh [ROOT]     (scans ROOT/kernels and ROOT/engine)
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

dirs=()
for d in kernels engine; do [ -d "$root/$d" ] && dirs+=("$root/$d"); done
files=()
[ ${#dirs[@]} -eq 0 ] || mapfile -t files < <(find "${dirs[@]}" -type f \
  \( -name '*.cu' -o -name '*.cuh' -o -name '*.cc' -o -name '*.h' \) | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "ok: no kernel sources yet"
  exit 0
fi

awk -v root="$root/" '
  FNR == 1 && pending > 0 { print where ": launch without a launch check"; bad++; pending = 0 }
  # a comment line mentioning a launch is not one
  /^[[:space:]]*\/\// { next }
  pending > 0 {
    if ($0 ~ /cudaGetLastError|cudaPeekAtLastError|OVID_[A-Z_]*CHECK/) pending = 0
    else if (--pending == 0) { print where ": launch without a launch check"; bad++ }
  }
  /<<</ { launches++; where = substr(FILENAME, length(root) + 1) ":" FNR; pending = 3 }
  /cudaLaunchKernelEx[[:space:]]*\(/ {
    launches++
    if ($0 !~ /return|=|CHECK[A-Z_]*[[:space:]]*\(/) {
      print substr(FILENAME, length(root) + 1) ":" FNR ": cudaLaunchKernelEx result ignored"; bad++
    }
  }
  END {
    if (pending > 0) { print where ": launch without a launch check"; bad++ }
    if (bad) { printf "FAIL: %d of %d launches unchecked\n", bad, launches; exit 1 }
    printf "ok: %d launches, each checked\n", launches
  }' "${files[@]}"
