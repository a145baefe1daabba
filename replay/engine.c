/*
 * replay/engine.c — one decode, many models (replay/engine.h; doc/REPLAY.md).
 *
 * The calling thread decodes events into fixed-size batches of compact
 * 32-byte records (16384 per batch; the reader writes runs of plain mallocs
 * and frees into them itself) in a ring of slots; each worker thread
 * runs its share of the model instances over every batch in order, one
 * instance over a window of 64 batches at a time (so its tables stay in
 * cache while events stream: a model's tables are megabytes, and every
 * window start reloads them), and a slot is refilled once every worker has
 * released it (a per-slot count, one mutex, two
 * condition variables: the cost is a lock round trip per batch per worker,
 * not per event). With one worker the decoder runs the models itself.
 *
 * Per instance, per event (issue 3 §1-§4):
 *   - an id -> (address, size) array (ids are dense and reused), anonymous
 *     memory grown with mremap, so only the pages written are resident;
 *   - the model's prefetch hint, if it has one, 4 events before a free or
 *     realloc, with the block's address;
 *   - if the model has a plain method, runs of plain mallocs and frees go
 *     to it in one call (it keeps the addresses, does the user's writes
 *     and returns RSS and mapped bytes per event), and the engine keeps
 *     sizes and live bytes and measures, per run when the run sets no peak;
 *   - edge cases: realloc(NULL, n) = malloc; realloc(p, 0) flagged FREED =
 *     free; AS_EVF_FAILED creates nothing; releases flagged AS_EVF_UNKNOWN
 *     are counted no-ops; MALLOC_TRIM, MALLOPT, THREAD_* go to control();
 *   - the touch rule after malloc/memalign/realloc (never calloc);
 *   - measures RSS, mapped and live bytes after every heap event, keeps the
 *     peaks and the Johnstone & Wilson sums (exact integers), a thinned
 *     time series, and its RSS at each ground-truth sample;
 *   - after the run, the predicted process RSS at each sample: recorded rss
 *     - tracer_rss - the real heap's resident bytes + the model's RSS. The
 *     real heap's resident bytes come from a reference `glibc` instance with
 *     the recorded malloc environment's tunables (else defaults) (validated within 1% of the real glibc, doc/ACCURACY.md),
 *     hidden from the results; mallinfo2's arena + hblkhd counts mapped,
 *     not resident, bytes (doc/REPLAY.md, "Predicted process RSS");
 *   - AS_DEBUG builds run model->check after every operation and abort.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "replay/engine.h"
#include "replay/zmem.h"

#define BATCH 16384u                      /* events per batch: 512 KiB of records */
#define BATCH_TIMES 1024u                 /* time changes per batch (ends it early) */
#define BATCH_SAMPLES 256u                /* samples per batch (ends it early) */
#define PREFETCH 16u                      /* events ahead whose id slots are prefetched */
#define AHEAD_FREE 4u                     /* events ahead a free's block is announced to the model */
#define WINDOW 64u                        /* batches an instance runs over in one go (ring: 2 x 34 MiB at -j2) */

enum { EV_SKIP = 0 };                     /* events no model sees (mmap, mark, ...) */

/* Compact event: the reader's own 32-byte form (as_reader_next_plain writes
 * straight into a batch), with two uses of size of the engine's: MALLOPT and
 * MALLOC_TRIM: arg2; SAMPLE: index into the batch's samples. */
typedef as_hevent_t cev_t;

typedef struct tchg {                     /* time changes inside a batch */
    uint32_t pos;
    uint64_t time_ns;
} tchg_t;

/* Events ahead whose id-table entry live_pass prefetches: that many
 * records past a batch's last stay readable (stale or zero, never events). */
#define LIVE_AHEAD 16u

typedef struct batch {
    cev_t ev[BATCH + LIVE_AHEAD];
    uint32_t n;
    uint32_t ntime, nsamples;
    tchg_t time[BATCH_TIMES];
    as_sample_t samples[BATCH_SAMPLES];
    uint64_t first;                       /* event index of ev[0] */
    uint64_t seq;                         /* batch number held (UINT64_MAX: none) */
    unsigned pending;                     /* workers still reading it */
    int last;                             /* no batch after this one */
} batch_t;

typedef struct inst {
    /* Cache-line aligned and padded: instances next to each other belong to
     * different workers (instance i runs on worker i % workers), and the
     * per-event writes (live, sums, peaks) must not share a line. */
    _Alignas(64) const as_model_t *model;
    void *m;
    as_space_t *space;
    as_block_t *ids;                      /* by id: one cache line per lookup */
    uint64_t cap;
    uint64_t touch;                       /* bytes the user writes from a new
                                             block's start (touch_limit) */
    uint64_t live;
    uint64_t time_ns;                     /* current trace time */
    /* J&W #1: exact sums (a double sum's add is a 4-cycle chain per event,
     * and it rounds once past 2^53) */
    unsigned __int128 sum_rss, sum_live;
    uint64_t *srss;                       /* RSS at each ground-truth sample */
    uint64_t *smax;                       /* largest RSS from that sample to the next */
    size_t nsrss, srss_cap;
    uint64_t imax;                        /* largest RSS since the latest sample */
    as_result_t r;
    as_series_point_t *series;
    size_t nseries, series_cap;
    uint64_t tick_ns, time_base;          /* shared time axis (0: off) */
    as_tick_t *ticks;
    size_t nticks, ticks_cap;
    uint64_t series_every, series_next;
    int nomem;
} inst_t;

struct as_engine {
    as_engine_opts_t o;
    uint32_t page;
    inst_t *inst;
    size_t n;
    unsigned nworkers;
    int threaded;                         /* -j >= 2: decode on the caller, models on workers */
    size_t nrep;                          /* reported instances: inst[0..nrep) */
    long ref;                             /* reference glibc instance, -1: none */
    int no_prss;                          /* opts.no_process_rss */
    struct psamp { uint64_t base, heap; } *samp; /* per sample: rss - tracer_rss, arena + hblkhd */
    size_t nsamp, samp_cap;
    int samp_nomem;
    uint64_t events;
    batch_t *ring;
    unsigned win, ring_n;                 /* window (batches), ring slots */
    pthread_mutex_t mu;
    pthread_cond_t ready, freed;
    int ran;
};

int as_engine_reader_next(void *reader, as_event_t *ev)
{
    return as_reader_next((as_reader_t *)reader, ev);
}

