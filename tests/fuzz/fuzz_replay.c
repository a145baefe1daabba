/*
 * tests/fuzz/fuzz_replay.c — libFuzzer target for the replay engine
 * (replay/engine.c) and the models (sim/): any byte string as a trace,
 * replayed as `allocsim replay` would, through several model instances in
 * one run. Whatever the events say (frees of unknown ids, reallocs of
 * nothing, odd alignments, huge sizes, mallopt and malloc_trim with odd
 * values, thread indexes near the limit, time going backwards), the engine
 * and the models must not crash, hang, trip ASan/UBSan, allocate absurd
 * memory (ctest runs it with -malloc_limit_mb=128) or break a model's
 * invariants: the target is built with AS_DEBUG, so every model's check()
 * runs after every operation and aborts on a failure.
 *
 * An input is two configuration bytes, then (if c1 asks for it) a malloc
 * environment, then a trace in fuzz_reader's convention (fuzz_wrap.h: a
 * leading 'Z' or 'O' makes the rest a chunk's decoded payload):
 *   c0 bits 0-1  --touch all, first, none, all
 *      bit  2    -j 2 (decode on this thread, models on two workers), else -j 1
 *      bits 3-5  page size: the header's, 4K, 16K, 64K, 2K, 256K, 1M, 1G
 *      bits 6-7  recorded cpu count: the header's, 1, 3, 2^32 - 1
 *   c1 bit  0    events one at a time through a callback (the engine's
 *                fill/pack path), else the reader adapter (runs of plain
 *                events straight into batches)
 *      bit  1    a series of at most 16 points (thinned as it grows)
 *      bit  2    a shared time axis (1 ms ticks from the header's start)
 *      bit  3    no predicted process RSS (no hidden reference instance)
 *      bits 4-6  which instances run (see specs[] below)
 *      bit  7    a malloc environment follows: a length byte, then that
 *                many bytes (NUL-terminated here); else the header's. The
 *                reference glibc takes its parameters from it, as
 *                `allocsim replay` does.
 * A trace part whose first byte is 'E' is no trace but events, 12 bytes
 * each (next_direct below), fed to the engine through a callback: sizes,
 * alignments, threads, flags and mallopt values the fuzzer reaches without
 * learning the trace encoding; no header then (page size and cpu count 0
 * unless c0 gives them).
 * The seed corpus is fuzz_reader's, each file behind a few such prefixes,
 * and a few event strings. A longer run by hand, from the build dir after
 * ctest has made the corpus:
 *   nice fuzz_replay -max_total_time=600 -rss_limit_mb=2048 -malloc_limit_mb=128 \
 *        -timeout=10 -max_len=65536 NEWDIR tests/fuzz/corpus-replay
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replay/engine.h"
#include "sim/glibc_env.h"
#include "tests/fuzz/fuzz_wrap.h"

/* Model instances: the default glibc (the reference for the predicted
 * process RSS, unless an environment changes it), glibc with its caches,
 * arenas and thresholds at small or zero values, the mmap-threshold model
 * with a small threshold, and ideal. */
static const char *const specs[] = {
    "glibc",
    "glibc:mmap_threshold=4K,arena_max=1,tcache_count=0",
    "glibc:trim_threshold=0,top_pad=0,mmap_max=0,mxfast=0,tcache_max=0,arena_test=1,cores=1",
    "glibc:tcache_count=3,tcache_unsorted_limit=1,mmap_threshold=1G,trim_threshold=1G,top_pad=1M",
    "mmap-threshold:mmap_threshold=4K,trim_threshold=0,top_pad=0",
    "mmap-threshold",
    "ideal",
};
#define NSPECS (sizeof specs / sizeof specs[0])

/* c1 bits 4-6: a subset of specs[] (bit i: specs[i]); the first runs all. */
static const uint8_t sets[8] = {0x7f, 0x01, 0x02, 0x04, 0x08, 0x30, 0x40, 0x53};

static const uint32_t pages[8] = {0, 4096, 16384, 65536, 2048, 1u << 18, 1u << 20, 1u << 30};
static const uint32_t cpus[4] = {0, 1, 3, UINT32_MAX};

/* The reader, one event a call, as any callback source (not the adapter
 * the engine recognizes). */
static int next_one(void *r, as_event_t *ev)
{
    return as_reader_next((as_reader_t *)r, ev);
}

