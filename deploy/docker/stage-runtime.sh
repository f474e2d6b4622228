#!/usr/bin/env bash
# Gathers, in the Dockerfile's build stage, everything the runtime stage needs into STAGE, laid out
# as it will sit under / in the runtime image, so the runtime stage is one COPY:
#   usr/local/bin/       ovid, ovidctl (the HEALTHCHECK uses it), ovid-gguf
#   opt/ovid/python/     torch/lib and nvidia/ of the virtualenv's torch wheel, side by side as in
#                        site-packages, because libtorch*.so find the CUDA libraries of the nvidia-*
#                        wheels through RUNPATHs relative to themselves ($ORIGIN/../../nvidia/...)
#   opt/ovid/lib/        every other shared library ovid needs (gRPC, protobuf, abseil, civetweb,
#                        prometheus-cpp, ffmpeg, sentencepiece, OpenSSL, ...), taken from ldd
# Copying the libraries the binary was linked against, instead of apt-installing their packages
# again in the runtime stage, keeps one source of truth (install-deps.sh in the build stage) and
# leaves no package names or versions to keep in step between the two stages. Both stages are the
# same Ubuntu release, so the copies match the runtime's glibc.
#
# usage: deploy/docker/stage-runtime.sh BUILD_DIR VENV STAGE
set -euo pipefail
# Absolute paths: ldd prints absolute ones, and they are compared with the venv's below.
build=$(cd "$1" && pwd)
venv=$(cd "$2" && pwd)
stage=$3

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$stage/usr/local/bin" "$stage/opt/ovid/python/torch" "$stage/opt/ovid/lib"
for tool in ovid ovidctl ovid-gguf; do
  install -m 0755 "$build/bin/$tool" "$stage/usr/local/bin/$tool"
done
cp -a "$site/torch/lib" "$stage/opt/ovid/python/torch/lib"
cp -a "$site/nvidia" "$stage/opt/ovid/python/nvidia"

# The ldd closure of the three binaries, less glibc (the runtime image has the same one) and less
# what the wheel tree above already carries.
for tool in ovid ovidctl ovid-gguf; do
  if ldd "$build/bin/$tool" | grep -F 'not found'; then
    echo "stage-runtime: $tool has unresolved libraries (above)" >&2
    exit 1
  fi
done
glibc='^(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|ld-linux-aarch64)\.so'
for tool in ovid ovidctl ovid-gguf; do
  ldd "$build/bin/$tool"
done | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u | while read -r lib; do
  case $lib in "$venv"/* | "$site"/*) continue ;; esac
  if basename "$lib" | grep -qE "$glibc"; then continue; fi
  cp -L "$lib" "$stage/opt/ovid/lib/"
done
echo "stage-runtime: $(find "$stage/opt/ovid/lib" -type f | wc -l) system libraries," \
  "$(du -sh "$stage/opt/ovid/python" | cut -f1) of torch and CUDA libraries"
