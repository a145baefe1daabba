#!/usr/bin/env bash
# bench/replay.sh [BUILD_DIR] — replay throughput (issue 3 "Benchmarks").
# Prints a table, asserts nothing. Medians of RUNS runs (default 3), measured
# side by side in one run of this script (the machine is shared and noisy).
#
#   decode alone                as-decode: as_reader_next over every event
#   <model> -j1 / -j2           allocsim replay --model <model> (end to end:
#                               open, decode, model, report)
#   sweep16 -j2 vs 16 x -j1     a 16-point mmap_threshold sweep in one run
#                               (one decode) vs 16 separate single runs
#
# Trace: the churn workload. With RECORD=1 it is recorded
# (allocsim record -- bench-churn N); otherwise (default, and whenever the
# recording fails) as-gen-trace writes the same mix with the writer API.
# N events: EVENTS (default 20000000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
runs=${RUNS:-3}
events=${EVENTS:-20000000}
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target allocsim as-gen-trace as-decode bench-churn >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

trace=""
if [ "${RECORD:-0}" = 1 ]; then
  if "$build/allocsim" record -o "$tmp/churn" -- "$build/bench/bench-churn" "$events" >/dev/null 2>&1; then
    trace=$(ls "$tmp"/churn*.ast | head -1)
    "$build/as-decode" "$trace" >/dev/null 2>&1 || trace=""
  fi
  [ -n "$trace" ] || echo "(recording failed: using as-gen-trace)"
fi
if [ -z "$trace" ]; then
  trace="$tmp/churn.ast"
  "$build/as-gen-trace" "$trace" churn "$events" 1
  src="as-gen-trace churn $events"
else
  src="allocsim record -- bench-churn $events"
fi
nev=$("$build/as-decode" "$trace" | awk '{print $1}')

now() { date +%s.%N; }
# median of the wall times of RUNS runs of "$@"
median() {
  local t=()
  for _ in $(seq "$runs"); do
    local a b
    a=$(now); "$@" >/dev/null; b=$(now)
    t+=("$(echo "$b - $a" | bc -l)")
  done
  printf '%s\n' "${t[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

printf 'trace: %s (%s events, %s bytes), %s runs, median wall time, %s cores\n' \
  "$src" "$nev" "$(stat -c %s "$trace")" "$runs" "$(nproc)"
printf '%-28s %10s %14s\n' "what" "seconds" "M events/s"
row() { printf '%-28s %10.3f %14.1f\n' "$1" "$2" "$(echo "$nev / $2 / 1000000" | bc -l)"; }

row "decode alone" "$(median "$build/as-decode" "$trace")"
models=$("$build/allocsim" replay --help | sed -n '/^models:/,/^$/p' | awk '/^  [a-z]/{print $1}')
for m in $models; do
  for j in 1 2; do
    row "$m -j$j" "$(median "$build/allocsim" replay "$trace" --model "$m" -j"$j" --format csv)"
  done
done

vals=""
for k in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do vals+="$((64 + 64 * k))K,"; done
vals=${vals%,}
sweep=$(median "$build/allocsim" replay "$trace" --sweep "mmap-threshold:mmap_threshold=$vals" -j2 --format csv)
separate() {
  for v in ${vals//,/ }; do
    "$build/allocsim" replay "$trace" --model "mmap-threshold:mmap_threshold=$v" -j1 --format csv
  done
}
sep=$(median separate)
printf '%-28s %10.3f\n' "sweep 16 x mmap-threshold -j2" "$sweep"
printf '%-28s %10.3f\n' "16 separate runs -j1" "$sep"
printf '%-28s %10.2fx\n' "sweep speedup" "$(echo "$sep / $sweep" | bc -l)"
