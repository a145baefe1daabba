/*
 * tracer/rec_ring.c — initialisation, options and the per-thread rings of
 * liballocsim-record.so.
 *
 * Each program thread appends 32-byte as_rec_t records to its own ring (an
 * mmap'd SPSC buffer, never malloc'd) and never blocks unless its ring is full;
 * the writer thread (rec_writer.c) drains the rings. The global order is a
 * 64-bit sequence number taken after the real call for allocations and before
 * it for frees (DESIGN.md "Ordering"): a plain xadd while the process has one
 * thread, a locked one after the first pthread_create.
 *
 * Environment read at start (set by `allocsim record`, see its --help):
 *   ALLOCSIM_PREFIX  trace files are PREFIX.<pid>.ast (default allocsim.<prog>)
 *   ALLOCSIM_OPTS    comma list: callsite, nofollow, level=N (zstd level
 *                    while the writer keeps up; rec_writer.c pick_level),
 *                    discard (benchmarks only: the writer thread drains and
 *                    merges the rings but encodes nothing: the hand-off cost)
 * A process with AT_SECURE (set-uid, set-gid, capabilities) is never traced.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tracer/rec_internal.h"

__thread as_thr_t as_t_thr __attribute__((tls_model("initial-exec")));
int as_g_state;
int as_g_multi;
int as_g_slow;
uint64_t as_g_seq = 1;            /* seq 0 is never used: a 0 seq_op means "empty" */
as_ring_t *_Atomic as_g_rings;
_Atomic uint32_t as_g_nthreads;
pid_t as_g_pid;
char as_g_prefix[4096];
int as_g_nofollow;
int as_g_level = 3;
uint64_t as_g_sync_ns = 100000000u;
int as_g_discard;
int as_g_signals = 1;

