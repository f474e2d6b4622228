#!/usr/bin/env bash
# Enforces the "must not include" column of docs/architecture.md with a grep over #include lines:
# dependencies point one way (kernels <- engine/gguf <- engine <- server), so that the kernels build
# without LibTorch, the GGUF reader without LibTorch or gRPC, and the server without LibTorch.
# A folder that does not exist yet is reported and skipped. Exits 1 on any violation.
#
# usage: scripts/check-layering.sh [ROOT]      (ROOT defaults to the repository)
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

torch='torch/|ATen/|c10/'
grpc='grpc/|grpcpp/|grpc\+\+/|google/protobuf/|proto/|ovid/v1/|[^">]*\.pb\.h'
# folder | forbidden include prefixes (extended regex) | what that means
rules=(
  "kernels|absl/|$torch|$grpc|prometheus/|engine/|server/|tools/|ovid/|no absl, LibTorch, gRPC or engine: a pure leaf"
  "engine/gguf|$torch|$grpc|prometheus/|server/|tools/|engine/(tensor|ops|models|sampling|pipeline|media)/|no LibTorch, gRPC or higher engine layers"
  "engine/media|$torch|$grpc|prometheus/|server/|tools/|engine/(tensor|ops|models|sampling|pipeline)/|torch-free encoders: buffers in, bytes out"
  "engine/text|$torch|$grpc|prometheus/|server/|tools/|engine/(tensor|ops|models|sampling|pipeline|media)/|torch-free prompt text and tokenizer"
  "engine|$grpc|prometheus/|server/|tools/|no gRPC, metrics or server"
  "server|$torch|kernels/|engine/|no LibTorch or engine internals (only the ovid/ API)"
  "tools/ovidctl|$torch|server/|engine/(tensor|ops|models|sampling|pipeline|media)/|ovid/[a-z_]+\.h|a gRPC client: no LibTorch, server or engine beyond the safetensors reader, the atomic file and the UTF-8 check"
)

failed=0
for rule in "${rules[@]}"; do
  dir=${rule%%|*}
  rest=${rule#*|}
  why=${rest##*|}
  forbidden=${rest%|*}
  if [ ! -d "$root/$dir" ]; then
    echo "skip  $dir/: absent"
    continue
  fi
  mapfile -t files < <(find "$root/$dir" -type f \
    \( -name '*.h' -o -name '*.hh' -o -name '*.hpp' -o -name '*.c' -o -name '*.cc' \
       -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.inc' \) | sort)
  if [ ${#files[@]} -eq 0 ]; then
    echo "ok    $dir/: no sources yet"
    continue
  fi
  pattern="^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($forbidden)"
  if hits=$(grep -nE "$pattern" "${files[@]}"); then
    echo "FAIL  $dir/: $why; found:"
    printf '%s\n' "$hits" | sed "s|^$root/|        |"
    failed=1
  else
    echo "ok    $dir/: ${#files[@]} files, $why"
  fi
done
exit "$failed"
