/*
 * tests/format/test_format.c — the trace format library (replay/trace_*.c):
 * round trip of every op, id pairing, race repair, chunk independence, damage
 * and truncation handling, frees of recent blocks (FREE_RECENT) and version 1
 * files, and the open errors. Spec: doc/FORMAT.md.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "replay/trace_internal.h"
#include "tests/common/testutil.h"

/* ---- helpers ----------------------------------------------------------------- */

static char *tmp_path(const char *tag)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 256, "/tmp/as_fmt_%d_%s.ast", (int)getpid(), tag);
    return p;
}

static as_header_t test_header(void)
{
    static const char argv[] = "prog\0--flag\0x";
    as_header_t h = {0};
    h.page_size = 4096;
    h.ncpus = 2;
    h.tracer_options = AS_OPT_CALLSITE;
    h.pid = 4242;
    h.ppid = 17;
    h.start_time_ns = 1700000000123456789ull;
    h.exe = "/usr/bin/prog";
    h.argv = argv;
    h.argv_len = sizeof argv;
    h.libc_version = "2.36";
    h.python_version = NULL;
    return h;
}

static as_writer_t *open_writer(const char *path, int *fd)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(*fd >= 0);
    as_header_t h = test_header();
    as_err_t err;
    as_writer_t *w = as_writer_create(*fd, &h, NULL, 3, &err);
    assert_non_null(w);
    assert_int_equal(err, AS_OK);
    return w;
}

static uint64_t g_seq;
static as_rec_t rec(unsigned op, unsigned flags, uint64_t a, uint64_t b, uint64_t size)
{
    as_rec_t r = {as_rec_pack(g_seq++, op, flags), a, b, size};
    return r;
}
#define ADD(w, th, op, fl, a, b, sz)                                   \
    do {                                                               \
        as_rec_t r_ = rec(op, fl, a, b, sz);                           \
        assert_int_equal(as_writer_add(w, th, &r_), AS_OK);            \
    } while (0)

static as_reader_t *open_reader(const char *path)
{
    as_err_t err;
    as_reader_t *r = as_reader_open(path, &err);
    assert_non_null(r);
    assert_int_equal(err, AS_OK);
    return r;
}

static int next(as_reader_t *r, as_event_t *ev)
{
    int k = as_reader_next(r, ev);
    assert_true(k >= 0);
    return k;
}

static void expect_ev(as_reader_t *r, as_event_t *ev, unsigned op, unsigned flags)
{
    assert_int_equal(next(r, ev), 1);
    assert_int_equal(ev->op, op);
    assert_int_equal(ev->flags, flags);
}

static void expect_same_end(as_reader_t *a, as_reader_t *b)
{
    as_read_stats_t s1, s2;
    as_reader_stats(a, &s1);
    as_reader_stats(b, &s2);
    assert_memory_equal(&s1, &s2, sizeof s1);
    char d1[200], d2[200];
    assert_int_equal(as_reader_problem(a, d1, sizeof d1), as_reader_problem(b, d2, sizeof d2));
    assert_string_equal(d1, d2);
}

/* as_reader_next_plain (runs of up to `run`, lean, decoding the way `how`
 * says: asf_reader_force_plain) mixed with as_reader_next as the engine
 * reads must deliver what as_reader_next alone does. A run leaves out seq
 * and callsite, so a wrong seq or callsite count after a run shows in the
 * next event read whole. */
static void check_plain(const char *path, size_t run, int how)
{
    as_err_t err;
    as_reader_t *full = as_reader_open(path, &err);
    as_reader_t *lean = as_reader_open_flags(path, AS_READ_NO_ADDR, &err);
    assert_non_null(full);
    assert_non_null(lean);
    asf_reader_force_plain(lean, how);
    as_hevent_t *evs = calloc(run, sizeof *evs);
    as_event_t ev, lev;
    uint64_t t;
    int k;
    for (;;) {
        k = as_reader_next_plain(lean, evs, run, &t);
        assert_true(k >= 0);
        for (int i = 0; i < k; i++) {
            assert_int_equal(as_reader_next(full, &ev), 1);
            assert_true(ev.op == AS_OP_MALLOC || ev.op == AS_OP_FREE);
            assert_int_equal(evs[i].op, ev.op);
            assert_int_equal(evs[i].flags, ev.flags);
            assert_int_equal(evs[i].id, ev.id);
            assert_int_equal(evs[i].old_id, ev.old_id);
            assert_int_equal(evs[i].thread, ev.thread);
            assert_true(evs[i].size == ev.size && evs[i].arg == ev.arg && t == ev.time_ns);
        }
        if (k)
            continue;
        k = as_reader_next(lean, &lev);
        assert_int_equal(as_reader_next(full, &ev), k);
        if (k <= 0)
            break;
        if (ev.op < AS_OP_MMAP)
            ev.addr = ev.old_addr = 0;
        assert_true(lev.seq == ev.seq && lev.op == ev.op && lev.id == ev.id &&
                    lev.callsite == ev.callsite && lev.time_ns == ev.time_ns &&
                    lev.addr == ev.addr && lev.size == ev.size);
    }
    expect_same_end(full, lean);
    free(evs);
    as_reader_close(full);
    as_reader_close(lean);
}

/* AS_READ_NO_ADDR must change nothing but heap events' addresses: reads path
 * both ways in lockstep (the lean side through as_reader_next_batch, in
 * batches of `batch`) and compares every event, the stats and the problem;
 * then check_plain with runs of `batch`, each way of decoding them. */
static void check_lean(const char *path, size_t batch)
{
    as_err_t e1, e2;
    as_reader_t *full = as_reader_open(path, &e1);
    as_reader_t *lean = as_reader_open_flags(path, AS_READ_NO_ADDR, &e2);
    assert_int_equal(e1, e2);
    assert_true(!full == !lean);
    if (!full)
        return;
    as_event_t *evs = calloc(batch, sizeof *evs), ev;
    int k;
    uint64_t n = 0;
    while ((k = as_reader_next_batch(lean, evs, batch)) > 0) {
        for (int i = 0; i < k; i++, n++) {
            as_event_t *l = &evs[i];
            assert_int_equal(as_reader_next(full, &ev), 1);
            if (ev.op < AS_OP_MMAP)
                ev.addr = ev.old_addr = 0;
            assert_int_equal(l->seq, ev.seq);
            assert_int_equal(l->op, ev.op);
            assert_int_equal(l->flags, ev.flags);
            assert_int_equal(l->id, ev.id);
            assert_int_equal(l->old_id, ev.old_id);
            assert_int_equal(l->thread, ev.thread);
            assert_true(l->time_ns == ev.time_ns && l->size == ev.size && l->addr == ev.addr &&
                        l->old_addr == ev.old_addr && l->arg == ev.arg && l->arg2 == ev.arg2);
            assert_int_equal(l->callsite, ev.callsite);
            assert_int_equal(l->process, ev.process);
            assert_true(!l->name == !ev.name && !l->sample == !ev.sample);
            if (l->name)
                assert_string_equal(l->name, ev.name);
            if (l->sample)
                assert_memory_equal(l->sample, ev.sample, sizeof *l->sample);
        }
    }
    assert_int_equal(k, as_reader_next(full, &ev));
    as_read_stats_t st;
    as_reader_stats(lean, &st);
    assert_int_equal(st.events, n);
    expect_same_end(full, lean);
    free(evs);
    as_reader_close(full);
    as_reader_close(lean);
    for (int how = 0; how < 3; how++)
        check_plain(path, batch, how);
}

/* ---- round trip of every op ------------------------------------------------------ */