uint64_t as_engine_estimate(const as_model_t *m, uint64_t max_id, unsigned series_points)
{
    (void)m;
    /* Engine: address + size per id (16 B). Models: a hash slot at load 1/2
     * plus a tree node or chunk record per block (~96 B). Page bitmaps: a
     * 4 KiB leaf per touched 128 MiB, bounded by ~1 MiB for typical heaps. */
    return max_id * (16 + 96) + (uint64_t)series_points * sizeof(as_series_point_t) + (1u << 20);
}

/* A `glibc` instance with the reference's parameters (the recorded malloc
 * environment, or glibc's defaults) can serve as the reference. */
static int is_reference(const as_model_t *g, const as_params_t *ref, const as_instance_t *in)
{
    if (!g || in->model != g || in->params.set != (ref ? ref->set : 0))
        return 0;
    for (int i = 0; i < AS_MAX_PARAMS && g->params[i].name; i++)
        if (in->params.v[i] != (ref ? ref->v[i] : g->params[i].def))
            return 0;
    return 1;
}

/* The touch rule (--touch, REPLAY.md) as bytes the user writes from the
 * start of each new block, at most its size: all of it, its first byte, or
 * none (also for a model that accounts for user memory itself). The plain
 * method takes it as it is. */
static uint64_t touch_limit(as_touch_t touch, const as_model_t *m)
{
    if (touch == AS_TOUCH_NONE || (m->flags & AS_MODEL_F_OWN_TOUCH))
        return 0;
    return touch == AS_TOUCH_ALL ? UINT64_MAX : 1;
}

/* Workers, window and ring slots for n instances (hidden ones included)
 * at -j jobs (0: all online cores). */
static void plan(as_engine_t *e, unsigned jobs, size_t n)
{
    if (!jobs) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = c > 0 ? (unsigned)c : 1;
    }
    e->nworkers = jobs < n ? jobs : (unsigned)(n ? n : 1);
    /* With -j 2 and even one instance, decoding overlaps the model. */
    e->threaded = jobs >= 2 && n > 0;
    /* An instance runs over a window of batches before the next instance
     * takes its turn: events stream from memory (sequential, prefetched)
     * while the instance's own randomly accessed tables stay in cache. With
     * one instance per thread there is nothing to alternate with. */
    unsigned per = e->nworkers ? (unsigned)((n + e->nworkers - 1) / e->nworkers) : 1;
    e->win = per > 1 ? WINDOW : 1;
    e->ring_n = e->threaded ? (2 * e->win < 4 ? 4 : 2 * e->win) : e->win;
}

/* 1 if create would add a hidden reference instance (none of the nrep is
 * one), else 0; *g = the glibc model when there is to be a reference. */
static int needs_hidden_reference(const as_engine_opts_t *opts, const as_instance_t *in,
                                  size_t nrep, const as_model_t **g)
{
    *g = opts->no_process_rss ? NULL : as_model_find("glibc");
    if (!*g)
        return 0;
    for (size_t i = 0; i < nrep; i++)
        if (is_reference(*g, opts->ref_params, &in[i]))
            return 0;
    return 1;
}

uint64_t as_engine_estimate_run(const as_engine_opts_t *opts, const as_instance_t *in,
                                size_t nrep, uint64_t max_id)
{
    const as_model_t *g;
    int hidden = needs_hidden_reference(opts, in, nrep, &g);
    uint64_t need = 0;
    for (size_t i = 0; i < nrep; i++)
        need += as_engine_estimate(in[i].model, max_id, opts->series_points);
    if (hidden)
        need += as_engine_estimate(g, max_id, 0);
    as_engine_t e;
    plan(&e, opts->jobs, nrep + (size_t)hidden);
    return need + (uint64_t)e.ring_n * sizeof(batch_t);
}

as_engine_t *as_engine_create(const as_engine_opts_t *opts, const as_instance_t *in0,
                              size_t nrep, const as_model_ctx_t *ctx, char *err, size_t errlen)
{
    /* The reference instance for the predicted process RSS: a reported
     * glibc-at-defaults instance if there is one, else a hidden one appended
     * after the reported ones. Without a registered glibc model, none (the
     * prediction falls back to mallinfo2's mapped bytes). */
    const as_model_t *g;
    int hidden = needs_hidden_reference(opts, in0, nrep, &g);
    long ref = -1;
    for (size_t i = 0; i < nrep && g && ref < 0; i++)
        if (is_reference(g, opts->ref_params, &in0[i]))
            ref = (long)i;
    size_t n = nrep + (size_t)hidden;
    as_instance_t *in = malloc((n ? n : 1) * sizeof *in);
    as_engine_t *e = calloc(1, sizeof *e);
    void *ia = NULL;
    if (!in || !e || posix_memalign(&ia, 64, (n ? n : 1) * sizeof *e->inst)) {
        free(in);
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (nrep)
        memcpy(in, in0, nrep * sizeof *in);
    if (n > nrep) {
        ref = (long)nrep;
        memset(&in[ref], 0, sizeof in[ref]);
        in[ref].model = g;
        if (opts->ref_params)
            in[ref].params = *opts->ref_params;
        else
            for (int i = 0; i < AS_MAX_PARAMS && g->params[i].name; i++)
                in[ref].params.v[i] = g->params[i].def;
    }
    e->inst = memset(ia, 0, (n ? n : 1) * sizeof *e->inst);
    e->o = *opts;
    e->n = n;
    e->nrep = nrep;
    e->ref = ref;
    e->no_prss = opts->no_process_rss;
    e->page = ctx && ctx->page_size ? ctx->page_size : 4096;
    as_model_ctx_t c = ctx ? *ctx : (as_model_ctx_t){.page_size = 4096};
    if (!c.page_size)
        c.page_size = 4096;
    for (size_t i = 0; i < n; i++) {
        inst_t *s = &e->inst[i];
        s->model = in[i].model;
        s->touch = touch_limit(opts->touch, s->model);
        s->space = as_space_create(e->page);
        if (!s->space) {
            snprintf(err, errlen, "cannot create a %u-byte-page address space", e->page);
            free(in);   /* as on the paths below (the fuzzer's leak report) */
            as_engine_free(e);
            return NULL;
        }
        char why[256] = "";
        s->m = s->model->create(&in[i].params, s->space, &c, why, sizeof why);
        if (!s->m) {
            snprintf(err, errlen, "%s: %s", s->model->name, why[0] ? why : "cannot create the model");
            free(in);
            as_engine_free(e);
            return NULL;
        }
        s->r.peak_process_rss = AS_RESULT_NULL;
        if (i >= nrep)
            continue;                     /* the hidden reference: no series, no ticks */
        s->tick_ns = e->o.tick_ns;
        s->time_base = e->o.time_base_ns;
        if (e->o.series_points) {
            s->series_cap = e->o.series_points < 16 ? 16 : e->o.series_points;
            s->series = malloc(s->series_cap * sizeof *s->series);
            s->series_every = 1;
            if (!s->series) {
                snprintf(err, errlen, "out of memory");
                free(in);
                as_engine_free(e);
                return NULL;
            }
        }
    }
    free(in);
    plan(e, e->o.jobs, n);
    return e;
}

void as_engine_free(as_engine_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        inst_t *s = &e->inst[i];
        if (s->m && s->model->destroy)
            s->model->destroy(s->m);
        as_space_free(s->space);
        as_zfree(s->ids, s->cap, sizeof(as_block_t));
        free(s->srss);
        free(s->smax);
        free(s->series);
        free(s->ticks);
    }
    free(e->inst);
    free(e->samp);
    free(e->ring);
    free(e);
}

