/*
 * tests/native/test_native_unit.c — replay/native.c and allocsim-replayer
 * driven by a scripted event source instead of a trace file.
 *
 * This file defines the reader half of replay/trace.h itself (a list of
 * as_event_t), so native replay's ordering checks, thread hand-offs and RSS
 * figures can be checked on event sequences the writer could never produce
 * (damaged ones) and on many-thread random ones, independently of the trace
 * format. Expected RSS figures are glibc 2.36's, worked out in each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replay/native.h"
#include "replay/trace.h"

/* ---- A reader over an in-memory event list --------------------------------- */
static as_event_t *EV;
static size_t nev, capev, pos;
static const as_header_t HDR = {.version = AS_TRACE_VERSION, .page_size = 4096, .ncpus = 2};

as_reader_t *as_reader_open(const char *path, as_err_t *err)
{
    (void)path;
    *err = AS_OK;
    pos = 0;
    return (as_reader_t *)&pos;
}
const as_header_t *as_reader_header(const as_reader_t *r) { (void)r; return &HDR; }
int as_reader_next(as_reader_t *r, as_event_t *ev)
{
    (void)r;
    if (pos >= nev)
        return 0;
    *ev = EV[pos++];
    return 1;
}
as_err_t as_reader_problem(const as_reader_t *r, char *d, size_t n)
{
    (void)r;
    if (d && n)
        d[0] = 0;
    return AS_OK;
}
void as_reader_close(as_reader_t *r) { (void)r; }
const char *as_strerror(as_err_t e) { (void)e; return "error"; }
const char *as_op_name(unsigned op)
{
    switch (op) {
#define X(n, v, s) case v: return s;
        AS_OPS(X)
#undef X
    default: return NULL;
    }
}

static void reset(void) { nev = 0; }

static void ev(unsigned op, uint32_t thread, uint32_t id, uint32_t old_id, uint64_t size,
               unsigned flags)
{
    if (nev == capev) {
        capev = capev ? capev * 2 : 256;
        EV = realloc(EV, capev * sizeof *EV);
        assert_non_null(EV);
    }
    as_event_t *e = &EV[nev];
    memset(e, 0, sizeof *e);
    e->seq = nev;
    e->time_ns = nev * 1000000ull;
    e->op = (uint16_t)op;
    e->flags = (uint16_t)flags;
    e->thread = thread;
    e->id = id;
    e->old_id = old_id;
    e->size = size;
    nev++;
}
#define MALLOC(t, id, n) ev(AS_OP_MALLOC, t, id, AS_NO_ID, n, 0)
#define FREE(t, id) ev(AS_OP_FREE, t, id, AS_NO_ID, 0, 0)
#define START(t) ev(AS_OP_THREAD_START, t, AS_NO_ID, AS_NO_ID, 0, 0)
#define EXIT(t) ev(AS_OP_THREAD_EXIT, t, AS_NO_ID, AS_NO_ID, 0, 0)

static as_native_err_t run(const char *tunables, as_native_result_t *r, char *detail)
{
    as_native_opts_t o = {.runner = REPLAYER, .tunables = tunables, .touch = AS_NP_TOUCH_ALL};
    return as_native_run("scripted", &o, r, detail, 300);
}

#define PAGE 4096ull

/* malloc(1 MiB) is mmapped: 1 MiB + the chunk header rounds to 257 pages, all
 * written; glibc's first malloc also carves the 640 B tcache struct from a
 * fresh brk heap and writes it: one more page. */
static void test_one_mmapped_block(void **state)
{
    (void)state;
    reset();
    MALLOC(0, 0, 1 << 20);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    assert_int_equal(r.peak_rss, 257 * PAGE + PAGE);
    assert_int_equal(r.peak_live, 1 << 20);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.peak_event, 0);
}

/* reference/allocators.md §2: freeing a 200000 B mmapped chunk raises the
 * threshold to 200704, so the next malloc(200000) comes from brk and, freed,
 * stays resident (top 331 KiB < the new trim threshold 401408). The 1 MiB
 * block that follows is mmapped on top of it. brk heap: tcache chunk (656 B)
 * + 200016 B chunk end at 200672, inside page 48: 49 pages; mapping 257. With
 * mmap_threshold set (which freezes the dynamic threshold) the second block
 * is mmapped and unmapped again: only the tcache page stays. */
