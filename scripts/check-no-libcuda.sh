#!/usr/bin/env bash
# Asserts that no built binary or shared library names libcuda (the driver) as NEEDED. Machines
# without a driver (CI, a CPU host) could not even start such a program; code that needs the driver
# API reaches it through the CUDA runtime, which loads libcuda when a GPU is first used.
# Looks at every ELF executable and shared library under each DIR, skipping CMake's own scratch.
#
# usage: scripts/check-no-libcuda.sh DIR...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 DIR..." >&2; exit 2; }

checked=0
bad=()
while IFS= read -r -d '' f; do
  [ "$(head -c 4 -- "$f" | od -An -c | tr -d ' \n')" = '177ELF' ] || continue
  checked=$((checked + 1))
  if readelf -d -- "$f" 2>/dev/null | grep -E 'NEEDED' | grep -qE '\[libcuda\.so'; then
    bad+=("$f")
  fi
done < <(find "$@" -name CMakeFiles -prune -o -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print0)

if [ "$checked" -eq 0 ]; then
  echo "FAIL: no ELF binaries under $* (is the build there?)"
  exit 1
fi
if [ ${#bad[@]} -gt 0 ]; then
  echo "FAIL: these name libcuda.so as NEEDED (link CUDA::cudart, never CUDA::cuda_driver):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "ok: $checked ELF files, none needs libcuda"
