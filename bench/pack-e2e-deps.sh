#!/usr/bin/env bash
# Packs what the end-to-end tests need on the GPU machine, which has no package registry and
# only part of it installed (grpcio 1.84, no pytest, no grpcio-tools, no h2, no promtool): the pinned
# wheels of scripts/requirements.txt for its Python (3.12) and this machine's promtool (xz), into
# .e2e-deps/ (about 22 MB). Run here, then carry ".e2e-deps" to the GPU machine next to
# .device-deps; bench/e2e-gpu.sh unpacks it there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/.e2e-deps
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3
pin() { grep -E "^$1==" "$root/scripts/requirements.txt" | head -n 1; }
rm -rf "$out"
mkdir -p "$out/wheels"
# The GPU machine's Python: 3.12 (Ubuntu 24.04; shared/spec/platform.md).
"$python" -m pip download --quiet --only-binary=:all: --python-version "${DEVICE_PYTHON:-3.12}" \
  --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$out/wheels" \
  "$(pin grpcio)" "$(pin grpcio-tools)" "$(pin grpcio-health-checking)" \
  "$(pin grpcio-reflection)" "$(pin pytest)" "$(pin prometheus-client)" "$(pin h2)"
promtool=$(command -v promtool) || {
  echo "pack-e2e-deps: no promtool here (Debian's prometheus package)" >&2
  exit 1
}
xz -9 -T0 -c "$promtool" >"$out/promtool.xz"
echo "pack-e2e-deps: $(find "$out/wheels" -name "*.whl" | wc -l) wheels and promtool, $(du -sh "$out" | cut -f1) in .e2e-deps/"