static void test_roundtrip_ops(void **state)
{
    (void)state;
    const char *path = tmp_path("ops");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 100;
    const uint64_t A = 0x555500001000, B = 0x555500002000, C = 0x555500003000,
                   D = 0x555500004000, E = 0x555500005000;
    assert_int_equal(as_writer_module(w, "/usr/lib/libfoo.so", 0x7f0000000000, 0x10000,
                                      (const uint8_t *)"\xab\xcd", 2), AS_OK);
    assert_int_equal(as_writer_time(w, 100, 5000000), AS_OK);
    ADD(w, 0, AS_OP_MALLOC, 0, A, 0, 16);                         /* 100 id0 */
    ADD(w, 0, AS_OP_CALLOC, 0, B, 4, 32);                         /* 101 id1 */
    ADD(w, 0, AS_OP_REALLOC, 0, C, A, 64);                        /* 102 A->C */
    ADD(w, 0, AS_OP_REALLOC, 0, D, 0, 10);                        /* 103 NULL->D */
    ADD(w, 0, AS_OP_REALLOC, AS_RECF_FREED, 0, D, 0);             /* 104 free D */
    ADD(w, 0, AS_OP_MALLOC, AS_RECF_FAILED, 0, 0, 1ull << 50);    /* 105 */
    ADD(w, 0, AS_OP_POSIX_MEMALIGN, AS_RECF_FAILED, 0, 3, 64);    /* 106 */
    ADD(w, 0, AS_OP_MEMALIGN, 0, E, 256, 100);                    /* 107 */
    ADD(w, 0, AS_OP_REALLOC, AS_RECF_FAILED, 0, C, 1ull << 40);   /* 108 C stays */
    ADD(w, 0, AS_OP_FREE, 0, 0, B, 0);                            /* 109 */
    ADD(w, 0, AS_OP_FREE, 0, 0, 0xdead0000, 0);                   /* 110 unknown */
    ADD(w, 0, AS_OP_FREE, 0, 0, 0, 0);                            /* 111 NULL */
    ADD(w, 0, AS_OP_FREE_SIZED, 0, 0, E, 100);                    /* 112 */
    ADD(w, 0, AS_OP_MMAP, 0, 0x7f1000000000, 1 << 20, 3 | (uint64_t)0x22 << 32);
    ADD(w, 0, AS_OP_MUNMAP, 0, 0, 0x7f1000000000, 4096);          /* 114 */
    ADD(w, 0, AS_OP_MREMAP, 0, 0x7f2000000000, 0x7f1000001000, 8192); /* 115 */
    {
        as_rec_t arg = {as_rec_pack(115, AS_REC_ARG, 0), 4096, 1, 0};
        assert_int_equal(as_writer_add(w, 0, &arg), AS_OK);
    }
    assert_int_equal(as_writer_time(w, 116, 7000000), AS_OK);
    ADD(w, 0, AS_OP_BRK, 0, 0x560000021000, 0x560000000000, 0);  /* 116 */
    ADD(w, 0, AS_OP_SBRK, 0, 0x560000022000, 4096, 0);           /* 117 */
    ADD(w, 0, AS_OP_MALLOC_TRIM, 0, 0, 128, 1);                  /* 118 */
    ADD(w, 0, AS_OP_MALLOPT, 0, 1, (uint64_t)-3, (uint64_t)65536); /* 119 */
    ADD(w, 1, AS_OP_THREAD_START, 0, 0, 0, 0);                   /* 120 */
    {
        as_rec_t cs = {as_rec_pack(121, AS_REC_CALLSITE, 0), 0x7f0000000123, 0, 0};
        assert_int_equal(as_writer_add(w, 1, &cs), AS_OK);
    }
    ADD(w, 1, AS_OP_MALLOC, 0, A, 0, 24);                        /* 121 on thread 1 */
    ADD(w, 1, AS_OP_THREAD_EXIT, 0, 0, 0, 0);                    /* 122 */
    ADD(w, 0, AS_OP_FORK, 0, 999, 0, 0);                         /* 123 */
    {
        as_rec_t m = rec(AS_OP_MARK, 0, 0, 0, 0);                /* 124 */
        char name[24] = "phase-one-long-name-24b";
        memcpy(&m.a, name, 8);
        memcpy(&m.b, name + 8, 8);
        memcpy(&m.size, name + 16, 8);
        assert_int_equal(as_writer_add(w, 0, &m), AS_OK);
    }
    as_sample_t s = {123 << 12, 7 << 12, 1 << 20, 0, 5000, 6000};
    assert_int_equal(as_writer_sample(w, 125, &s), AS_OK);
    g_seq = 130;                                                  /* a seq gap */
    ADD(w, 0, AS_OP_EXEC, 0, 0, 0, 0);                           /* 130 */
    uint64_t bytes, events;
    as_writer_totals(w, &bytes, &events);
    assert_int_equal(events, 27);
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);

    as_reader_t *r = open_reader(path);
    const as_header_t *h = as_reader_header(r);
    assert_int_equal(h->version, AS_TRACE_VERSION);
    assert_int_equal(h->flags, AS_HDRF_COMPLETE);
    assert_int_equal(h->pid, 4242);
    assert_int_equal(h->ppid, 17);
    assert_int_equal(h->page_size, 4096);
    assert_int_equal(h->ncpus, 2);
    assert_int_equal(h->tracer_options, AS_OPT_CALLSITE);
    assert_true(h->start_time_ns == 1700000000123456789ull);
    assert_string_equal(h->exe, "/usr/bin/prog");
    assert_int_equal(h->argv_len, 14);
    assert_memory_equal(h->argv, "prog\0--flag\0x", 14);
    assert_string_equal(h->libc_version, "2.36");
    assert_null(h->python_version);

    as_event_t ev;
    expect_ev(r, &ev, AS_OP_MALLOC, 0);
    assert_int_equal(ev.seq, 100);
    assert_int_equal(ev.time_ns, 5000000);
    assert_int_equal(ev.thread, 0);
    assert_int_equal(ev.size, 16);
    assert_true(ev.addr == A);
    uint32_t idA = ev.id;
    expect_ev(r, &ev, AS_OP_CALLOC, 0);
    assert_int_equal(ev.size, 32);
    assert_int_equal(ev.arg, 4);
    assert_true(ev.addr == B);
    uint32_t idB = ev.id;
    assert_int_not_equal(idA, idB);
    expect_ev(r, &ev, AS_OP_REALLOC, 0);
    assert_int_equal(ev.old_id, idA);
    assert_true(ev.addr == C && ev.old_addr == A);
    assert_int_equal(ev.size, 64);
    uint32_t idC = ev.id;
    assert_int_not_equal(idC, idA);
    assert_int_not_equal(idC, idB);
    expect_ev(r, &ev, AS_OP_REALLOC, 0);
    assert_int_equal(ev.old_id, AS_NO_ID);
    assert_true(ev.addr == D);
    uint32_t idD = ev.id;
    assert_int_not_equal(idD, AS_NO_ID);
    expect_ev(r, &ev, AS_OP_REALLOC, AS_EVF_FREED);
    assert_int_equal(ev.old_id, idD);
    assert_int_equal(ev.id, AS_NO_ID);
    assert_true(ev.old_addr == D);
    expect_ev(r, &ev, AS_OP_MALLOC, AS_EVF_FAILED);
    assert_int_equal(ev.id, AS_NO_ID);
    assert_true(ev.size == 1ull << 50);
    expect_ev(r, &ev, AS_OP_POSIX_MEMALIGN, AS_EVF_FAILED);
    assert_int_equal(ev.arg, 3);
    assert_int_equal(ev.id, AS_NO_ID);
    expect_ev(r, &ev, AS_OP_MEMALIGN, 0);
    assert_int_equal(ev.arg, 256);
    assert_true(ev.addr == E);
    uint32_t idE = ev.id;
    expect_ev(r, &ev, AS_OP_REALLOC, AS_EVF_FAILED);
    assert_int_equal(ev.id, AS_NO_ID);
    assert_int_equal(ev.old_id, AS_NO_ID);
    assert_true(ev.old_addr == C);
    expect_ev(r, &ev, AS_OP_FREE, 0);
    assert_int_equal(ev.id, idB);
    assert_true(ev.addr == B);
    expect_ev(r, &ev, AS_OP_FREE, AS_EVF_UNKNOWN);
    assert_int_equal(ev.id, AS_NO_ID);
    assert_true(ev.addr == 0xdead0000);
    expect_ev(r, &ev, AS_OP_FREE, 0);
    assert_int_equal(ev.id, AS_NO_ID);
    assert_true(ev.addr == 0);
    expect_ev(r, &ev, AS_OP_FREE_SIZED, 0);
    assert_int_equal(ev.id, idE);
    assert_int_equal(ev.size, 100);
    assert_true(ev.addr == E);
    expect_ev(r, &ev, AS_OP_MMAP, 0);
    assert_true(ev.addr == 0x7f1000000000);
    assert_int_equal(ev.size, 1 << 20);
    assert_int_equal(ev.arg, 1 << 20);
    assert_true(ev.arg2 == (int64_t)(3 | (uint64_t)0x22 << 32));
    expect_ev(r, &ev, AS_OP_MUNMAP, 0);
    assert_true(ev.addr == 0x7f1000000000);
    assert_int_equal(ev.size, 4096);
    expect_ev(r, &ev, AS_OP_MREMAP, 0);
    assert_int_equal(ev.seq, 115);
    assert_true(ev.addr == 0x7f2000000000 && ev.old_addr == 0x7f1000001000);
    assert_int_equal(ev.size, 8192);
    assert_int_equal(ev.arg, 4096);
    assert_int_equal(ev.arg2, 1);
    assert_int_equal(ev.time_ns, 5000000);
    expect_ev(r, &ev, AS_OP_BRK, 0);
    assert_int_equal(ev.time_ns, 7000000);
    assert_true(ev.addr == 0x560000021000 && ev.old_addr == 0x560000000000);
    expect_ev(r, &ev, AS_OP_SBRK, 0);
    assert_int_equal(ev.arg2, 4096);
    expect_ev(r, &ev, AS_OP_MALLOC_TRIM, 0);
    assert_int_equal(ev.arg, 128);
    assert_int_equal(ev.arg2, 1);
    expect_ev(r, &ev, AS_OP_MALLOPT, 0);
    assert_int_equal(ev.arg, (uint64_t)-3);
    assert_int_equal(ev.arg2, 65536);
    assert_int_equal(ev.size, 1);
    expect_ev(r, &ev, AS_OP_THREAD_START, 0);
    assert_int_equal(ev.thread, 1);
    expect_ev(r, &ev, AS_OP_MALLOC, 0);
    assert_int_equal(ev.thread, 1);
    assert_int_equal(ev.seq, 121);
    assert_int_not_equal(ev.callsite, 0);
    {
        const char *mod, *bid;
        uint64_t off;
        assert_int_equal(as_reader_callsite(r, ev.callsite, &mod, &off, &bid), 0);
        assert_string_equal(mod, "/usr/lib/libfoo.so");
        assert_int_equal(off, 0x123);
        assert_string_equal(bid, "abcd");
        assert_int_equal(as_reader_callsite(r, ev.callsite + 1, &mod, &off, &bid), -1);
    }
    expect_ev(r, &ev, AS_OP_THREAD_EXIT, 0);
    assert_int_equal(ev.callsite, 0);
    expect_ev(r, &ev, AS_OP_FORK, 0);
    assert_int_equal(ev.thread, 0);
    assert_int_equal(ev.arg2, 999);
    expect_ev(r, &ev, AS_OP_MARK, 0);
    assert_string_equal(ev.name, "phase-one-long-name-24b");
    expect_ev(r, &ev, AS_OP_SAMPLE, 0);
    assert_int_equal(ev.seq, 125);
    assert_non_null(ev.sample);
    assert_int_equal(ev.sample->rss, 123 << 12);
    assert_int_equal(ev.sample->tracer_rss, 7 << 12);
    assert_int_equal(ev.sample->arena, 1 << 20);
    assert_int_equal(ev.sample->uordblks, 5000);
    assert_int_equal(ev.sample->fordblks, 6000);
    expect_ev(r, &ev, AS_OP_EXEC, 0);
    assert_int_equal(ev.seq, 130);
    assert_int_equal(next(r, &ev), 0);
    assert_int_equal(next(r, &ev), 0);

    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.events, 27);
    assert_int_equal(st.chunks, 1);
    assert_int_equal(st.chunks_damaged, 0);
    assert_int_equal(st.truncated, 0);
    assert_int_equal(st.complete, 1);
    assert_int_equal(st.unknown_frees, 1);
    assert_int_equal(st.repairs, 0);
    assert_true(st.max_id >= 3 && st.max_id <= 5);
    char detail[200];
    assert_int_equal(as_reader_problem(r, detail, sizeof detail), AS_OK);
    as_reader_close(r);
    check_lean(path, 1);
    check_lean(path, 5);
    unlink(path);
}