uint64_t as_engine_events(const as_engine_t *e) { return e->events; }
size_t as_engine_count(const as_engine_t *e) { return e->nrep; }
const as_result_t *as_engine_result(const as_engine_t *e, size_t i) { return &e->inst[i].r; }

const as_tick_t *as_engine_ticks(const as_engine_t *e, size_t i, size_t *n)
{
    *n = e->inst[i].nticks;
    return e->inst[i].ticks;
}

const as_series_point_t *as_engine_series(const as_engine_t *e, size_t i, size_t *n)
{
    *n = e->inst[i].nseries;
    return e->inst[i].series;
}

/* ---- Decoding into batches ---------------------------------------------------- */

static inline void pack(batch_t *b, const as_event_t *ev, uint64_t *last_time)
{
    cev_t *c = &b->ev[b->n];
    if (ev->time_ns != *last_time) {
        b->time[b->ntime].pos = b->n;
        b->time[b->ntime].time_ns = ev->time_ns;
        b->ntime++;
        *last_time = ev->time_ns;
    }
    c->op = (uint8_t)ev->op;
    c->flags = (uint8_t)ev->flags;
    c->thread = ev->thread;
    c->id = ev->id;
    c->old_id = ev->old_id;
    c->size = ev->size;
    c->arg = ev->arg;
    switch (ev->op) {
    case AS_OP_MALLOPT:
    case AS_OP_MALLOC_TRIM:
        c->size = (uint64_t)ev->arg2;
        break;
    case AS_OP_SAMPLE:
        if (ev->sample) {
            b->samples[b->nsamples] = *ev->sample;
            c->size = b->nsamples++;
        } else {
            c->op = EV_SKIP;
        }
        break;
    case AS_OP_MMAP: case AS_OP_MUNMAP: case AS_OP_MREMAP: case AS_OP_BRK: case AS_OP_SBRK:
    case AS_OP_FORK: case AS_OP_EXEC: case AS_OP_MARK:
        c->op = EV_SKIP;   /* application memory is outside the heap models */
        break;
    default:
        break;
    }
    b->n++;
}

/* Fills b; returns the source's last return value (1: more may follow). */
static int fill(as_engine_t *e, batch_t *b, as_event_next_fn next, void *src, uint64_t *last_time)
{
    as_event_t ev;
    int rc = 1;
    b->n = b->ntime = b->nsamples = 0;
    b->first = e->events;
    /* Room for one more time change and sample is kept, so pack never overflows. */
    while (b->n < BATCH && b->ntime < BATCH_TIMES && b->nsamples < BATCH_SAMPLES) {
        rc = next(src, &ev);
        if (rc <= 0)
            break;
        pack(b, &ev, last_time);
    }
    e->events += b->n;
    return rc;
}

/* fill for the reader adapter: runs of plain mallocs and frees come from
 * as_reader_next_plain straight into the batch (no as_event_t, no pack: one
 * call per run, not per event); anything else is read with as_reader_next
 * and packed. Same batches' events and return as fill. */
static int fill_reader(as_engine_t *e, batch_t *b, as_reader_t *r, uint64_t *last_time)
{
    as_event_t ev;
    int rc = 1;
    b->n = b->ntime = b->nsamples = 0;
    b->first = e->events;
    /* A run is at one time, so it adds at most one time change, like one
     * packed event: the room kept for pack suffices. (The reader ends a run
     * at a time item, so in practice the first event at a new time comes
     * through as_reader_next and pack.) */
    while (b->n < BATCH && b->ntime < BATCH_TIMES && b->nsamples < BATCH_SAMPLES) {
        uint64_t t;
        int k = as_reader_next_plain(r, &b->ev[b->n], BATCH - b->n, &t);
        if (k > 0) {
            if (t != *last_time) {
                b->time[b->ntime].pos = b->n;
                b->time[b->ntime].time_ns = t;
                b->ntime++;
                *last_time = t;
            }
            b->n += (uint32_t)k;
            continue;
        }
        rc = as_reader_next(r, &ev);
        if (rc <= 0)
            break;
        pack(b, &ev, last_time);
    }
    e->events += b->n;
    return rc;
}

/* ---- Running one instance over a batch ----------------------------------------- */

/* The id table: zero pages grown with mremap (replay/zmem.h). */
static int grow_ids(inst_t *s, uint64_t id)
{
    void *p = s->ids;
    if (as_zgrow(&p, &s->cap, id, sizeof(as_block_t), 1024))
        return -1;
    s->ids = p;
    return 0;
}

static void series_push(inst_t *s, uint64_t idx, uint64_t rss, uint64_t mapped)
{
    if (s->nseries == s->series_cap) {
        /* Thin 2:1 and halve the rate: memory stays bounded, shape stays. */
        size_t k = 0;
        for (size_t i = 0; i < s->nseries; i += 2)
            s->series[k++] = s->series[i];
        s->nseries = k;
        s->series_every *= 2;
    }
    as_series_point_t *p = &s->series[s->nseries++];
    p->event = idx;
    p->time = (double)s->time_ns / 1e9;
    p->rss = rss;
    p->mapped = mapped;
    p->live = s->live;
    /* Samples seen so far; replaced by that sample's predicted process RSS
     * once the run is over (process_rss()). */
    p->process_rss = s->nsrss;
    s->series_next = idx + s->series_every;
}

