#!/usr/bin/env bash
# tests/format/info_cli.sh — `allocsim info` end to end: exit codes, the text
# golden file, the JSON keys (parsed with python3), damaged, truncated and
# non-trace input, several files.
#   info_cli.sh ALLOCSIM MK_TRACE GOLDEN_DIR [--regen]
# Regenerate the golden file (after a deliberate change of the text output):
#   tests/format/info_cli.sh build/allocsim build/mk_trace tests/golden --regen
set -u
AS=$(realpath "$1") MK=$(realpath "$2") GOLDEN=$(realpath "$3") REGEN=${4:-}
T=$(mktemp -d /tmp/as_info.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # description, then a command that must succeed
    local what=$1; shift
    if ! "$@"; then echo "FAIL: $what"; fail=1; fi
}

# a small deterministic trace, and what its generator says it holds
"$MK" "$T/small.ast" 3000 500 > "$T/truth" || { echo "FAIL: mk_trace"; exit 1; }
read -r _ EVENTS _ MALLOCS _ FREES _ PEAK _ PEAKRSS _ THREADS < "$T/truth"

# --help: stdout, exit 0; usage errors: exit 2
check "--help exits 0" "$AS" info --help > "$T/help"
check "--help prints usage on stdout" grep -q "usage: allocsim info" "$T/help"
"$AS" info > /dev/null 2>&1; check "no file: exit 2" test $? -eq 2
"$AS" info --format xml "$T/small.ast" > /dev/null 2>&1; check "bad format: exit 2" test $? -eq 2

# text: golden (the file path is replaced so the output is location-free)
(cd "$T" && "$AS" info small.ast > "$T/small.txt"); rc=$?
check "text exit 0" test $rc -eq 0
if [ "$REGEN" = "--regen" ]; then
    cp "$T/small.txt" "$GOLDEN/info_small.txt"; echo "regenerated $GOLDEN/info_small.txt"
fi
check "text matches golden" diff -u "$GOLDEN/info_small.txt" "$T/small.txt"

# JSON: stable top-level keys, values equal the generator's own bookkeeping
"$AS" info --format json "$T/small.ast" > "$T/small.json"; rc=$?
check "json exit 0" test $rc -eq 0
check "json keys and values" python3 - "$T/small.json" "$EVENTS" "$MALLOCS" "$FREES" "$PEAK" "$PEAKRSS" "$THREADS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ev, ma, fr, peak, rss, th = map(int, sys.argv[2:])
for k in ("events", "ops", "peak_live", "peak_rss_recorded", "threads", "chunks_damaged", "files"):
    assert k in d, k
assert d["events"] == ev, (d["events"], ev)
assert d["ops"]["malloc"] == ma and d["ops"]["free"] == fr, d["ops"]
assert d["peak_live"] == peak, (d["peak_live"], peak)
assert d["peak_rss_recorded"] == rss, (d["peak_rss_recorded"], rss)
assert d["threads"] == th and d["chunks_damaged"] == 0 and d["complete"] is True
f = d["files"][0]
assert f["pid"] == 1234 and f["argv"] == ["./demo", "--size", "42"] and f["problem"] is None
assert f["chunks"] == 6 and f["truncated"] is False
assert d["late"] == 0 and f["late"] == 0    # one thread, seqs in order
PY

# damaged: a byte flipped in the middle of the third chunk
python3 - "$T/small.ast" "$T/damaged.ast" <<'PY'
import sys, struct
b = bytearray(open(sys.argv[1], 'rb').read())
off = struct.unpack_from('<I', b, 12)[0]
for _ in range(2):
    off += 32 + struct.unpack_from('<I', b, off + 4)[0]
