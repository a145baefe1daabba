/*
 * tools/report.h — the one emitter for replay results (jemalloc emitter.h):
 * `allocsim replay` and `allocsim native` print through it, so text, JSON and
 * CSV share one schema, generated from AS_RESULT_FIELDS (replay/engine.h).
 *
 * JSON (stable; doc/REPLAY.md):
 *   {"trace": "...", "events": N, "results": [
 *     {"model": "mmap-threshold", "params": {"mmap_threshold": 65536, ...},
 *      "peak_rss": B, "peak_live": B, "peak_mapped": B, "peak_process_rss": B|null,
 *      "fragmentation": x, "jw": [m1, m2, m3, m4], "peak_event": i, "peak_time": s,
 *      ...every other AS_RESULT_FIELDS entry...}, ...]}
 * Several traces: a JSON array of such objects, one per trace.
 * CSV: header "trace,events,model,params,<fields...>,jw1,jw2,jw3,jw4"; params as
 * "k=v;k=v". Text: one aligned row per model x parameters, human sizes.
 */
#ifndef AS_REPORT_H
#define AS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "replay/engine.h"
#include "tools/cli.h"

typedef struct as_report_kv {
    const char *key;
    int64_t value;
    unsigned flags;           /* AS_PARAM_SIZE: human size in text */
    int dflt;                 /* 1: the model's default, not chosen by the user:
                                 text leaves it out (JSON/CSV show all) */
} as_report_kv_t;

typedef struct as_report_row {
    const char *model;        /* "glibc", "mmap-threshold", "native:glibc", ... */
    const as_report_kv_t *params;
    size_t nparams;
    const as_result_t *r;
} as_report_row_t;

typedef struct as_report_trace {
    const char *trace;        /* path as given */
    uint64_t events;
    const as_report_row_t *rows;
    size_t nrows;
} as_report_trace_t;

/* Several processes summed on the shared time axis (allocsim replay with
 * several traces): per instance, the peak of the sum of the processes' RSS,
 * at tick resolution. */
typedef struct as_report_sum {
    uint64_t tick_ns;
    uint64_t events;          /* all traces */
    const as_report_row_t *rows;  /* model + params per instance (r unused) */
    const uint64_t *peak_rss;
    const double *peak_time;  /* seconds since the earliest trace start */
    size_t n;
} as_report_sum_t;

/* Prints all traces in one document. */
void as_report_print(FILE *f, as_format_t fmt, const as_report_trace_t *t, size_t ntraces);
/* The same, followed by the sum (sum may be NULL). JSON: the array of trace
 * objects ends with {"sum_of": [paths], "tick": s, "events": N, "results":
 * [{"model", "params", "peak_rss", "peak_time"}]}; CSV: rows with trace
 * "(sum)" holding only peak_rss and peak_time; text: one more table. */
void as_report_print_sum(FILE *f, as_format_t fmt, const as_report_trace_t *t, size_t ntraces,
                         const as_report_sum_t *sum);

/* Time series CSV: header once (header != 0), then one line per point:
 * trace,model,params,event,time,rss,mapped,live,process_rss ("" if none). */
void as_report_series_header(FILE *f);
void as_report_series(FILE *f, const char *trace, const as_report_row_t *row,
                      const as_series_point_t *pts, size_t n);

/* Fills kv[] (at most AS_MAX_PARAMS) with a model's parameters: every
 * parameter, with its default when not set. Returns the count. */
size_t as_report_params(const as_model_t *m, const as_params_t *p, as_report_kv_t *kv);

#endif /* AS_REPORT_H */