static void tick_note(inst_t *s, uint64_t rss)
{
    uint64_t t = (s->time_base + s->time_ns) / s->tick_ns;
    /* Ticks stay in order (engine.h): an event whose time went back (a
     * damaged or crafted trace) counts in the last tick. */
    if (s->nticks && t < s->ticks[s->nticks - 1].tick)
        t = s->ticks[s->nticks - 1].tick;
    if (!s->nticks || s->ticks[s->nticks - 1].tick != t) {
        if (s->nticks == s->ticks_cap) {
            size_t cap = s->ticks_cap ? s->ticks_cap * 2 : 1024;
            as_tick_t *n = realloc(s->ticks, cap * sizeof *n);
            if (!n) {
                s->nomem = 1;
                return;
            }
            s->ticks = n;
            s->ticks_cap = cap;
        }
        s->ticks[s->nticks++] = (as_tick_t){t, rss, rss};
        return;
    }
    as_tick_t *k = &s->ticks[s->nticks - 1];
    if (rss > k->max_rss)
        k->max_rss = rss;
    k->end_rss = rss;
}

/* After a heap event: the model's RSS and mapped bytes then. */
static inline void measure_with(inst_t *s, uint64_t idx, uint64_t rss, uint64_t mapped)
{
    as_result_t *r = &s->r;
    if (rss > s->imax)
        s->imax = rss;
    if (rss > r->peak_rss) {
        r->peak_rss = rss;
        r->peak_event = idx;
        r->peak_time = (double)s->time_ns / 1e9;
        r->live_at_peak = s->live;
    }
    if (s->live > r->peak_live) {
        r->peak_live = s->live;
        r->rss_at_peak_live = rss;
    }
    if (mapped > r->peak_mapped)
        r->peak_mapped = mapped;
    s->sum_rss += rss;
    s->sum_live += s->live;
    if (s->series && idx >= s->series_next)
        series_push(s, idx, rss, mapped);
    if (s->tick_ns)
        tick_note(s, rss);
}

static inline void measure(inst_t *s, uint64_t idx)
{
    measure_with(s, idx, as_space_resident(s->space), as_space_mapped(s->space));
}

static void user_touch(inst_t *s, uint64_t a, uint64_t n)
{
    if (a)
        as_space_touch(s->space, a, n < s->touch ? n : s->touch);
}

#ifdef AS_DEBUG
static void debug_check(inst_t *s, uint64_t idx)
{
    char why[256];
    if (s->model->check && s->model->check(s->m, why, sizeof why)) {
        fprintf(stderr, "allocsim: model %s invariant broken after event %llu: %s\n",
                s->model->name, (unsigned long long)idx, why);
        abort();
    }
}
#define DEBUG_CHECK(s, idx) debug_check(s, idx)
#else
#define DEBUG_CHECK(s, idx) ((void)0)
#endif

static void on_alloc(inst_t *s, uint64_t id, uint64_t a, uint64_t size)
{
    if (!a) {
        s->r.model_failures++;
        return;
    }
    /* A successful allocation always has an id, except in a damaged trace
     * (a realloc of nothing, not failed, with no new id): its block stays
     * the model's, untracked, rather than the table growing to 2^32 ids
     * (64 GiB). */
    if (id == AS_NO_ID)
        return;
    if (id >= s->cap && grow_ids(s, id)) {
        s->nomem = 1;
        return;
    }
    s->ids[id].addr = a;
    s->ids[id].size = size;
    s->live += size;
}

static int released(inst_t *s, uint32_t id, uint64_t *a)
{
    if (id == AS_NO_ID || id >= s->cap || !s->ids[id].addr)
        return 0;
    *a = s->ids[id].addr;
    s->ids[id].addr = 0;
    s->live -= s->ids[id].size;
    return 1;
}

/* The id whose block the event gives back (free, realloc), else AS_NO_ID. */
static inline uint32_t freed_id(const cev_t *c)
{
    switch (c->op) {
    case AS_OP_FREE:
    case AS_OP_FREE_SIZED:
    case AS_OP_FREE_ALIGNED_SIZED:
        return c->id;
    case AS_OP_REALLOC:
    case AS_OP_REALLOCARRAY:
        return c->old_id;
    default:
        return AS_NO_ID;
    }
}

/* Events per call of a model's plain method: its outputs stay in L1. In
 * debug builds one, so the model's check still runs after every event. */
#ifdef AS_DEBUG
#define PLAIN_RUN 1u
#else
#define PLAIN_RUN 256u
#endif
_Static_assert(PLAIN_RUN <= 256, "plain_done's 64-bit run sums need runs of at most 2^8 events");

/* The batch's time changes, followed event by event. */
typedef struct tcursor {
    uint32_t next, pos;                   /* next change, and the event it is at */
} tcursor_t;

static inline void time_at(inst_t *s, const batch_t *b, tcursor_t *t, uint32_t i)
{
    if (i == t->pos) {
        s->time_ns = b->time[t->next].time_ns;
        t->next++;
        t->pos = t->next < b->ntime ? b->time[t->next].pos : UINT32_MAX;
    }
}

/* The maxima and sums of a run of events [i, i + k) (plain_done, live_run),
 * and where its values are: live bytes after each event in live_at[], RSS
 * in rss[] or, if that is NULL, the live bytes plus d page-rounded
 * (live_run: the model's RSS is its live bytes, rounded; `mask` is the
 * page size - 1). */
typedef struct runsum {
    uint64_t top_rss, top_live, top_mapped, sum_rss, sum_live;
    const uint64_t *rss, *live_at;
    uint64_t d, mask;
} runsum_t;

static inline uint64_t run_rss(const runsum_t *rs, uint32_t j)
{
    return rs->rss ? rs->rss[j] : (rs->live_at[j] + rs->d + rs->mask) & ~rs->mask;
}

/* A run that sets a peak: measure_with, event by event, leaves each peak
 * at the first event that reaches the run's maximum, with the live bytes
 * (and the time) or the RSS there; so does this, from the run's values. */
static __attribute__((noinline)) void run_peaks(inst_t *s, const batch_t *b, tcursor_t *t,
                                                uint32_t i, const runsum_t *rs)
{
    as_result_t *r = &s->r;
    if (rs->top_live > r->peak_live) {
        uint32_t j = 0;
        while (rs->live_at[j] != rs->top_live)
            j++;
        r->peak_live = rs->top_live;
        r->rss_at_peak_live = run_rss(rs, j);
    }
    if (rs->top_rss > r->peak_rss) {
        uint32_t j = 0;
        while (run_rss(rs, j) != rs->top_rss)
            j++;
        while (t->pos <= i + j)       /* the trace's time at event i + j */
            time_at(s, b, t, t->pos);
        r->peak_rss = rs->top_rss;
        r->peak_event = b->first + i + j;
        r->peak_time = (double)s->time_ns / 1e9;
        r->live_at_peak = rs->live_at[j];
    }
}

