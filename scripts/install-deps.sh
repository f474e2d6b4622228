#!/usr/bin/env bash
# Installs everything ovid needs to build and test, on Debian 12 or Ubuntu 24.04:
#   1. the distribution packages (compilers, gRPC, abseil, civetweb, GoogleTest, ffmpeg, linters...),
#   2. prometheus-cpp 1.0.2 (Ubuntu 24.04 packages it; on Debian 12 install-prometheus-cpp.sh
#      unpacks Debian 13's binary packages into .deps/),
#   3. the repository's Python virtualenv .venv with the pinned torch (LibTorch) and test tools,
#   4. FlashInfer's CUDA headers from its pinned PyPI wheel into .deps/ (when nvcc is present).
# Idempotent: each step first checks what is there, so a second run does nothing and takes seconds.
# Root is needed only to install packages; as another user the apt commands go through sudo, so
# that .venv stays owned by the user who builds.
#
# usage: scripts/install-deps.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '[install-deps] %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "install-deps: installing packages needs root; run this as root or install sudo" >&2
    exit 1
  fi
}

# shellcheck source=/dev/null
. /etc/os-release
say "system: ${PRETTY_NAME:-unknown}"

# The same names exist on Debian 12 and Ubuntu 24.04 (checked with apt-cache policy on Debian 12
# and the Ubuntu archive for noble). The CUDA toolkit is not a distribution package here: it comes
# with the machine (/usr/local/cuda); without nvcc the build is CPU-only.
packages=(
  # toolchain; clang + compiler-rt give libFuzzer and the sanitizers
  g++ make cmake ninja-build pkg-config git ca-certificates binutils file
  clang libclang-rt-dev
  # RPC and utilities
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  nlohmann-json3-dev
  # civetweb is prometheus-cpp's HTTP server; its CMake config also wants zlib
  civetweb libcivetweb-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev valgrind shellcheck
  # media output (MP4/WAV) and the T5 tokenizer
  ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libsentencepiece-dev
  # promtool, to check the metrics the daemon exposes
  prometheus
  # the virtualenv
  python3 python3-venv
)
if [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]; then
  # the key that verifies Debian 13's index, and what prometheus-cpp-dev depends on beyond civetweb
  # and zlib (its CMake config insists on CURL because the push library is built)
  packages+=(debian-archive-keyring libcurl4-openssl-dev)
else
  packages+=(prometheus-cpp-dev)      # 1.0.2 on Ubuntu 24.04 (universe) and Debian 13
fi

# dpkg-query lists only known packages; anything not fully installed ("ii") is missing.
mapfile -t present < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${packages[@]}" 2>/dev/null |
  awk '$1 == "ii" { print $2 }')
missing=()
for p in "${packages[@]}"; do
  case " ${present[*]} " in *" $p "*) ;; *) missing+=("$p") ;; esac
done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt: all ${#packages[@]} packages present"
else
  say "apt: installing ${#missing[@]} missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "apt: done"
fi

if ! dpkg-query -W -f='${db:Status-Abbrev}' prometheus-cpp-dev 2>/dev/null | grep -q '^ii'; then
  bash "$root/scripts/install-prometheus-cpp.sh" "$root/.deps/prometheus-cpp"
else
  say "prometheus-cpp: $(dpkg-query -W -f='${Version}' prometheus-cpp-dev) from the distribution"
fi

bash "$root/scripts/install-venv.sh" "$root/.venv" "$root/scripts/requirements.txt"
bash "$root/scripts/install-flashinfer.sh" "$root/.deps/flashinfer"