/* ---- Events straight from the input ('E' mode) ------------------------------
 * 12 bytes an event, any value the reader can deliver from a crafted chunk
 * (ids below its limit or none, any size, alignment, thread, flags, time
 * step, mallopt value or sample), without the encoding in between:
 *   0 op (ops[] below)   1 flags (low 4 bits)   2 time step, ms (signed)
 *   3 thread: below 0xf8 its low 3 bits, else threads[] near the limits
 *   4-5 id, 6-7 old_id: 0xffff none, 0xfffe the reader's largest id
 *   8-9 size, 10-11 arg: num() (arg of mallopt / malloc_trim: the signed
 *   byte 10; its value, the arg2, is then num(8-9)) */
static const uint16_t ops[32] = {
    AS_OP_MALLOC, AS_OP_MALLOC, AS_OP_MALLOC, AS_OP_MALLOC, AS_OP_FREE, AS_OP_FREE,
    AS_OP_FREE, AS_OP_FREE, AS_OP_CALLOC, AS_OP_REALLOC, AS_OP_REALLOC, AS_OP_REALLOCARRAY,
    AS_OP_MEMALIGN, AS_OP_POSIX_MEMALIGN, AS_OP_ALIGNED_ALLOC, AS_OP_VALLOC, AS_OP_PVALLOC,
    AS_OP_FREE_SIZED, AS_OP_FREE_ALIGNED_SIZED, AS_OP_MALLOC_TRIM, AS_OP_MALLOPT,
    AS_OP_MALLOPT, AS_OP_THREAD_START, AS_OP_THREAD_EXIT, AS_OP_THREAD_EXIT, AS_OP_SAMPLE,
    AS_OP_SAMPLE, AS_OP_MMAP, AS_OP_MUNMAP, AS_OP_MARK, AS_OP_FORK, 127,
};
static const uint32_t threads[8] = {8, 1000, AS_REPLAY_THREAD_LIMIT - 1, AS_REPLAY_THREAD_LIMIT,
                                    1u << 24, 0x80000000u, 0xfffffffeu, 0xffffffffu};

/* Two bytes as a 64-bit value: m << s (b[1] & 63 is s), less one with
 * bit 6, negated with bit 7 (sizes near 2^64, mallopt's negative values). */
static uint64_t num(const uint8_t *b)
{
    uint64_t v = (uint64_t)b[0] << (b[1] & 63);
    if (b[1] & 0x40)
        v--;
    return b[1] & 0x80 ? -v : v;
}

typedef struct direct {
    const uint8_t *p, *end;
    uint64_t t;
    as_sample_t sample;
} direct_t;