clen = struct.unpack_from('<I', b, off + 4)[0]
b[off + 32 + clen // 2] ^= 0x40
open(sys.argv[2], 'wb').write(b)
PY
"$AS" info --format json "$T/damaged.ast" > "$T/damaged.json" 2> "$T/damaged.err"; rc=$?
check "damaged: exit 2" test $rc -eq 2
check "damaged: error line names the file and chunk" \
    grep -q "^allocsim: $T/damaged.ast: damaged chunk: chunk 2 at offset" "$T/damaged.err"
check "damaged: JSON still printed, one chunk damaged, the rest read" python3 - "$T/damaged.json" "$EVENTS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["chunks_damaged"] == 1 and d["files"][0]["chunks"] == 5, d
assert 0 < d["events"] < int(sys.argv[2])
PY

# truncated: the last chunk torn (as by SIGKILL mid-write)
size=$(stat -c %s "$T/small.ast")
head -c $((size - 100)) "$T/small.ast" > "$T/torn.ast"
"$AS" info "$T/torn.ast" > "$T/torn.txt" 2> "$T/torn.err"; rc=$?
check "truncated: exit 2" test $rc -eq 2
check "truncated: summary printed first" grep -q "^events" "$T/torn.txt"
check "truncated: says so" grep -q "^allocsim: $T/torn.ast: truncated trace: chunk 5 at offset" "$T/torn.err"

# incomplete (stopped early, e.g. disk full) but every chunk intact: exit 0
"$MK" "$T/nospace.ast" 1000 300 9 > /dev/null
"$AS" info "$T/nospace.ast" > "$T/nospace.txt" 2>&1; rc=$?
check "stopped early: exit 0" test $rc -eq 0
check "stopped early: reason shown" grep -q "incomplete (tracing stopped early: no space left on device)" "$T/nospace.txt"

# not a trace, empty, missing, a directory
echo "hello" > "$T/text.ast"; : > "$T/empty.ast"
for f in text empty; do
    "$AS" info "$T/$f.ast" > /dev/null 2> "$T/$f.err"; rc=$?
    check "$f: exit 2" test $rc -eq 2
    check "$f: message" grep -q "^allocsim: $T/$f.ast: not an allocsim trace$" "$T/$f.err"
done
"$AS" info "$T/missing.ast" > /dev/null 2> "$T/missing.err"; rc=$?
check "missing: exit 2" test $rc -eq 2
check "missing: message" grep -q "^allocsim: $T/missing.ast: no such file$" "$T/missing.err"
"$AS" info "$T" > /dev/null 2> "$T/dir.err"; rc=$?
check "directory: exit 2" test $rc -eq 2
check "directory: message" grep -q "^allocsim: $T: is a directory, not a trace$" "$T/dir.err"
printf 'ALSMTRC1\x07\x00\x00\x00' > "$T/v7.ast"; head -c 200 /dev/zero >> "$T/v7.ast"
"$AS" info "$T/v7.ast" > /dev/null 2> "$T/v7.err"; rc=$?
check "version: exit 2" test $rc -eq 2
check "version: message" grep -q "unsupported trace format version" "$T/v7.err"

# several files: each, then the total; one bad file makes the exit 2
"$AS" info --format json "$T/small.ast" "$T/nospace.ast" > "$T/two.json"; rc=$?
check "two files: exit 0" test $rc -eq 0
check "two files: totals" python3 - "$T/two.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a, b = d["files"]
assert d["processes"] == 2 and d["events"] == a["events"] + b["events"]
assert d["threads"] == a["threads"] + b["threads"] and d["complete"] is False
PY
"$AS" info "$T/small.ast" "$T/text.ast" > "$T/mixed.txt" 2> /dev/null; rc=$?
check "good + bad: exit 2" test $rc -eq 2
check "good + bad: total printed" grep -q "^total" "$T/mixed.txt"
check "good + bad: a table row per file" test "$(sed -n '/^processes/,/^$/p' "$T/mixed.txt" | grep -c -E ' (complete|unreadable) ')" -eq 2
check "good + bad: the bad one named" grep -q "unreadable .*text.ast" "$T/mixed.txt"
exit $fail