/* ---- cross-thread realloc race ----------------------------------------------------- */

static void test_race_repair(void **state)
{
    (void)state;
    const char *path = tmp_path("race");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 1;
    const uint64_t P = 0x600000, Q = 0x700000;
    ADD(w, 0, AS_OP_MALLOC, 0, P, 0, 100);          /* thread 0 owns P (X) */
    /* thread 0: realloc(P) -> Q, P freed inside; thread 1 mallocs P before the
     * realloc record is logged */
    ADD(w, 1, AS_OP_MALLOC, 0, P, 0, 100);          /* P still live: repair */
    ADD(w, 0, AS_OP_REALLOC, 0, Q, P, 200);         /* consumes the orphan */
    ADD(w, 1, AS_OP_FREE, 0, 0, P, 0);              /* thread 1's block Y */
    ADD(w, 0, AS_OP_FREE, 0, 0, Q, 0);
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);

    as_reader_t *r = open_reader(path);
    as_event_t ev;
    expect_ev(r, &ev, AS_OP_MALLOC, 0);
    uint32_t X = ev.id;
    expect_ev(r, &ev, AS_OP_MALLOC, AS_EVF_REPAIRED);
    uint32_t Y = ev.id;
    assert_int_not_equal(X, Y);
    assert_true(ev.addr == P);
    expect_ev(r, &ev, AS_OP_REALLOC, 0);
    assert_int_equal(ev.old_id, X);
    uint32_t Z = ev.id;
    assert_int_not_equal(Z, Y);
    expect_ev(r, &ev, AS_OP_FREE, 0);
    assert_int_equal(ev.id, Y);
    expect_ev(r, &ev, AS_OP_FREE, 0);
    assert_int_equal(ev.id, Z);
    assert_int_equal(next(r, &ev), 0);
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.repairs, 1);
    assert_int_equal(st.unknown_frees, 0);
    as_reader_close(r);
    check_lean(path, 3);
    unlink(path);
}

/* Reads path to its end: its stats, and the reader's problem. */
static as_err_t read_all(const char *path, as_read_stats_t *st)
{
    as_reader_t *r = open_reader(path);
    as_event_t ev;
    while (next(r, &ev) == 1)
        ;
    as_reader_stats(r, st);
    as_err_t e = as_reader_problem(r, NULL, 0);
    as_reader_close(r);
    return e;
}

/* ---- random workload: exact pairing across many chunks ------------------------------- */

typedef struct model_blk {
    uint64_t addr, size;
    int live;
    uint32_t id;        /* as read back */
} model_blk_t;

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) { return as_test_xorshift(&rng_state); }

#define NSLOT 4096
typedef struct expect_ev_rec {
    uint64_t seq;
    uint16_t op;
    uint32_t thread;
    int slot, old_slot;        /* -1 = none */
    uint64_t size, addr, time;
} xrec_t;

/* Copies of the file taken after each as_writer_sync of random_trace_mix
 * (what a SIGKILL right then would leave), and the records added by then. */
#define NSNAP 512
static struct snap {
    uint8_t *b;
    size_t n, recs;
} g_snap[NSNAP];
static size_t g_nsnap;

static uint8_t *slurp(const char *path, size_t *n);

/* Writes a random trace; returns the expected records (caller frees). With
 * `recent`, most frees and reallocs pick one of the last 16 blocks created
 * (a Python-like stack of temporaries, FREE_RECENT's case), else any slot.
 * flush_every > 0 ends a chunk every that many records; < 0 syncs every
 * -flush_every (a streamed chunk's segments) and keeps a copy of the file
 * then in g_snap. */
