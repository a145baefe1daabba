#!/usr/bin/env bash
# tests/tracer/run.sh NAME — one recorder integration test (ctest runs each).
# Programs from tests/tracer/ run under `allocsim record`; tr_check reads the
# traces back through the public reader. Environment (set by CMakeLists.txt):
#   ALLOCSIM  the allocsim binary    TR  dir of the test programs
#   TR_SRC    this source dir (golden files)
# Regenerate the golden file: UPDATE=1 tests/tracer/run.sh golden (same env).
set -u
name=$1
W=$(mktemp -d "${TMPDIR:-/tmp}/allocsim-tr.XXXXXX")
trap 'cd /; umount "$W/mnt" 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
fail() { echo "FAIL($name): $*" >&2; exit 1; }
stat_of() { "$TR/tr_check" stats "$1" | sed -n "s/^$2=//p"; }
files() { ls "$W"/"$1".*.ast 2>/dev/null; }
# exec_chain PREFIX WHAT: one pid wrote PREFIX.<pid>.ast, .1.ast and .2.ast
# (WHAT names them), each complete, the last the golden sequence; sets pid.
exec_chain() {
    [ "$(nfiles "$1")" = 3 ] || fail "want 3 files ($2), got: $(files "$1")"
    pid=$(stat_of "$(files "$1" | head -1)" pid)
    for x in "$1.$pid.ast" "$1.$pid.1.ast" "$1.$pid.2.ast"; do
        [ -f "$x" ] || fail "$2: missing $x"
        [ "$(stat_of "$x" complete)" = 1 ] || fail "$2: $x incomplete"
    done
    "$TR/tr_check" dump "$1.$pid.2.ast" | diff -q - "$TR_SRC/golden.expected" >/dev/null ||
        fail "$2: the exec'd image's trace is not the golden sequence"
}
nfiles() { files "$1" | wc -l; }
# spin_kill PREFIX ERRFILE [record options]: tr_spin under record, SIGKILLed
# after its go line; sets f (its trace) and rc (record's exit status).
# SPIN_N=N: tr_spin stops allocating after N pairs and waits to be killed.
spin_kill() {
    local p=$1 err=$2 line rpid pid
    shift 2
    rm -f go && mkfifo go
    "$ALLOCSIM" record "$@" -o "$p" -- "$TR/tr_spin" ${SPIN_N:-} >go 2>"$err" &
    rpid=$!
    read -r line <go || fail "no go line"
    sleep 0.5
    f=$(files "$p")
    pid=${f##*/"$p".}; pid=${pid%.ast}
    kill -9 "$pid"
    wait $rpid; rc=$?
}

# The fds tests, run by placements: in $W (a fresh directory each time).
t_fds() {
    # a program that closes and dup2s over descriptors it never opened
    # (tracer/rec_fd.c): its files hold only its bytes, the trace is whole
    mkdir d
    "$ALLOCSIM" record -q -o p -- "$TR/tr_fds" libc "$W/d" >out.txt 2>err.txt ||
        fail "exit status: $(cat err.txt)"
    [ ! -s err.txt ] || fail "stderr: $(cat err.txt)"
    f=$(files p)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "trace incomplete"
    own=$(sed -n 's/^mallocs \([0-9]*\) .*/\1/p' out.txt)
    m=$(stat_of "$f" malloc)
    [ -n "$own" ] && [ "${m:-0}" -ge "$own" ] || fail "$m mallocs traced of the program's $own"
    [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "unknown frees: events lost"
}
t_fdsbash() {
    # bash redirects onto every number below its soft limit, raised to 2048
    # where it can be (bash asks fcntl whether the target is open and saves a
    # copy of it if so): each file gets the shell's bytes only, and the trace
    # neither stops nor takes the shell's writes
    mkdir d
    "$ALLOCSIM" record -q -o p -- bash -c 'ulimit -Sn 2048 2>/dev/null; top=$(ulimit -Sn)
        [ "$top" = unlimited ] || [ "$top" -gt 2048 ] && top=2048; echo $top
        for i in $(seq 3 $((top - 1))); do
        eval "exec $i>d/f$i" && echo $i >&$i; eval "exec $i>&-"; done' >out.txt 2>err.txt ||
        fail "exit status: $(cat err.txt)"
    [ ! -s err.txt ] || fail "stderr: $(cat err.txt)"
    top=$(head -1 out.txt)
    for i in $(seq 3 $((top - 1))); do
        [ "$(cat d/f$i)" = "$i" ] || fail "d/f$i holds $(head -c 40 d/f$i | od -c | head -2)"
    done
    for f in $(files p); do   # the shell, and seq's fork and exec
        [ "$(stat_of "$f" complete)" = 1 ] || fail "$f incomplete"
        [ "$(stat_of "$f" read_error)" = 0 ] || fail "$f: reader error"
    done
}
t_fdsraw() {
    # descriptors closed by the raw syscall, unseen by the hooks, then reused
    # by the program: the writer's files are in a table of its own
    # (tracer/rec_fd.c), so the program's numbers are its own and nothing
    # is lost. Before, the writer found its file gone and stopped (one line).
    mkdir d
    "$ALLOCSIM" record -q -o p -- "$TR/tr_fds" raw "$W/d" >out.txt 2>err.txt ||
        fail "exit status: $(cat err.txt)"
    [ ! -s err.txt ] || fail "stderr: $(cat err.txt)"
    f=$(files p)
    [ "$(stat_of "$f" complete)" = 1 ] && [ "$(stat_of "$f" read_error)" = 0 ] ||
        fail "the trace is not whole"
    # the same after the program closed 2 and opened its first file on it
    mkdir d2
    "$ALLOCSIM" record -q -o p2 -- "$TR/tr_fds" raw2 "$W/d2" >out.txt 2>err.txt ||
        fail "raw2: exit status (a file holds other bytes than the program's)"
    [ ! -s err.txt ] || fail "raw2: stderr: $(cat err.txt)"
    f=$(files p2)
    [ "$(stat_of "$f" complete)" = 1 ] && [ "$(stat_of "$f" read_error)" = 0 ] ||
        fail "raw2: the trace is not whole"
}
# placements FN: FN with the tracer's descriptors in each of their places
# (tracer/rec_fd.c): above a soft RLIMIT_NOFILE of 1024 (hard limit above
# it), and just below 1024 (soft = hard = 1024). Each in a subshell and a
# fresh directory.
placements() {
    local hard top=$W
    hard=$(ulimit -Hn)
    if [ "$hard" = unlimited ] || [ "$hard" -gt 1024 ]; then
        (W=$top/lift && mkdir "$W" && cd "$W" && ulimit -Sn 1024 && "$1") || exit 1
    fi
    if [ "$hard" = unlimited ] || [ "$hard" -ge 1024 ]; then
        (W=$top/below && mkdir "$W" && cd "$W" && ulimit -n 1024 && "$1") || exit 1
    fi
}

case $name in
callsite)
    "$ALLOCSIM" record -q --callsite -o g -- "$TR/tr_golden" >traced.out; rc=$?
    [ "$rc" = 3 ] || fail "exit $rc"
    "$TR/tr_check" dump "$(files g)" | diff -u "$TR_SRC/golden.expected" - || fail "events differ with --callsite"
    "$TR/tr_check" callsites "$(files g)" >cs.txt
    n=$(awk '$2 == "tr_golden" {print $1}' cs.txt)
    [ "${n:-0}" -ge 30 ] || fail "callsites in tr_golden: ${n:-0}: $(cat cs.txt)"
    grep -q "liballocsim" cs.txt && fail "a callsite points into the tracer itself"
    ;;
golden)
    "$TR/tr_golden" >plain.out; prc=$?
    "$ALLOCSIM" record -q -o g -- "$TR/tr_golden" >traced.out; trc=$?
    [ "$prc" = 3 ] && [ "$trc" = 3 ] || fail "exit $prc untraced, $trc traced (want 3)"
    diff plain.out traced.out || fail "output differs with the tracer"
    [ "$(nfiles g)" = 1 ] || fail "want one trace file"
    "$TR/tr_check" dump "$(files g)" >events.txt || fail "dump failed"
    if [ "${UPDATE:-}" = 1 ]; then cp events.txt "$TR_SRC/golden.expected"; fi
    diff -u "$TR_SRC/golden.expected" events.txt || fail "event sequence differs from golden.expected"
    ;;