/* The measures of a run of k > 0 events from event i whose maxima and
 * sums are rs and whose live bytes end at `live`, if it may be measured
 * from those alone: most runs reach no series point and keep no ticks,
 * and then the per-event bookkeeping (event index, time, peaks) is left
 * out; a run that sets a peak finds its event from the run's values.
 * Returns 0 if not: the caller measures each event. The sums of a run
 * are 64-bit: exact while every value is below 2^55 (PLAIN_RUN <= 2^8). */
static inline __attribute__((always_inline)) int
run_measures(inst_t *s, const batch_t *b, tcursor_t *t, uint32_t i, uint32_t k, uint64_t live,
             const runsum_t *rs)
{
    uint64_t last = b->first + i + k - 1;
    as_result_t *r = &s->r;
    if (!(!s->tick_ns && (!s->series || last < s->series_next)
          && (rs->top_rss | rs->top_live) >> 55 == 0))
        return 0;
    if (rs->top_rss > r->peak_rss || rs->top_live > r->peak_live)
        run_peaks(s, b, t, i, rs);
    s->live = live;
    s->imax = rs->top_rss > s->imax ? rs->top_rss : s->imax;
    r->peak_mapped = rs->top_mapped > r->peak_mapped ? rs->top_mapped : r->peak_mapped;
    s->sum_rss += rs->sum_rss;
    s->sum_live += rs->sum_live;
    while (t->pos < i + k)
        time_at(s, b, t, t->pos);
    DEBUG_CHECK(s, last);             /* debug runs are one event long */
    return 1;
}

/* Events [i, i + k) were handled by the model's plain method: the engine's
 * own part of a malloc or a free (sizes, live bytes; the model kept the
 * addresses), then the measures with the RSS and mapped bytes it gave. */
static void plain_done(inst_t *s, const batch_t *b, tcursor_t *t, uint32_t i, uint32_t k,
                       const uint64_t *rss, const uint64_t *mapped)
{
    /* restrict: the table's stores do not make the compiler reload s. */
    as_block_t *restrict ids = s->ids;
    const cev_t *ev = &b->ev[i];
    uint64_t live = s->live, live_at[PLAIN_RUN];
    runsum_t rs = {.rss = rss, .live_at = live_at};
    for (uint32_t j = 0; j < k; j++) {
        as_block_t *blk = &ids[ev[j].id];
        /* Selects, not a branch: mallocs and frees come in no order a
         * predictor learns. */
        uint64_t fm = -(uint64_t)(ev[j].op != AS_OP_MALLOC);   /* all ones for a free */
        uint64_t old = blk->size, sz = ev[j].size;
        blk->size = (sz & ~fm) | (old & fm);
        live += (sz & ~fm) - (old & fm);
        live_at[j] = live;
        rs.top_rss = rss[j] > rs.top_rss ? rss[j] : rs.top_rss;
        rs.top_live = live > rs.top_live ? live : rs.top_live;
        rs.top_mapped = mapped[j] > rs.top_mapped ? mapped[j] : rs.top_mapped;
        rs.sum_rss += rss[j];
        rs.sum_live += live;
    }
    if (!k || run_measures(s, b, t, i, k, live, &rs))
        return;
    for (uint32_t j = 0; j < k; j++) {
        time_at(s, b, t, i + j);
        s->live = live_at[j];
        DEBUG_CHECK(s, b->first + i + j);
        measure_with(s, b->first + i + j, rss[j], mapped[j]);
    }
}

/* live_run's pass over up to n events: the model's part (the handles) and
 * the engine's (sizes, live bytes after each event, into live_at[]).
 * Only what a loop can keep in registers: with the maxima and sums in it
 * too, the compiler kept the live bytes on the stack and each event waited
 * on a store-to-load forward. Out of line for the same reason. Returns how
 * many it took. */
static __attribute__((noinline)) uint32_t
live_pass(as_block_t *restrict ids, uint64_t cap, const cev_t *restrict ev, uint32_t n,
          uint64_t d, uint64_t *restrict live_at, uint64_t *livep)
{
    uint64_t live = *livep;
    const cev_t *c = ev, *end = ev + n;
    for (; c < end; c++, live_at++) {
        /* the table is read at random: its entry LIVE_AHEAD events ahead
         * is fetched (a hint: the record past the run's end is stale, an
         * id past the table, or no table yet, fetches nothing useful and
         * never faults; integer arithmetic, as there may be no such
         * object) */
        __builtin_prefetch((const void *)((uintptr_t)ids + ((uintptr_t)c[LIVE_AHEAD].id << 4)));
        uint64_t id = c->id;
        if (id >= cap)
            break;
        as_block_t *blk = &ids[id];
        uint64_t of = c->op | (uint64_t)c->flags << 8;      /* op, flags 0 */
        uint64_t fm = -(uint64_t)(of == AS_OP_FREE);        /* all ones for a free */
        uint64_t old = blk->size, sz = c->size;
        uint64_t nl = live + (sz & ~fm) - (old & fm);
        /* Bitwise, one branch: another op or flags, a free of a block
         * whose address is not its size's handle (a huge block's slot, a
         * block not live), a size or the model's live bytes past the bound */
        uint64_t bad = ((of != AS_OP_MALLOC) & ~fm)
                     | ((blk->addr ^ AS_LIVE_HANDLE(old)) & fm)
                     | (((sz & ~fm) | (nl + d)) / AS_LIVE_SIZE_MAX);
        if (bad)
            break;
        blk->size = (sz & ~fm) | (old & fm);
        blk->addr = AS_LIVE_HANDLE(sz) & ~fm;
        live = nl;
        *live_at = nl;
    }
    *livep = live;
    return (uint32_t)(c - ev);
}

/* Up to n plain events from event i for a model with a live method
 * (sim/model.h), the model's part and the engine's in one pass, the model
 * told the change once. Returns how many it took: it stops before an
 * event the contract leaves to the model's methods, or at once (0) if the
 * model is not in a state to start from. */
