#!/usr/bin/env bash
# traces/record.sh [BUILD_DIR] — re-records the small real traces kept in
# traces/ (tests, the regression table, the demo). Each is a real program run
# under `allocsim record`; file names drop the pid so they are stable.
# After re-recording, regenerate the regression table: tests/regression/regen.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rec() {  # rec NAME -- CMD...
  local name=$1; shift 2
  "$build/allocsim" record -f -o "$tmp/$name" -- "$@" >/dev/null
  local files=("$tmp/$name".*.ast)
  [ ${#files[@]} -eq 1 ] || { echo "traces/record.sh: $name: expected one process, got ${#files[@]}" >&2; exit 2; }
  mv "${files[0]}" "$root/traces/$name.ast"
}

# The bundled demo: long-lived small blocks pin the brk top; RSS stays up.
rec fragdemo -- "$build/bench/bench-fragdemo"
# Random churn (bench/workloads/churn.c), 200k ops: tcache/fastbin/bins mix.
rec churn-200k -- "$build/bench/bench-churn" 200000
# Two threads with cross-thread frees: per-thread arenas and tcaches.
rec threads-200k -- "$build/bench/bench-threads" 200000
# CPython with every request sent to malloc (PYTHONMALLOC=malloc), 1 round.
PYTHONMALLOC=malloc rec python-malloc -- /usr/bin/python3 "$root/bench/pyalloc.py" 1
# The same program with pymalloc (stock): arenas by mmap, only big requests reach malloc.
rec python-pymalloc -- /usr/bin/python3 "$root/bench/pyalloc.py" 1
ls -l "$root"/traces/*.ast
