#!/usr/bin/env bash
# bench/accuracy.sh — regenerates doc/ACCURACY.md: the glibc model against
# native replay on the real glibc, and the model's predicted process peak RSS
# against the real program, for every bench trace x glibc setting (issue 4 §3).
#
#   bench/accuracy.sh [-f] [--runs N] [--recordings K]
#     -f        re-record the traces (otherwise reused from bench/out/accuracy/)
#     --runs N  runs of the real program per cell, and of the speed table
#               (median; default 7: threads' real peak varies ~6% run to run)
#     --recordings K  recordings per workload; predicted = their median
#               (default 3)
#     BUILD=dir build directory (default build/)
#
# Workloads and their (small) arguments: bench/accuracy/workloads.txt.
# Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
rerecord=0
runs=7
recordings=3
while [ $# -gt 0 ]; do
  case "$1" in
    -f) rerecord=1 ;;
    --runs) runs=$2; shift ;;
    --recordings) recordings=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "accuracy.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

tools/deps.sh --bench   # /usr/bin/time for the real program runs
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

out=bench/out/accuracy
mkdir -p "$out"
# Each workload is recorded $recordings times: NAME.ast (model vs native is
# taken on it) and NAME.r2.ast, NAME.r3.ast, ... A multi-threaded program's
# recording catches one interleaving of its threads, and the prediction
# moves with it (threads: 40.8-42.3 MiB over five recordings), so the
# predicted column is a median over recordings as the real one is over runs.
grep -v '^\s*#' bench/accuracy/workloads.txt | grep -v '^\s*$' | while IFS=: read -r name cmd; do
  name=$(echo "$name" | awk '{print $1}')
  for k in $(seq "$recordings"); do
    trace="$out/$name.ast"
    [ "$k" = 1 ] || trace="$out/$name.r$k.ast"
    if [ "$rerecord" = 1 ] || [ ! -s "$trace" ]; then
      rm -f "$trace" "$out/$name".rec*
      read -r -a argv <<<"$cmd"
      "$build/allocsim" record -f -q -o "$out/$name.rec" -- "$build/bench/${argv[0]}" "${argv[@]:1}" \
        </dev/null >/dev/null
      # The recorder names files PREFIX or PREFIX.<pid>: keep the first process.
      first=$(ls -t "$out/$name".rec* | tail -n 1)
      mv "$first" "$trace"
      rm -f "$out/$name".rec*
    fi
  done
  # fewer recordings than last time: the extra ones would still be read
  for f in "$out/$name".r*.ast; do
    [ -e "$f" ] || continue
    k=${f##*.r}; k=${k%.ast}
    [ "$k" -le "$recordings" ] || rm -f "$f"
  done
done

# The speed table wants a bigger trace: the churn workload at its default 10M ops.
speed="$out/churn10m.ast"
if [ "$rerecord" = 1 ] || [ ! -s "$speed" ]; then
  rm -f "$speed" "$out"/churn10m.rec*
  "$build/allocsim" record -f -q -o "$out/churn10m.rec" -- "$build/bench/bench-churn" 10000000 \
    </dev/null >/dev/null
  mv "$(ls -t "$out"/churn10m.rec* | tail -n 1)" "$speed"
  rm -f "$out"/churn10m.rec*
fi

python3 bench/accuracy/accuracy.py --build "$build" --traces "$out" \
  --workloads bench/accuracy/workloads.txt --runs "$runs" --out doc/ACCURACY.md \
  --speed-trace "$speed" --speed-touch first
