#!/usr/bin/env bash
# bench/replay.sh [BUILD_DIR] — replay throughput (issue 3 "Benchmarks").
# Prints a table (wall and CPU seconds, to the millisecond, and events per
# second of each: per core is the CPU column), asserts nothing. Medians of RUNS runs
# (default 3), measured side by side in one run of this script (the machine is
# shared and noisy: CPU seconds say what wall seconds cannot under load).
#
#   decode alone                as-decode: as_reader_next over every event,
#                               addresses reconstructed
#   decode as replay reads      as-decode --replay: AS_READ_NO_ADDR, runs of
#                               plain events with as_reader_next_plain, as
#                               `allocsim replay` reads
#   <model> -j1 / -j2           allocsim replay --model <model> (end to end:
#                               open, decode, model, report)
#   sweep16 -j2 vs 16 x -j1     a 16-point mmap_threshold sweep in one run
#                               (one decode) vs 16 separate single runs
#
# Trace: the churn workload. With RECORD=1 it is recorded
# (allocsim record -- bench-churn N); otherwise (default, and whenever the
# recording fails) as-gen-trace writes the same mix with the writer API.
# N events: EVENTS (default 20000000). TRACE=FILE measures that trace instead
# (issue 3 asks for the hg trace too: record one with bench/record.sh, e.g.
# WORKLOADS=hg-malloc TOOLS=traced, and pass its main process's file).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
runs=${RUNS:-3}
events=${EVENTS:-20000000}
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target allocsim as-gen-trace as-decode bench-churn >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

trace=${TRACE:-}
if [ -n "$trace" ]; then
  src=$trace
elif [ "${RECORD:-0}" = 1 ]; then
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
elif [ -z "${TRACE:-}" ]; then
  src="allocsim record -- bench-churn $events"
fi
nev=$("$build/as-decode" "$trace" | awk '{print $1}')

# Median wall time of RUNS runs of "$@" on stdout; the median CPU time
# (user + sys) of those runs is left in $tmp/cpu.
median() {
  local t=() c=() TIMEFORMAT='%3R %3U %3S'
  for _ in $(seq "$runs"); do
    # bash's time: milliseconds (/usr/bin/time's 10 ms ticks were an eighth
    # of an ideal run); the command's own stderr still reaches the terminal
    { time "$@" >/dev/null 2>&3; } 3>&2 2>"$tmp/time"
    t+=("$(awk '{print $1}' "$tmp/time")")
    c+=("$(awk '{print $2 + $3}' "$tmp/time")")
  done
  printf '%s\n' "${c[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}' >"$tmp/cpu"
  printf '%s\n' "${t[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

printf 'trace: %s (%s events, %s bytes), %s runs, medians, %s cores, load %s\n' \
  "$src" "$nev" "$(stat -c %s "$trace")" "$runs" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
printf '%-30s %10s %14s %10s %14s\n' "what" "wall s" "M events/s" "CPU s" "M events/CPU s"
rate() { awk -v n="$nev" -v w="$1" 'BEGIN{print (w > 0 ? n / w / 1e6 : 0)}'; }
row() {
  local w=$2 c
  c=$(cat "$tmp/cpu")
  printf '%-30s %10.3f %14.1f %10.3f %14.1f\n' "$1" "$w" "$(rate "$w")" "$c" "$(rate "$c")"
}

w=$(median "$build/as-decode" "$trace"); row "decode alone" "$w"
w=$(median "$build/as-decode" --replay "$trace"); row "decode as replay reads" "$w"
models=$("$build/allocsim" replay --help | sed -n '/^models:/,/^$/p' | awk '/^  [a-z]/{print $1}')
# Model rows measure the model itself: --no-process-rss, so no hidden reference
# glibc instance runs beside a non-glibc model; the last row shows that cost.
for m in $models; do
  for j in 1 2; do
    w=$(median "$build/allocsim" replay "$trace" --model "$m" -j"$j" --format csv --no-process-rss)
    row "$m -j$j" "$w"
  done
done
w=$(median "$build/allocsim" replay "$trace" --model ideal -j1 --format csv)
row "ideal -j1 + process RSS" "$w"

vals=""
for k in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do vals+="$((64 + 64 * k))K,"; done
vals=${vals%,}
sweep=$(median "$build/allocsim" replay "$trace" --sweep "mmap-threshold:mmap_threshold=$vals" -j2 --format csv --no-process-rss)
sweep_cpu=$(cat "$tmp/cpu")
for v in ${vals//,/ }; do
  echo "\"$build/allocsim\" replay \"$trace\" --model mmap-threshold:mmap_threshold=$v -j1 --format csv --no-process-rss"
done >"$tmp/separate.sh"
sep=$(median bash "$tmp/separate.sh")
sep_cpu=$(cat "$tmp/cpu")
printf '%-30s %10.3f %14s %10.3f\n' "sweep 16 x mmap-threshold -j2" "$sweep" "" "$sweep_cpu"
printf '%-30s %10.3f %14s %10.3f\n' "16 separate runs -j1" "$sep" "" "$sep_cpu"
printf '%-30s %10.2fx\n' "sweep speedup (wall)" "$(echo "$sep / $sweep" | bc -l)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
