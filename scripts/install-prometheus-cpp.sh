#!/usr/bin/env bash
# Puts prometheus-cpp 1.0.2 into PREFIX (default .deps/prometheus-cpp) on Debian 12, which does not
# package it. Debian 13 does, and its binary packages need only libstdc++6 >= 11, libc6 >= 2.32
# and libcivetweb1 >= 1.15, which Debian 12 has. So they are fetched with apt from the trixie
# suite through a private apt state (the system's sources stay untouched) and unpacked with
# dpkg -x; CMake then finds PREFIX/usr (the Makefile puts it on CMAKE_PREFIX_PATH).
# Needs no root: nothing is installed system-wide. Does nothing when PREFIX already holds 1.0.2.
#
# usage: scripts/install-prometheus-cpp.sh [PREFIX]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$root/.deps/prometheus-cpp}
want=1.0.2
say() { printf '[install-deps] %s\n' "$*"; }

stamp=$prefix/.installed
if [ -f "$stamp" ] && grep -qx "prometheus-cpp $want" "$stamp"; then
  say "prometheus-cpp: $want present in ${prefix#"$root"/}"
  exit 0
fi

say "prometheus-cpp: fetching $want from Debian 13 into ${prefix#"$root"/}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/debs"
# The Debian mirror this system already uses for its own release serves trixie too.
# ($(SITE) is apt's format field, not a shell expansion.)
# shellcheck source=/dev/null
. /etc/os-release
# shellcheck disable=SC2016
mirror=$(apt-get indextargets --format '$(SITE) $(RELEASE)' |
  awk -v codename="${VERSION_CODENAME:-bookworm}" '$2 == codename { print $1; exit }')
if [ -z "$mirror" ]; then
  echo "install-prometheus-cpp: no Debian mirror for ${VERSION_CODENAME:-bookworm} in the apt sources" >&2
  exit 1
fi
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
  >"$work/sources.list"
# Sandbox::User=root: apt otherwise drops to _apt, which may not write a user's temp folder.
apt_opts=(
  -o Dir::State::Lists="$work/lists" -o Dir::State::Status=/var/lib/dpkg/status
  -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o Dir::Cache="$work/cache" -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1
)
mkdir -p "$work/cache/archives/partial"
apt-get "${apt_opts[@]}" -qq update
# push (and its libcurl) is unused; dev's CMake config names its targets, so unpack it anyway.
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download \
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 prometheus-cpp-dev)

rm -rf "$prefix"
mkdir -p "$prefix"
for deb in "$work"/debs/*.deb; do
  version=$(dpkg-deb -f "$deb" Version)
  case $version in
    "$want"-*) ;;
    *) echo "install-prometheus-cpp: Debian 13 now serves $(basename "$deb"), not $want" >&2; exit 1 ;;
  esac
  dpkg -x "$deb" "$prefix"
done
rm -rf "$prefix/usr/share/doc"  # html docs, 3 MB nobody reads here
echo "prometheus-cpp $want" >"$stamp"
say "prometheus-cpp: $want unpacked ($(find "$prefix" -name '*.so.*' | wc -l) libraries)"