usable)
    "$TR/tr_usable" >plain.out; prc=$?
    "$ALLOCSIM" record -q -o u -- "$TR/tr_usable" >traced.out; trc=$?
    [ "$prc" = 5 ] && [ "$trc" = 5 ] || fail "exit $prc untraced, $trc traced (want 5)"
    cmp plain.out traced.out || fail "malloc_usable_size/layout differs with the tracer"
    [ "$(stat_of "$(files u)" complete)" = 1 ] || fail "trace incomplete"
    [ "$(stat_of "$(files u)" unknown_frees)" = 0 ] || fail "unknown frees"
    ;;
foreign)
    # programs linked with jemalloc, tcmalloc or mimalloc (tr_usable_*): the
    # tracer calls their allocator, not glibc's (it crashed in jemalloc's
    # malloc_usable_size, and hung in tcmalloc's init), nothing they print
    # changes, and the header says the samples' heap figures are glibc's
    n=0
    for p in "$TR"/tr_usable_*; do
        [ -x "$p" ] || continue
        n=$((n + 1)); k=${p##*_}
        "$p" >plain.out; prc=$?
        timeout 60 "$ALLOCSIM" record -q -o "f$k" -- "$p" >traced.out; trc=$?
        [ "$prc" = 5 ] && [ "$trc" = 5 ] || fail "$k: exit $prc untraced, $trc traced (want 5)"
        cmp plain.out traced.out || fail "$k: malloc_usable_size/layout differs with the tracer"
        f=$(files "f$k")
        [ "$(stat_of "$f" complete)" = 1 ] || fail "$k: trace incomplete"
        [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "$k: unknown frees"
        m=$(stat_of "$f" malloc)
        [ "${m:-0}" -ge 5000 ] || fail "$k: only $m mallocs traced"
        "$ALLOCSIM" info "$f" | grep -q "^options *foreign-malloc" || fail "$k: header: $("$ALLOCSIM" info "$f" | grep options)"
        "$ALLOCSIM" replay --model ideal --format json "$f" >r.json 2>r.err || fail "$k: replay"
        grep -q '"peak_process_rss": null' r.json || fail "$k: a process RSS predicted: $(cat r.json)"
        grep -q "its own malloc, not glibc's" r.err || fail "$k: no note: $(cat r.err)"
    done
    [ $n -gt 0 ] || { echo "no allocator package installed (tools/deps.sh): skipped"; exit 77; }
    ;;
mainexit)
    # main ends with pthread_exit, the worker returns last: the process ends
    # (exit 0) as untraced, not kept alive by the writer thread (it was)
    timeout 60 "$ALLOCSIM" record -q -o m -- "$TR/tr_mainexit" >out.txt; rc=$?
    [ "$rc" = 0 ] || fail "exit $rc (124: it never ended)"
    grep -q "worker done" out.txt || fail "no output: $(cat out.txt)"
    f=$(files m)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "trace incomplete"
    m=$(stat_of "$f" malloc)
    [ "${m:-0}" -ge 100000 ] || fail "$m mallocs of the worker's 100000"
    ;;
churnthreads)
    # 10000 threads, 100 at a time: every event recorded, and the tracer's
    # own resident memory stays small (dead threads' rings are reused once
    # the thread is gone; it peaked at ~150 MB before, ~10-30 MB since)
    "$ALLOCSIM" record -q -o c -- "$TR/tr_churnthreads" 100 100 >out.txt || fail "exit status"
    grep -q "threads 10000" out.txt || fail "threads: $(cat out.txt)"
    f=$(files c)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "trace incomplete"
    [ "$(stat_of "$f" thread_start)" = 10000 ] || fail "thread starts: $(stat_of "$f" thread_start)"
    m=$(stat_of "$f" malloc)
    [ "${m:-0}" -ge 2000000 ] || fail "$m mallocs of the 2000000"
    [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "unknown frees"
    r=$(stat_of "$f" tracer_rss_max)
    [ "${r:-0}" -gt 0 ] && [ "$r" -lt $((64 << 20)) ] || fail "tracer resident $r bytes at its peak (want < 64 MiB)"
    ;;
threads)
    "$ALLOCSIM" record -q -o t -- "$TR/tr_threads" >out.txt || fail "exit status"
    grep -q "consumed 60000" out.txt || fail "program output"
    f=$(files t)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "incomplete"
    [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "unknown frees: pairing lost"
    [ "$(stat_of "$f" threads)" -ge 6 ] || fail "threads: $(stat_of "$f" threads)"
    [ "$(stat_of "$f" thread_start)" = 5 ] || fail "thread_start $(stat_of "$f" thread_start)"
    [ "$(stat_of "$f" thread_exit)" = 5 ] || fail "thread_exit $(stat_of "$f" thread_exit)"
    [ "$(stat_of "$f" malloc)" -ge 120000 ] || fail "mallocs $(stat_of "$f" malloc)"
    ;;
fork)
    "$ALLOCSIM" record -q -o f -- "$TR/tr_fork" >out.txt || fail "exit status"
    grep -q "children ok 20" out.txt || fail "children failed"
    [ "$(nfiles f)" = 21 ] || fail "want 21 files, got $(nfiles f)"
    parent=""
    for x in $(files f); do
        [ "$(stat_of "$x" complete)" = 1 ] || fail "$x incomplete"
        [ "$(stat_of "$x" fork)" -ge 1 ] || fail "$x: no fork event"
        [ "$(stat_of "$x" fork)" = 20 ] && parent=$(stat_of "$x" pid)
    done
    [ -n "$parent" ] || fail "no parent file with 20 forks"
    nchild=0
    for x in $(files f); do [ "$(stat_of "$x" ppid)" = "$parent" ] && nchild=$((nchild + 1)); done
    [ "$nchild" = 20 ] || fail "children naming the parent's pid: $nchild"
    ;;