/* ---- Small system helpers (no libc state, usable anywhere) ---------------- */
void *as_sys_mmap(size_t len)
{
    void *p = (void *)syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void as_sys_munmap(void *p, size_t len) { syscall(SYS_munmap, p, len); }

uint64_t as_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The file on descriptor 2 when tracing started (no descriptor is held: a
 * copy would keep a pipe open after the program closed its stderr, and a
 * reader waiting for its end, a shell's $(...) around a daemon, would wait
 * on). A program that closed 2 and opened a file of its own that landed on
 * it must not find our line there: if 2 names another file now, the line is
 * not written (the trace file says why it stopped, allocsim info shows it). */
static uint64_t g_err_dev, g_err_ino;
static int g_err_ok;

static void note_stderr(void)
{
    struct stat st;
    g_err_ok = fstat(2, &st) == 0;
    g_err_dev = g_err_ok ? (uint64_t)st.st_dev : 0;
    g_err_ino = g_err_ok ? (uint64_t)st.st_ino : 0;
}

static void say_line(const char *buf, size_t n)
{
    int e = errno;
    struct stat st;
    if (g_err_ok && fstat(2, &st) == 0 && (uint64_t)st.st_dev == g_err_dev &&
        (uint64_t)st.st_ino == g_err_ino) {
        ssize_t w = write(2, buf, n);
        (void)w;
    }
    errno = e;
}

/* The writer thread's line, when its table has no descriptor 2 (rec_fd.c):
 * a program thread writes it, at its next hook once tracing is off, or at
 * exit or exec. One line: the first. */
static char g_said[1024];
static size_t g_said_n;
int as_g_said;

AS_HIDDEN void as_say_flush(void)
{
    if (__atomic_exchange_n(&as_g_said, 0, __ATOMIC_ACQ_REL) == 1)
        say_line(g_said, g_said_n);
}

/* One line on stderr with write(2): "allocsim: a b c". */
void as_say(const char *a, const char *b, const char *c)
{
    char buf[1024];
    size_t n = 0;
    const char *parts[] = {"allocsim: ", a, b, c, "\n"};
    for (size_t i = 0; i < 5; i++)
        for (const char *p = parts[i]; p && *p && n < sizeof buf - 1; p++)
            buf[n++] = *p;
    if (buf[n - 1] != '\n')
        buf[n++] = '\n';
    if (!as_fd_private_thread()) {
        say_line(buf, n);
        return;
    }
    int none = 0;
    if (__atomic_compare_exchange_n(&as_g_said, &none, 2, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        memcpy(g_said, buf, n);
        g_said_n = n;
        __atomic_store_n(&as_g_said, 1, __ATOMIC_RELEASE);   /* 2 while being written */
    }
}

/* ---- Rings ---------------------------------------------------------------- */
static pthread_key_t g_key;
static int g_key_ok;

/* Runs at thread exit (pthread key destructor): THREAD_EXIT is the thread's
 * last record. The ring stays attached, so a later key destructor's frees
 * still land in order; the writer recycles the ring once it is dead and
 * empty and the thread is gone (recycle_rings). */
static void thread_dtor(void *arg)
{
    as_thr_t *t = &as_t_thr;
    as_ring_t *r = arg;
    if (t->ring != r || t->exited)
        return;
    t->exited = 1;
    if (as_g_state == AS_ST_ON)
        as_emit(t, AS_OP_THREAD_EXIT, 0, 0, 0, 0);
    atomic_store_explicit(&r->state, AS_RING_DEAD, memory_order_release);
}

as_ring_t *as_ring_new(void)
{
    as_ring_t *r;
    for (r = atomic_load(&as_g_rings); r; r = r->next) {
        int expect = AS_RING_FREE;
        if (atomic_compare_exchange_strong(&r->state, &expect, AS_RING_LIVE))
            break;
    }
    if (!r) {
        r = as_sys_mmap(sizeof *r);
        if (!r)
            return NULL;
        /* Each ring its own starting slot, 97 apart (3 KiB, and a different
         * cache set): a recycled ring starts there again, and rings that all
         * started at slot 0 had their hot lines in the same sets (100
         * threads at a time: 2x slower). */
        static _Atomic uint64_t made;
        r->home = (atomic_fetch_add(&made, 1) * 97) % AS_RING_CAP;
        atomic_store(&r->tail, r->home);
        atomic_store(&r->state, AS_RING_LIVE);
        as_ring_t *head = atomic_load(&as_g_rings);
        do
            r->next = head;
        while (!atomic_compare_exchange_weak(&as_g_rings, &head, r));
    }
    r->limit = atomic_load(&r->tail) + AS_RING_CAP;
    r->reserve = atomic_load(&r->tail);
    atomic_store(&r->commit, r->reserve);
    r->dead_ns = 0;
    r->tid = 0;
    r->start_fn = NULL;
    r->start_arg = NULL;
    r->thread = atomic_fetch_add(&as_g_nthreads, 1);
    return r;
}

/* A thread we did not see start (created before our init, or by clone):
 * give it a ring on its first event. */
as_ring_t *as_ring_attach(as_thr_t *t)
{
    if (t->exited && t->ring)
        return t->ring;
    t->guard++;
    as_ring_t *r = as_ring_new();
    if (r) {
        r->tid = (int32_t)syscall(SYS_gettid);
        if (r->thread > 0)
            __atomic_store_n(&as_g_multi, 1, __ATOMIC_SEQ_CST);
        t->ring = r;
        if (g_key_ok)
            pthread_setspecific(g_key, r);
    }
    t->guard--;
    return r;
}

/* The ring is full: wait for the writer (never drop, never change what the
 * program does). If tracing has stopped nobody reads the ring any more, so the
 * slot may simply be overwritten. The sleep is the raw syscall: glibc's
 * nanosleep is a cancellation point, and malloc is not: a thread with a
 * cancel pending was cancelled inside malloc (tracer.cancel). */
void as_ring_wait(as_ring_t *r, uint64_t h)
{
    int e = errno;
    for (unsigned spins = 0;; spins++) {
        uint64_t lim = atomic_load_explicit(&r->tail, memory_order_acquire) + AS_RING_CAP;
        if (h < lim || as_g_state != AS_ST_ON) {
            if (lim > r->limit)
                r->limit = lim;
            break;
        }
        if (spins == 0)   /* a plain increment: a count lost to a signal is harmless */
            __atomic_store_n(&r->waits, r->waits + 1, __ATOMIC_RELAXED);
        if (spins < 64) {
            sched_yield();
        } else {
            struct timespec ts = {0, 20000};
            syscall(SYS_nanosleep, &ts, NULL);
        }
    }
    errno = e;
}

/* In a fork child: every ring's unread records belong to the parent's trace
 * (its writer drains them); the child keeps only the forking thread's ring,
 * as thread 0 of a fresh numbering. */
void as_rings_reset_after_fork(as_ring_t *keep)
{
    for (as_ring_t *r = atomic_load(&as_g_rings); r; r = r->next) {
        uint64_t used = r->reserve - r->home;
        if (used > r->span)
            r->span = used < AS_RING_CAP ? used : AS_RING_CAP;
        r->reserve = r->home;
        atomic_store(&r->commit, r->home);
        atomic_store(&r->tail, r->home);
        r->limit = r->home + AS_RING_CAP;
        r->dead_ns = 0;
        atomic_store(&r->state, r == keep ? AS_RING_LIVE : AS_RING_FREE);
    }
    atomic_store(&as_g_nthreads, 1);
    if (keep) {
        keep->thread = 0;
        keep->tid = (int32_t)syscall(SYS_gettid);
    }
    as_g_multi = 0;
}

/* ---- Emitting several records with one seq -------------------------------- */
void as_emit_callsite(as_thr_t *t, as_ring_t *r, unsigned op, unsigned fl,
                      uint64_t a, uint64_t b, uint64_t size)
{
    t->guard++;
    uint64_t cs = as_callsite_find();
    t->guard--;
    t->depth++;
    uint64_t h = as_local_xadd(&r->reserve, 2);
    as_rec_t *s0 = as_ring_slot(r, h);
    as_rec_t *s1 = as_ring_slot(r, h + 1);
    uint64_t seq = as_next_seq(1);
    s0->a = cs;
    s0->b = 0;
    s0->size = 0;
    s0->seq_op = as_rec_pack(seq, AS_REC_CALLSITE, 0);
    s1->a = a;
    s1->b = b;
    s1->size = size;
    s1->seq_op = as_rec_pack(seq, op, fl);
    as_commit(t, r);
}

void as_emit2(as_thr_t *t, unsigned op, unsigned fl, uint64_t a, uint64_t b,
              uint64_t size, uint64_t a2, uint64_t b2, uint64_t size2)
{
    as_ring_t *r = t->ring;
    if (!r && !(r = as_ring_attach(t)))
        return;
    uint64_t cs = 0;
    unsigned n = 2;
    int slow = __atomic_load_n(&as_g_slow, __ATOMIC_RELAXED);
    as_slow_chores(slow);
    if (slow & AS_SLOW_CALLSITE) {
        t->guard++;
        cs = as_callsite_find();
        t->guard--;
        n = 3;
    }
    t->depth++;
    uint64_t h = as_local_xadd(&r->reserve, n);
    as_rec_t *s[3];
    for (unsigned i = 0; i < n; i++)
        s[i] = as_ring_slot(r, h + i);
    uint64_t seq = as_next_seq(1);
    unsigned k = 0;
    if (n == 3) {
        s[0]->a = cs;
        s[0]->b = s[0]->size = 0;
        s[0]->seq_op = as_rec_pack(seq, AS_REC_CALLSITE, 0);
        k = 1;
    }
    s[k]->a = a;
    s[k]->b = b;
    s[k]->size = size;
    s[k]->seq_op = as_rec_pack(seq, op, fl);
    s[k + 1]->a = a2;
    s[k + 1]->b = b2;
    s[k + 1]->size = size2;
    s[k + 1]->seq_op = as_rec_pack(seq, AS_REC_ARG, 0);
    as_commit(t, r);
}

/* ---- Options ---------------------------------------------------------------- */
static void parse_opts(const char *s)
{
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 8 && !strncmp(s, "callsite", 8))
            as_g_slow |= AS_SLOW_CALLSITE;
        else if (n == 8 && !strncmp(s, "nofollow", 8))
            as_g_nofollow = 1;
        else if (n == 7 && !strncmp(s, "discard", 7))
            as_g_discard = 1;
        else if (n > 6 && !strncmp(s, "level=", 6))
            as_g_level = atoi(s + 6);
        else if (n == 9 && !strncmp(s, "signals=0", 9))
            as_g_signals = 0;
        else if (n > 5 && !strncmp(s, "sync=", 5) && atol(s + 5) > 0)
            as_g_sync_ns = (uint64_t)atol(s + 5) * 1000000u;
        s = e ? e + 1 : NULL;
    }
}

