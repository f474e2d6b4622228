#!/usr/bin/env bash
# Shows that scripts/install-venv.sh refuses a first install on a disk too small for it, naming
# the folder and the space it needs, before pip downloads anything: on a full disk pip itself
# fails halfway through with a bare "[Errno 28] No space left on device". The needs are raised
# past any real disk through the script's overrides, so the test needs no small file system.
#
# usage: tests/repo/install_venv_selftest.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }

# run NAME ENV...: a first install into $tmp/NAME; its output in $tmp/NAME.out, its status in rc.
run() {
  local name=$1
  shift
  rc=0
  # No index: should the check let it through, pip fails at once instead of downloading 4 GB.
  env PIP_NO_INDEX=1 PIP_FIND_LINKS= "$@" bash "$root/scripts/install-venv.sh" "$tmp/$name" "$root/scripts/requirements.txt" \
    >"$tmp/$name.out" 2>&1 || rc=$?
}

# check NAME WANT: refused with WANT in the message, and pip never ran (no stamp, no torch).
check() {
  local name=$1 want=$2 before=$failures
  if [ "$rc" -eq 0 ]; then fail "$name: exit status 0, expected a refusal"; fi
  if ! grep -q "not enough disk space.*$want" "$tmp/$name.out"; then
    fail "$name: the message does not say '$want'"
  fi
  if ! grep -q '^\[install-deps\] disk: [0-9]* MiB free' "$tmp/$name.out"; then
    fail "$name: no line with the free space"
  fi
  if [ -e "$tmp/$name/.ovid-requirements" ] || grep -q 'installing' "$tmp/$name.out"; then
    fail "$name: pip ran"
  fi
  if [ "$failures" -eq "$before" ]; then echo "ok    $name: refused with '$want'"; fi
  sed 's/^/        /' "$tmp/$name.out"
}

# The venv and pip's downloads on one file system: their sum is what counts.
run same OVID_VENV_MIB=900000000 TMPDIR="$tmp"
check same "$tmp/same and $tmp (one file system) need 900003000 MiB"
# A TMPDIR on another file system (/dev/shm, where there is one) is checked on its own.
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$tmp")" ]; then
  run tmpdir OVID_WHEELS_MIB=900000000 TMPDIR=/dev/shm
  check tmpdir "/dev/shm needs 900000000 MiB for pip's downloads"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "install-venv disk check: all cases behaved"