static xrec_t *random_trace_mix(const char *path, size_t n, int flush_every, int recent,
                                size_t *nx)
{
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    model_blk_t *slots = calloc(NSLOT, sizeof *slots);
    xrec_t *x = calloc(n, sizeof *x);
    if (flush_every <= 0)             /* chunks end on size alone */
        asf_writer_chunk_target(w, 64 << 10);
    /* fake allocator: per-size-class LIFO of freed addresses (like tcache), else bump */
    uint64_t freed[64][16];
    int nf[64] = {0};
    uint64_t top = 0x5555000000, seq = 1, t = 0;
    size_t k = 0;
    int made[16] = {0};
    unsigned nmade = 0;
    for (size_t i = 0; i < n; i++) {
        int s = (int)(rnd() % NSLOT);
        if (recent && nmade && rnd() % 4) {
            int m = made[(nmade - 1 - rnd() % 16) & 15];
            if (slots[m].live)
                s = m;
        }
        uint32_t th = (rnd() % 16) == 0 ? (uint32_t)(rnd() % 3) : 0;
        if ((rnd() % 64) == 0)
            seq += rnd() % 5;           /* gaps: seqs used by other processes' ... */
        if ((rnd() % 200) == 0) {
            t += rnd() % 3000000;
            assert_int_equal(as_writer_time(w, seq, t), AS_OK);
        }
        xrec_t *e = &x[k];
        e->seq = seq;
        e->thread = th;
        e->slot = e->old_slot = -1;
        e->time = t;
        as_rec_t r;
        if (!slots[s].live) {
            uint64_t size = rnd() % 8 ? 8 + rnd() % 300 : 300 + rnd() % 20000;
            unsigned c = (unsigned)((size + 23) / 16) & 63;
            uint64_t a;
            if (nf[c] && rnd() % 4)
                a = freed[c][--nf[c]];
            else {
                a = top;
                top += (size + 23) & ~15ull;
            }
            unsigned op = rnd() % 5 == 0 ? AS_OP_CALLOC : AS_OP_MALLOC;
            r = (as_rec_t){as_rec_pack(seq, op, 0), a, op == AS_OP_CALLOC ? 1 : 0, size};
            slots[s] = (model_blk_t){a, size, 1, 0};
            made[nmade++ & 15] = s;
            e->op = (uint16_t)op;
            e->slot = s;
            e->size = size;
            e->addr = a;
        } else if (rnd() % 4 == 0) {
            uint64_t size = 8 + rnd() % 500, a = top;
            top += (size + 23) & ~15ull;
            r = (as_rec_t){as_rec_pack(seq, AS_OP_REALLOC, 0), a, slots[s].addr, size};
            e->op = AS_OP_REALLOC;
            e->old_slot = s;
            e->slot = NSLOT + (int)i;    /* reassigned below */
            e->size = size;
            e->addr = a;
            slots[s].addr = a;
            slots[s].size = size;
            e->slot = s;
            made[nmade++ & 15] = s;
        } else {
            r = (as_rec_t){as_rec_pack(seq, AS_OP_FREE, 0), 0, slots[s].addr, 0};
            unsigned c = (unsigned)((slots[s].size + 23) / 16) & 63;
            if (nf[c] < 16)
                freed[c][nf[c]++] = slots[s].addr;
            slots[s].live = 0;
            e->op = AS_OP_FREE;
            e->old_slot = s;
            e->addr = slots[s].addr;
        }
        assert_int_equal(as_writer_add(w, th, &r), AS_OK);
        seq++;
        k++;
        if (flush_every > 0 && (i % (size_t)flush_every) == (size_t)flush_every - 1)
            assert_int_equal(as_writer_flush(w), AS_OK);
        if (flush_every < 0 && (i % (size_t)-flush_every) == (size_t)-flush_every - 1) {
            assert_int_equal(as_writer_sync(w), AS_OK);
            assert_true(g_nsnap < NSNAP);
            g_snap[g_nsnap].b = slurp(path, &g_snap[g_nsnap].n);
            g_snap[g_nsnap++].recs = k;
        }
    }
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    free(slots);
    *nx = k;
    return x;
}

static xrec_t *random_trace(const char *path, size_t n, int flush_every, size_t *nx)
{
    return random_trace_mix(path, n, flush_every, 0, nx);
}

/* Reads path and checks it against x[from..]: pairing by slot. With `alone`
 * (a single chunk decoded by itself) the first events may release ids the
 * chunk never created: those are not checked against slots. */
static size_t check_trace(const char *path, const xrec_t *x, size_t nx, size_t from,
                          uint32_t *slot_id, int alone)
{
    as_reader_t *r = open_reader(path);
    as_event_t ev;
    size_t i = from;
    uint32_t live = 0, peak = 0;
    int *known = calloc(NSLOT, sizeof *known);
    while (next(r, &ev) == 1) {
        assert_true(i < nx);
        const xrec_t *e = &x[i];
        assert_int_equal(ev.seq, e->seq);
        assert_int_equal(ev.op, e->op);
        assert_int_equal(ev.thread, e->thread);
        assert_int_equal(ev.time_ns, e->time);
        assert_int_equal(ev.flags, 0);
        if (e->op == AS_OP_FREE) {
            if (known[e->old_slot] || !alone) {
                assert_int_equal(ev.id, slot_id[e->old_slot]);
                assert_true(ev.addr == e->addr);
            }
            live--;
            known[e->old_slot] = 0;
        } else if (e->op == AS_OP_REALLOC) {
            if (known[e->old_slot] || !alone)
                assert_int_equal(ev.old_id, slot_id[e->old_slot]);
            assert_true(ev.addr == e->addr);
            assert_int_equal(ev.size, e->size);
            assert_int_not_equal(ev.id, ev.old_id);
            slot_id[e->slot] = ev.id;
            known[e->slot] = 1;
        } else {
            assert_true(ev.addr == e->addr);
            assert_int_equal(ev.size, e->size);
            slot_id[e->slot] = ev.id;
            known[e->slot] = 1;
            if (++live > peak)
                peak = live;
        }
        i++;
    }
    as_read_stats_t st;
    as_reader_stats(r, &st);
    if (!alone)
        assert_true(st.max_id <= peak + 1);
    /* a chunk alone: the chunks before it count as lost */
    assert_int_equal(st.chunks_damaged, alone ? (uint64_t)alone - 1 : 0);
    as_reader_close(r);
    free(known);
    return i - from;
}

static void test_random_pairing(void **state)
{
    (void)state;
    const char *path = tmp_path("rand");
    size_t nx;
    xrec_t *x = random_trace(path, 300000, 7777, &nx);
    uint32_t *ids = calloc(NSLOT, sizeof *ids);
    assert_int_equal(check_trace(path, x, nx, 0, ids, 0), nx);
    check_lean(path, 97);
    free(x);
    /* no explicit flushes: the writer ends chunks when they reach their size */
    x = random_trace(path, 300000, 0, &nx);
    assert_int_equal(check_trace(path, x, nx, 0, ids, 0), nx);
    as_read_stats_t st;
    read_all(path, &st);
    assert_true(st.chunks >= 10);
    check_lean(path, 256);
    free(ids);
    free(x);
    unlink(path);
}

/* Python-like frees of recent blocks: exact pairing, both read modes. */
static void test_recent_pairing(void **state)
{
    (void)state;
    const char *path = tmp_path("recent");
    size_t nx;
    xrec_t *x = random_trace_mix(path, 200000, 3001, 1, &nx);
    uint32_t *ids = calloc(NSLOT, sizeof *ids);
    assert_int_equal(check_trace(path, x, nx, 0, ids, 0), nx);
    check_lean(path, 61);
    free(ids);
    free(x);
    unlink(path);
}

/* ---- file surgery helpers ----------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n ? *n : 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* Offsets of the chunks of a trace file (and of the end record, last). */
static size_t chunk_offsets(const uint8_t *b, size_t n, size_t *off, size_t max)
{
    size_t k = 0, o = get32(b + 12);
    while (o + 32 <= n && k < max) {
        off[k++] = o;
        if (!memcmp(b + o, "ASEN", 4))
            break;
        assert_memory_equal(b + o, "ASCK", 4);
        o += 32 + get32(b + o + 4);
    }
    return k;
}

static void test_chunk_independence(void **state)
{
    (void)state;
    const char *path = tmp_path("indep"), *one = tmp_path("one");
    size_t nx;
    xrec_t *x = random_trace(path, 40000, 5000, &nx);
    size_t n, off[64];
    uint8_t *b = slurp(path, &n);
    size_t nc = chunk_offsets(b, n, off, 64);
    assert_true(nc >= 8);                 /* 8 chunks + end record */
    uint32_t *ids = calloc(NSLOT, sizeof *ids);
    /* ids as the full read assigns them */
    uint32_t *full_ids = calloc(nx, sizeof *full_ids);
    {
        as_reader_t *r = open_reader(path);
        as_event_t ev;
        size_t i = 0;
        while (next(r, &ev) == 1)
            full_ids[i++] = ev.op == AS_OP_FREE ? ev.id : ev.id;
        as_reader_close(r);
    }
    size_t hdr = get32(b + 12), from = 0;
    for (size_t k = 0; k + 1 < nc; k++) {
        size_t len = off[k + 1] - off[k];
        uint8_t *f = malloc(hdr + len);
        memcpy(f, b, hdr);
        memcpy(f + hdr, b + off[k], len);
        spit(one, f, hdr + len);
        free(f);
        /* the chunk alone: same events, same ids as in the full read */
        as_reader_t *r = open_reader(one);
        as_event_t ev;
        size_t i = from;
        while (next(r, &ev) == 1) {
            assert_int_equal(ev.seq, x[i].seq);
            assert_int_equal(ev.op, x[i].op);
            assert_int_equal(ev.id, full_ids[i]);
            if (ev.op != AS_OP_FREE)
                assert_true(ev.addr == x[i].addr);
            i++;
        }
        as_reader_close(r);
        size_t got = check_trace(one, x, nx, from, ids, (int)k + 1);
        assert_int_equal(got, i - from);
        from = i;
    }
    assert_int_equal(from, nx);
    free(full_ids);
    free(ids);
    free(b);
    free(x);
    unlink(path);
    unlink(one);
}