nofollow)
    "$ALLOCSIM" record -q --no-follow -o n -- "$TR/tr_fork" >out.txt || fail "exit status"
    [ "$(nfiles n)" = 1 ] || fail "--no-follow: want 1 file, got $(nfiles n)"
    ;;
exec)
    "$ALLOCSIM" record -q -o e -- sh -c "exec sh -c 'exec \"$TR/tr_golden\"'" >out.txt; rc=$?
    [ "$rc" = 3 ] || fail "exit $rc (want 3)"
    exec_chain e "sh, sh, tr_golden"
    [ "$(stat_of e.$pid.ast exec)" = 1 ] || fail "no exec event"
    ;;
execat)
    # execveat and fexecve: a failed attempt resumes tracing in the next file,
    # the successful one closes it; the exec'd image traces from scratch.
    for how in execveat fexecve; do
        rm -f x.*.ast
        "$ALLOCSIM" record -q -o x -- "$TR/tr_exec" $how "$TR/tr_golden" >out.txt; rc=$?
        [ "$rc" = 3 ] || fail "$how: exit $rc (want 3)"
        exec_chain x "$how: tr_exec, tr_exec after the failed exec, tr_golden"
        [ "$(stat_of x.$pid.ast exec)" = 1 ] || fail "$how: no exec event before the failed exec"
        [ "$(stat_of x.$pid.ast malloc)" = 1 ] || fail "$how: the malloc before the exec is lost"
        [ "$(stat_of x.$pid.1.ast exec)" = 1 ] || fail "$how: no exec event before the exec"
        [ "$(stat_of x.$pid.1.ast malloc)" = 1 ] || fail "$how: the malloc after the failed exec is lost"
    done
    ;;
mallocenv)
    # The malloc environment glibc read at start is in the header, in order,
    # and nothing else of the environment is.
    # Several tunables: glibc 2.36 cuts the initial GLIBC_TUNABLES at each
    # ':' in place (rec_writer.c read_malloc_env joins them back).
    env FOO=bar MALLOC_ARENA_MAX=2 \
        GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4096:glibc.malloc.mxfast=0:glibc.malloc.perturb=7 \
        "$ALLOCSIM" record -q -o m -- "$TR/tr_golden" >out.txt
    "$ALLOCSIM" info --format json "$(files m)" >info.json || fail "info"
    grep -q '"malloc_env": \["MALLOC_ARENA_MAX=2", "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4096:glibc.malloc.mxfast=0:glibc.malloc.perturb=7"\]' info.json ||
        fail "malloc_env: $(grep -o '"malloc_env": [^]]*]' info.json)"
    "$ALLOCSIM" info "$(files m)" | grep -qx '              (the glibc model skips glibc.malloc.perturb=7)' ||
        fail "skipped tunables not named"
    "$ALLOCSIM" replay "$(files m)" --model ideal 2>err.txt >/dev/null || fail "replay"
    grep -q "note: the predicted process RSS ignores glibc.malloc.perturb=7" err.txt ||
        fail "replay does not say what the prediction ignored: $(cat err.txt)"
    env -u MALLOC_ARENA_MAX -u GLIBC_TUNABLES "$ALLOCSIM" record -q -o n -- "$TR/tr_golden" >out.txt
    "$ALLOCSIM" info --format json "$(files n)" | grep -q '"malloc_env": null' ||
        fail "malloc_env recorded without any"
    ;;
dlopen)
    for cs in "" --callsite; do
        rm -f d.*.ast
        "$ALLOCSIM" record -q $cs -o d -- "$TR/tr_dlopen" "$TR/tr_dlmod.so" >out.txt || fail "exit $cs"
        grep -q "dlopen ok" out.txt || fail "output $cs"
        f=$(files d)
        [ "$(stat_of "$f" complete)" = 1 ] || fail "incomplete $cs"
        [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "unknown frees $cs"
        [ "$(stat_of "$f" malloc)" -ge 10 ] || fail "mallocs $cs"
    done
    ;;
cxx)
    "$TR/tr_cxx" >plain.out || fail "untraced run"
    "$ALLOCSIM" record -q -o x -- "$TR/tr_cxx" >traced.out || fail "traced exit status"
    diff plain.out traced.out || fail "output differs"
    f=$(files x)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "incomplete"
    [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "unknown frees"
    [ "$(stat_of "$f" malloc)" -ge 120 ] || fail "mallocs $(stat_of "$f" malloc)"
    [ "$(stat_of "$f" aligned_alloc)$(stat_of "$f" memalign)$(stat_of "$f" posix_memalign)" != 000 ] ||
        fail "aligned new not seen"
    "$ALLOCSIM" record -q --callsite -o xc -- "$TR/tr_cxx" >traced2.out || fail "--callsite exit"
    diff plain.out traced2.out || fail "--callsite output differs"
    # operator new is a known wrapper: the strings' and arrays' blocks are
    # charged to tr_cxx itself, not to libstdc++
    n=$("$TR/tr_check" callsites "$(files xc)" | awk '$2 == "tr_cxx" {print $1}')
    [ "${n:-0}" -ge 100 ] || fail "--callsite: ${n:-0} events charged to tr_cxx: $("$TR/tr_check" callsites "$(files xc)")"
    ;;
signal)
    "$ALLOCSIM" record -q -o s -- "$TR/tr_signal" >out.txt || fail "exit status"
    grep -q enough out.txt || fail "handler did not run"
    f=$(files s)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "incomplete"
    [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "unknown frees"
    ;;
ctor)
    "$ALLOCSIM" record -q -o c -- "$TR/tr_ctor" >out.txt || fail "exit status"
    f=$(files c)
    [ "$(stat_of "$f" unknown_frees)" = 0 ] || fail "the constructor's malloc was not recorded"
    ;;
fds|fdsbash|fdsraw)
    placements "t_$name"
    ;;
