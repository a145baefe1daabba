/*
 * replay/engine.h — the replay engine: one decode feeds many model instances.
 *
 * Events come from a callback (a trace reader, or a test's hand-written
 * sequence), are packed into fixed-size batches, and every instance consumes
 * every batch in order, on -j worker threads (each thread owns a share of the
 * instances; a batch slot is reused once all threads are done with it).
 * Per instance the engine keeps id -> simulated address and size (ids are
 * dense, so these are arrays that grow to the peak live count), applies the
 * user touch rule (sim/model.h header), and measures after every heap event.
 * peak_process_rss needs the real heap's resident bytes at each sample: a
 * reference `glibc` instance at its defaults provides them (a reported one
 * if there is one, else a hidden extra instance).
 * How each metric is computed: doc/REPLAY.md.
 *
 * The engine never prints; errors are a one-line message in err.
 */
#ifndef AS_ENGINE_H
#define AS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "replay/trace.h"
#include "sim/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the user writes after an allocation returns (never after calloc). */
typedef enum as_touch {
    AS_TOUCH_ALL = 0,         /* every byte of the block */
    AS_TOUCH_FIRST = 1,       /* the first byte: the page the block starts in */
    AS_TOUCH_NONE = 2         /* nothing: only the allocator's own writes */
} as_touch_t;

/* ---- Results (X-macro: struct, text, JSON, CSV from one list) -------------
 * X(name, kind, doc); kind U = uint64 bytes/count, D = double,
 * N = uint64 or null (AS_RESULT_NULL), S = seconds (double). The four
 * Johnstone & Wilson measures are jw[0..3] (JSON "jw": [m1, m2, m3, m4]). */
#define AS_RESULT_NULL UINT64_MAX
#define AS_RESULT_FIELDS(X)                                                               \
    X(peak_rss,         U, "largest predicted RSS (resident bytes of the model's space)") \
    X(peak_live,        U, "largest live requested bytes")                                 \
    X(peak_mapped,      U, "largest mapped bytes (brk heap + mappings)")                   \
    X(peak_process_rss, N, "largest predicted process RSS (needs ground-truth samples)")  \
    X(fragmentation,    D, "1 - live/RSS at the moment of peak RSS")                       \
    X(peak_event,       U, "index of the event after which RSS peaked (0-based)")         \
    X(peak_time,        S, "trace time of that event, seconds")                            \
    X(live_at_peak,     U, "live requested bytes at peak RSS")                             \
    X(rss_at_peak_live, U, "RSS at the moment of peak live bytes")                         \
    X(overhead,         U, "allocator overhead at peak RSS: RSS - live (0 if negative)")   \
    X(final_rss,        U, "RSS after the last event")                                     \
    X(final_live,       U, "live requested bytes after the last event")                   \
    X(unknown_frees,    U, "releases of blocks never seen allocated (no-ops)")            \
    X(failed_calls,     U, "calls that failed in the trace (no block created)")           \
    X(model_failures,   U, "allocations the model could not satisfy")

typedef struct as_result {
#define AS_X_RESULT_U(n) uint64_t n;
#define AS_X_RESULT_N(n) uint64_t n;
#define AS_X_RESULT_D(n) double n;
#define AS_X_RESULT_S(n) double n;
#define AS_X_RESULT(n, kind, doc) AS_X_RESULT_##kind(n)
    AS_RESULT_FIELDS(AS_X_RESULT)
#undef AS_X_RESULT
#undef AS_X_RESULT_U
#undef AS_X_RESULT_N
#undef AS_X_RESULT_D
#undef AS_X_RESULT_S
    double jw[4];             /* Johnstone & Wilson #1..#4, doc/REPLAY.md */
    as_model_stats_t model;   /* the model's own stats after the last event */
} as_result_t;

/* One point of the time series (--series). */
typedef struct as_series_point {
    uint64_t event;           /* event index */
    double time;              /* seconds */
    uint64_t rss, mapped, live;
    uint64_t process_rss;     /* AS_RESULT_NULL if no sample yet */
} as_series_point_t;