/* ---- damage: bytes flipped inside a middle chunk ------------------------------------- */

static void test_damaged_chunk(void **state)
{
    (void)state;
    const char *path = tmp_path("dmg"), *bad = tmp_path("bad");
    size_t nx;
    xrec_t *x = random_trace(path, 20000, 2500, &nx);
    size_t n, off[64];
    uint8_t *b = slurp(path, &n);
    size_t nc = chunk_offsets(b, n, off, 64);
    assert_true(nc >= 8);
    /* three kinds of damage in chunk 3: payload, header, magic */
    for (int kind = 0; kind < 3; kind++) {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        size_t at = kind == 0 ? off[3] + 32 + (off[4] - off[3] - 32) / 2
                  : kind == 1 ? off[3] + 5 : off[3];
        c[at] ^= 0x5a;
        spit(bad, c, n);
        free(c);
        as_reader_t *r = open_reader(bad);
        as_event_t ev;
        size_t i = 0, got = 0;
        uint64_t lost_lo = x[0].seq, lost_hi = 0;
        (void)lost_lo;
        while (next(r, &ev) == 1) {
            while (i < nx && x[i].seq != ev.seq)
                i++;
            assert_true(i < nx);
            assert_int_equal(ev.op, x[i].op);
            got++;
            i++;
        }
        (void)lost_hi;
        as_read_stats_t st;
        as_reader_stats(r, &st);
        assert_int_equal(st.chunks_damaged, 1);
        assert_int_equal(st.chunks, nc - 2);
        assert_true(got < nx && got >= nx - 2600);
        assert_int_equal(st.truncated, 0);
        char detail[200];
        assert_int_equal(as_reader_problem(r, detail, sizeof detail), AS_ERR_CORRUPT);
        assert_non_null(strstr(detail, "chunk 3"));
        as_reader_close(r);
        check_lean(bad, 64);
    }
    free(b);
    free(x);
    unlink(path);
    unlink(bad);
}

/* ---- truncation at every byte offset ---------------------------------------------------- */

static void test_truncation_everywhere(void **state)
{
    (void)state;
    const char *path = tmp_path("trunc"), *cut = tmp_path("cut");
    size_t nx;
    xrec_t *x = random_trace(path, 600, 100, &nx);
    size_t n, off[64];
    uint8_t *b = slurp(path, &n);
    size_t nc = chunk_offsets(b, n, off, 64);
    size_t hdr = get32(b + 12);
    for (size_t len = 0; len < n; len++) {
        spit(cut, b, len);
        as_err_t err;
        as_reader_t *r = as_reader_open(cut, &err);
        if (len < hdr) {
            assert_null(r);
            assert_int_equal(err, len < 8 ? AS_ERR_NOT_TRACE : AS_ERR_HEADER);
            continue;
        }
        assert_non_null(r);
        as_event_t ev;
        size_t got = 0;
        while (next(r, &ev) == 1) {
            assert_int_equal(ev.seq, x[got].seq);
            got++;
        }
        /* every complete chunk is read; of the chunk cut short, what its
         * frame has whole: a chunk written in one piece is one segment,
         * so all of it (only its checksum cut) or none */
        size_t complete = 0, whole = 0;
        for (size_t k = 0; k + 1 < nc; k++)
            if (off[k + 1] <= len) {
                complete++;
                whole += get32(b + off[k] + 12);
            }
        as_read_stats_t st;
        as_reader_stats(r, &st);
        if (st.chunks == complete) {
            assert_int_equal(got, whole);
        } else {
            assert_int_equal(st.chunks, complete + 1);
            assert_int_equal(got, whole + get32(b + off[complete] + 12));
            assert_true(len >= off[complete + 1] - 4);   /* the checksum */
        }
        assert_int_equal(st.chunks_damaged, 0);
        assert_int_equal(st.truncated, 1);
        assert_int_equal(as_reader_problem(r, NULL, 0), AS_ERR_TRUNCATED);
        as_reader_close(r);
        check_lean(cut, 7);
    }
    free(b);
    free(x);
    unlink(path);
    unlink(cut);
}

/* ---- streamed chunks (FORMAT.md §3.1) ---------------------------------------------------- */

/* A trace synced every 500 records: read back exactly, in several streamed
 * chunks, smaller than the same records in a chunk per 500; a copy taken
 * after any sync (a SIGKILL then) yields exactly the records synced, and
 * one cut anywhere after that a prefix of them, never a damaged event. */
static void test_sync_segments(void **state)
{
    (void)state;
    const char *path = tmp_path("sync"), *flushed = tmp_path("syncf"), *cut = tmp_path("syncc");
    size_t nx, nf;
    uint32_t *ids = calloc(NSLOT, sizeof *ids);
    rng_state = 0x5eed;
    xrec_t *xf = random_trace(flushed, 60000, 500, &nf);
    rng_state = 0x5eed;
    g_nsnap = 0;
    xrec_t *x = random_trace(path, 60000, -500, &nx);
    assert_int_equal(nx, nf);
    assert_int_equal(check_trace(path, x, nx, 0, ids, 0), nx);
    check_lean(path, 97);
    as_read_stats_t st;
    assert_int_equal(read_all(path, &st), AS_OK);
    assert_true(st.chunks >= 3);                     /* 64 KiB chunks, ~25 syncs each */
    assert_int_equal(st.truncated, 0);
    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(stat(flushed, &b), 0);
    assert_true(a.st_size < b.st_size * 9 / 10);     /* measured: 0.79 */

    assert_true(g_nsnap >= 100);
    for (size_t k = 0; k < g_nsnap; k += 1 + k / 8) {
        spit(cut, g_snap[k].b, g_snap[k].n);
        assert_int_equal(check_trace(cut, x, g_snap[k].recs, 0, ids, 0), g_snap[k].recs);
        assert_int_equal(read_all(cut, &st), AS_ERR_TRUNCATED);
        if (k % 37 == 5)
            check_lean(cut, 13);
    }
    /* cuts inside the last segment of a few copies (in the first chunk, and
     * in the second after the first one was closed): a prefix, truncated */
    static const size_t cuts[] = {1, 2, 30};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
        size_t k = cuts[c];
        spit(cut, g_snap[k].b, g_snap[k].n);
        read_all(cut, &st);
        assert_int_equal(st.chunks, c < 2 ? 1 : 2);   /* which chunk is open */
        for (size_t len = g_snap[k - 1].n; len < g_snap[k].n; len += 1 + k / 8) {
            spit(cut, g_snap[k].b, len);
            as_reader_t *r = open_reader(cut);
            as_event_t ev;
            size_t got = 0;
            while (next(r, &ev) == 1) {
                assert_true(got < g_snap[k].recs);
                assert_int_equal(ev.seq, x[got].seq);
                assert_int_equal(ev.op, x[got].op);
                got++;
            }
            as_reader_stats(r, &st);
            assert_int_equal(st.truncated, 1);
            assert_true(st.chunks_damaged <= 1);     /* an open chunk with nothing whole */
            assert_int_equal(as_reader_problem(r, NULL, 0), AS_ERR_TRUNCATED);
            as_reader_close(r);
        }
    }
    /* a closed streamed chunk cut short (a copy that stopped): its whole
     * segments are read, a prefix that grows with the cut */
    size_t n, off[64];
    uint8_t *whole = slurp(path, &n);
    size_t nc = chunk_offsets(whole, n, off, 64);
    assert_true(nc >= 3);
    size_t first = get32(whole + off[0] + 12), both = first + get32(whole + off[1] + 12);
    size_t prev = first, more = 0;
    for (size_t len = off[1] + 32; len < off[2]; len += 997) {
        spit(cut, whole, len);
        as_reader_t *r = open_reader(cut);
        as_event_t ev;
        size_t got = 0;
        while (next(r, &ev) == 1) {
            assert_true(got < nx);
            assert_int_equal(ev.seq, x[got].seq);
            got++;
        }
        as_reader_stats(r, &st);
        assert_int_equal(st.truncated, 1);
        assert_int_equal(st.chunks_damaged, 0);
        assert_true(got >= prev && got <= both);
        more += got > first;
        prev = got;
        as_reader_close(r);
        if (len % 7 == 0)
            check_lean(cut, 11);
    }
    assert_true(more > 0);
    spit(cut, whole, off[2] - 1);                       /* only the checksum's last byte */
    assert_int_equal(check_trace(cut, x, both, 0, ids, 0), both);
    free(whole);
    for (size_t k = 0; k < g_nsnap; k++)
        free(g_snap[k].b);
    g_nsnap = 0;
    free(ids);
    free(x);
    free(xf);
    unlink(path);
    unlink(flushed);
    unlink(cut);
}

