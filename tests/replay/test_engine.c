/* tests/replay/test_engine.c — the engine on hand-written event sequences:
 * exact RSS per model and touch rule, the edge cases of issue 3 §1 (realloc
 * NULL/0, failed calls, unknown frees), J&W measures, predicted process RSS
 * from samples, and -j 1 == -j 2; on the real traces, the reader's runs of
 * plain events (fill_reader) == one full event at a time; a model's
 * prefetch hint and its plain method change no result (ideal's, glibc's);
 * the memory estimate of a run counts the hidden reference and the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evseq.h"
#include "replay/zmem.h"
#include "tests/common/testutil.h"

#define assert_double_equal(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static const char *const MT[] = {"mmap-threshold"};
static const char *const ID[] = {"ideal"};

static void mmap_threshold_exact_rss(void **state)
{
    (void)state;
    evseq_t q = {0};
    MALLOC(&q, 0, 100);          /* heap 132 KiB mapped, page 0 written */
    MALLOC(&q, 1, 200000);       /* 200704-byte mapping, all written */
    FREE(&q, 1);                 /* threshold -> 200704 */
    CALLOC(&q, 1, 200000);       /* now from brk: cleared by calloc */
    FREE(&q, 1);
    FREE(&q, 0);
    as_engine_t *e = evseq_run(&q, MT, 1, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    const as_result_t *r = as_engine_result(e, 0);
    assert_int_equal(as_engine_events(e), 6);
    assert_int_equal(r->peak_rss, 4096 + 200704);
    assert_int_equal(r->peak_event, 1);
    assert_int_equal(r->peak_live, 200100);
    assert_int_equal(r->live_at_peak, 200100);
    assert_int_equal(r->peak_mapped, 135168 + 200704);
    assert_int_equal(r->model.mmap_threshold, 200704);
    /* The calloc grew the heap from 135168 to 331776 and took its chunk from
     * the old top at offset 112: it clears only what lay below the old break
     * (glibc's MORECORE_CLEARS rule), pages 0..32, plus the new top's size
     * word in page 48. Freed back into top, not trimmed (331664 < 401408). */
    assert_int_equal(r->final_live, 0);
    assert_int_equal(r->final_rss, 34 * 4096);
    assert_double_equal(r->fragmentation, 1.0 - 200100.0 / (4096 + 200704), 1e-12);
    as_engine_free(e);

    /* --touch=first: the user writes one byte per block. */
    e = evseq_run(&q, MT, 1, AS_TOUCH_FIRST, 1);
    r = as_engine_result(e, 0);
    assert_int_equal(r->peak_rss, 34 * 4096);  /* the calloc clearing dominates */
    assert_int_equal(r->peak_event, 3);
    as_engine_free(e);

    /* --touch=none: only the allocator's writes (header of the mapping). */
    evseq_t q2 = {0};
    MALLOC(&q2, 0, 100);
    MALLOC(&q2, 1, 200000);
    e = evseq_run(&q2, MT, 1, AS_TOUCH_NONE, 1);
    r = as_engine_result(e, 0);
    assert_int_equal(r->peak_rss, 4096 + 4096);
    as_engine_free(e);
}

