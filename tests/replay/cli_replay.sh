#!/usr/bin/env bash
# tests/replay/cli_replay.sh BUILD_DIR — `allocsim replay` exit codes and
# messages for bad input, and the JSON/CSV schema keys (doc/REPLAY.md).
set -uo pipefail
b=$(cd "$1" && pwd)
A="$b/allocsim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect STATUS STDERR-SUBSTRING -- ARGS...
expect() {
  local want=$1 msg=$2; shift 3
  "$A" replay "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" = "$want" ] || fail "replay $*: exit $got, want $want ($(cat "$tmp/err"))"
  [ -z "$msg" ] || grep -qF -- "$msg" "$tmp/err" || fail "replay $*: stderr lacks '$msg': $(cat "$tmp/err")"
}

"$b/as-gen-trace" "$tmp/t.ast" phases 20000 3 || fail "as-gen-trace"

expect 0 "" -- --help
grep -q "mmap-threshold" "$tmp/out" || fail "--help lists no models"
expect 2 "needs at least one TRACE" --
expect 2 "unknown model 'nope' (valid: ideal, mmap-threshold" -- "$tmp/t.ast" --model nope
expect 2 "unknown parameter 'mmap_treshold' (valid: mmap_threshold=0.." -- "$tmp/t.ast" --model mmap-threshold:mmap_treshold=1M
expect 2 "mmap_max=-5 is out of range" -- "$tmp/t.ast" --model mmap-threshold:mmap_max=-5
expect 2 "not a valid value" -- "$tmp/t.ast" --sweep 'mmap-threshold:mmap_threshold=64K,12Q'
expect 2 "expected NAME:key=v1,v2" -- "$tmp/t.ast" --sweep mmap-threshold
expect 2 "--touch 'some'" -- "$tmp/t.ast" --touch some
expect 2 "--format 'xml'" -- "$tmp/t.ast" --format xml
expect 2 "-j '0'" -- "$tmp/t.ast" -j 0
expect 2 "$tmp/missing.ast: " -- "$tmp/missing.ast"
echo "not a trace at all, just text padding padding padding" >"$tmp/bad.ast"
expect 2 "$tmp/bad.ast: " -- "$tmp/bad.ast"

# A truncated trace: results for what was read go to stdout, then the error.
size=$(stat -c %s "$tmp/t.ast")
head -c $((size * 2 / 3)) "$tmp/t.ast" >"$tmp/cut.ast"
expect 2 "$tmp/cut.ast: " -- "$tmp/cut.ast" --model ideal --format json
grep -q '"peak_rss"' "$tmp/out" || fail "truncated trace: nothing printed before the error"

# A sweep that would not fit in memory is refused before starting.
ALLOCSIM_MEM_AVAILABLE=100000 expect 2 "model instance(s) would need about" -- "$tmp/t.ast" --sweep 'mmap-threshold:mmap_threshold=64K,128K'
[ -s "$tmp/out" ] && fail "refused sweep printed results"

# JSON keys (the documented schema) and a sweep's instance count.
expect 0 "" -- "$tmp/t.ast" --model ideal --sweep 'mmap-threshold:top_pad=0,mmap_threshold=64K,256K,1M' --format json -j 2
for k in '"trace": ' '"events": ' '"results": ' '"model": "ideal"' '"params": {}' \
         '"peak_rss": ' '"peak_live": ' '"peak_mapped": ' '"peak_process_rss": ' \
         '"fragmentation": ' '"jw": [' '"peak_event": ' '"peak_time": ' \
         '"mmap_threshold": 65536' '"top_pad": 0'; do
  grep -qF -- "$k" "$tmp/out" || fail "JSON lacks $k"
done
[ "$(grep -c '"model": "mmap-threshold"' "$tmp/out")" = 3 ] || fail "sweep did not give 3 instances"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["results"])==4; assert len(d["results"][0]["jw"])==4' "$tmp/out" || fail "JSON does not parse"
fi

