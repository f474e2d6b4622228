#!/usr/bin/env bash
# Puts FlashInfer's CUDA headers (FlashInfer, CUTLASS/CuTe, libcu++) into PREFIX (default
# .deps/flashinfer) for kernels/cuda/sm90 (cmake/FlashInfer.cmake). They come from the pinned PyPI
# wheel flashinfer-python, fetched with the venv's pip and unpacked, headers only: the package is
# not installed into .venv, because an importable but dependency-less `flashinfer` breaks
# diffusers (the reference tests), which imports it whenever it is present.
# Skipped without nvcc (a CPU-only build has no use for CUDA headers). Does nothing when PREFIX
# already holds this version.
#
# usage: scripts/install-flashinfer.sh [PREFIX]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$root/.deps/flashinfer}
version=0.7.2.post1
sha256=bfdc18b9e1e4d8d0730fe4343dc0e284cd0c160086de80f99888bc4867922d49
python=${PYTHON:-$root/.venv/bin/python}
say() { printf '[install-deps] %s\n' "$*"; }

if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  say "flashinfer: no nvcc, no CUDA headers needed"
  exit 0
fi
stamp=$prefix/.installed
if [ -f "$stamp" ] && grep -qx "flashinfer-python $version" "$stamp"; then
  say "flashinfer: $version headers present in ${prefix#"$root"/}"
  exit 0
fi

say "flashinfer: fetching flashinfer-python $version (headers only) into ${prefix#"$root"/}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
  -d "$work" "flashinfer-python==$version"
wheel=$(echo "$work"/flashinfer_python-"$version"-*.whl)
echo "$sha256  $wheel" | sha256sum -c --quiet - || {
  echo "install-flashinfer: $wheel does not have the pinned sha256" >&2
  exit 1
}
rm -rf "$prefix"
mkdir -p "$prefix"
# The header trees the kernel's include path names (cmake/FlashInfer.cmake), nothing else.
"$python" - "$wheel" "$prefix" <<'PY'
import sys, zipfile
wheel, prefix = sys.argv[1], sys.argv[2]
keep = ("flashinfer/data/include/", "flashinfer/data/cutlass/include/",
        "flashinfer/data/cutlass/tools/util/include/", "flashinfer/data/cccl/libcudacxx/include/")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(keep) and not name.endswith("/"):
            z.extract(name, prefix)
PY
mv "$prefix/flashinfer/data" "$prefix/data" && rmdir "$prefix/flashinfer"
echo "flashinfer-python $version" >"$stamp"
say "flashinfer: $(find "$prefix/data" -type f | wc -l) headers in ${prefix#"$root"/}/data"