static void test_dynamic_threshold(void **state)
{
    (void)state;
    reset();
    MALLOC(0, 0, 200000);
    FREE(0, 0);
    MALLOC(0, 0, 200000);
    FREE(0, 0);
    MALLOC(0, 0, 1 << 20);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    assert_int_equal(r.peak_rss, 49 * PAGE + 257 * PAGE);
    assert_int_equal(run("glibc.malloc.mmap_threshold=131072", &r, d), AS_NATIVE_OK);
    assert_int_equal(r.peak_rss, PAGE + 257 * PAGE);
}

/* Order across threads: thread 1 frees main's 1 MiB block before main asks
 * for 2 MiB. Replayed in order the two never coexist; out of order they
 * would (3 MiB). */
static void test_two_threads_in_order(void **state)
{
    (void)state;
    reset();
    START(1);
    MALLOC(0, 0, 1 << 20);
    FREE(1, 0);
    MALLOC(0, 0, 2 << 20);
    EXIT(1);
    as_native_result_t r;
    char d[300];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
        assert_int_equal(r.threads, 2);
        /* 2 MiB + header page, main's tcache page, thread 1's tcache page
         * (tcache_init on its first free), arena bookkeeping */
        assert_true(r.peak_rss >= (513 + 1) * PAGE);
        assert_true(r.peak_rss <= (513 + 8) * PAGE);
    }
}

/* Thread exit runs glibc's __malloc_arena_thread_freeres before the next
 * event: after thread 1 exits, its arena is on free_list and thread 2 reuses
 * it instead of reserving a second 64 MiB heap. (Resident pages may differ
 * by one: pthread_create's own DTV calloc lands in the creating thread's
 * arena.) */
static void test_thread_exit_then_reuse(void **state)
{
    (void)state;
    reset();
    START(1);
    MALLOC(1, 0, 1000);
    FREE(1, 0);
    EXIT(1);
    START(2);
    MALLOC(2, 0, 1000);
    FREE(2, 0);
    EXIT(2);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    as_native_result_t one;
    nev = 4;   /* thread 1 alone */
    assert_int_equal(run(NULL, &one, d), AS_NATIVE_OK);
    assert_true(r.peak_rss <= one.peak_rss + PAGE);
    assert_true(one.peak_mapped >= (64ull << 20));   /* the arena's 64 MiB reservation */
    assert_true(r.peak_mapped < one.peak_mapped + (32ull << 20));
}

static void test_damaged_free(void **state)
{
    (void)state;
    reset();
    MALLOC(0, 0, 10);
    FREE(0, 7);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_DAMAGED);
    assert_non_null(strstr(d, "event 1"));
    assert_non_null(strstr(d, "block id 7"));
}

static void test_damaged_double_alloc(void **state)
{
    (void)state;
    reset();
    MALLOC(0, 3, 10);
    MALLOC(0, 3, 10);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_DAMAGED);
    assert_non_null(strstr(d, "event 1"));
}

/* An exit logged before the thread's last calls (TLS destructors, libc's
 * teardown) is moved after them: the calls still run on that thread. A thread
 * index that starts again after its exit is damaged. */
static void test_calls_after_exit(void **state)
{
    (void)state;
    reset();
    START(1);
    MALLOC(1, 0, 1 << 20);
    EXIT(1);
    FREE(1, 0);
    MALLOC(0, 1, 2 << 20);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    assert_int_equal(r.ops, 5);
    assert_true(r.peak_rss < (3ull << 20));   /* the 1 MiB block went first */
    reset();
    START(1);
    MALLOC(1, 0, 10);
    EXIT(1);
    START(1);
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_DAMAGED);
    assert_non_null(strstr(d, "event 3"));
    assert_non_null(strstr(d, "started again"));
}

/* Unknown frees (blocks from before tracing) are skipped and counted. */
static void test_unknown_free_skipped(void **state)
{
    (void)state;
    reset();
    ev(AS_OP_FREE, 0, AS_NO_ID, AS_NO_ID, 0, AS_EVF_UNKNOWN);
    MALLOC(0, 0, 100);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    assert_int_equal(r.unknown_frees, 1);
    assert_int_equal(r.ops, 1);
}

/* Block ids near the reader's limit (2^28): the program numbers blocks
 * itself, densely, so the replayer's table (faulted in before the replay)
 * holds the live blocks, not 2^28 entries (2 GiB of its baseline). A realloc
 * that frees its old block and takes a new id gets the number back. */