/* At zstd's ultra levels (windows up to 2^27) a streamed chunk's frame
 * still fits the window an open chunk's reader accepts. */
static void test_sync_ultra_level(void **state)
{
    (void)state;
    const char *path = tmp_path("ultra"), *cut = tmp_path("ultrac");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    as_writer_level(w, 22);
    g_seq = 0;
    for (unsigned i = 0; i < 1000; i++)
        ADD(w, 0, AS_OP_MALLOC, 0, 0x10000 + 64ull * i, 0, 48);
    assert_int_equal(as_writer_sync(w), AS_OK);
    size_t n;
    uint8_t *b = slurp(path, &n);
    assert_int_equal(as_writer_sync(w), AS_OK);   /* nothing new: nothing written */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, n);
    spit(cut, b, n);                      /* as a SIGKILL now would leave it */
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    const char *files[] = {path, cut};
    for (int f = 0; f < 2; f++) {
        as_reader_t *r = open_reader(files[f]);
        as_event_t ev;
        unsigned got = 0;
        while (next(r, &ev) == 1)
            got += ev.op == AS_OP_MALLOC;
        assert_int_equal(got, 1000);
        assert_int_equal(as_reader_problem(r, NULL, 0), f ? AS_ERR_TRUNCATED : AS_OK);
        as_reader_close(r);
    }
    free(b);
    unlink(path);
    unlink(cut);
}

/* Before version 3 a chunk is one segment: a second one is damage there. */
static void test_segments_need_v3(void **state)
{
    (void)state;
    const char *path = tmp_path("segv2");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 0;
    ADD(w, 0, AS_OP_MALLOC, 0, 0x1000, 0, 16);
    assert_int_equal(as_writer_sync(w), AS_OK);
    ADD(w, 0, AS_OP_MALLOC, 0, 0x2000, 0, 32);
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    as_reader_t *r = open_reader(path);
    as_event_t ev;
    expect_ev(r, &ev, AS_OP_MALLOC, 0);
    expect_ev(r, &ev, AS_OP_MALLOC, 0);
    assert_int_equal(next(r, &ev), 0);
    as_reader_close(r);
    size_t n;
    uint8_t *b = slurp(path, &n);
    asf_put32(b + ASF_OFF_VERSION, 2);
    asf_put32(b + ASF_OFF_CRC, asf_header_crc(b, get32(b + ASF_OFF_HDRLEN)));
    spit(path, b, n);
    r = open_reader(path);
    assert_int_equal(next(r, &ev), 0);
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.chunks_damaged, 1);
    assert_int_equal(as_reader_problem(r, NULL, 0), AS_ERR_CORRUPT);
    as_reader_close(r);
    free(b);
    unlink(path);
}

/* ---- open errors ------------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
    (void)state;
    const char *p = tmp_path("err");
    as_err_t err;
    spit(p, "", 0);
    assert_null(as_reader_open(p, &err));
    assert_int_equal(err, AS_ERR_NOT_TRACE);
    spit(p, "hello world, this is not a trace at all, not at all.....", 56);
    assert_null(as_reader_open(p, &err));
    assert_int_equal(err, AS_ERR_NOT_TRACE);
    assert_null(as_reader_open("/nonexistent/dir/x.ast", &err));
    assert_int_equal(err, AS_ERR_NOENT);
    assert_null(as_reader_open("/", &err));
    assert_int_equal(err, AS_ERR_ISDIR);
    as_scan_t sc;
    assert_int_equal(as_trace_scan("/nonexistent/dir/x.ast", &sc), AS_ERR_NOENT);
    assert_int_equal(as_trace_scan("/", &sc), AS_ERR_ISDIR);

    /* a real header with another version, then with a damaged byte */
    size_t nx;
    free(random_trace(p, 10, 0, &nx));
    size_t n;
    uint8_t *b = slurp(p, &n);
    b[8] = AS_TRACE_VERSION + 1;
    spit(p, b, n);
    assert_null(as_reader_open(p, &err));
    assert_int_equal(err, AS_ERR_VERSION);
    b[8] = AS_TRACE_VERSION_MIN - 1;
    spit(p, b, n);
    assert_null(as_reader_open(p, &err));
    assert_int_equal(err, AS_ERR_VERSION);
    b[8] = AS_TRACE_VERSION;
    b[90] ^= 1;                             /* inside the exe string */
    spit(p, b, n);
    assert_null(as_reader_open(p, &err));
    assert_int_equal(err, AS_ERR_HEADER);
    b[90] ^= 1;
    b[16] = 0;                              /* flags are outside the checksum */
    spit(p, b, n);
    as_reader_t *r = as_reader_open(p, &err);
    assert_non_null(r);
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.complete, 0);
    as_reader_close(r);
    free(b);
    unlink(p);
}

/* ---- close with a stop reason; writer memory only through as_mem_t ------------------------- */

static size_t g_live_bytes, g_allocs;
static void *count_alloc(void *ctx, size_t n)
{
    (void)ctx;
    g_live_bytes += n;
    g_allocs++;
    return calloc(1, n);
}
static void count_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    g_live_bytes -= n;
    free(p);
}

static void test_incomplete_and_mem(void **state)
{
    (void)state;
    const char *path = tmp_path("inc");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    as_header_t h = test_header();
    as_mem_t mem = {count_alloc, count_free, NULL};
    as_err_t err;
    as_writer_t *w = as_writer_create(fd, &h, &mem, 1, &err);
    assert_non_null(w);
    g_seq = 0;
    for (uint64_t i = 0; i < 100000; i++)   /* grows the id map and stacks */
        ADD(w, 0, AS_OP_MALLOC, 0, 0x10000 + 32 * i, 0, 16);
    for (uint64_t i = 0; i < 100000; i++)
        ADD(w, 0, AS_OP_FREE, 0, 0, 0x10000 + 32 * i, 0);
    assert_true(g_allocs > 5);
    assert_int_equal(as_writer_close(w, AS_ERR_NOSPACE), AS_OK);
    assert_int_equal(g_live_bytes, 0);      /* balanced: sizes passed back right */
    close(fd);
    as_reader_t *r = open_reader(path);
    assert_int_equal(as_reader_header(r)->flags, AS_HDRF_INCOMPLETE);
    assert_int_equal(as_reader_header(r)->stop_reason, AS_ERR_NOSPACE);
    as_event_t ev;
    size_t k = 0;
    uint32_t *id_of = calloc(100000, sizeof *id_of);
    while (next(r, &ev) == 1) {
        /* ids above 65535 use the IDHI stream: pairing must still be exact */
        uint64_t i = (ev.addr - 0x10000) / 32;
        assert_true(i < 100000);
        if (ev.op == AS_OP_MALLOC)
            id_of[i] = ev.id;
        else
            assert_int_equal(ev.id, id_of[i]);
        k++;
    }
    free(id_of);
    assert_int_equal(k, 200000);
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.max_id, 100000);
    assert_int_equal(st.complete, 0);
    as_reader_close(r);
    check_lean(path, 1000);
    unlink(path);
}

/* ---- FREE_RECENT: the token, its stream bytes, and version 1 files ----------------------- */

/* The decoded payload of the chunk at b + off (caller frees). */
static uint8_t *chunk_payload(const uint8_t *b, size_t off, size_t *len)
{
    size_t rlen = get32(b + off + 8);
    uint8_t *raw = malloc(rlen);
    assert_non_null(raw);
    *len = ZSTD_decompress(raw, rlen, b + off + 32, get32(b + off + 4));
    assert_int_equal(*len, rlen);
    return raw;
}