/* One tick of the shared time axis (as_engine_opts_t.tick_ns). */
typedef struct as_tick {
    uint64_t tick;            /* (time_base_ns + time) / tick_ns */
    uint64_t max_rss;         /* largest RSS within the tick */
    uint64_t end_rss;         /* RSS after the tick's last event */
} as_tick_t;

/* ---- Engine ---------------------------------------------------------------- */
typedef struct as_engine as_engine_t;

typedef struct as_instance {
    const as_model_t *model;
    as_params_t params;
} as_instance_t;

typedef struct as_engine_opts {
    as_touch_t touch;
    unsigned jobs;            /* worker threads; 0 = all online cores */
    unsigned series_points;   /* 0: no series; else at most this many points kept
                                 per instance (older points thinned 2:1) */
    /* Called from the decoding thread about every batch; may be NULL. */
    void (*progress)(void *ctx, uint64_t events);
    void *progress_ctx;
    /* Shared time axis (several processes): 0 = off; else the largest and the
     * last RSS in every tick of tick_ns nanoseconds of absolute time
     * (time_base_ns + event time) are kept, for summing processes. Last in
     * the struct, so positional initializers of the fields above stay valid. */
    uint64_t tick_ns;
    uint64_t time_base_ns;    /* the trace header's start_time_ns */
    /* 1: no predicted process RSS (peak_process_rss stays null), so no hidden
     * reference glibc instance runs beside a model that is not glibc. */
    int no_process_rss;
    /* The reference glibc's parameters: the malloc environment the traced
     * program started with (sim/glibc_env.h); NULL = glibc's defaults. */
    const as_params_t *ref_params;
} as_engine_opts_t;

/* Event source: 1 = *ev filled, 0 = end, < 0 = -as_err_t (fatal). */
typedef int (*as_event_next_fn)(void *ctx, as_event_t *ev);
/* Adapter for as_reader_t *. */
int as_engine_reader_next(void *reader, as_event_t *ev);

/* Creates every instance (model create on its own space). NULL on failure
 * with a one-line reason in err. */
as_engine_t *as_engine_create(const as_engine_opts_t *opts, const as_instance_t *inst,
                              size_t n, const as_model_ctx_t *ctx, char *err, size_t errlen);
/* Feeds every event of the source to every instance. Returns 0, or the
 * source's negative error (the results then cover what was read), or
 * -AS_ERR_NOMEM with err set. Call once. */
int as_engine_run(as_engine_t *e, as_event_next_fn next, void *src, char *err, size_t errlen);
uint64_t as_engine_events(const as_engine_t *e);
/* Reported instances: the n given to create. A hidden reference `glibc`
 * instance (doc/REPLAY.md, "Predicted process RSS") is never counted. */
size_t as_engine_count(const as_engine_t *e);
const as_result_t *as_engine_result(const as_engine_t *e, size_t i);
const as_series_point_t *as_engine_series(const as_engine_t *e, size_t i, size_t *n);
/* Ticks with at least one measured event, in order (tick_ns != 0). */
const as_tick_t *as_engine_ticks(const as_engine_t *e, size_t i, size_t *n);
void as_engine_free(as_engine_t *e);   /* NULL ok */

/* Rough memory one instance needs for a trace whose ids reach max_id
 * (engine tables + the model's per-block state + page bitmaps): used to
 * refuse a sweep that would not fit before starting. */
uint64_t as_engine_estimate(const as_model_t *m, uint64_t max_id, unsigned series_points);
/* The same for a whole run of as_engine_create(opts, in, nrep, ...): every
 * instance, the hidden reference glibc if one would run, and the ring of
 * decoded batches (up to 128 slots of ~0.6 MiB with -j 2 or more). */
uint64_t as_engine_estimate_run(const as_engine_opts_t *opts, const as_instance_t *in,
                                size_t nrep, uint64_t max_id);

#ifdef __cplusplus
}
#endif
#endif /* AS_ENGINE_H */
