#!/usr/bin/env bash
# CPU dequantization: ovid (1 thread and all cores) next to gguf-py's numpy, in one table.
#   bench/cpu-bench.sh [BIN_DIR] [extra Google Benchmark flags...]
# BIN_DIR defaults to build/bin; results are also kept under bench/results/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-${root}/build/bin}"
shift || true
python="${OVID_PYTHON:-${root}/.venv/bin/python}"
exe="${bin}/ovid-bench-cpu-dequant"
if [[ ! -x "${exe}" ]]; then
  echo "cpu-bench.sh: ${exe} not found; build the ovid-bench-cpu-dequant target first" >&2
  exit 1
fi
mkdir -p "${root}/bench/results"
json="${root}/bench/results/cpu-dequant-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).json"
"${exe}" --benchmark_format=console --benchmark_out="${json}" --benchmark_out_format=json \
  --benchmark_repetitions=3 --benchmark_min_time=0.1 "$@" >&2
# Use the fastest repetition per case: the minimum is the least disturbed by other load.
"${python}" - "${json}" <<'PY'
import json, sys
path = sys.argv[1]
doc = json.load(open(path))
best = {}
for b in doc["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    key = b.get("run_name", b["name"])
    if key not in best or b["bytes_per_second"] > best[key]["bytes_per_second"]:
        best[key] = dict(b, name=key)
doc["benchmarks"] = list(best.values())
json.dump(doc, open(path, "w"), indent=1)
PY
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"${python}" "${root}/bench/cpu_dequant_numpy.py" --ovid-json "${json}"