cancel)
    # a thread with a cancel pending makes 5M malloc/free pairs while two
    # others churn: the writer falls behind, the hook waits for ring space,
    # and that wait must not be a cancellation point (malloc is not one)
    "$ALLOCSIM" record -q -o c -- "$TR/tr_cancel" 5000000 2 >out.txt 2>err.txt ||
        fail "exit status: $(cat err.txt)"
    [ "$(cat out.txt)" = "cancelled after 5000000" ] || fail "$(cat out.txt)"
    [ "$(stat_of "$(files c)" complete)" = 1 ] || fail "trace incomplete"
    ;;
sigend)
    # ended by a signal right after its last heap call (no quiet time for the
    # writer's sync): the trace is finished in the signal's path, whole and
    # complete, and the process still dies of that signal
    ulimit -c 0
    for how in term segv abort pipe usr1 restore oneshot sysv; do
        "$TR/tr_sigend" $how 200000 >plain.txt 2>&1; want=$?
        "$ALLOCSIM" record -q -o s$how -- "$TR/tr_sigend" $how 200000 >out.txt 2>err.txt; rc=$?
        [ "$rc" = "$want" ] && [ "$rc" -gt 128 ] || fail "$how: exit $rc traced, $want untraced"
        # what the program printed (one-shot handlers: what sigaction
        # reported, inside the handler too) is the same
        diff plain.txt out.txt >/dev/null || fail "$how: output '$(cat out.txt)', untraced '$(cat plain.txt)'"
        f=$(files s$how)
        [ "$(stat_of "$f" complete)" = 1 ] || fail "$how: trace not finished"
        m=$(stat_of "$f" malloc)
        [ "${m:-0}" -ge 200000 ] || fail "$how: $m mallocs traced of 200000"
        [ "$(stat_of "$f" read_error)" = 0 ] || fail "$how: reader error"
    done
    # SIGTERM from outside while six threads allocate flat out: the trace
    # is finished, complete, while they go on
    rm -f go && mkfifo go
    "$ALLOCSIM" record -q -o spin -- "$TR/tr_sigend" spin >go 2>err.txt &
    rpid=$!
    read -r line <go || fail "spin: no go line"
    sleep 0.3
    f=$(files spin)
    # the pid from the file's name: reading a trace six threads are still
    # filling took seconds (tens under ASan), and the file grew meanwhile
    pid=${f##*/spin.}; pid=${pid%.ast}
    kill -TERM "$pid"
    wait $rpid; rc=$?
    [ "$rc" = 143 ] || fail "spin: exit $rc"
    "$TR/tr_check" stats "$f" >spin.stats
    grep -qx "complete=1" spin.stats || fail "spin: trace not finished"
    grep -qx "read_error=0" spin.stats || fail "spin: reader error"
    # Python's faulthandler (pytest turns it on): on a crash it puts back the
    # handler it found (ours, shown as SIG_DFL) and raises again
    if [ -x /usr/bin/python3 ]; then
        "$ALLOCSIM" record -q -o py -- /usr/bin/python3 -X faulthandler \
            -c 'import ctypes; ctypes.string_at(0)' >/dev/null 2>&1; rc=$?
        [ "$rc" = 139 ] || fail "python faulthandler: exit $rc"
        [ "$(stat_of "$(files py)" complete)" = 1 ] || fail "python faulthandler: not finished"
    fi
    ALLOCSIM_OPTS=signals=0 "$ALLOCSIM" record -q -o off -- "$TR/tr_sigend" term 200000 >/dev/null 2>&1
    [ "$(stat_of "$(files off)" complete)" = 0 ] || fail "signals=0: the trace was finished anyway"
    ;;
fdsee)
    # a program that lists its descriptors sees none of the tracer's: the
    # writer keeps its files in a table of its own (tracer/rec_fd.c). CPython's
    # test_subprocess failed two tests on them (fd_status.py). Both places the
    # descriptors had: soft limit 1024 below a higher hard limit, and soft = hard
    prog='import os; print(sorted(int(x) for x in os.listdir("/proc/self/fd")))'
    hard=$(ulimit -Hn)
    for soft in 1024 hard; do
        [ "$soft" = hard ] && soft=$hard
        [ "$hard" = unlimited ] || [ "$soft" = unlimited ] || [ "$hard" -ge "$soft" ] || continue
        want=$(ulimit -Sn "$soft" && /usr/bin/python3 -c "$prog") || fail "untraced, soft $soft"
        got=$(ulimit -Sn "$soft" && "$ALLOCSIM" record -q -f -o s -- /usr/bin/python3 -c "$prog" 2>err.txt) ||
            fail "traced, soft $soft: $(cat err.txt)"
        [ "$got" = "$want" ] || fail "soft limit $soft: traced $got, untraced $want"
        [ "$(stat_of "$(files s)" complete)" = 1 ] || fail "soft limit $soft: trace incomplete"
        rm -f s.*.ast
    done
    ;;
nullfree)
    # free(NULL) calls are recorded (every heap call is) and `allocsim info`
    # counts them apart, so frees far above mallocs read as what they are
    "$ALLOCSIM" record -q -o n -- "$TR/tr_sigend" nullfree 5000 >/dev/null 2>err.txt ||
        fail "exit status: $(cat err.txt)"
    f=$(files n)
    "$ALLOCSIM" info "$f" >info.txt || fail "info: exit $?"
    grep -q "^null frees    50[0-9][0-9] (free(NULL)" info.txt || fail "text: $(grep frees info.txt)"
    "$ALLOCSIM" info --format json "$f" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
f = d["files"][0]
assert 5000 <= d["null_frees"] < 5100 and f["null_frees"] == d["null_frees"], (d["null_frees"], f["null_frees"])
assert d["unknown_frees"] == 0 and d["ops"]["free"] >= 10000, d
' || fail "JSON null_frees"
    ;;
quickexit)
    # quick_exit runs no destructor and ends through glibc's internal _exit:
    # the at_quick_exit handler the tracer registers first (so it runs last)
    # finishes the trace, with every event
    "$ALLOCSIM" record -q -o q -- "$TR/tr_sigend" quick 200000 >out.txt 2>err.txt; rc=$?
    [ "$rc" = 3 ] || fail "exit $rc, want 3: $(cat err.txt)"
    f=$(files q)
    [ "$(stat_of "$f" complete)" = 1 ] || fail "trace not finished"
    m=$(stat_of "$f" malloc)
    [ "${m:-0}" -ge 200000 ] || fail "$m mallocs traced of 200000"
    ;;
