#!/usr/bin/env bash
# bench/make-hg-repo.sh DIR — a local Mercurial repository with 10,000
# changesets for the hg clone benchmark, made with `hg debugbuilddag` (every
# changeset adds a file: ~40 s, ~45 MB). Cached: does nothing if DIR exists.
set -euo pipefail
dir=$1
n=${HG_CHANGESETS:-10000}
if [ -d "$dir/.hg" ]; then exit 0; fi
rm -rf "$dir.tmp"
hg init "$dir.tmp"
(cd "$dir.tmp" && hg debugbuilddag -q -n --new-file "+$n")
mv "$dir.tmp" "$dir"
echo "made $dir: $(hg -R "$dir" log -r tip -T '{rev}') + 1 changesets" >&2