static void edge_cases(void **state)
{
    (void)state;
    evseq_t q = {0};
    REALLOC(&q, AS_NO_ID, 0, 5000);            /* realloc(NULL) = malloc */
    MALLOC(&q, 1, 100)->flags = AS_EVF_FAILED;  /* failed: nothing */
    FREE(&q, 7)->flags = AS_EVF_UNKNOWN;        /* never seen: a counted no-op */
    ev_add(&q, AS_OP_FREE, AS_NO_ID, 0);        /* free(NULL): nothing */
    REALLOC(&q, 0, 1, 9000);                   /* moves to a new id */
    REALLOC(&q, 1, AS_NO_ID, 0)->flags = AS_EVF_FREED; /* realloc(p, 0) frees */
    MALLOC(&q, 0, 4096);
    /* damaged: a realloc of nothing that succeeded with no new id. The
     * block is not tracked (the table once grew to 2^32 ids for it). */
    REALLOC(&q, AS_NO_ID, AS_NO_ID, 0);
    as_engine_t *e = evseq_run(&q, ID, 1, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    const as_result_t *r = as_engine_result(e, 0);
    assert_int_equal(r->peak_live, 9000);
    assert_int_equal(r->peak_rss, 12288);
    assert_int_equal(r->final_live, 4096);
    assert_int_equal(r->final_rss, 4096);
    assert_int_equal(r->failed_calls, 1);
    assert_int_equal(r->unknown_frees, 1);
    assert_int_equal(r->model_failures, 0);
    as_engine_free(e);
}

/* Ticks are in order even when the trace's time goes back (only a damaged
 * or crafted one does): such events count in the last tick. */
static void ticks_in_order_when_time_goes_back(void **state)
{
    (void)state;
    evseq_t q = {0};
    q.t = 50000000;
    MALLOC(&q, 0, 100000);
    q.t = 10000000;                          /* back by 40 ms */
    MALLOC(&q, 1, 200000);
    q.t = 70000000;
    FREE(&q, 0);
    q.tick_ns = 10000000;
    as_engine_t *e = evseq_run(&q, ID, 1, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    size_t n;
    const as_tick_t *t = as_engine_ticks(e, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].tick, 5);
    assert_int_equal(t[0].max_rss, 303104);  /* 300000 bytes, page-rounded */
    assert_int_equal(t[1].tick, 7);
    as_engine_free(e);
}

/* Resident bytes of this process (statm), for sparse_id_costs_its_pages. */
static uint64_t self_rss(void)
{
    unsigned long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A crafted trace may name one id near the reader's limit (2^28). The id
 * table is sized to it, but only the pages written may become resident:
 * it once was a realloc and a memset of 4 GiB (16 bytes an id). */
static void sparse_id_costs_its_pages(void **state)
{
    (void)state;
    evseq_t q = {0};
    MALLOC(&q, (1u << 28) - 1, 100);
    MALLOC(&q, 3, 100);
    FREE(&q, (1u << 28) - 1);
    uint64_t before = self_rss();
    as_engine_t *e = evseq_run(&q, ID, 1, AS_TOUCH_ALL, 1);
    uint64_t after = self_rss();
    assert_non_null(e);
    assert_int_equal(as_engine_result(e, 0)->peak_live, 200);
    assert_true(after < before + (64u << 20));
    as_engine_free(e);
}

/* replay/zmem.h, which the engine's, the reader's and native replay's id
 * tables grow with: what was written stays, the rest reads as zero, and a
 * 4 GiB table written at both ends costs a few pages. */
static void zgrow_keeps_and_zeroes(void **state)
{
    (void)state;
    void *p = NULL;
    uint64_t cap = 0;
    assert_int_equal(as_zgrow(&p, &cap, 5, sizeof(as_block_t), 64), 0);
    assert_int_equal(cap, 64);
    as_block_t *t = p;
    t[5] = (as_block_t){7, 8};
    uint64_t before = self_rss();
    assert_int_equal(as_zgrow(&p, &cap, (1u << 28) - 1, sizeof(as_block_t), 64), 0);
    assert_int_equal(cap, 1u << 28);
    t = p;
    assert_int_equal(t[5].addr, 7);
    assert_int_equal(t[5].size, 8);
    assert_int_equal(t[6].addr, 0);
    assert_int_equal(t[(1u << 28) - 1].size, 0);
    t[(1u << 28) - 1].size = 9;
    assert_true(self_rss() < before + (16u << 20));
    assert_int_equal(as_zgrow(&p, &cap, UINT64_MAX / 2, sizeof(as_block_t), 64), -1);
    assert_int_equal(cap, 1u << 28);                 /* unchanged on failure */
    as_zfree(p, cap, sizeof(as_block_t));
}

/* A program that maps heap it never writes: mallinfo2 counts 20 MiB that
 * are not resident. The old formula (rss - tracer - arena - hblkhd + model)
 * gave 0; the real heap's resident bytes now come from the reference glibc. */
static void process_rss_heap_mapped_not_resident(void **state)
{
    (void)state;
    static const char *const SPECS[] = {"ideal", "glibc"};
    evseq_t q = {0};
    MALLOC(&q, 0, 20u << 20);   /* glibc: its own mapping; one byte written */
    SAMPLE(&q, 6u << 20, 1u << 20, 0, (20u << 20) + 4096);
    as_engine_t *e = evseq_run(&q, SPECS, 2, AS_TOUCH_FIRST, 1);
    assert_non_null(e);
    assert_int_equal(as_engine_count(e), 2);
    /* Non-heap: 6 - 1 MiB - 8192, the two pages the reference glibc made
     * resident: the brk heap's first page (tcache, top header) and the
     * mapping's header page, which also holds the one byte written. */
    uint64_t nonheap = (5u << 20) - 8192;
    const as_result_t *ideal = as_engine_result(e, 0), *glibc = as_engine_result(e, 1);
    assert_int_equal(ideal->peak_rss, 20u << 20);  /* ideal writes every live page */
    assert_int_equal(ideal->peak_process_rss, nonheap + (20u << 20));
    /* glibc at its defaults is its own reference: the recorded process. */
    assert_int_equal(glibc->peak_rss, 8192);
    assert_int_equal(glibc->peak_process_rss, 5u << 20);
    as_engine_free(e);
}

/* A program that ran with MALLOC_MMAP_THRESHOLD_=4096 (recorded in the
 * header): the reference glibc takes that setting, so the reported
 * glibc:mmap_threshold=4096 instance is the reference and predicts the
 * recorded process exactly, and glibc at its defaults is predicted as the
 * recorded process minus the 4096 heap plus its own. */
static void process_rss_reference_takes_recorded_tunables(void **state)
{
    (void)state;
    static const char *const SPECS[] = {"glibc", "glibc:mmap_threshold=4096"};
    static const char env[] = "MALLOC_MMAP_THRESHOLD_=4096";
    evseq_t q = {.malloc_env = env, .malloc_env_len = sizeof env};
    for (uint32_t i = 0; i < 8; i++)
        MALLOC(&q, i, 64u << 10);   /* mapped at 4096, from the brk heap at defaults */
    SAMPLE(&q, 6u << 20, 1u << 20, 0, 0);
    as_engine_t *e = evseq_run(&q, SPECS, 2, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    assert_int_equal(as_engine_count(e), 2);
    const as_result_t *dflt = as_engine_result(e, 0), *low = as_engine_result(e, 1);
    assert_int_equal(low->peak_process_rss, 5u << 20);
    assert_true(dflt->final_rss != low->final_rss);
    assert_int_equal(dflt->peak_process_rss, (5u << 20) - low->final_rss + dflt->final_rss);
    as_engine_free(e);
}

/* The memory estimate of a whole run counts what create will allocate
 * beyond the listed instances: the hidden reference glibc (not when one of
 * them is the reference, nor with no_process_rss) and the batch ring, which
 * grows with the window when a worker alternates several instances. */
static void estimate_counts_reference_and_ring(void **state)
{
    (void)state;
    as_instance_t in[4];
    static const char *const specs[] = {"ideal", "glibc"};
    assert_int_equal(evseq_parse(specs, 2, in), 0);
    for (size_t i = 2; i < 4; i++)
        in[i] = in[0];
    const uint64_t ids = 1000000, per_id = as_engine_estimate(in[0].model, ids, 0);
    const uint64_t gl = as_engine_estimate(in[1].model, ids, 0);
    as_engine_opts_t o = {.jobs = 1, .no_process_rss = 1};
    uint64_t alone = as_engine_estimate_run(&o, in, 1, ids);
    assert_true(alone > per_id);                   /* one ring slot at least */
    o.no_process_rss = 0;
    uint64_t with_ref = as_engine_estimate_run(&o, in, 1, ids);
    assert_true(with_ref - alone >= gl);           /* the hidden glibc */
    /* glibc at its defaults listed: it is the reference, nothing hidden */
    assert_int_equal(as_engine_estimate_run(&o, in, 2, ids), with_ref);
    /* -j 1 with 4 instances: a 64-batch window, 512 KiB of events each */
    o.no_process_rss = 1;
    uint64_t four = as_engine_estimate_run(&o, in, 4, ids);
    assert_true(four - 4 * per_id >= 64ull * 16384 * sizeof(as_hevent_t));
    o.jobs = 2;                                    /* two windows in the ring */
    assert_true(as_engine_estimate_run(&o, in, 4, ids) - 4 * per_id
                >= 128ull * 16384 * sizeof(as_hevent_t));
}

/* A heap spike between two samples: the non-heap part is known only at the
 * samples, but the model's RSS at every event, so the predicted peak must
 * include the spike. Same samples with and without a 1 MiB block that lives
 * only between them: the peaks differ by exactly that block (ideal writes it
 * all; the reference glibc maps and unmaps it between the samples, so the
 * non-heap part at each sample is the same in both runs). */
static uint64_t spike_peak(int spike)
{
    evseq_t q = {0};
    MALLOC(&q, 0, 4096);
    q.t = 5000000;
    SAMPLE(&q, 10u << 20, 1u << 20, 0, 0);
    if (spike) {
        MALLOC(&q, 1, 1u << 20);
        FREE(&q, 1);
    }
    q.t = 10000000;
    SAMPLE(&q, 10u << 20, 1u << 20, 0, 0);
    as_engine_t *e = evseq_run(&q, ID, 1, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    uint64_t p = as_engine_result(e, 0)->peak_process_rss;
    as_engine_free(e);
    return p;
}

static void process_rss_peak_between_samples(void **state)
{
    (void)state;
    uint64_t flat = spike_peak(0), spiky = spike_peak(1);
    assert_true(flat != AS_RESULT_NULL && spiky != AS_RESULT_NULL);
    assert_int_equal(spiky - flat, 1u << 20);
}

/* Samples are what the trace says: a process RSS of 2^63 bytes or more
 * once overflowed the int64_t sum of the prediction (UBSan, fuzz_replay),
 * and tracer bytes above the RSS wrapped the non-heap bytes to ~2^64. */
static void process_rss_from_absurd_samples(void **state)
{
    (void)state;
    static const char *const SPECS[] = {"ideal", "glibc"};
    evseq_t q = {0};
    MALLOC(&q, 0, 4096);
    SAMPLE(&q, (1ull << 63) + 5, 0, 0, 0);
    as_engine_t *e = evseq_run(&q, SPECS, 2, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    const as_result_t *ideal = as_engine_result(e, 0), *glibc = as_engine_result(e, 1);
    /* glibc at its defaults is the reference: the recorded RSS itself */
    assert_int_equal(glibc->peak_process_rss, (1ull << 63) + 5);
    assert_int_equal(ideal->peak_process_rss,
                     (1ull << 63) + 5 - glibc->final_rss + ideal->final_rss);
    as_engine_free(e);

    evseq_t q2 = {0};
    MALLOC(&q2, 0, 4096);
    SAMPLE(&q2, UINT64_MAX, 0, 0, 0);       /* + the model's RSS: saturates */
    SAMPLE(&q2, 1u << 20, 2u << 20, 0, 0);  /* tracer above RSS: no non-heap bytes */
    e = evseq_run(&q2, SPECS, 2, AS_TOUCH_ALL, 1);
    assert_non_null(e);
    ideal = as_engine_result(e, 0);
    glibc = as_engine_result(e, 1);
    assert_int_equal(ideal->peak_process_rss, UINT64_MAX - glibc->final_rss);
    assert_int_equal(glibc->peak_process_rss, UINT64_MAX - glibc->final_rss);
    size_t np;
    const as_series_point_t *sp = as_engine_series(e, 1, &np);
    assert_int_equal(sp[np - 1].process_rss, 0);   /* 0 - heap + heap */
    as_engine_free(e);
}

/* A trace header's page size is whatever the file says: one the space
 * refuses (outside [AS_SPACE_PAGE_MIN, AS_SPACE_PAGE_MAX], not a power of
 * two) fails the create with a reason, leaking nothing (the instance list
 * leaked: fuzz_replay). */
static void odd_page_sizes_refused(void **state)
{
    (void)state;
    as_instance_t in[2];
    char err[512];
    static const char *const specs[] = {"glibc", "ideal"};
    assert_int_equal(evseq_parse(specs, 2, in), 0);
    as_engine_opts_t o = {.jobs = 1};
    static const uint32_t pages[] = {1u << 30, 3000, AS_SPACE_PAGE_MAX * 2, 2048};
    for (size_t i = 0; i < 4; i++) {
        as_model_ctx_t ctx = {.page_size = pages[i], .ncpus = 1};
        err[0] = 0;
        assert_null(as_engine_create(&o, in, 2, &ctx, err, sizeof err));
        assert_non_null(strstr(err, "-byte-page address space"));
    }
    as_model_ctx_t ctx = {.page_size = AS_SPACE_PAGE_MAX, .ncpus = 1};
    as_engine_t *e = as_engine_create(&o, in, 2, &ctx, err, sizeof err);
    assert_non_null(e);
    as_engine_free(e);
}

static void jw_measures_and_process_rss(void **state)
{
    (void)state;
    evseq_t q = {0};
    /* ideal: live 8192 then 4096: RSS == live, all measures 0. */
    MALLOC(&q, 0, 4096);
    MALLOC(&q, 1, 4096);
    q.t = 5000000;                             /* 5 ms */
    SAMPLE(&q, 10 << 20, 1 << 20, 3 << 20, 0); /* process 10 MiB, tracer 1, heap 3 */
    FREE(&q, 0);
    SAMPLE(&q, 9 << 20, 1 << 20, 2 << 20, 0);
    as_engine_t *e = evseq_run(&q, ID, 1, AS_TOUCH_ALL, 1);
    const as_result_t *r = as_engine_result(e, 0);
    for (int i = 0; i < 4; i++)
        assert_double_equal(r->jw[i], 0.0, 1e-12);
    /* The real heap's resident bytes are the reference glibc's RSS: its
     * tcache (592-byte chunk), the two 4112-byte chunks and the top header
     * end at 8816 + 16 bytes: 3 pages, before and after the free (the freed
     * chunk goes to the unsorted bin, whose links lie on written pages).
     * 10 - 1 MiB - 12288 + 8192 model bytes, then 9 - 1 MiB - 12288 + 4096. */
    assert_int_equal(r->peak_process_rss, (9u << 20) - 4096);
    size_t ns;
    const as_series_point_t *sp = as_engine_series(e, 0, &ns);
    assert_int_equal(sp[ns - 1].process_rss, (8u << 20) - 8192);
    assert_int_equal(sp[0].process_rss, AS_RESULT_NULL);   /* before any sample */
    as_engine_free(e);

    /* mmap-threshold: RSS 4096 for live 100, then 8192 for 100 + 4000. */
    evseq_t p = {0};
    MALLOC(&p, 0, 100);
    MALLOC(&p, 1, 4000);
    FREE(&p, 1);
    e = evseq_run(&p, MT, 1, AS_TOUCH_ALL, 1);
    r = as_engine_result(e, 0);
    assert_int_equal(r->peak_rss, 8192);
    assert_int_equal(r->peak_live, 4100);
    /* #1: sum RSS / sum live - 1 over the three events. */
    assert_double_equal(r->jw[0], (4096.0 + 8192 + 8192) / (100.0 + 4100 + 100) - 1, 1e-12);
    assert_double_equal(r->jw[1], 8192.0 / 4100 - 1, 1e-12);
    assert_double_equal(r->jw[2], 8192.0 / 4100 - 1, 1e-12);
    assert_double_equal(r->jw[3], 8192.0 / 4100 - 1, 1e-12);
    assert_int_equal(r->peak_process_rss, AS_RESULT_NULL);
    size_t n;
    const as_series_point_t *s = as_engine_series(e, 0, &n);
    assert_true(n >= 2);
    assert_int_equal(s[n - 1].event, 2);
    as_engine_free(e);
}

static void threads_match_single(void **state)
{
    (void)state;
    static evseq_t q;                          /* big: off the stack */
    memset(&q, 0, sizeof q);
    uint32_t x = 12345;
    for (int i = 0; i < 240; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t id = (x >> 8) % 24;
        ev_add(&q, AS_OP_FREE, id, 0);       /* placeholder, rewritten below */
        q.n--;
        /* alternate: allocate ids 0..23 then free some, deterministically */
        if (i < 24)
            MALLOC(&q, (uint32_t)i, (x >> 4) % 300000);
        else if (i % 2)
            FREE(&q, (uint32_t)(i % 24));
        else
            MALLOC(&q, (uint32_t)((i - 1) % 24), (x >> 6) % 200000);
    }
    const char *const specs[] = {"ideal", "mmap-threshold", "mmap-threshold:mmap_threshold=64K",
                                 "mmap-threshold:mmap_max=0", "mmap-threshold:top_pad=0"};
    as_engine_t *a = evseq_run(&q, specs, 5, AS_TOUCH_ALL, 1);
    as_engine_t *b = evseq_run(&q, specs, 5, AS_TOUCH_ALL, 2);
    as_engine_t *c = evseq_run(&q, specs, 5, AS_TOUCH_ALL, 5);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    for (size_t i = 0; i < 5; i++) {
        assert_memory_equal(as_engine_result(a, i), as_engine_result(b, i), sizeof(as_result_t));
        assert_memory_equal(as_engine_result(a, i), as_engine_result(c, i), sizeof(as_result_t));
    }
    /* Different settings do give different answers on this sequence. */
    assert_true(as_engine_result(a, 1)->peak_rss != as_engine_result(a, 3)->peak_rss);
    as_engine_free(a);
    as_engine_free(b);
    as_engine_free(c);
}

/* Any source but as_engine_reader_next is read an event at a time (fill),
 * so this wrapper sends the trace down that path, with addresses. */
static int reader_one(void *r, as_event_t *ev) { return as_reader_next(r, ev); }

static as_engine_t *run_trace(const char *path, const char *const *specs, size_t n,
                              unsigned jobs, int runs)
{
    as_instance_t in[8];
    char err[512];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(as_model_parse_spec(specs[i], &in[i].model, &in[i].params, err,
                                             sizeof err), 0);
    as_err_t oe;
    as_reader_t *r = as_reader_open_flags(path, runs ? AS_READ_NO_ADDR : 0, &oe);
    assert_non_null(r);
    const as_header_t *h = as_reader_header(r);
    as_engine_opts_t o = {.touch = AS_TOUCH_ALL, .jobs = jobs, .series_points = 64};
    as_model_ctx_t ctx = {.page_size = h->page_size, .ncpus = h->ncpus};
    as_engine_t *e = as_engine_create(&o, in, n, &ctx, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(as_engine_run(e, runs ? as_engine_reader_next : reader_one, r, err,
                                   sizeof err), 0);
    as_reader_close(r);
    return e;
}

static void reader_runs_match_events(void **state)
{
    (void)state;
    const char *const specs[] = {"ideal", "mmap-threshold", "glibc"};
    char path[640];
    const char *name;
    for (size_t t = 0; (name = as_test_trace_name(t)); t++) {
        assert_int_equal(as_test_trace_path(path, sizeof path, __FILE__, name), 0);
        assert_int_equal(access(path, R_OK), 0);
        as_engine_t *a = run_trace(path, specs, 3, 1, 0);
        as_engine_t *b = run_trace(path, specs, 3, 1, 1);
        as_engine_t *c = run_trace(path, specs, 3, 2, 1);
        assert_int_equal(as_engine_events(a), as_engine_events(b));
        assert_int_equal(as_engine_events(a), as_engine_events(c));
        for (size_t i = 0; i < 3; i++) {
            assert_memory_equal(as_engine_result(a, i), as_engine_result(b, i), sizeof(as_result_t));
            assert_memory_equal(as_engine_result(a, i), as_engine_result(c, i), sizeof(as_result_t));
            size_t na, nb;
            const as_series_point_t *sa = as_engine_series(a, i, &na), *sb = as_engine_series(b, i, &nb);
            assert_int_equal(na, nb);
            assert_memory_equal(sa, sb, na * sizeof *sa);
        }
        as_engine_free(a);
        as_engine_free(b);
        as_engine_free(c);
    }
}

/* Instances 1..n-1 of e have instance 0's results, series and ticks. */
static void same_as_first(const as_engine_t *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        assert_memory_equal(as_engine_result(e, 0), as_engine_result(e, i), sizeof(as_result_t));
        size_t na, nb;
        const as_series_point_t *sa = as_engine_series(e, 0, &na), *sb = as_engine_series(e, i, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(sa, sb, na * sizeof *sa);
        const as_tick_t *ta = as_engine_ticks(e, 0, &na), *tb = as_engine_ticks(e, i, &nb);
        assert_int_equal(na, nb);
        if (na)
            assert_memory_equal(ta, tb, na * sizeof *ta);
    }
}

/* The prefetch hook is a hint only: mmap-threshold with it, without it, and
 * with it wrapped to count the calls (so it is known to be exercised) give
 * the same results and series. */
static const as_model_t *hinted;
static uint64_t hints;

static void count_prefetch(const void *m, uint32_t thread, uint64_t addr)
{
    hints++;
    hinted->prefetch(m, thread, addr);
}

static void prefetch_changes_nothing(void **state)
{
    (void)state;
    hinted = as_model_find("mmap-threshold");
    assert_non_null(hinted);
    assert_non_null(hinted->prefetch);
    as_model_t plain = *hinted, counted = *hinted;
    plain.prefetch = NULL;
    counted.prefetch = count_prefetch;
    const as_model_t *models[] = {hinted, &plain, &counted};
    char path[640], err[512];
    for (size_t t = 0; t < 3; t++) {   /* churn, threads, fragdemo: the C workloads */
        assert_int_equal(as_test_trace_path(path, sizeof path, __FILE__, as_test_trace_name(t)), 0);
        as_instance_t in[3];
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_threshold=64K", &in[i].model,
                                                 &in[i].params, err, sizeof err), 0);
            in[i].model = models[i];
        }
        as_err_t oe;
        as_reader_t *r = as_reader_open_flags(path, AS_READ_NO_ADDR, &oe);
        assert_non_null(r);
        const as_header_t *h = as_reader_header(r);
        as_engine_opts_t o = {.touch = AS_TOUCH_ALL, .jobs = 1, .series_points = 64};
        as_model_ctx_t ctx = {.page_size = h->page_size, .ncpus = h->ncpus};
        as_engine_t *e = as_engine_create(&o, in, 3, &ctx, err, sizeof err);
        assert_non_null(e);
        hints = 0;
        assert_int_equal(as_engine_run(e, as_engine_reader_next, r, err, sizeof err), 0);
        as_reader_close(r);
        assert_true(hints > 1000);
        same_as_first(e, 3);
        as_engine_free(e);
    }
}

/* A model's plain method (sim/model.h) is its malloc and free in bulk, and
 * so are the engine's own runs for a model with a live method: with each
 * and with neither, the same results, series and ticks, on the C
 * workloads' traces and on a sequence of the events they must hand back
 * (realloc(p, 0), failed calls, unknown frees, an id past the engine's
 * table, a block past the live runs' bound)
 * between time changes, samples and a 4 GiB block. Counted, so each is
 * known to run. */
static const as_model_t *bulk;
static as_model_t bulk_off, bulk_counted, bulk_live;
static uint64_t bulk_events, bulk_failures, bulk_live_calls;

static uint64_t count_live(void *m, int64_t delta)
{
    bulk_live_calls += delta != 0;
    return bulk->live(m, delta);
}

static uint32_t count_plain(void *m, const as_hevent_t *ev, uint32_t n, as_block_t *blk,
                            uint64_t nblk, uint64_t touch, uint64_t *rss, uint64_t *mapped)
{
    uint32_t k = bulk->plain(m, ev, n, blk, nblk, touch, rss, mapped);
    bulk_events += k;
    bulk_failures += k && ev[k - 1].op == AS_OP_MALLOC && !blk[ev[k - 1].id].addr;
    return k;
}

/* Instances of one spec over a source: as registered, with neither plain
 * nor live method, and each of those it has counted, alone. */
static void plain_same(const char *spec, as_event_next_fn next, void *src,
                       const as_model_ctx_t *ctx, uint64_t tick_ns, as_touch_t touch)
{
    char err[512];
    as_instance_t in[4];
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(as_model_parse_spec(spec, &in[i].model, &in[i].params, err, sizeof err), 0);
    bulk = in[0].model;
    assert_true(bulk->plain || bulk->live);
    bulk_off = bulk_counted = bulk_live = *bulk;
    bulk_off.plain = NULL;
    bulk_off.live = NULL;
    bulk_counted.plain = count_plain;
    bulk_counted.live = NULL;
    bulk_live.plain = NULL;
    bulk_live.live = count_live;
    size_t n = 2;
    in[1].model = &bulk_off;
    if (bulk->plain)
        in[n++].model = &bulk_counted;
    if (bulk->live)
        in[n++].model = &bulk_live;
    as_engine_opts_t o = {.touch = touch, .jobs = 1, .series_points = 64, .tick_ns = tick_ns};
    as_engine_t *e = as_engine_create(&o, in, n, ctx, err, sizeof err);
    assert_non_null(e);
    bulk_events = bulk_failures = bulk_live_calls = 0;
    assert_int_equal(as_engine_run(e, next, src, err, sizeof err), 0);
    assert_true(!bulk->plain || bulk_events > 0);
    assert_true(!bulk->live || bulk_live_calls > 0);
    same_as_first(e, n);
    as_engine_free(e);
}

/* The events a plain method must hand back or handle with care, between
 * time changes, samples and a 4 GiB block. */
static void plain_edge_cases(evseq_t *q)
{
    memset(q, 0, sizeof *q);
    for (uint32_t i = 0; i < 40; i++)
        MALLOC(q, i, 1000 + i * 517);
    q->t = 5000000;
    FREE(q, 3);
    FREE(q, 7);
    MALLOC(q, 41, 1ull << 32);
    FREE(q, 5);
    FREE(q, 41);
    REALLOC(q, 8, 8, 0);                      /* realloc(p, 0) that did not free */
    FREE(q, 8);
    MALLOC(q, 50, 100)->flags = AS_EVF_FAILED;
    FREE(q, 60)->flags = AS_EVF_UNKNOWN;
    FREE(q, 61);                              /* never allocated */
    SAMPLE(q, 1 << 20, 0, 1 << 19, 0);
    MALLOC(q, 5000, 300);                     /* past the engine's table */
    MALLOC(q, 70, 1ull << 45);                /* past the live runs' bound */
    FREE(q, 70);
    q->t = 25000000;
    for (uint32_t i = 9; i < 30; i++) {
        FREE(q, i);
        MALLOC(q, 100 + i, 70000 - i * 999);
        q->t += 3000000;
    }
    FREE(q, 5000);
}

/* spec with and without its plain method on the C workloads' traces
 * (churn, threads, fragdemo). */
static void plain_same_on_traces(const char *spec, as_touch_t touch)
{
    char path[640];
    for (size_t t = 0; t < 3; t++) {
        assert_int_equal(as_test_trace_path(path, sizeof path, __FILE__, as_test_trace_name(t)), 0);
        as_err_t oe;
        as_reader_t *r = as_reader_open_flags(path, AS_READ_NO_ADDR, &oe);
        assert_non_null(r);
        const as_header_t *h = as_reader_header(r);
        as_model_ctx_t tc = {.page_size = h->page_size, .ncpus = h->ncpus};
        plain_same(spec, as_engine_reader_next, r, &tc, 0, touch);
        as_reader_close(r);
    }
}

static void plain_changes_nothing(void **state)
{
    (void)state;
    static evseq_t q;
    plain_edge_cases(&q);
    as_model_ctx_t ctx = {.page_size = 4096, .ncpus = 1};
    for (uint64_t tick = 0; tick <= 10000000; tick += 10000000) {
        q.i = 0;
        plain_same("ideal", evseq_next, &q, &ctx, tick, AS_TOUCH_ALL);
    }
    plain_same_on_traces("ideal", AS_TOUCH_ALL);
}

/* glibc's plain method, under each touch rule, at the defaults and with
 * neither tcache nor fastbins (so every call takes the full paths): the
 * edge cases above; threads with their own arenas and a thread first seen
 * in a run; mallocs that fail (a request past PTRDIFF_MAX, a mapping larger
 * than the address space, one over a live id, which must go to the
 * methods), frees of what failed; mmapped chunks and the threshold they
 * raise; calls that are not plain in between; and the traces. */
static void glibc_plain_changes_nothing(void **state)
{
    (void)state;
    static evseq_t q, g;
    plain_edge_cases(&q);
    memset(&g, 0, sizeof g);
    for (uint32_t i = 0; i < 48; i++)
        MALLOC(&g, i, 24 + (i % 7) * 200 + (i % 3) * 3000)->thread = i % 3;
    for (uint32_t i = 0; i < 48; i += 2)
        FREE(&g, i)->thread = (i / 2) % 4;
    g.t = 1000000;
    MALLOC(&g, 60, 1ull << 63);               /* fails: past PTRDIFF_MAX */
    FREE(&g, 60);                             /* of nothing: the engine's */
    MALLOC(&g, 61, 1ull << 46);               /* fails: no room for a 64 TiB mapping */
    MALLOC(&g, 1, 1ull << 63);                /* over a live id */
    MALLOC(&g, 62, 0);
    MALLOC(&g, 63, 300000)->thread = 1;       /* mmapped */
    FREE(&g, 63)->thread = 2;                 /* raises the threshold */
    MALLOC(&g, 64, 300000);                   /* now from the heap */
    CALLOC(&g, 65, 5000);
    ev_add(&g, AS_OP_MEMALIGN, 66, 3000)->arg = 4096;
    REALLOC(&g, 65, 67, 9000);
    ev_add(&g, AS_OP_MALLOC_TRIM, AS_NO_ID, 0);
    SAMPLE(&g, 8u << 20, 1u << 20, 1u << 20, 0);
    for (uint32_t i = 1; i < 48; i += 2) {
        FREE(&g, i)->thread = i % 3;
        MALLOC(&g, 100 + i, 100 + i * 37)->thread = 9;
    }
    FREE(&g, 64);
    FREE(&g, 62);
    FREE(&g, 1);
    static const char *const specs[] = {"glibc", "glibc:tcache_count=0,mxfast=0"};
    static const as_touch_t touches[] = {AS_TOUCH_ALL, AS_TOUCH_FIRST, AS_TOUCH_NONE};
    as_model_ctx_t ctx = {.page_size = 4096, .ncpus = 2};
    for (size_t s = 0; s < 2; s++)
        for (size_t t = 0; t < 3; t++) {
            q.i = 0;
            plain_same(specs[s], evseq_next, &q, &ctx, t ? 0 : 10000000, touches[t]);
            g.i = 0;
            plain_same(specs[s], evseq_next, &g, &ctx, t ? 10000000 : 0, touches[t]);
            assert_int_equal(bulk_failures, 2);
            plain_same_on_traces(specs[s], touches[t]);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mmap_threshold_exact_rss),
        cmocka_unit_test(edge_cases),
        cmocka_unit_test(sparse_id_costs_its_pages),
        cmocka_unit_test(ticks_in_order_when_time_goes_back),
        cmocka_unit_test(zgrow_keeps_and_zeroes),
        cmocka_unit_test(jw_measures_and_process_rss),
        cmocka_unit_test(process_rss_heap_mapped_not_resident),
        cmocka_unit_test(process_rss_peak_between_samples),
        cmocka_unit_test(process_rss_from_absurd_samples),
        cmocka_unit_test(odd_page_sizes_refused),
        cmocka_unit_test(process_rss_reference_takes_recorded_tunables),
        cmocka_unit_test(estimate_counts_reference_and_ring),
        cmocka_unit_test(threads_match_single),
        cmocka_unit_test(reader_runs_match_events),
        cmocka_unit_test(prefetch_changes_nothing),
        cmocka_unit_test(plain_changes_nothing),
        cmocka_unit_test(glibc_plain_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
