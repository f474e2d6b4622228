#!/usr/bin/env bash
# Export the original Ovi source tree (github character-ai/Ovi) from a bare git mirror into
# .ovi-original/ at the repository root, for bench/original/run_original.py to import.
# The tree is a reference only: it is never copied into ovid nor committed (the script adds
# /.ovi-original/ to .git/info/exclude).
#
#   bench/original/export-original.sh MIRROR_GIT_DIR [COMMIT] [DEST]
#
# MIRROR_GIT_DIR: a bare clone of https://github.com/character-ai/Ovi (e.g. the path the
# session's `fetch github:character-ai/Ovi` returned, /work/.mirror/character-ai+Ovi/repo).
# COMMIT defaults to HEAD; the harness was written against
# 5b69b25a4b3115216e9ea53a37a04410be6ad39a (2025-11-14). Blobs absent from a partial mirror
# (large media such as assets/ovi_trailer.mp4) are skipped; none of them is Python. The media
# folders assets/ and example_prompts/ (31 MB of mp4/png/csv, unused here) are left out unless
# OVI_EXPORT_ALL=1, to keep .ovi-original/ small enough to carry to the GPU machine.
set -euo pipefail
mirror=${1:?usage: export-original.sh MIRROR_GIT_DIR [COMMIT] [DEST]}
commit=${2:-HEAD}
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${3:-$root/.ovi-original}
git --git-dir="$mirror" rev-parse --verify "$commit^{commit}" >/dev/null \
  || { echo "export-original: $mirror has no commit $commit" >&2; exit 1; }
hash=$(git --git-dir="$mirror" rev-parse "$commit^{commit}")
mkdir -p "$dest"
# Write each blob the mirror holds (a snapshot may leave out its largest files; `git archive`
# stops at the first absent one, so the tree is written blob by blob).
n=0
while IFS= read -r -d '' entry; do
  meta=${entry%%$'\t'*}; path=${entry#*$'\t'}
  read -r mode type obj <<<"$meta"
  [[ $type == blob ]] || continue
  if [[ ${OVI_EXPORT_ALL:-0} != 1 && ( $path == assets/* || $path == example_prompts/* ) ]]; then
    continue
  fi
  if ! git --git-dir="$mirror" cat-file -e "$obj" 2>/dev/null; then
    echo "export-original: skipping $path (blob not in the mirror)" >&2
    continue
  fi
  mkdir -p "$dest/$(dirname "$path")"
  git --git-dir="$mirror" cat-file blob "$obj" >"$dest/$path"
  [[ $mode == 100755 ]] && chmod +x "$dest/$path"
  n=$((n + 1))
done < <(git --git-dir="$mirror" ls-tree -r -z "$hash")
echo "$hash" >"$dest/.ovi-commit"
if [[ -d $root/.git/info ]] && ! grep -qx '/.ovi-original/' "$root/.git/info/exclude" 2>/dev/null; then
  echo '/.ovi-original/' >>"$root/.git/info/exclude"
fi
echo "export-original: character-ai/Ovi $hash -> $dest ($n files)"