static void default_prefix(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *base = "prog";
    if (n > 0) {
        exe[n] = '\0';
        char *sl = strrchr(exe, '/');
        base = sl ? sl + 1 : exe;
    }
    size_t k = 0;
    for (const char *p = "allocsim."; *p; p++)
        as_g_prefix[k++] = *p;
    for (const char *p = base; *p && k < sizeof as_g_prefix - 1; p++)
        as_g_prefix[k++] = *p;
    as_g_prefix[k] = '\0';
}

size_t as_preload_strip(char *out, size_t cap, const char *list)
{
    size_t k = 0;
    for (const char *s = list; *s;) {
        while (*s == ' ' || *s == ':')
            s++;
        const char *e = s;
        while (*e && *e != ' ' && *e != ':')
            e++;
        size_t n = (size_t)(e - s);
        int self = memmem(s, n, "liballocsim-record", 18) != NULL;
        if (n && !self && k + n + 2 < cap) {
            if (k)
                out[k++] = ':';
            memcpy(out + k, s, n);
            k += n;
        }
        s = e;
    }
    if (cap)
        out[k] = '\0';
    return k;
}

/* --no-follow: children must not load us. Remove our own entry from
 * LD_PRELOAD (others stay); this is the one visible change the option makes. */
static void drop_self_from_preload(void)
{
    const char *pre = getenv("LD_PRELOAD");
    if (!pre)
        return;
    char out[4096];
    if (as_preload_strip(out, sizeof out, pre))
        setenv("LD_PRELOAD", out, 1);
    else
        unsetenv("LD_PRELOAD");
}