static uint32_t live_run(inst_t *s, const batch_t *b, tcursor_t *t, uint32_t i, uint32_t n)
{
    uint64_t mlive = s->model->live(s->m, 0);
    if (mlive >= AS_LIVE_SIZE_MAX)       /* UINT64_MAX: not now */
        return 0;
    uint64_t mask = as_space_page_size(s->space) - 1, live0 = s->live, live = live0;
    uint64_t d = mlive - live0, live_at[PLAIN_RUN];
    uint32_t k = live_pass(s->ids, s->cap, &b->ev[i], n, d, live_at, &live);
    if (!k)
        return 0;
    /* The maxima and sums, a pass with no chain but the sums: the RSS is
     * the model's live bytes page-rounded, and rounding is monotonic, so
     * the largest RSS is that of the largest live. */
    runsum_t rs = {.live_at = live_at, .d = d, .mask = mask};
    for (uint32_t j = 0; j < k; j++) {
        uint64_t l = live_at[j];
        rs.top_live = l > rs.top_live ? l : rs.top_live;
        rs.sum_live += l;
        rs.sum_rss += (l + d + mask) & ~mask;
    }
    rs.top_rss = rs.top_mapped = (rs.top_live + d + mask) & ~mask;
    s->model->live(s->m, (int64_t)(live - live0));
    if (run_measures(s, b, t, i, k, live, &rs))
        return k;
    for (uint32_t j = 0; j < k; j++) {
        uint64_t rss = (live_at[j] + d + mask) & ~mask;
        time_at(s, b, t, i + j);
        s->live = live_at[j];
        DEBUG_CHECK(s, b->first + i + j);
        measure_with(s, b->first + i + j, rss, rss);
    }
    return k;
}

/* Event i was a malloc that the plain method handled and that failed: as
 * one_event counts and measures it. */
static void plain_failed(inst_t *s, const batch_t *b, tcursor_t *t, uint32_t i, uint64_t rss,
                         uint64_t mapped)
{
    time_at(s, b, t, i);
    s->r.model_failures++;
    DEBUG_CHECK(s, b->first + i);
    measure_with(s, b->first + i, rss, mapped);
}


/* Event i of the batch through the dispatch on its op and the model's
 * methods, then the measures. Inlined into both loops of run_batch: the
 * plain loop's state must not cost the other loop registers (it did: 3%
 * more instructions for mmap-threshold). */
static inline __attribute__((always_inline)) void
one_event(const as_engine_t *e, inst_t *s, const batch_t *b, tcursor_t *tc, uint32_t i)
{
    const as_model_t *M = s->model;
    void *m = s->m;
    void (*prefetch)(const void *, uint32_t, uint64_t) = M->prefetch;
    const cev_t *c = &b->ev[i];
    uint64_t idx = b->first + i, a;
    /* The id table is read at random (ids are reused in any order): its
     * miss is known PREFETCH events ahead, so start it now. */
    if (i + PREFETCH < b->n) {
        const cev_t *f = &b->ev[i + PREFETCH];
        if (f->id < s->cap)
            __builtin_prefetch(&s->ids[f->id], 1);
        if (f->old_id < s->cap)
            __builtin_prefetch(&s->ids[f->old_id], 1);
    }
    /* A free's first read in the model (the block's entry in its
     * tables) is a miss too: announce the block AHEAD_FREE events ahead,
     * late enough that its id slot, prefetched above, has arrived. */
    if (prefetch && i + AHEAD_FREE < b->n) {
        const cev_t *f = &b->ev[i + AHEAD_FREE];
        uint32_t fid = freed_id(f);
        if (fid < s->cap && s->ids[fid].addr)
            prefetch(m, f->thread, s->ids[fid].addr);
    }
    time_at(s, b, tc, i);
    switch (c->op) {
    case EV_SKIP:
        return;
    case AS_OP_MALLOC:
        if (c->flags & AS_EVF_FAILED) { s->r.failed_calls++; return; }
        a = M->malloc(m, c->thread, c->size);
        user_touch(s, a, c->size);
        on_alloc(s, c->id, a, c->size);
        break;
    case AS_OP_CALLOC:
        if (c->flags & AS_EVF_FAILED) { s->r.failed_calls++; return; }
        a = M->calloc(m, c->thread, c->size);
        on_alloc(s, c->id, a, c->size);
        break;
    case AS_OP_VALLOC:
    case AS_OP_PVALLOC:
    case AS_OP_MEMALIGN:
    case AS_OP_POSIX_MEMALIGN:
    case AS_OP_ALIGNED_ALLOC: {
        if (c->flags & AS_EVF_FAILED) { s->r.failed_calls++; return; }
        uint64_t align = c->arg, size = c->size;
        if (c->op == AS_OP_VALLOC || c->op == AS_OP_PVALLOC)
            align = e->page;
        if (c->op == AS_OP_PVALLOC)
            size = (size + e->page - 1) & ~(uint64_t)(e->page - 1);
        a = M->memalign(m, c->thread, align, size);
        user_touch(s, a, size);
        on_alloc(s, c->id, a, size);
        break;
    }
    case AS_OP_REALLOC:
    case AS_OP_REALLOCARRAY: {
        if (c->flags & AS_EVF_FAILED) { s->r.failed_calls++; return; }
        uint64_t old;
        uint32_t oid = c->old_id;
        if (c->flags & AS_EVF_FREED) {         /* realloc(p, 0) that freed p */
            if (released(s, oid, &old))
                M->free(m, c->thread, old);
            else
                s->r.unknown_frees++;
            break;
        }
        if (oid == AS_NO_ID || (c->flags & AS_EVF_UNKNOWN)) {
            /* realloc(NULL, n), or of a block from before tracing: a new block. */
            if (oid != AS_NO_ID)
                s->r.unknown_frees++;
            a = M->malloc(m, c->thread, c->size);
            user_touch(s, a, c->size);
            on_alloc(s, c->id, a, c->size);
            break;
        }
        if (!released(s, oid, &old)) {
            s->r.unknown_frees++;
            a = M->malloc(m, c->thread, c->size);
        } else {
            a = c->size ? M->realloc(m, c->thread, old, c->size)
                        : M->realloc(m, c->thread, old, 1);
        }
        user_touch(s, a, c->size);
        on_alloc(s, c->id, a, c->size);
        break;
    }
    case AS_OP_FREE:
    case AS_OP_FREE_SIZED:
    case AS_OP_FREE_ALIGNED_SIZED:
        if ((c->flags & AS_EVF_UNKNOWN) || c->id == AS_NO_ID) {
            /* free(NULL) carries no id and is not "unknown". */
            if (c->flags & AS_EVF_UNKNOWN)
                s->r.unknown_frees++;
            return;
        }
        if (released(s, c->id, &a))
            M->free(m, c->thread, a);
        else
            s->r.unknown_frees++;
        break;
    case AS_OP_MALLOC_TRIM:
    case AS_OP_MALLOPT:
    case AS_OP_THREAD_START:
    case AS_OP_THREAD_EXIT:
        if (M->control) {
            as_event_t ev = {0};
            ev.seq = idx;
            ev.time_ns = s->time_ns;
            ev.op = c->op;
            ev.flags = c->flags;
            ev.thread = c->thread;
            ev.id = ev.old_id = AS_NO_ID;
            ev.arg = c->arg;
            ev.arg2 = (int64_t)c->size;
            M->control(m, &ev);
        }
        break;
    case AS_OP_SAMPLE:
        /* The prediction needs the reference instance's RSS at the same
         * sample: computed after the run (process_rss()). */
        if (s->nsrss == s->srss_cap) {
            size_t cap = s->srss_cap ? s->srss_cap * 2 : 256;
            uint64_t *na = realloc(s->srss, cap * sizeof *na);
            if (na)
                s->srss = na;
            uint64_t *nm = na ? realloc(s->smax, cap * sizeof *nm) : NULL;
            if (!nm) {
                s->nomem = 1;
                return;
            }
            s->smax = nm;
            s->srss_cap = cap;
        }
        if (s->nsrss)
            s->smax[s->nsrss - 1] = s->imax;
        s->imax = as_space_resident(s->space);
        s->srss[s->nsrss] = s->imax;
        s->smax[s->nsrss++] = s->imax;
        return;
    default:
        return;
    }
    DEBUG_CHECK(s, idx);
    measure(s, idx);
}