keepenv)
    # programs that build a child's environment themselves (env -i, env -u,
    # Python's subprocess with env=) drop the preload: the exec and
    # posix_spawn hooks put it back, so the child is traced all the same,
    # into the same prefix; not with --no-follow
    "$ALLOCSIM" record -q -o e -- env -i "$TR/tr_ctor" >/dev/null 2>err.txt ||
        fail "env -i: exit status: $(cat err.txt)"
    [ "$(nfiles e)" = 2 ] || fail "env -i: want env's file and tr_ctor's, got: $(files e)"
    for f in $(files e); do
        [ "$(stat_of "$f" complete)" = 1 ] || fail "env -i: $f unfinished"
    done
    "$ALLOCSIM" record -q -o u -- env -u LD_PRELOAD -u ALLOCSIM_PREFIX "$TR/tr_ctor" \
        >/dev/null 2>err.txt || fail "env -u: exit status: $(cat err.txt)"
    [ "$(nfiles u)" = 2 ] || fail "env -u (execvp of a changed environ): got: $(files u)"
    # theirs stays after ours; a variable the child has is left as it is
    out=$("$ALLOCSIM" record -q -o l -- env -i LD_PRELOAD=libm.so.6 ALLOCSIM_OPTS=level=1 \
        /bin/sh -c 'echo "$LD_PRELOAD $ALLOCSIM_OPTS"' 2>err.txt) || fail "exit status: $(cat err.txt)"
    case $out in
    */liballocsim-record.so:libm.so.6" level=1") ;;
    *) fail "child's LD_PRELOAD and ALLOCSIM_OPTS: '$out'" ;;
    esac
    # Python: execve after fork (env=) and posix_spawn (close_fds=False)
    "$ALLOCSIM" record -q -o py -- /usr/bin/python3 -c '
import subprocess, sys
for cf in (True, False):
    subprocess.run([sys.argv[1]], env={"PATH": "/usr/bin"}, close_fds=cf, check=True)
' "$TR/tr_ctor" >/dev/null 2>err.txt || fail "python: exit status: $(cat err.txt)"
    [ "$(nfiles py)" = 3 ] || fail "python subprocess env=: want 3 files, got: $(files py)"
    # a program of another ELF class gets no preload put back (the loader
    # would print "wrong ELF class" into its stderr). Here a bare 32-bit
    # header: the kernel refuses it (ENOEXEC) and env's execvp hands it to
    # sh, with the environment env passed, so sh runs untraced
    { printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000\002\000\003\000'
      head -c 60 /dev/zero; } >e32 && chmod +x e32
    "$ALLOCSIM" record -q -o f -- env -i ./e32 >/dev/null 2>&1
    [ "$(nfiles f)" = 1 ] || fail "32-bit ELF: want env's file only, got: $(files f)"
    # a sanitizer-built program CMD runs gets our entry taken out of its
    # LD_PRELOAD: it runs as it does untraced (ASan exited: "runtime does
    # not come first"), and writes no file
    "$TR/tr_asan" >plain.out 2>&1; want=$?
    "$ALLOCSIM" record -q -o a -- sh -c '"$0"; echo "status $?"' "$TR/tr_asan" >traced.out 2>&1 ||
        fail "asan child: record's exit status: $(cat traced.out)"
    [ "$(cat traced.out)" = "$(cat plain.out)
status $want" ] || fail "asan child: '$(cat traced.out)', untraced '$(cat plain.out)' ($want)"
    # preloaded by hand by a relative path, then a chdir: the child gets the
    # library's whole path (a relative one made the loader complain into
    # its stderr)
    libdir=$(dirname "$ALLOCSIM")
    (cd "$libdir/.." && LD_PRELOAD="${libdir##*/}/liballocsim-record.so" ALLOCSIM_PREFIX="$W/rel" \
        /usr/bin/python3 -c '
import os, subprocess, sys
os.chdir("/")
subprocess.run([sys.argv[1]], env={"PATH": "/usr/bin"}, check=True)
' "$TR/tr_ctor") >/dev/null 2>err.txt || fail "relative preload: $(cat err.txt)"
    [ ! -s err.txt ] || fail "relative preload, stderr: $(cat err.txt)"
    [ "$(nfiles rel)" = 2 ] || fail "relative preload: want 2 files, got: $(files rel)"
    "$ALLOCSIM" record -q --no-follow -o n -- env -i "$TR/tr_ctor" >/dev/null 2>err.txt ||
        fail "--no-follow: exit status: $(cat err.txt)"
    [ "$(nfiles n)" = 1 ] || fail "--no-follow: want env's file only, got: $(files n)"
    ;;
forward)
    # a signal sent to record (kill, timeout) is passed on to CMD, which
    # ends or not as it would have; record waits, summarizes and exits with
    # CMD's status. The terminal's ^C, which the kernel sends to CMD as
    # well, is not passed on a second time.
    cat >cnt.py <<'PY'
import signal, sys, time
n = {}
def h(s, f): n[s] = n.get(s, 0) + 1
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
    signal.signal(s, h)
print("ready", flush=True)
t = time.time()
while time.time() - t < float(sys.argv[1]): time.sleep(0.02)
print("got", ",".join("%d:%d" % kv for kv in sorted(n.items())), flush=True)
PY
    rm -f go && mkfifo go
    "$ALLOCSIM" record -o h -- /usr/bin/python3 cnt.py 1 >go 2>err.txt &
    rpid=$!
    read -r line <go || fail "no ready line"
    kill -INT $rpid; kill -USR1 $rpid; kill -TERM $rpid
    read -r line <go
    wait $rpid; rc=$?
    [ "$rc" = 0 ] || fail "handled signals: exit $rc: $(cat err.txt)"
    [ "$line" = "got 2:1,10:1,15:1" ] || fail "CMD saw '$line', want each signal once"
    grep -q "allocsim: .*h\.[0-9]*\.ast: pid" err.txt || fail "no summary: $(cat err.txt)"
    [ "$(stat_of "$(files h)" complete)" = 1 ] || fail "handled signals: trace unfinished"
    # a SIGTERM CMD leaves at the default ends it, and record with its status
    "$ALLOCSIM" record -o t -- /usr/bin/python3 -c 'import time; print("ready", flush=True); time.sleep(5)' \
        >go 2>err.txt &
    rpid=$!
    read -r line <go || fail "no ready line (default)"
    kill -TERM $rpid
    wait $rpid; rc=$?
    [ "$rc" = 143 ] || fail "default SIGTERM: exit $rc: $(cat err.txt)"
    pid=$(stat_of "$(files t)" pid)
    ! kill -0 "$pid" 2>/dev/null || fail "CMD ($pid) still running after record ended"
    [ "$(stat_of "$(files t)" complete)" = 1 ] || fail "default SIGTERM: trace unfinished"
    grep -q "allocsim: .*t\.[0-9]*\.ast: pid" err.txt || fail "no summary: $(cat err.txt)"
    # ^C on record's terminal: CMD gets it once, from the kernel
    cat >onterm.py <<'PY'
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "record", "-q", "-o", "p", "--"] + sys.argv[2:])
out = b""
while b"ready" not in out:
    b = os.read(fd, 1024)
    if not b:
        break
    out += b
