#!/usr/bin/env bash
# Runs shellcheck on every shell script of the repository: the *.sh files git would commit, plus
# .ci/run and any other file under scripts/ or .ci/ that starts with a bash or sh shebang.
#
# usage: scripts/check-shell.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t listed < <(git ls-files --cached --others --exclude-standard)
else
  mapfile -t listed < <(find . \( -name .git -o -name 'build*' -o -name .venv -o -name .deps \) -prune \
    -o -type f -print | sed 's|^\./||')
fi
scripts=()
for f in "${listed[@]}"; do
  [ -f "$f" ] || continue
  case $f in
    *.sh) scripts+=("$f") ;;
    scripts/* | .ci/*) head -n 1 -- "$f" | grep -qE '^#!.*\b(bash|sh)\b' && scripts+=("$f") ;;
  esac
done
if [ ${#scripts[@]} -eq 0 ]; then
  echo "FAIL: no shell scripts found under $root"
  exit 1
fi
shellcheck --external-sources "${scripts[@]}"
echo "ok: shellcheck passed on ${#scripts[@]} scripts: ${scripts[*]}"