static void run_batch(const as_engine_t *e, inst_t *s, const batch_t *b)
{
    tcursor_t tc = {0, b->ntime ? b->time[0].pos : UINT32_MAX};
    if (!s->model->plain && !s->model->live) {
        for (uint32_t i = 0; i < b->n; i++)
            one_event(e, s, b, &tc, i);
        return;
    }
    /* Runs of plain events through live_run or the model's plain method;
     * the event it stops at (if any) goes through one_event. A plain run
     * may end with a malloc that failed: its table entry is still 0
     * (sim/model.h). */
    uint64_t prss[PLAIN_RUN], pmapped[PLAIN_RUN];
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t want, k;
        do {
            want = b->n - i < PLAIN_RUN ? b->n - i : PLAIN_RUN;
            if (s->model->live) {
                k = live_run(s, b, &tc, i, want);
                i += k;
                continue;
            }
            k = s->model->plain(s->m, &b->ev[i], want, s->ids, s->cap, s->touch, prss, pmapped);
            uint32_t ok = k;
            if (k && b->ev[i + k - 1].op == AS_OP_MALLOC && !s->ids[b->ev[i + k - 1].id].addr)
                ok--;
            plain_done(s, b, &tc, i, ok, prss, pmapped);
            if (ok < k)
                plain_failed(s, b, &tc, i + ok, prss[ok], pmapped[ok]);
            i += k;
        } while (k == want && i < b->n);
        if (i == b->n)
            break;
        one_event(e, s, b, &tc, i);
    }
}

/* Decoding thread, before the batch is handed to the instances: the
 * recorded part of every sample, in order. */
static void keep_samples(as_engine_t *e, const batch_t *b)
{
    for (uint32_t i = 0; i < b->nsamples; i++) {
        if (e->nsamp == e->samp_cap) {
            size_t cap = e->samp_cap ? e->samp_cap * 2 : 256;
            struct psamp *a = realloc(e->samp, cap * sizeof *a);
            if (!a) {
                e->samp_nomem = 1;
                return;
            }
            e->samp = a;
            e->samp_cap = cap;
        }
        /* A sample's fields are whatever the trace says: its tracer bytes
         * above its RSS count as 0 non-heap bytes, not 2^64 - x, and
         * mallinfo2's sum saturates. */
        const as_sample_t *sm = &b->samples[i];
        uint64_t heap = sm->arena + sm->hblkhd;
        e->samp[e->nsamp++] = (struct psamp){
            sm->rss > sm->tracer_rss ? sm->rss - sm->tracer_rss : 0,
            heap < sm->arena ? UINT64_MAX : heap};
    }
}

/* Predicted process RSS at sample k for instance s: the recorded process
 * without the tracer, minus the real heap's resident bytes (the reference
 * glibc instance's RSS; without one, mallinfo2's mapped bytes), plus the
 * model's RSS; clamped at 0 (and at 2^64 - 1). Unsigned: a crafted sample
 * of 2^63 bytes or more overflowed the int64_t sum this was (UBSan). */
static uint64_t prss_with(const as_engine_t *e, size_t k, uint64_t model_rss)
{
    uint64_t heap = e->ref >= 0 ? e->inst[e->ref].srss[k] : e->samp[k].heap;
    uint64_t base = e->samp[k].base, sum = base + model_rss;
    if (sum < base)
        sum = UINT64_MAX;
    return sum > heap ? sum - heap : 0;
}

static uint64_t prss_at(const as_engine_t *e, const inst_t *s, size_t k)
{
    return prss_with(e, k, s->srss[k]);
}

/* The peak: the process's non-heap bytes are known only at samples, the
 * model's RSS at every event. Between sample k and the next, the non-heap
 * part is taken as it was at k and the model's largest RSS in that interval
 * is added, so a heap peak that falls between two samples (a short program,
 * a brief spike) is not missed. */
static void process_rss(const as_engine_t *e, inst_t *s)
{
    size_t ns = e->nsamp;
    if (s->nsrss)
        s->smax[s->nsrss - 1] = s->imax;    /* close the last interval */
    if (s->nsrss < ns)
        ns = s->nsrss;
    if (e->ref >= 0 && e->inst[e->ref].nsrss < ns)
        ns = e->inst[e->ref].nsrss;
    s->r.peak_process_rss = AS_RESULT_NULL;
    if (e->no_prss)
        ns = 0;
    for (size_t k = 0; k < ns; k++) {
        uint64_t p = prss_with(e, k, s->smax[k]);
        if (s->r.peak_process_rss == AS_RESULT_NULL || p > s->r.peak_process_rss)
            s->r.peak_process_rss = p;
    }
    for (size_t i = 0; i < s->nseries; i++) {
        uint64_t seen = s->series[i].process_rss;
        s->series[i].process_rss = seen && seen <= ns ? prss_at(e, s, seen - 1) : AS_RESULT_NULL;
    }
}