time.sleep(0.2)
os.write(fd, b"\x03")
while True:
    try:
        b = os.read(fd, 1024)
    except OSError:
        break
    if not b:
        break
    out += b
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
PY
    /usr/bin/python3 onterm.py "$ALLOCSIM" /usr/bin/python3 cnt.py 1 >pty.out 2>&1 ||
        fail "pty: $(cat pty.out)"
    grep -q "got 2:1$" pty.out || fail "^C on the terminal: $(cat pty.out)"
    ;;
sigquery)
    # the program sees the dispositions it would without the tracer, and its
    # own handler runs; one it inherited as ignored stays ignored
    "$TR/tr_sigend" query >plain.out; prc=$?
    "$ALLOCSIM" record -q -o q -- "$TR/tr_sigend" query >traced.out; trc=$?
    [ "$prc" = 0 ] && [ "$trc" = 0 ] || fail "exit $prc untraced, $trc traced"
    diff plain.out traced.out || fail "the program sees other dispositions under the tracer"
    (trap '' HUP; "$TR/tr_sigend" query >plain.out; "$ALLOCSIM" record -q -f -o q -- "$TR/tr_sigend" query >traced.out)
    grep -q "sighup ignored" traced.out || fail "SIGHUP no longer ignored: $(cat traced.out)"
    diff plain.out traced.out || fail "with SIGHUP ignored, the program sees other dispositions"
    ;;
fdlimit)
    # a program that opens files until EMFILE gets as many under the tracer
    # as without it: the tracer's descriptors sit above the soft limit
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] || [ "$hard" -gt 64 ] || exit 77
    for lim in 8 20 64 1024; do
        [ "$hard" = unlimited ] || [ "$hard" -gt "$lim" ] || continue
        want=$(ulimit -Sn "$lim" && "$TR/tr_fds" count -) || fail "untraced, limit $lim"
        got=$(ulimit -Sn "$lim" && "$ALLOCSIM" record -q -f -o p -- "$TR/tr_fds" count - 2>err.txt) ||
            fail "traced, limit $lim: $(cat err.txt)"
        [ "$got" = "$want" ] || fail "soft limit $lim: traced '$got', untraced '$want'"
        [ ! -s err.txt ] || fail "stderr at limit $lim: $(cat err.txt)"
        [ "$(stat_of "$(files p)" complete)" = 1 ] || fail "limit $lim: trace incomplete"
        rm -f p.*.ast
    done
    ;;
sigkill)
    spin_kill k err.txt -q
    [ "$rc" = 137 ] || fail "exit $rc (want 128+9)"
    "$TR/tr_check" stats "$f" >k.stats   # one read of millions of events (slow under ASan)
    grep -qx "complete=0" k.stats || fail "a killed trace reads as complete"
    ev=$(sed -n 's/^events=//p' k.stats)
    [ "${ev:-0}" -ge 2000000 ] || fail "only $ev events recovered (4M made before the go line)"
    grep -qx "read_error=0" k.stats || fail "reader error"
    "$ALLOCSIM" info "$f" >info.out 2>info.err; rc=$?
    [ "$rc" = 2 ] || fail "allocsim info exit $rc on a killed trace (want 2)"
    grep -q truncated info.err || fail "info does not report the truncation: $(cat info.err)"
    ;;
vmem)
    # under RLIMIT_AS the tracer's address space is the program's loss: at
    # most 16 MiB of 300 (libraries, a 1 MiB ring, the writer's buffers,
    # which start small and grow: six 3 MiB streams and an 18 MiB output
    # buffer took 42 MiB before)
    # (the limit is set inside: allocsim itself may be an ASan build)
    want=$(ulimit -v 300000 && "$TR/tr_vmem") || fail "untraced run"
    got=$("$ALLOCSIM" record -q -o v -- bash -c 'ulimit -v 300000 && exec "$0"' "$TR/tr_vmem" \
        2>err.txt) || fail "traced run: $(cat err.txt)"
    w=${want#got }; w=${w% MiB}; g=${got#got }; g=${g% MiB}
    [ "$g" -ge $((w - 16)) ] || fail "traced: $got, untraced: $want"
    for f in $(files v); do
        [ "$(stat_of "$f" complete)" = 1 ] || fail "$f incomplete: $(cat err.txt)"
    done
    ;;
tstamp)
    # a malloc after a 100 ms quiet spell is timed when it was made (within
    # 50 ms here: the writer may wait for a core on a machine busy with other
    # tests; typically 0.3 ms): the first call after a spell kept the time
    # marker from before it, 100 ms early
    "$ALLOCSIM" record -q -o t -- "$TR/tr_tstamp" >own.txt 2>err.txt || fail "exit: $(cat err.txt)"
    "$TR/tr_check" times "$(files t)" >trace.txt || fail "tr_check times"
    awk 'NR == FNR { own[$1] = $2; next }
         $1 == 1 && !have { base = $2; have = 1; next }
         ($1 in own) { d = $2 - base - own[$1]; if (d < 0) d = -d; n++
                       if (d > 50) { printf "size %s: trace %.3f ms, program %.3f ms\n", $1, $2 - base, own[$1]; bad = 1 } }
         $1 == "sample" && have { t = $2 - base; if (t > own[1000] + 10 && t < own[2000] - 10) inside++ }
         END { if (!have || n != 5) { print "found " n " of 5 mallocs"; bad = 1 }
               # ~8 samples are taken in the 100 ms between: each keeps its
               # own time (they all read as taken at one end of the spell)
               if (inside < 3) { print inside " samples timed inside the second sleep"; bad = 1 }
               exit bad }' \
        own.txt trace.txt || fail "times off"
    ;;
outlive)
    # a process that outlives CMD (multiprocessing's resource tracker does):
    # record waits for it, up to 2 s, so its file is final when record ends;
    # one that runs on past that is named as still being written
    "$ALLOCSIM" record -o o -- bash -c '( sleep 0.3; exec "$0" ) & exit 0' "$TR/tr_ctor" \
        >/dev/null 2>err.txt || fail "exit status: $(cat err.txt)"
    # bash, the subshell (forked) and its tr_ctor image, sleep (forked) and
    # its image: five files, all there and finished
    [ "$(nfiles o)" = 5 ] || fail "want 5 files when record returned: $(files o)"
    for f in $(files o); do
        [ "$(stat_of "$f" complete)" = 1 ] || fail "$f unfinished when record returned"
    done
    grep -q "still being written" err.txt && fail "summary: $(cat err.txt)"
    "$ALLOCSIM" record -o d -- bash -c '( sleep 2.5; exec "$0" ) & exit 0' "$TR/tr_ctor" \
        >/dev/null 2>err.txt || fail "exit status: $(cat err.txt)"
    grep -q "still being written (the process is running)" err.txt ||
        fail "no 'still being written' line: $(cat err.txt)"
    ;;
