/* tests/replay/evseq.h — hand-written event sequences for the engine. */
#ifndef AS_TEST_EVSEQ_H
#define AS_TEST_EVSEQ_H

#include <string.h>

#include "replay/engine.h"
#include "sim/glibc_env.h"

typedef struct evseq {
    as_event_t ev[256];
    as_sample_t samples[16];
    size_t n, i, nsamples;
    uint64_t t;
    const char *malloc_env;   /* the header's malloc environment, NULL = none */
    uint64_t tick_ns;         /* evseq_run keeps ticks of this length, 0 = none */
    size_t malloc_env_len;
} evseq_t;

static inline as_event_t *ev_add(evseq_t *q, unsigned op, uint32_t id, uint64_t size)
{
    as_event_t *e = &q->ev[q->n];
    memset(e, 0, sizeof *e);
    e->seq = q->n;
    e->time_ns = q->t;
    e->op = (uint16_t)op;
    e->id = id;
    e->old_id = AS_NO_ID;
    e->size = size;
    q->n++;
    return e;
}

#define MALLOC(q, id, n) ev_add(q, AS_OP_MALLOC, id, n)
#define CALLOC(q, id, n) ev_add(q, AS_OP_CALLOC, id, n)
#define FREE(q, id) ev_add(q, AS_OP_FREE, id, 0)

static inline as_event_t *REALLOC(evseq_t *q, uint32_t old, uint32_t id, uint64_t n)
{
    as_event_t *e = ev_add(q, AS_OP_REALLOC, id, n);
    e->old_id = old;
    return e;
}

static inline as_event_t *SAMPLE(evseq_t *q, uint64_t rss, uint64_t tracer, uint64_t arena,
                                 uint64_t hblkhd)
{
    as_event_t *e = ev_add(q, AS_OP_SAMPLE, AS_NO_ID, 0);
    as_sample_t *s = &q->samples[q->nsamples++];
    memset(s, 0, sizeof *s);
    s->rss = rss;
    s->tracer_rss = tracer;
    s->arena = arena;
    s->hblkhd = hblkhd;
    e->sample = s;
    return e;
}

static inline int evseq_next(void *ctx, as_event_t *ev)
{
    evseq_t *q = ctx;
    if (q->i == q->n)
        return 0;
    *ev = q->ev[q->i++];
    return 1;
}

/* The instances of n specs into in[]; 0, or -1 if one does not parse. */
static inline int evseq_parse(const char *const *specs, size_t n, as_instance_t *in)
{
    char err[512];
    for (size_t i = 0; i < n; i++)
        if (as_model_parse_spec(specs[i], &in[i].model, &in[i].params, err, sizeof err))
            return -1;
    return 0;
}

/* Runs the specs over q; returns the engine (caller frees). */
static inline as_engine_t *evseq_run(evseq_t *q, const char *const *specs, size_t n,
                                     as_touch_t touch, unsigned jobs)
{
    as_instance_t in[16];
    char err[512];
    if (evseq_parse(specs, n, in))
        return NULL;
    as_engine_opts_t o = {.touch = touch, .jobs = jobs, .series_points = 64,
                          .tick_ns = q->tick_ns};
    as_params_t ref;   /* as tools/cmd_replay.c does with a trace's header */
    if (q->malloc_env &&
        as_glibc_env_params(as_model_find("glibc"), q->malloc_env, q->malloc_env_len, &ref))
        o.ref_params = &ref;
    as_model_ctx_t ctx = {.page_size = 4096, .ncpus = 1};
    as_engine_t *e = as_engine_create(&o, in, n, &ctx, err, sizeof err);
    if (!e)
        return NULL;
    q->i = 0;
    if (as_engine_run(e, evseq_next, q, err, sizeof err)) {
        as_engine_free(e);
        return NULL;
    }
    return e;
}

#endif