static void finish(inst_t *s, uint64_t events)
{
    as_result_t *r = &s->r;
    r->final_rss = as_space_resident(s->space);
    r->final_live = s->live;
    r->overhead = r->peak_rss > r->live_at_peak ? r->peak_rss - r->live_at_peak : 0;
    r->fragmentation = r->peak_rss ? 1.0 - (double)r->live_at_peak / (double)r->peak_rss : 0.0;
    /* Johnstone & Wilson: footprint relative to live, minus one (doc/REPLAY.md). */
    r->jw[0] = s->sum_live > 0 ? (double)s->sum_rss / (double)s->sum_live - 1.0 : 0.0;
    r->jw[1] = r->peak_live ? (double)r->rss_at_peak_live / (double)r->peak_live - 1.0 : 0.0;
    r->jw[2] = r->live_at_peak ? (double)r->peak_rss / (double)r->live_at_peak - 1.0 : 0.0;
    r->jw[3] = r->peak_live ? (double)r->peak_rss / (double)r->peak_live - 1.0 : 0.0;
    if (s->model->stats)
        s->model->stats(s->m, &r->model);
    if (s->series && events && (!s->nseries || s->series[s->nseries - 1].event + 1 != events))
        series_push(s, events - 1, r->final_rss, as_space_mapped(s->space));
}

/* ---- Threads -------------------------------------------------------------------- */

typedef struct worker {
    as_engine_t *e;
    unsigned w;
    pthread_t tid;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *wk = arg;
    as_engine_t *e = wk->e;
    unsigned R = e->ring_n;
    for (uint64_t seq = 0;; seq += e->win) {
        unsigned k = 0;
        int last = 0;
        pthread_mutex_lock(&e->mu);
        while (k < e->win && !last) {
            batch_t *b = &e->ring[(seq + k) % R];
            while (b->seq != seq + k)
                pthread_cond_wait(&e->ready, &e->mu);
            last = b->last;
            k++;
        }
        pthread_mutex_unlock(&e->mu);
        for (size_t i = wk->w; i < e->n; i += e->nworkers)
            for (unsigned j = 0; j < k; j++)
                run_batch(e, &e->inst[i], &e->ring[(seq + j) % R]);
        pthread_mutex_lock(&e->mu);
        for (unsigned j = 0; j < k; j++)
            if (--e->ring[(seq + j) % R].pending == 0)
                pthread_cond_broadcast(&e->freed);
        pthread_mutex_unlock(&e->mu);
        if (last)
            return NULL;
    }
}

int as_engine_run(as_engine_t *e, as_event_next_fn next, void *src, char *err, size_t errlen)
{
    if (e->ran) {
        snprintf(err, errlen, "engine already ran");
        return -AS_ERR_ARG;
    }
    e->ran = 1;
    uint64_t last_time = 0;
    int rc = 1;
    /* The reader adapter is read in runs (fill_reader), any other source
     * an event at a time. */
    int runs = next == as_engine_reader_next;
#define FILL(b) (runs ? fill_reader(e, (b), (as_reader_t *)src, &last_time) \
                      : fill(e, (b), next, src, &last_time))
    if (!e->threaded) {
        e->ring = calloc(e->win, sizeof *e->ring);   /* see LIVE_AHEAD */
        if (!e->ring) {
            snprintf(err, errlen, "out of memory");
            return -AS_ERR_NOMEM;
        }
        while (rc > 0) {
            unsigned k = 0;
            while (k < e->win && rc > 0) {
                rc = FILL(&e->ring[k]);
                keep_samples(e, &e->ring[k++]);
                if (e->o.progress)
                    e->o.progress(e->o.progress_ctx, e->events);
            }
            for (size_t i = 0; i < e->n; i++)
                for (unsigned j = 0; j < k; j++)
                    run_batch(e, &e->inst[i], &e->ring[j]);
        }
    } else {
        unsigned R = e->ring_n;
        e->ring = calloc(R, sizeof *e->ring);
        worker_t *wk = calloc(e->nworkers, sizeof *wk);
        if (!e->ring || !wk) {
            free(wk);
            snprintf(err, errlen, "out of memory");
            return -AS_ERR_NOMEM;
        }
        for (unsigned i = 0; i < R; i++)
            e->ring[i].seq = UINT64_MAX;
        pthread_mutex_init(&e->mu, NULL);
        pthread_cond_init(&e->ready, NULL);
        pthread_cond_init(&e->freed, NULL);
        unsigned started = 0;
        for (; started < e->nworkers; started++) {
            wk[started].e = e;
            wk[started].w = started;
            if (pthread_create(&wk[started].tid, NULL, worker_main, &wk[started]))
                break;
        }
        if (started < e->nworkers) {
            /* Fewer threads than asked: the instances of the missing ones are
             * redistributed by running with the count that started. */
            e->nworkers = started;
        }
        for (uint64_t seq = 0; rc > 0 || seq == 0; seq++) {
            batch_t *b = &e->ring[seq % R];
            pthread_mutex_lock(&e->mu);
            while (b->pending)
                pthread_cond_wait(&e->freed, &e->mu);
            pthread_mutex_unlock(&e->mu);
            rc = started ? FILL(b) : 0;
            if (started)
                keep_samples(e, b);
            b->last = rc <= 0;
            b->pending = e->nworkers;
            pthread_mutex_lock(&e->mu);
            b->seq = seq;
            pthread_cond_broadcast(&e->ready);
            pthread_mutex_unlock(&e->mu);
            if (e->o.progress)
                e->o.progress(e->o.progress_ctx, e->events);
            if (b->last)
                break;
        }
        for (unsigned i = 0; i < started; i++)
            pthread_join(wk[i].tid, NULL);
        free(wk);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->ready);
        pthread_cond_destroy(&e->freed);
        if (!started) {
            snprintf(err, errlen, "cannot start worker threads");
            return -AS_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < e->n; i++) {
        finish(&e->inst[i], e->events);
        if (e->inst[i].nomem) {
            snprintf(err, errlen, "out of memory for %s's block table", e->inst[i].model->name);
            return -AS_ERR_NOMEM;
        }
    }
    if (e->samp_nomem) {
        snprintf(err, errlen, "out of memory for the ground-truth samples");
        return -AS_ERR_NOMEM;
    }
    for (size_t i = 0; i < e->nrep; i++)
        process_rss(e, &e->inst[i]);
    if (rc < 0)
        snprintf(err, errlen, "%s", as_strerror((as_err_t)-rc));
    return rc < 0 ? rc : 0;
}