static void test_free_recent(void **state)
{
    (void)state;
    const char *path = tmp_path("frecent");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 1;
    /* blocks 0..17, then frees of blocks created 1, 16 (the deepest), 9 and
     * 8 creations ago (both token kinds), and of block 0, 18 ago: too deep,
     * its id goes to ID */
    uint64_t a[18];
    for (unsigned i = 0; i < 18; i++) {
        a[i] = 0x7000000 + 0x100 * i;
        ADD(w, 0, AS_OP_MALLOC, 0, a[i], 0, 40);
    }
    const unsigned order[5] = {17, 2, 9, 10, 0};
    for (unsigned i = 0; i < 5; i++)
        ADD(w, 0, AS_OP_FREE, 0, 0, a[order[i]], 0);
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);

    size_t n, off[4], len;
    uint8_t *b = slurp(path, &n);
    assert_int_equal(chunk_offsets(b, n, off, 4), 2);      /* one chunk + end */
    uint8_t *raw = chunk_payload(b, off[0], &len);
    const uint8_t *tok = raw + 4 * ASF_NSTREAMS;
    unsigned ntok = get32(raw), recent = 0, far = 0, known = 0;
    for (unsigned i = 0; i < ntok; i++) {
        recent += (tok[i] & 31) == ASF_K_FREE_RECENT;
        far += (tok[i] & 31) == ASF_K_FREE_RECENT_FAR;
        known += tok[i] == ASF_TOK(ASF_K_FREE, ASF_FREE_KNOWN);
    }
    assert_int_equal(recent, 2);
    assert_int_equal(far, 2);
    assert_int_equal(known, 1);
    assert_int_equal(get32(raw + 4 * ASF_S_ID), 2);          /* one id, 2 bytes */
    free(raw);

    for (int lean = 0; lean < 2; lean++) {
        as_err_t err;
        as_reader_t *r = as_reader_open_flags(path, lean ? AS_READ_NO_ADDR : 0, &err);
        assert_non_null(r);
        as_event_t ev;
        uint32_t id[18];
        for (unsigned i = 0; i < 18; i++) {
            expect_ev(r, &ev, AS_OP_MALLOC, 0);
            id[i] = ev.id;
        }
        for (unsigned i = 0; i < 5; i++) {
            expect_ev(r, &ev, AS_OP_FREE, 0);
            assert_int_equal(ev.id, id[order[i]]);
            assert_true(ev.addr == (lean ? 0 : a[order[i]]));
        }
        assert_int_equal(next(r, &ev), 0);
        as_reader_close(r);
    }
    check_lean(path, 5);

    /* The same bytes labelled version 1 (header checksum redone): version 1
     * has no FREE_RECENT, so the chunk is damage, reported and skipped. */
    asf_put32(b + ASF_OFF_VERSION, 1);
    asf_put32(b + ASF_OFF_CRC, asf_header_crc(b, get32(b + ASF_OFF_HDRLEN)));
    spit(path, b, n);
    as_reader_t *r = open_reader(path);
    as_event_t ev;
    while (next(r, &ev) == 1)
        ;
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.chunks_damaged, 1);
    char detail[160];
    assert_int_equal(as_reader_problem(r, detail, sizeof detail), AS_ERR_CORRUPT);
    as_reader_close(r);
    check_lean(path, 3);
    free(b);
    unlink(path);
}

/* ---- AS_READ_NO_ADDR on the committed real traces -------------------------------------- */

static void test_lean_real_traces(void **state)
{
    (void)state;
    char path[640];
    const char *name;
    for (size_t i = 0; (name = as_test_trace_name(i)); i++) {
        assert_int_equal(as_test_trace_path(path, sizeof path, __FILE__, name), 0);
        assert_int_equal(access(path, R_OK), 0);
        check_lean(path, 256);
    }
}

/* ---- more than 65,536 live blocks: ids with a high part ------------------------------------ */

/* 70,000 blocks live at once, so released ids have a non-zero IDHI byte and
 * max_id passes 65,536; frees in a scattered order, mallocs that reuse them,
 * sizes of one, two and three varint bytes, chunks of 64 KiB. */
static void test_many_ids(void **state)
{
    (void)state;
    enum { N = 70000 };
    const char *path = tmp_path("many");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    asf_writer_chunk_target(w, 64 << 10);
    g_seq = 1;
    const uint64_t base = 0x100000000;
    for (uint64_t i = 0; i < N; i++)
        ADD(w, 0, AS_OP_MALLOC, 0, base + 64 * i, 0, i % 97 == 0 ? 20000 : 8 + i % 300);
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t i = 0; i < N; i++) {
            uint64_t b = (i * 40503) % N;       /* 40503 and N coprime: each block once */
            ADD(w, 0, AS_OP_FREE, 0, 0, base + 64 * b, 0);
            if (!pass && i % 3)
                ADD(w, 0, AS_OP_MALLOC, 0, base + 64 * b, 0, 16 + i % 5000);
        }
        if (!pass)   /* the blocks freed for good come back, so all are live again */
            for (uint64_t i = 0; i < N; i += 3)
                ADD(w, 0, AS_OP_MALLOC, 0, base + 64 * ((i * 40503) % N), 0, 100);
    }
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    as_read_stats_t st;
    read_all(path, &st);
    assert_true(st.max_id >= N && st.chunks > 4 && st.chunks_damaged == 0);
    check_lean(path, 1);
    check_lean(path, 333);
    check_lean(path, 16384);
    unlink(path);
}

/* ---- Late records: backward jumps in seq order ---------------------------------------- */

/* The tracer's writer emits a record that reached it late in arrival order:
 * the reader delivers the seqs as written and counts each backward jump,
 * inside a chunk (a negative SEQ gap) and across chunks (a first seq below
 * where the last chunk ended); gaps forward are not late. */
static void test_late_counted(void **state)
{
    (void)state;
    const char *path = tmp_path("late");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    static const uint64_t seqs[] = {1, 2, 9, 10, 5, 6, 11, 20, 0, 8, 21};  /* 0: new chunk */
    uint64_t a = 0x10000;
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        if (!seqs[i]) {
            assert_int_equal(as_writer_flush(w), AS_OK);
            continue;
        }
        g_seq = seqs[i];
        ADD(w, 0, AS_OP_MALLOC, 0, a += 64, 0, 32);
    }
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    as_reader_t *r = open_reader(path);
    as_event_t ev;
    size_t k = 0;
    while (next(r, &ev) == 1) {
        while (!seqs[k])
            k++;
        assert_int_equal(ev.seq, seqs[k++]);
    }
    assert_int_equal(k, sizeof seqs / sizeof seqs[0]);
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(st.late, 2);                            /* 10 -> 5, 20 | 8 */
    assert_int_equal(st.chunks, 2);
    as_reader_close(r);
    unlink(path);
}

/* ---- The writer's chunk index wraps at 2^16 -------------------------------------------- */

/* A live block keeps the index of its chunk modulo 2^16, and the writer
 * renumbers the old ones every 32768 chunks: a block from chunk 0 freed in
 * chunk 65536 must not look like one of that chunk's own creations. If it
 * did, its address would go on the writer's address predictor, which the
 * reader of that chunk cannot know, and the malloc that reuses the address
 * would be written as a prediction the reader gets wrong or rejects. */
static void test_chunk_index_wrap(void **state)
{
    (void)state;
    enum { CHUNKS = 65536 + 2 };
    const char *path = tmp_path("wrap");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 1;
    const uint64_t old = 0x7000000, fresh = 0x9000000;
    ADD(w, 0, AS_OP_MALLOC, 0, old, 0, 100);
    for (unsigned c = 0; c < CHUNKS; c++) {
        if (c == 65536) {
            ADD(w, 0, AS_OP_FREE, 0, 0, old, 0);
            ADD(w, 0, AS_OP_MALLOC, 0, old, 0, 100);
        }
        ADD(w, 0, AS_OP_MALLOC, 0, fresh, 0, 48);
        ADD(w, 0, AS_OP_FREE, 0, 0, fresh, 0);
        assert_int_equal(as_writer_flush(w), AS_OK);
    }
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    as_reader_t *r = open_reader(path);
    as_event_t ev;
    uint32_t old_id = AS_NO_ID;
    int freed = 0, again = 0;
    while (next(r, &ev) == 1) {
        if (ev.op == AS_OP_MALLOC && ev.addr == old) {
            again += old_id != AS_NO_ID;       /* the malloc in chunk 65536 */
            old_id = ev.id;
        } else if (ev.op == AS_OP_FREE && ev.addr == old)
            freed += ev.id == old_id && !(ev.flags & AS_EVF_UNKNOWN);
    }
    as_read_stats_t st;
    as_reader_stats(r, &st);
    assert_int_equal(freed, 1);
    assert_int_equal(again, 1);
    assert_int_equal(st.chunks_damaged, 0);
    assert_int_equal(st.unknown_frees, 0);
    assert_true(st.chunks >= CHUNKS);
    as_reader_close(r);
    unlink(path);
}

/* ---- AS_READ_NO_ADDR does not check address codes ------------------------------------------ */

/* A chunk that passes every checksum but whose first malloc names an entry
 * of an empty LIFO (code 0): the full reader drops the chunk, the lean one,
 * which never looks at address codes (trace.h), delivers all its events. */
