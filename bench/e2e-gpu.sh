#!/usr/bin/env bash
# The end-to-end tests of the daemon (tests/e2e) on the GPU machine: the same pytest files as CI,
# with every daemon started on --device=cuda (OVID_E2E_DEVICE), and one log with the card and the
# commit (bench/results/e2e-gpu-<card>-<time>.log). The GPU machine lacks pytest, grpcio-tools
# and promtool: carry .e2e-deps (bench/pack-e2e-deps.sh, run here first) beside .device-deps,
# and run after `source .device-deps/env.sh`.
#
# usage: bench/e2e-gpu.sh [PYTEST ARGS...]   (default: every e2e file but the full pipeline's,
#        whose tiny decoders and tokenizer need sentencepiece and the media libraries)
# env:   BUILD_DIR (default build-device), RESULTS_DIR (default bench/results), OVID_COMMIT (the
#        commit the tree was copied from), OVID_SOAK_SECONDS / OVID_SOAK_CLIENTS (test_soak.py)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-device}
results=${RESULTS_DIR:-$root/bench/results}
deps=$root/.e2e-deps
py=/tmp/ovid-e2e-python
[ -d "$deps/wheels" ] || { echo "e2e-gpu: no .e2e-deps (bench/pack-e2e-deps.sh)" >&2; exit 1; }
if [ ! -e "$py/.done" ]; then
  # Wheels are zip files: unpacked side by side they import as installed (their .dist-info
  # included, which generate.sh reads for grpcio-tools' version); no pip needed.
  rm -rf "$py"
  mkdir -p "$py/bin"
  for wheel in "$deps"/wheels/*.whl; do python3 -m zipfile -e "$wheel" "$py"; done
  xz -dc "$deps/promtool.xz" >"$py/bin/promtool"
  chmod +x "$py/bin/promtool"
  touch "$py/.done"
fi
export PYTHONPATH="$py${PYTHONPATH:+:$PYTHONPATH}" PATH="$py/bin:$PATH"
mkdir -p "$results"
cd "$root"
cmake --preset device -B "$build" -DOVID_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ovid ovid-gguf ovidctl >/dev/null
if [ $# -eq 0 ]; then
  set -- tests/e2e/test_generate.py tests/e2e/test_admission.py tests/e2e/test_scheduling.py \
    tests/e2e/test_lifecycle.py tests/e2e/test_metrics.py tests/e2e/test_security.py \
    tests/e2e/test_soak.py
fi
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
log="$results/e2e-gpu-$card-$(date -u +%Y%m%dT%H%M%SZ).log"
status=0
{
  echo "# $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n1), $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# commit ${OVID_COMMIT:-unknown}; OVID_E2E_DEVICE=cuda; python $(python3 -V 2>&1 | cut -d' ' -f2)"
  OVID_E2E_DEVICE=cuda OVID_BIN="$build/bin" OVID_ROOT="$root" PYTHONDONTWRITEBYTECODE=1 \
    python3 -m pytest -v -s -p no:cacheprovider "$@" 2>&1 || status=$?
} >"$log"
grep -E '^soak:|PASSED|FAILED|ERROR|passed|failed' "$log" | tail -n 60 || true
echo "written: $log"
exit "$status"