static int next_direct(void *ctx, as_event_t *ev)
{
    direct_t *d = ctx;
    if (d->end - d->p < 12)
        return 0;
    const uint8_t *b = d->p;
    d->p += 12;
    memset(ev, 0, sizeof *ev);
    d->t += (uint64_t)(int64_t)(int8_t)b[2] * 1000000;
    ev->time_ns = d->t;
    ev->op = ops[b[0] & 31];
    ev->flags = b[1] & 15;
    ev->thread = b[3] < 0xf8 ? b[3] & 7 : threads[b[3] & 7];
    uint32_t id = b[4] | (uint32_t)b[5] << 8, old = b[6] | (uint32_t)b[7] << 8;
    ev->id = id == 0xffff ? AS_NO_ID : id == 0xfffe ? AS_READER_ID_LIMIT - 1 : id;
    ev->old_id = old == 0xffff ? AS_NO_ID : old == 0xfffe ? AS_READER_ID_LIMIT - 1 : old;
    ev->size = num(b + 8);
    ev->arg = num(b + 10);
    switch (ev->op) {
    case AS_OP_MALLOPT:
    case AS_OP_MALLOC_TRIM:
        ev->arg = (uint64_t)(int64_t)(int8_t)b[10];
        ev->arg2 = (int64_t)ev->size;
        ev->id = ev->old_id = AS_NO_ID;
        break;
    case AS_OP_SAMPLE:
        d->sample = (as_sample_t){.rss = ev->size, .tracer_rss = ev->arg,
                                  .arena = num(b + 4), .hblkhd = num(b + 6)};
        ev->sample = &d->sample;
        ev->id = ev->old_id = AS_NO_ID;
        break;
    case AS_OP_MARK:
        ev->name = "fuzz";
        break;
    default:
        break;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static as_instance_t all[NSPECS];
    static int parsed;
    if (!parsed) {
        char err[512];
        for (size_t i = 0; i < NSPECS; i++)
            if (as_model_parse_spec(specs[i], &all[i].model, &all[i].params, err, sizeof err)) {
                fprintf(stderr, "fuzz_replay: %s: %s\n", specs[i], err);
                abort();
            }
        parsed = 1;
    }
    if (size < 2)
        return 0;
    uint8_t c0 = data[0], c1 = data[1];
    data += 2;
    size -= 2;
    char env[257];
    size_t envlen = 0;
    if (c1 & 0x80) {
        if (!size || size - 1 < data[0])
            return 0;
        envlen = data[0];
        memcpy(env, data + 1, envlen);
        env[envlen++] = 0;
        data += envlen;
        size -= envlen;
    }
    direct_t direct = {data + 1, data + size, 0, {0}};
    as_reader_t *r = NULL;
    static const as_header_t none;
    const as_header_t *h = &none;
    if (!size || data[0] != 'E') {
        const char *path = fuzz_trace_file(data, size, &size);
        as_err_t oe;
        if (!path || !(r = as_reader_open_flags(path, AS_READ_NO_ADDR, &oe)))
            return 0;
        h = as_reader_header(r);
    }

    /* as cmd_replay.c sets the engine up for one trace */
    as_model_ctx_t ctx = {.page_size = pages[(c0 >> 3) & 7] ? pages[(c0 >> 3) & 7] : h->page_size,
                          .ncpus = cpus[c0 >> 6] ? cpus[c0 >> 6] : h->ncpus};
    if (!ctx.page_size)
        ctx.page_size = 4096;
    static const as_touch_t touch[4] = {AS_TOUCH_ALL, AS_TOUCH_FIRST, AS_TOUCH_NONE, AS_TOUCH_ALL};
    as_engine_opts_t o = {.touch = touch[c0 & 3], .jobs = c0 & 4 ? 2 : 1};
    if (c1 & 2)
        o.series_points = 16;
    if (c1 & 4) {
        o.tick_ns = 1000000;
        o.time_base_ns = h->start_time_ns;
    }
    o.no_process_rss = (c1 >> 3) & 1;
    as_params_t refp;
    const as_model_t *gm = as_model_find("glibc");
    const char *menv = envlen ? env : h->malloc_env;
    size_t menvlen = envlen ? envlen : h->malloc_env_len;
    if (menv && as_glibc_env_params(gm, menv, menvlen, &refp))
        o.ref_params = &refp;
    as_instance_t in[NSPECS];
    size_t n = 0;
    for (size_t i = 0; i < NSPECS; i++)
        if (sets[(c1 >> 4) & 7] >> i & 1)
            in[n++] = all[i];

    char err[512];
    as_engine_t *e = as_engine_create(&o, in, n, &ctx, err, sizeof err);
    if (!e) {
        as_reader_close(r);
        return 0;
    }
    if (r)
        as_engine_run(e, c1 & 1 ? next_one : as_engine_reader_next, r, err, sizeof err);
    else
        as_engine_run(e, next_direct, &direct, err, sizeof err);
    /* What the engine reports must hold together whatever the events. */
    for (size_t i = 0; i < as_engine_count(e); i++) {
        const as_result_t *res = as_engine_result(e, i);
        if (res->peak_rss < res->final_rss || res->peak_live < res->final_live ||
            res->live_at_peak > res->peak_live || res->rss_at_peak_live > res->peak_rss) {
            fprintf(stderr, "fuzz_replay: %s: inconsistent results\n", in[i].model->name);
            abort();
        }
        size_t np, nt;
        const as_series_point_t *pts = as_engine_series(e, i, &np);
        const as_tick_t *tk = as_engine_ticks(e, i, &nt);
        if (np > (o.series_points ? 16u : 0u) || (nt && !o.tick_ns))
            abort();
        for (size_t k = 1; k < np; k++)
            if (pts[k].event <= pts[k - 1].event)
                abort();
        for (size_t k = 0; k < nt; k++)
            if (tk[k].end_rss > tk[k].max_rss)
                abort();
    }
    as_engine_free(e);
    as_reader_close(r);
    return 0;
}