static void test_lean_unchecked_codes(void **state)
{
    (void)state;
    const char *path = tmp_path("code"), *bad = tmp_path("code0");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 1;
    ADD(w, 0, AS_OP_MALLOC, 0, 0x10000, 0, 64);
    ADD(w, 0, AS_OP_MALLOC, 0, 0x20000, 0, 300);
    ADD(w, 0, AS_OP_FREE, 0, 0, 0x10000, 0);
    ADD(w, 0, AS_OP_FREE, 0, 0, 0x20000, 0);
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);

    /* rewrite the one chunk with that token changed, then its header */
    size_t n;
    uint8_t *b = slurp(path, &n);
    size_t at = asf_get32(b + ASF_OFF_HDRLEN), clen = asf_get32(b + at + 4);
    size_t rlen = asf_get32(b + at + 8), after = at + ASF_CHUNK_HDR + clen;
    uint8_t *raw = malloc(rlen), *c = malloc(n + 4096);
    assert_int_equal(ZSTD_decompress(raw, rlen, b + at + ASF_CHUNK_HDR, clen), rlen);
    uint8_t *tok = raw + 4 * ASF_NSTREAMS;
    while ((*tok & 31) != ASF_K_MALLOC)
        tok++;
    assert_int_not_equal(*tok >> 5, 0);
    *tok = ASF_TOK(ASF_K_MALLOC, 0);
    memcpy(c, b, at + ASF_CHUNK_HDR);
    size_t z = ZSTD_compress(c + at + ASF_CHUNK_HDR, 4096, raw, rlen, 3);
    assert_false(ZSTD_isError(z));
    asf_put32(c + at + 4, (uint32_t)z);
    asf_put32(c + at + 28, asf_chunk_crc(c + at));
    memcpy(c + at + ASF_CHUNK_HDR + z, b + after, n - after);
    spit(bad, c, at + ASF_CHUNK_HDR + z + n - after);

    as_reader_t *full = open_reader(bad);
    as_event_t ev;
    assert_int_equal(next(full, &ev), 0);
    char detail[200];
    assert_int_equal(as_reader_problem(full, detail, sizeof detail), AS_ERR_CORRUPT);
    assert_non_null(strstr(detail, "bad encoding"));
    as_reader_close(full);

    as_err_t err;
    as_reader_t *lean = as_reader_open_flags(bad, AS_READ_NO_ADDR, &err);
    assert_non_null(lean);
    const unsigned ops[] = {AS_OP_MALLOC, AS_OP_MALLOC, AS_OP_FREE, AS_OP_FREE};
    const uint64_t sizes[] = {64, 300, 0, 0};
    uint32_t ids[4];
    for (int i = 0; i < 4; i++) {
        expect_ev(lean, &ev, ops[i], 0);
        assert_int_equal(ev.size, sizes[i]);
        assert_int_equal(ev.seq, 1 + i);
        ids[i] = ev.id;
    }
    assert_int_equal(ids[2], ids[0]);
    assert_int_equal(ids[3], ids[1]);
    assert_int_equal(next(lean, &ev), 0);
    as_read_stats_t st;
    as_reader_stats(lean, &st);
    assert_int_equal(st.chunks_damaged, 0);
    assert_true(st.max_id > ids[0] && st.max_id > ids[1]);
    assert_int_equal(as_reader_problem(lean, NULL, 0), AS_OK);
    as_reader_close(lean);
    free(raw);
    free(c);
    free(b);
    unlink(path);
    unlink(bad);
}

/* ---- the descriptor taken away: AS_ERR_FDLOST, and nothing written there -------------- */

/* A traced program closed the writer's descriptor behind its back and opened
 * a file of its own on the number (tracer/rec_fd.c): the writer stops rather
 * than write into it. A descriptor moved with as_writer_set_fd is accepted
 * only if it names the same file. */
static void test_fd_taken(void **state)
{
    (void)state;
    const char *path = tmp_path("fdlost"), *other = tmp_path("fdlost-other");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 0;
    ADD(w, 0, AS_OP_MALLOC, 0, 0x1000, 0, 16);
    assert_int_equal(as_writer_flush(w), AS_OK);

    int same = dup(fd);                      /* moving it keeps the file */
    assert_true(same >= 0);
    assert_int_equal(as_writer_set_fd(w, same), AS_OK);
    close(fd);
    ADD(w, 0, AS_OP_MALLOC, 0, 0x2000, 0, 16);
    assert_int_equal(as_writer_flush(w), AS_OK);

    int o = open(other, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(o >= 0);
    assert_int_equal(as_writer_set_fd(w, o), AS_ERR_FDLOST);   /* another file: refused */
    assert_true(dup2(o, same) == same);      /* the program's file on our number */
    ADD(w, 0, AS_OP_MALLOC, 0, 0x3000, 0, 16);
    assert_int_equal(as_writer_flush(w), AS_ERR_FDLOST);
    assert_int_equal(as_writer_close(w, AS_OK), AS_ERR_FDLOST);
    struct stat st;
    assert_int_equal(fstat(o, &st), 0);
    assert_int_equal(st.st_size, 0);         /* not a byte of the trace in it */
    close(o);
    close(same);
    /* what was written before is readable: two chunks, no end record */
    as_reader_t *rd = open_reader(path);
    as_event_t ev;
    expect_ev(rd, &ev, AS_OP_MALLOC, 0);
    expect_ev(rd, &ev, AS_OP_MALLOC, 0);
    assert_int_equal(as_reader_next(rd, &ev), 0);
    as_reader_close(rd);
    assert_string_equal(as_strerror(AS_ERR_FDLOST),
                        "the trace's file descriptor was closed or replaced");
    unlink(path);
    unlink(other);
}

/* ---- a full disk: ENOSPC becomes AS_ERR_NOSPACE, sticky ------------------------------ */

static void test_disk_full(void **state)
{
    (void)state;
    as_header_t h = test_header();
    as_err_t err;
    int full = open("/dev/full", O_WRONLY);
    if (full < 0)
        skip();
    assert_null(as_writer_create(full, &h, NULL, 3, &err));
    assert_int_equal(err, AS_ERR_NOSPACE);

    const char *path = tmp_path("full");
    int fd;
    as_writer_t *w = open_writer(path, &fd);
    g_seq = 0;
    ADD(w, 0, AS_OP_MALLOC, 0, 0x1000, 0, 16);
    assert_int_equal(as_writer_flush(w), AS_OK);
    ADD(w, 0, AS_OP_MALLOC, 0, 0x2000, 0, 16);
    asf_writer_unchecked(w);                 /* /dev/full is not the file: allowed here */
    assert_true(dup2(full, fd) == fd);       /* the disk fills up */
    assert_int_equal(as_writer_flush(w), AS_ERR_NOSPACE);
    as_rec_t r = rec(AS_OP_FREE, 0, 0, 0x1000, 0);
    assert_int_equal(as_writer_add(w, 0, &r), AS_ERR_NOSPACE);
    assert_int_not_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    /* the first chunk, written before the disk filled, is readable */
    as_reader_t *rd = open_reader(path);
    as_event_t ev;
    expect_ev(rd, &ev, AS_OP_MALLOC, 0);
    assert_int_equal(next(rd, &ev), 0);
    as_read_stats_t st;
    as_reader_stats(rd, &st);
    assert_int_equal(st.chunks, 1);
    as_reader_close(rd);

    /* the same with syncs: the open chunk's first segment is kept */
    w = open_writer(path, &fd);
    g_seq = 0;
    ADD(w, 0, AS_OP_MALLOC, 0, 0x1000, 0, 16);
    assert_int_equal(as_writer_sync(w), AS_OK);
    ADD(w, 0, AS_OP_MALLOC, 0, 0x2000, 0, 16);
    asf_writer_unchecked(w);
    assert_true(dup2(full, fd) == fd);
    assert_int_equal(as_writer_sync(w), AS_ERR_NOSPACE);
    assert_int_not_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
    rd = open_reader(path);
    expect_ev(rd, &ev, AS_OP_MALLOC, 0);
    assert_int_equal(next(rd, &ev), 0);
    as_reader_stats(rd, &st);
    assert_int_equal(st.chunks, 1);
    assert_int_equal(st.truncated, 1);
    as_reader_close(rd);
    close(full);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_ops),
        cmocka_unit_test(test_race_repair),
        cmocka_unit_test(test_random_pairing),
        cmocka_unit_test(test_recent_pairing),
        cmocka_unit_test(test_free_recent),
        cmocka_unit_test(test_chunk_independence),
        cmocka_unit_test(test_damaged_chunk),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_sync_segments),
        cmocka_unit_test(test_segments_need_v3),
        cmocka_unit_test(test_sync_ultra_level),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_incomplete_and_mem),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_fd_taken),
        cmocka_unit_test(test_lean_real_traces),
        cmocka_unit_test(test_lean_unchecked_codes),
        cmocka_unit_test(test_many_ids),
        cmocka_unit_test(test_chunk_index_wrap),
        cmocka_unit_test(test_late_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