live)
    # info on a trace whose process still runs says so and reads it up to
    # now; once the process is gone (killed), the writer did not finish
    rm -f go && mkfifo go
    "$ALLOCSIM" record -q -o l -- "$TR/tr_spin" 150000 >go 2>err.txt &
    rpid=$!
    read -r line <go || fail "no go line"
    sleep 0.3
    f=$(files l)
    pid=$(stat_of "$f" pid)
    "$ALLOCSIM" info "$f" >info.out 2>info.err
    grep -q "being written (process $pid is running)" info.out || fail "status: $(grep status info.out)"
    grep -q "process still running: read up to now" info.err || fail "stderr: $(cat info.err)"
    "$ALLOCSIM" info --format json "$f" 2>/dev/null | grep -q '"writing": true' || fail "JSON writing"
    kill -9 "$pid"
    wait $rpid
    "$ALLOCSIM" info "$f" >info.out 2>&1
    grep -q "incomplete (the writer did not finish)" info.out && ! grep -q "being written" info.out ||
        fail "after the kill: $(cat info.out)"
    ;;
killidle)
    # killed 0.5 s after its last heap call: the writer synced the open
    # chunk within ~100 ms of it, so every event is read back (FORMAT.md
    # §3.1), from a chunk that was never closed
    SPIN_N=150000 spin_kill k err.txt -q
    [ "$rc" = 137 ] || fail "exit $rc (want 128+9)"
    m=$(stat_of "$f" malloc)
    [ "${m:-0}" -ge 150000 ] && [ "${m:-0}" -le 150004 ] ||
        fail "$m mallocs read back of the 150000 (+ stdio's) made before the kill"
    [ "$(stat_of "$f" read_error)" = 0 ] || fail "reader error"
    "$ALLOCSIM" info "$f" >info.out 2>info.err
    grep -q "was never closed" info.err || fail "the chunk was closed: $(cat info.err)"
    ;;
killquiet)
    # the periodic sync pushed out of reach (sync=600000: ten minutes, by
    # hand-preloading; record sets ALLOCSIM_OPTS itself): killed 0.5 s after
    # its last heap call, the program still loses nothing, because the writer
    # wrote the open chunk out once the program went quiet
    rm -f go && mkfifo go
    LD_PRELOAD="$(dirname "$ALLOCSIM")/liballocsim-record.so" ALLOCSIM_PREFIX="$W/q" \
        ALLOCSIM_OPTS=sync=600000 "$TR/tr_spin" 150000 >go 2>err.txt &
    pid=$!
    read -r line <go || fail "no go line"
    sleep 0.5
    kill -9 $pid
    wait $pid
    f=$(files q)
    m=$(stat_of "$f" malloc)
    [ "${m:-0}" -ge 150000 ] && [ "${m:-0}" -le 150004 ] ||
        fail "$m mallocs read back of the 150000 (+ stdio's) made before going quiet"
    [ "$(stat_of "$f" read_error)" = 0 ] || fail "reader error"
    ;;
unwritable)
    "$TR/tr_usable" >plain.out
    "$ALLOCSIM" record -q -o "$W/no/such/dir/p" -- "$TR/tr_usable" >traced.out 2>err.txt; rc=$?
    [ "$rc" = 5 ] || fail "exit $rc (want 5)"
    cmp plain.out traced.out || fail "output changed"
    [ "$(grep -c 'tracing stopped' err.txt)" = 1 ] || fail "want one 'tracing stopped' line: $(cat err.txt)"
    ;;
diskfull)
    mkdir mnt
    if mount -t tmpfs -o size=64k tmpfs mnt 2>/dev/null; then how=tmpfs; else how=ulimit; fi
    "$TR/tr_usable" 200000 >plain.out
    if [ $how = tmpfs ]; then
        "$ALLOCSIM" record -q -o "$W/mnt/p" -- "$TR/tr_usable" 200000 >traced.out 2>err.txt; rc=$?
    else
        (ulimit -f 64; "$ALLOCSIM" record -q -o "$W/mnt/p" -- "$TR/tr_usable" 200000 >traced.out 2>err.txt); rc=$?
    fi
    [ "$rc" = 5 ] || fail "exit $rc (want 5) [$how]"
    cmp plain.out traced.out || fail "output changed [$how]"
    [ "$(grep -c 'tracing stopped' err.txt)" = 1 ] || fail "want one 'tracing stopped' line: $(cat err.txt)"
    f=$(ls mnt/p.*.ast)
    [ "$(stat_of "$f" complete)" = 0 ] || fail "file not marked incomplete"
    [ "$(stat_of "$f" stop_reason)" != 0 ] || fail "no stop reason in the header"
    ;;
summary)
    # record's summary takes its counts from the chunk headers (as_trace_scan)
    # and must say what the reader says; a damaged or cut file is not intact
    "$ALLOCSIM" record -o t -- "$TR/tr_threads" >out.txt 2>err.txt || fail "exit status"
    f=$(files t)
    ev=$(stat_of "$f" events)
    grep -q ", $ev events," err.txt || fail "summary says $(cat err.txt), reader $ev events"
    scan() { "$TR/tr_check" scan "$1" | sed -n "s/^$2=//p"; }
    [ "$(scan "$f" scan)" = 0 ] && [ "$(scan "$f" end)" = 1 ] || fail "intact file: $("$TR/tr_check" scan "$f")"
    [ "$(scan "$f" events)" = "$ev" ] || fail "scan events $(scan "$f" events), reader $ev"
    size=$(stat -c %s "$f")
    head -c $((size - 32)) "$f" >noend.ast       # the end record cut off
    [ "$(scan noend.ast scan)" = 6 ] || fail "no end record: scan $(scan noend.ast scan)"
    [ "$(scan noend.ast events)" = "$ev" ] || fail "no end record: events $(scan noend.ast events)"
    head -c $((size - 1000)) "$f" >cut.ast       # ends inside the last chunk
    [ "$(scan cut.ast scan)" = 6 ] || fail "cut chunk: scan $(scan cut.ast scan)"
    [ "$(scan cut.ast events)" -lt "$ev" ] || fail "cut chunk counted"
    hl=$(od -An -tu4 -j12 -N4 "$f" | tr -d ' ')  # header length: the first chunk
    cp "$f" bad.ast
    printf 'X' | dd of=bad.ast bs=1 seek=$((hl + 12)) conv=notrunc status=none
    [ "$(scan bad.ast scan)" = 5 ] || fail "bad chunk header: scan $(scan bad.ast scan)"
    printf 'x' | dd of=bad.ast bs=1 seek=0 conv=notrunc status=none
    [ "$(scan bad.ast scan)" = 2 ] || fail "not a trace: scan $(scan bad.ast scan)"
    # a killed program: the summary decodes the file and reports the cut
    spin_kill k kerr.txt
    grep -q ", $(stat_of "$f" events) events," kerr.txt || fail "killed: summary $(cat kerr.txt)"
    grep -q "incomplete" kerr.txt && grep -q "the file ends inside a chunk" kerr.txt ||
        fail "killed: the summary does not report the cut: $(cat kerr.txt)"
    ;;
