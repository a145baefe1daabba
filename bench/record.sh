#!/usr/bin/env bash
# bench/record.sh [BUILD_DIR] — the recorder's overhead table (issue 2
# "Benchmarks"): wall time untraced vs `allocsim record`, heaptrack and glibc
# mtrace, medians of RUNS runs (default 3) taken interleaved (u, t, h, m, u,
# t, ...) so machine noise hits all columns alike; plus trace bytes/event from
# `allocsim info --format json` of the last traced run. Run by hand, not in
# ctest. Outputs go to bench/out/ (gitignored); the hg source repository is
# made once by bench/make-hg-repo.sh and cached there.
#
#   WORKLOADS="churn threads python python-malloc hg hg-malloc"  (default all)
#   TOOLS="traced heaptrack mtrace"                             (default all)
#   RUNS=3
#
# Notes on the anchors:
#  - heaptrack 1.4 (Debian): `heaptrack -o FILE CMD`. Its wall time includes
#    heaptrack_interpret, which runs concurrently on a pipe, and the zstd of
#    the interpreted file: it is what a user waits for.
#  - mtrace: LD_PRELOAD=libc_malloc_debug.so plus bench/mtrace-on.so, whose
#    constructor calls mtrace() (these programs never call it themselves);
#    MALLOC_TRACE=file. Text output, one line per event, no thread ids.
#  - traced: `allocsim record -q` (no summary at the end: reading the trace
#    back is analysis, not recording; bytes/event come from allocsim info).
#  - "traced cpu": median CPU time (user+sys of the whole process tree) traced
#    over untraced. On a machine shared with other jobs the wall ratio mostly
#    measures who else is running; the CPU ratio is what tracing costs in
#    all, and on an idle machine with a core to spare for the writer thread
#    the wall ratio falls below it.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$root/build}" && pwd)
OUT=$root/bench/out
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-"churn threads python python-malloc hg hg-malloc"}
TOOLS=${TOOLS:-"traced heaptrack mtrace"}
PY=/usr/bin/python3
"$root/tools/deps.sh" --bench   # mercurial, heaptrack, time: a fresh machine has none
mkdir -p "$OUT/tr" "$OUT/ht" "$OUT/mt"
gcc -shared -fPIC -O2 -o "$OUT/mtrace-on.so" "$root/bench/mtrace-on.c"
DEBUG_SO=/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so
case " $WORKLOADS " in *" hg"*) "$root/bench/make-hg-repo.sh" "$OUT/hg-src" ;; esac

# cmd_of WORKLOAD -> sets CMD (array) and ENVV (array of VAR=value)
cmd_of() {
    ENVV=()
    case $1 in
    churn) CMD=("$B/bench/bench-churn") ;;
    threads) CMD=("$B/bench/bench-threads") ;;
    python) CMD=("$PY" "$root/bench/pyalloc.py") ;;
    python-malloc) CMD=("$PY" "$root/bench/pyalloc.py"); ENVV=(PYTHONMALLOC=malloc) ;;
    hg) CMD=(/usr/bin/hg clone -q --pull "$OUT/hg-src" "$OUT/hg-dst") ;;
    hg-malloc) CMD=(/usr/bin/hg clone -q --pull "$OUT/hg-src" "$OUT/hg-dst"); ENVV=(PYTHONMALLOC=malloc) ;;
    *) echo "unknown workload $1" >&2; exit 2 ;;
    esac
}

# run_once WORKLOAD TOOL -> prints "wall_seconds cpu_seconds"
run_once() {
    local w=$1 tool=$2 s e
    cmd_of "$w"
    rm -rf "$OUT/hg-dst"
    case $tool in   # each tool clears only its own outputs: the last traced
    traced) rm -f "$OUT/tr/$w".*.ast ;;   # run's files give bytes/event
    heaptrack) rm -f "$OUT/ht/$w".* ;;
    mtrace) rm -f "$OUT/mt/$w".* ;;
    esac
    sync
    local T=(/usr/bin/time -f "%U %S" -o "$OUT/cpu.txt")
    s=$(date +%s%N)
    case $tool in
    untraced) "${T[@]}" env "${ENVV[@]}" "${CMD[@]}" >/dev/null 2>&1 ;;
    traced) "${T[@]}" env "${ENVV[@]}" "$B/allocsim" record -q -f -o "$OUT/tr/$w" -- "${CMD[@]}" >/dev/null 2>&1 ;;
    heaptrack) "${T[@]}" env "${ENVV[@]}" heaptrack -o "$OUT/ht/$w" "${CMD[@]}" >/dev/null 2>&1 ;;
    mtrace) "${T[@]}" env "${ENVV[@]}" LD_PRELOAD="$DEBUG_SO:$OUT/mtrace-on.so" MALLOC_TRACE="$OUT/mt/$w.txt" \
            "${CMD[@]}" >/dev/null 2>&1 ;;
    esac
    e=$(date +%s%N)
    echo "$(echo "scale=3; ($e - $s) / 1000000000" | bc) $(awk 'END {print $1 + $2}' "$OUT/cpu.txt")"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-14s %9s %16s %16s %16s %12s %9s %11s\n' workload untraced traced heaptrack mtrace events "B/event" "traced cpu"
for w in $WORKLOADS; do
    declare -A T=() C=()
    for ((i = 0; i < RUNS; i++)); do
        for tool in untraced $TOOLS; do
            read -r wall cpu < <(run_once "$w" "$tool")
            T[$tool]+="$wall "
            C[$tool]+="$cpu "
        done
    done
    u=$(median ${T[untraced]})
    line=$(printf '%-14s %8ss' "$w" "$u")
    for tool in traced heaptrack mtrace; do
        if [[ " $TOOLS " == *" $tool "* ]]; then
            m=$(median ${T[$tool]})
            line+=$(printf ' %8ss (%4.2fx)' "$m" "$(echo "scale=4; $m / $u" | bc)")
        else
            line+=$(printf ' %16s' -)
        fi
    done
    ev=- bpe=- procs=
    if [[ " $TOOLS " == *" traced "* ]]; then
        # the last traced run's files are still there; one `allocsim info`
        # (it checks every chunk) gives the totals and, when the workload
        # forked (hg's checkout workers, whose traffic compresses worse than
        # the main process's), a line per process
        info=$("$B/allocsim" info --format json "$OUT/tr/$w".*.ast 2>/dev/null)
        read -r ev bpe < <(echo "$info" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["events"], "%.3f" % d["bytes_per_event"])' 2>/dev/null ||
            echo "- -")
        procs=$(echo "$info" | "$PY" -c '
import json, sys
f = json.load(sys.stdin)["files"]
if len(f) > 1:
    print("  processes: " + ", ".join("pid %d %d ev %d chunks %.3f B/ev" % (x["pid"], x["events"], x["chunks"], x["bytes_per_event"]) for x in f))' 2>/dev/null)
    fi
    line+=$(printf ' %12s %9s' "$ev" "$bpe")
    if [[ " $TOOLS " == *" traced "* ]]; then
        line+=$(printf ' %10.2fx' "$(echo "scale=4; $(median ${C[traced]}) / $(median ${C[untraced]})" | bc)")
    fi
    echo "$line"
    [ -n "$procs" ] && echo "$procs" >&2
    echo "  runs: $(for t in untraced $TOOLS; do printf '%s=[%s] ' "$t" "${T[$t]% }"; done)" >&2
    echo "  cpu:  $(for t in untraced $TOOLS; do printf '%s=[%s] ' "$t" "${C[$t]% }"; done)" >&2
    unset T C
done
rm -rf "$OUT/hg-dst"