# CSV header and --series refusing to overwrite without -f.
expect 0 "" -- "$tmp/t.ast" --format csv --model ideal --series "$tmp/s.csv"
head -1 "$tmp/out" | grep -q '^trace,events,model,params,peak_rss,peak_live,peak_mapped,peak_process_rss,fragmentation' || fail "CSV header"
head -1 "$tmp/s.csv" | grep -q '^trace,model,params,event,time,rss,mapped,live,process_rss' || fail "series header"
[ "$(wc -l <"$tmp/s.csv")" -gt 10 ] || fail "series has too few points"
expect 2 "exists (use -f to overwrite)" -- "$tmp/t.ast" --model ideal --series "$tmp/s.csv"
expect 0 "" -- "$tmp/t.ast" --model ideal --series "$tmp/s.csv" -f

# Text: one row per instance, human sizes.
expect 0 "" -- "$tmp/t.ast" --model ideal --model mmap-threshold:mmap_threshold=64K
grep -q "mmap_threshold=64K" "$tmp/out" || fail "text row lacks params"
grep -q "MiB" "$tmp/out" || fail "text lacks human sizes"

# Two processes: per-trace results, then their sum on the shared time axis,
# between the larger single peak and the sum of the peaks.
"$b/as-gen-trace" "$tmp/u.ast" phases 20000 4 || fail "as-gen-trace u"
expect 0 "" -- "$tmp/t.ast" "$tmp/u.ast" --model ideal --model mmap-threshold --format json
if command -v python3 >/dev/null; then
  python3 - "$tmp/out" <<'PY' || fail "sum of processes"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 3 and d[2]["sum_of"] and d[2]["events"] == d[0]["events"] + d[1]["events"]
for i, s in enumerate(d[2]["results"]):
    a, b = d[0]["results"][i]["peak_rss"], d[1]["results"][i]["peak_rss"]
    assert s["model"] == d[0]["results"][i]["model"]
    assert max(a, b) <= s["peak_rss"] <= a + b, (a, b, s)
PY
fi
expect 0 "" -- "$tmp/t.ast" "$tmp/u.ast" --model ideal
grep -q "sum of 2 processes" "$tmp/out" || fail "text lacks the sum table"

# A cut file and a missing one among several: the others are replayed all
# the same (the loop stopped at the first problem), the cut one as far as it
# reads, and each problem is told after the results, one line a file.
expect 2 "$tmp/cut.ast: " -- "$tmp/t.ast" "$tmp/cut.ast" "$tmp/missing.ast" "$tmp/u.ast" --model ideal --format json
grep -qF "$tmp/missing.ast: " "$tmp/err" || fail "several files: the missing one is not named"
[ "$(wc -l <"$tmp/err")" = 2 ] || fail "several files: want 2 problem lines: $(cat "$tmp/err")"
if command -v python3 >/dev/null; then
  python3 - "$tmp/out" "$tmp/u.ast" <<'PY' || fail "several files with problems"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 4 and d[2]["trace"] == sys.argv[2] and d[3]["sum_of"], d
assert d[3]["events"] == d[0]["events"] + d[1]["events"] + d[2]["events"]
PY
fi

# Threads and windows change nothing: 400k events span two 16-batch
# windows; -j1, -j2 and -j3 must print the same table.
"$b/as-gen-trace" "$tmp/big.ast" churn 400000 5 || fail "as-gen-trace big"
for j in 1 2 3; do
  "$A" replay "$tmp/big.ast" --model ideal --sweep 'mmap-threshold:mmap_threshold=64K,1M' \
      --model mmap-threshold --format csv -j $j >"$tmp/j$j.csv" || fail "replay -j $j"
done
cmp -s "$tmp/j1.csv" "$tmp/j2.csv" || fail "-j1 and -j2 differ"
cmp -s "$tmp/j1.csv" "$tmp/j3.csv" || fail "-j1 and -j3 differ"

# A recorded trace has ground-truth samples: the predicted process RSS is a
# number by default and null with --no-process-rss (no hidden reference runs).
rec="$(dirname "$0")/../../traces/fragdemo.ast"
expect 0 "" -- "$rec" --model ideal --format json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; assert len(r)==1 and r[0]["peak_process_rss"] > 0' "$tmp/out" \
  || fail "no predicted process RSS on a sampled trace"
expect 0 "" -- "$rec" --model ideal --format json --no-process-rss
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; assert len(r)==1 and r[0]["peak_process_rss"] is None' "$tmp/out" \
  || fail "--no-process-rss still predicts process RSS"

[ "$fails" = 0 ] && echo "cli_replay: all passed"
exit $((fails > 0))
