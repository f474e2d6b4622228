#!/usr/bin/env bash
# Creates the repository's virtualenv VENV (default .venv) from the system python3 and installs the
# pinned REQUIREMENTS into it: torch (which carries LibTorch for CMake) and the test tools.
# A stamp in the venv holds the hash of the requirements and the Python version, so an unchanged
# venv costs one file read. Then checks that LibTorch and nvcc agree on the CUDA major version:
# CUDA code compiled by one toolkit and linked against a LibTorch built for another does not load.
#
# usage: scripts/install-venv.sh [VENV] [REQUIREMENTS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$root/.venv}
requirements=${2:-$root/scripts/requirements.txt}
# Packages installed without their declared dependencies (see the file); next to REQUIREMENTS.
nodeps=$(dirname "$requirements")/requirements-nodeps.txt
pip_version=26.3  # older pips (Debian's ensurepip has 23.0) resolve this set far more slowly
say() { printf '[install-deps] %s\n' "$*"; }

# Free MiB on the file system holding PATH.
free_mib() { df -P -m "$1" | awk 'NR == 2 { print $4 }'; }

# The first install peaks at 8.0 GB (measured 2026-11-27: 5.3 GB of packages in the venv plus
# 2.7 GB of downloaded wheels that pip keeps in TMPDIR until it has installed them all). A disk
# that cannot hold that fails halfway through with pip's bare "[Errno 28] No space left on
# device", so say up front what is needed and where. A venv that already has torch only takes
# the small packages that changed, so it is not checked. OVID_VENV_MIB and OVID_WHEELS_MIB
# override the two needs (tests/repo/install_venv_selftest.sh).
check_disk_space() {
  if compgen -G "$venv/lib/python3*/site-packages/torch" >/dev/null; then return 0; fi
  local tmp=${TMPDIR:-/tmp} venv_mib=${OVID_VENV_MIB:-5800} wheels_mib=${OVID_WHEELS_MIB:-3000}
  local venv_free tmp_free
  venv_free=$(free_mib "$venv")
  tmp_free=$(free_mib "$tmp")
  say "disk: ${venv_free} MiB free for ${venv#"$root"/}, ${tmp_free} MiB free in $tmp (pip's downloads)"
  local short=""
  if [ "$(stat -c %d "$venv")" = "$(stat -c %d "$tmp")" ]; then
    if ((venv_free < venv_mib + wheels_mib)); then
      short="$venv and $tmp (one file system) need $((venv_mib + wheels_mib)) MiB, $venv_free free"
    fi
  elif ((venv_free < venv_mib)); then
    short="$venv needs $venv_mib MiB, $venv_free free"
  elif ((tmp_free < wheels_mib)); then
    short="$tmp needs $wheels_mib MiB for pip's downloads, $tmp_free free (set TMPDIR elsewhere)"
  fi
  if [ -n "$short" ]; then
    echo "install-venv: not enough disk space to install torch and its CUDA libraries: $short" >&2
    exit 1
  fi
}

# The system interpreter, not whatever pyenv or a user's PATH puts first: the venv must outlive them.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# A venv copied from elsewhere or made by a Python since removed has a dangling interpreter.
if ! "$venv/bin/python" -c '' 2>/dev/null; then
  say "venv: creating ${venv#"$root"/} with $("$python" --version)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

# The stamp covers both lists, so a change to either reinstalls.
hashed=("$requirements")
if [ -f "$nodeps" ]; then hashed+=("$nodeps"); fi
want="$(cat "${hashed[@]}" | sha256sum | cut -d' ' -f1) $("$venv/bin/python" --version)"
stamp=$venv/.ovid-requirements
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "venv: ${venv#"$root"/} up to date"
else
  check_disk_space

  say "venv: installing $(grep -c '^[a-z]' "$requirements") pinned packages into ${venv#"$root"/}" \
    "(the first time this downloads torch and its CUDA libraries, about 4 GB)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "pip==$pip_version"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --progress-bar off \
    -r "$requirements"
  if [ -f "$nodeps" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --progress-bar off \
      --no-deps -r "$nodeps"
  fi
  echo "$want" >"$stamp"
  say "venv: done"
fi

# torch/version.py names the CUDA the wheel was built for; reading it avoids importing torch (s).
read -r torch_version torch_cuda < <("$venv/bin/python" - <<'EOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("torch")
ns = {}
if spec:
    exec((pathlib.Path(spec.origin).parent / "version.py").read_text(), ns)
print(ns.get("__version__", "missing"), ns.get("cuda") or "none")
EOF
)
if [ "$torch_version" = missing ]; then
  echo "install-venv: torch is not importable from $venv" >&2
  exit 1
fi
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; } || true
if [ -z "$nvcc" ]; then
  say "CUDA: no nvcc, CPU-only build; LibTorch $torch_version (built for CUDA $torch_cuda)"
  exit 0
fi
nvcc_cuda=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
if [ "$torch_cuda" = none ]; then
  echo "install-venv: torch $torch_version is a CPU-only build but nvcc $nvcc_cuda is present;" \
    "install the CUDA build of torch (PyPI's default wheel) or build with -DOVID_CUDA=OFF" >&2
  exit 1
fi
if [ "${torch_cuda%%.*}" != "${nvcc_cuda%%.*}" ]; then
  echo "install-venv: LibTorch $torch_version was built for CUDA $torch_cuda but $nvcc is CUDA" \
    "$nvcc_cuda; their major versions must match (install a CUDA ${torch_cuda%%.*} toolkit or" \
    "pin a torch built for CUDA ${nvcc_cuda%%.*} in $(basename "$requirements"))" >&2
  exit 1
fi
say "CUDA: nvcc $nvcc_cuda ($nvcc) and LibTorch $torch_version (built for CUDA $torch_cuda) agree"