AS_HIDDEN void as_proc_init(void);    /* rec_proc.c */

void as_init(void)
{
    static int once;
    if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
        return;   /* another thread initialises; its hooks pass through meanwhile */
    as_thr_t *t = &as_t_thr;
    t->guard++;
    if (getauxval(AT_SECURE)) {
        __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
        t->guard--;
        return;
    }
    const char *pfx = getenv("ALLOCSIM_PREFIX");
    if (pfx && *pfx && strlen(pfx) < sizeof as_g_prefix)
        strcpy(as_g_prefix, pfx);
    else
        default_prefix();
    parse_opts(getenv("ALLOCSIM_OPTS"));
    note_stderr();
    if (as_g_nofollow)
        drop_self_from_preload();
    as_g_pid = getpid();
    g_key_ok = pthread_key_create(&g_key, thread_dtor) == 0;
    as_proc_init();
    as_fd_init();
    if (as_callsite_on())
        as_callsite_init();
    t->ring = as_ring_new();
    if (t->ring)
        t->ring->tid = (int32_t)syscall(SYS_gettid);
    if (t->ring && g_key_ok)
        pthread_setspecific(g_key, t->ring);
    if (!t->ring || as_writer_start(getppid()) != 0) {
        __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
        t->guard--;
        return;
    }
    __atomic_store_n(&as_g_state, AS_ST_ON, __ATOMIC_RELEASE);
    if (as_g_signals)
        as_sig_init();
    t->guard--;
}

/* pthread_create trampoline support (rec_proc.c). */
AS_HIDDEN void as_ring_bind_thread(as_ring_t *r)
{
    as_thr_t *t = &as_t_thr;
    t->ring = r;
    r->tid = (int32_t)syscall(SYS_gettid);
    t->exited = 0;
    if (g_key_ok)
        pthread_setspecific(g_key, r);
}

__attribute__((constructor(101))) static void as_ctor(void)
{
    if (as_g_state == AS_ST_UNINIT)
        as_init();
}
