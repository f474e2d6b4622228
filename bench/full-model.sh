# shellcheck shell=bash
# Sourced by the GPU-machine benchmarks (forward-bench.sh, daemon-bench.sh): builds targets of
# the `device` preset and makes, once, the full-size random-weight Ovi they run on.
#
#   build_device_targets BUILD_DIR TARGET...
#   model=$(full_model BUILD_DIR TYPE)      # TYPE: a quantization mix, e.g. Q4_K_M

build_device_targets() {
  local build=$1
  shift
  cmake --preset device -B "$build" >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "$@" >/dev/null
}

# Prints the model's path. It is kept in the build folder: it takes minutes to make and is reused.
full_model() {
  local build=$1 type=$2
  local model="$build/ovi-full-$type.gguf"
  if [ ! -f "$model" ]; then
    local start=$SECONDS
    "$build/bin/ovid-gguf" synth "$model.part" --preset ovi-full --type "$type" --seed 1 |
      tail -n 1 >&2
    mv "$model.part" "$model"
    echo "synth: $((SECONDS - start)) s" >&2
  fi
  echo "$model"
}