refuse)
    "$ALLOCSIM" record -q -o r -- "$TR/tr_static" 2>err.txt; rc=$?
    [ "$rc" = 2 ] && grep -q "statically linked" err.txt || fail "static: exit $rc, $(cat err.txt)"
    # set-uid to another user: a secure exec, the loader ignores LD_PRELOAD
    # (root can make one; others skip this part)
    if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
        cp "$TR/tr_usable" ./suid && chown nobody ./suid && chmod u+s ./suid
        "$ALLOCSIM" record -q -o r -- ./suid 2>err.txt; rc=$?
        [ "$rc" = 2 ] && grep -q "set-uid" err.txt || fail "setuid: exit $rc, $(cat err.txt)"
    fi
    # file capabilities: a secure exec for any user but root (root: traced,
    # as for the set-uid case below). Needs root to setcap and to run as
    # nobody, who gets a copy of allocsim (the build tree may be private)
    if [ "$(id -u)" = 0 ] && command -v setcap >/dev/null && id nobody >/dev/null 2>&1; then
        chmod 755 "$W" && mkdir -m 755 bin && cp "$ALLOCSIM" "$(dirname "$ALLOCSIM")/liballocsim-record.so" bin/
        cp "$TR/tr_usable" ./capprog
        if setcap cap_net_raw+ep ./capprog 2>/dev/null; then
            su nobody -s /bin/sh -c "cd '$W' && bin/allocsim record -q -o c -- ./capprog" \
                >/dev/null 2>err.txt; rc=$?
            [ "$rc" = 2 ] && grep -q "has file capabilities" err.txt ||
                fail "file capabilities, as nobody: exit $rc, $(cat err.txt)"
            "$ALLOCSIM" record -q -o rc -- ./capprog >/dev/null 2>err.txt; rc=$?
            [ "$rc" = 5 ] && [ "$(nfiles rc)" = 1 ] ||
                fail "file capabilities, as root: exit $rc, files $(files rc), $(cat err.txt)"
        fi
    fi
    # set-uid to the user who runs it (root running su or sudo): no secure
    # exec, so it is traced
    cp "$TR/tr_usable" ./mine && chmod u+s ./mine
    "$TR/tr_usable" >plain.out 2>&1; want=$?
    "$ALLOCSIM" record -q -o m -- ./mine >traced.out 2>err.txt; rc=$?
    [ "$rc" = "$want" ] && [ "$(nfiles m)" = 1 ] && cmp -s plain.out traced.out ||
        fail "set-uid to oneself: exit $rc (want $want), files: $(files m), $(cat err.txt)"
    "$ALLOCSIM" record -q -o r -- "$TR/tr_asan" 2>err.txt; rc=$?
    [ "$rc" = 2 ] && grep -q "is built with AddressSanitizer" err.txt ||
        fail "asan: exit $rc, $(cat err.txt)"
    # a program of another ELF class or machine: the loader would print
    # "wrong ELF class" into its stderr and run it untraced (the check reads
    # the ELF header only, so a header is enough here)
    { printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000\002\000\003\000'
      head -c 60 /dev/zero; } >e32 && chmod +x e32
    "$ALLOCSIM" record -q -o r -- ./e32 2>err.txt; rc=$?
    [ "$rc" = 2 ] && grep -q "is a 32-bit program" err.txt || fail "32-bit: exit $rc, $(cat err.txt)"
    { printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\267\000'
      head -c 60 /dev/zero; } >earm && chmod +x earm
    if [ "$(uname -m)" = x86_64 ]; then
        "$ALLOCSIM" record -q -o r -- ./earm 2>err.txt; rc=$?
        [ "$rc" = 2 ] && grep -q "is built for another machine" err.txt ||
            fail "aarch64 on x86-64: exit $rc, $(cat err.txt)"
    fi
    # a command that cannot run says why, naming it, in one line
    printf '#!/bin/sh\ntrue\n' >noexec.sh
    "$ALLOCSIM" record -q -o r -- ./noexec.sh 2>err.txt; rc=$?
    [ "$rc" = 2 ] && [ "$(cat err.txt)" = "allocsim: ./noexec.sh: cannot run it: Permission denied" ] ||
        fail "not executable: exit $rc, $(cat err.txt)"
    "$ALLOCSIM" record -q -o r -- ./missing 2>err.txt; rc=$?
    [ "$rc" = 2 ] && [ "$(cat err.txt)" = "allocsim: ./missing: cannot run it: No such file or directory" ] ||
        fail "missing: exit $rc, $(cat err.txt)"
    "$ALLOCSIM" record -q -o r -- no-such-command-here 2>err.txt; rc=$?
    [ "$rc" = 2 ] && [ "$(cat err.txt)" = "allocsim: no-such-command-here: command not found" ] ||
        fail "not on PATH: exit $rc, $(cat err.txt)"
    [ "$(nfiles r)" = 0 ] || fail "files written for a refused program"
    ;;
force)
    "$ALLOCSIM" record -q -o p -- "$TR/tr_ctor" >/dev/null || fail "first run"
    first=$(files p)
    "$ALLOCSIM" record -q -o p -- "$TR/tr_ctor" >/dev/null 2>err.txt; rc=$?
    [ "$rc" = 2 ] && grep -q "exists" err.txt || fail "no refusal: exit $rc"
    [ "$(files p)" = "$first" ] || fail "files changed by a refused run"
    "$ALLOCSIM" record -f -o p -- "$TR/tr_ctor" >/dev/null 2>err.txt || fail "-f run"
    [ "$(nfiles p)" = 1 ] && [ "$(files p)" != "$first" ] || fail "-f did not replace the old file"
    grep -q "events" err.txt || fail "no summary line: $(cat err.txt)"
    [ "$(stat -c %a "$(files p)")" = 600 ] || fail "mode is not 0600"
    ;;
*)
    fail "unknown test"
    ;;
esac
exit 0