static void test_sparse_ids_dense_program(void **state)
{
    (void)state;
    reset();
    MALLOC(0, (1u << 28) - 1, 1000);
    MALLOC(0, 5, 2000);
    ev(AS_OP_REALLOC, 0, (1u << 27) + 3, (1u << 28) - 1, 3000, 0);
    FREE(0, 5);
    MALLOC(0, 9, 4000);
    FREE(0, (1u << 27) + 3);
    FREE(0, 9);
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    assert_int_equal(r.peak_live, 7000);       /* the realloc'd 3000 and the last 4000 */
    assert_int_equal(r.final_live, 0);
    assert_int_equal(r.diverged, 0);
    assert_true(r.baseline_rss < (64u << 20));
}

/* Many threads, random calls, cross-thread frees and reallocs, exits and a
 * thread that never exits: replay must finish (no lost wake-up), and two
 * replays of the same events must agree exactly (order is deterministic). */
static void test_random_threads_deterministic(void **state)
{
    (void)state;
    reset();
    enum { NT = 12, NOPS = 20000 };
    static uint32_t live[NOPS], freeids[NOPS];
    int alive[NT] = {1}, dead[NT] = {0};
    size_t nlive = 0, nfree = 0;
    uint32_t next = 0;
    srand(7);
    for (int i = 0; i < NOPS; i++) {
        int t = rand() % NT;
        if (!alive[t]) {
            if (!dead[t] && rand() % 4 == 0) {
                alive[t] = 1;
                START((uint32_t)t);
            }
            continue;
        }
        int k = rand() % 100;
        if (t && t != NT - 1 && k < 1) {
            EXIT((uint32_t)t);
            alive[t] = 0;
            dead[t] = 1;
        } else if (k < 50 || !nlive) {
            uint32_t id = nfree ? freeids[--nfree] : next++;
            MALLOC((uint32_t)t, id, rand() % 10 == 0 ? (uint64_t)(rand() % 300000) : (uint64_t)(rand() % 2000));
            live[nlive++] = id;
        } else if (k < 60) {
            size_t j = (size_t)rand() % nlive;
            uint32_t id = nfree ? freeids[--nfree] : next++;
            ev(AS_OP_REALLOC, (uint32_t)t, id, live[j], (uint64_t)(rand() % 5000 + 1), 0);
            freeids[nfree++] = live[j];
            live[j] = id;
        } else {
            size_t j = (size_t)rand() % nlive;
            FREE((uint32_t)t, live[j]);
            freeids[nfree++] = live[j];
            live[j] = live[--nlive];
        }
    }
    as_native_result_t a, b;
    char d[300];
    assert_int_equal(run(NULL, &a, d), AS_NATIVE_OK);
    assert_int_equal(run(NULL, &b, d), AS_NATIVE_OK);
    assert_true(a.threads > 4);
    assert_int_equal(a.peak_rss, b.peak_rss);
    assert_int_equal(a.peak_event, b.peak_event);
    assert_true(a.peak_rss >= a.live_at_peak);
    assert_int_equal(a.diverged, 0);
}

/* A thread pool's churn: 600 threads over the trace, at most 3 alive at
 * once; stack slots are reused after each join. */
static void test_many_short_threads(void **state)
{
    (void)state;
    reset();
    for (uint32_t t = 1; t <= 600; t++) {
        START(t);
        MALLOC(t, t % 3, 5000);
        if (t >= 2) {
            FREE(t, (t + 2) % 3);   /* the previous thread's block */
            EXIT(t - 1);
        }
    }
    as_native_result_t r;
    char d[300];
    assert_int_equal(run(NULL, &r, d), AS_NATIVE_OK);
    assert_int_equal(r.threads, 601);
    assert_int_equal(r.diverged, 0);
}

static void test_missing_runner(void **state)
{
    (void)state;
    reset();
    MALLOC(0, 0, 10);
    as_native_opts_t o = {.runner = "/nonexistent/allocsim-replayer"};
    as_native_result_t r;
    char d[300];
    assert_int_equal(as_native_run("scripted", &o, &r, d, sizeof d), AS_NATIVE_RUNNER);
    assert_non_null(strstr(d, "/nonexistent/allocsim-replayer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_mmapped_block),
        cmocka_unit_test(test_dynamic_threshold),
        cmocka_unit_test(test_two_threads_in_order),
        cmocka_unit_test(test_thread_exit_then_reuse),
        cmocka_unit_test(test_damaged_free),
        cmocka_unit_test(test_damaged_double_alloc),
        cmocka_unit_test(test_calls_after_exit),
        cmocka_unit_test(test_unknown_free_skipped),
        cmocka_unit_test(test_sparse_ids_dense_program),
        cmocka_unit_test(test_random_threads_deterministic),
        cmocka_unit_test(test_many_short_threads),
        cmocka_unit_test(test_missing_runner),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(EV);
    return rc;
}
