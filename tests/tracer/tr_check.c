/*
 * tests/tracer/tr_check.c — reads trace files written by the tracer tests and
 * prints or checks what the tests need, through the public reader (trace.h).
 *
 *   tr_check dump FILE        events between allocsim_mark("begin") and
 *                             ("end"), one canonical line each (no addresses:
 *                             ids are dense and deterministic), for goldens
 *   tr_check callsites FILE   "<count> <module basename>" per module that heap
 *                             events' callsites point into ("none" if none)
 *   tr_check stats FILE       key=value lines: events, per-op counts, threads,
 *                             unknown_frees, live_at_end, complete, truncated,
 *                             damaged, stop_reason, pid, ppid, samples, marks,
 *                             tracer_rss_max (the samples' largest)
 *   tr_check times FILE       "<size> <ms>" per malloc, "sample <ms>" per
 *                             sample: its time in the trace (ms since start)
 *   tr_check scan FILE        as_trace_scan's verdict and totals, key=value:
 *                             scan (as_err_t), events, chunks, end
 * Exit 0, or 2 with a message when the file cannot be read at all.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/trace.h"

static void flags_str(char *b, unsigned f)
{
    b[0] = 0;
    if (f & AS_EVF_FAILED) strcat(b, " failed");
    if (f & AS_EVF_FREED) strcat(b, " freed");
    if (f & AS_EVF_UNKNOWN) strcat(b, " unknown");
}

static void id_str(char *b, uint32_t id)
{
    if (id == AS_NO_ID) strcpy(b, "-");
    else snprintf(b, 16, "%u", id);
}

static int dump(as_reader_t *r)
{
    as_event_t ev;
    int on = 0, rc;
    while ((rc = as_reader_next(r, &ev)) > 0) {
        if (ev.op == AS_OP_MARK && ev.name) {
            if (!strcmp(ev.name, "begin")) { on = 1; continue; }
            if (!strcmp(ev.name, "end")) { on = 0; continue; }
        }
        if (!on || ev.op == AS_OP_SAMPLE)
            continue;
        char f[64], id[16], old[16];
        flags_str(f, ev.flags);
        id_str(id, ev.id);
        id_str(old, ev.old_id);
        printf("%s id=%s old=%s size=%" PRIu64 " arg=%" PRIu64, as_op_name(ev.op), id, old,
               ev.size, ev.arg);
        if (ev.op == AS_OP_MALLOC_TRIM || ev.op == AS_OP_MALLOPT)
            printf(" arg2=%" PRId64, ev.arg2);
        if (ev.op == AS_OP_MARK)
            printf(" name=%s", ev.name ? ev.name : "");
        printf("%s\n", f);
    }
    return rc < 0 ? 2 : 0;
}

static int times(as_reader_t *r)
{
    as_event_t ev;
    int rc;
    while ((rc = as_reader_next(r, &ev)) > 0)
        if (ev.op == AS_OP_MALLOC)
            printf("%" PRIu64 " %.3f\n", ev.size, (double)ev.time_ns / 1e6);
        else if (ev.op == AS_OP_SAMPLE)
            printf("sample %.3f\n", (double)ev.time_ns / 1e6);
    return rc < 0 ? 2 : 0;
}

static int stats(as_reader_t *r)
{
    const as_header_t *h = as_reader_header(r);
    uint64_t count[AS_OP_LIMIT] = {0}, live = 0, maxthread = 0, failed = 0, tracer_rss = 0;
    as_event_t ev;
    int rc;
    while ((rc = as_reader_next(r, &ev)) > 0) {
        if (ev.op < AS_OP_LIMIT)
            count[ev.op]++;
        if (ev.thread + 1 > maxthread)
            maxthread = ev.thread + 1;
        if (ev.op == AS_OP_SAMPLE && ev.sample && ev.sample->tracer_rss > tracer_rss)
            tracer_rss = ev.sample->tracer_rss;
        if (ev.flags & AS_EVF_FAILED) {
            failed++;
            continue;
        }
        if (as_op_allocates(ev.op) && ev.id != AS_NO_ID)
            live++;
        if (ev.old_id != AS_NO_ID && live)
            live--;
        if ((ev.op == AS_OP_FREE || ev.op == AS_OP_FREE_SIZED ||
             ev.op == AS_OP_FREE_ALIGNED_SIZED) && ev.id != AS_NO_ID && live)
            live--;
        if (ev.op == AS_OP_REALLOC && (ev.flags & AS_EVF_FREED) && ev.id != AS_NO_ID && live)
            live--;
    }
    as_read_stats_t s;
    as_reader_stats(r, &s);
    printf("events=%" PRIu64 "\n", s.events);
    for (unsigned op = 1; op < AS_OP_LIMIT; op++)
        if (as_op_name(op))
            printf("%s=%" PRIu64 "\n", as_op_name(op), count[op]);
    printf("failed=%" PRIu64 "\nthreads=%" PRIu64 "\nunknown_frees=%" PRIu64
           "\nlive_at_end=%" PRIu64 "\ncomplete=%d\ntruncated=%d\ndamaged=%" PRIu64
           "\nchunks=%" PRIu64 "\nstop_reason=%u\npid=%" PRId64 "\nppid=%" PRId64
           "\nrepairs=%" PRIu64 "\nread_error=%d\ntracer_rss_max=%" PRIu64 "\n",
           failed, maxthread, s.unknown_frees, live, s.complete, s.truncated,
           s.chunks_damaged, s.chunks, h->stop_reason, h->pid, h->ppid, s.repairs, rc < 0,
           tracer_rss);
    return 0;
}

static int callsites(as_reader_t *r)
{
    enum { MAXM = 64 };
    char names[MAXM][128];
    uint64_t counts[MAXM] = {0}, none = 0;
    unsigned n = 0;
    as_event_t ev;
    int rc;
    while ((rc = as_reader_next(r, &ev)) > 0) {
        if (ev.op >= AS_OP_MMAP)
            continue;
        const char *mod = NULL, *bid;
        uint64_t off;
        if (!ev.callsite || as_reader_callsite(r, ev.callsite, &mod, &off, &bid) != 0 || !mod) {
            none++;
            continue;
        }
        const char *base = strrchr(mod, '/');
        base = base ? base + 1 : mod;
        unsigned k;
        for (k = 0; k < n; k++)
            if (!strcmp(names[k], base))
                break;
        if (k == n && n < MAXM)
            snprintf(names[n++], sizeof names[0], "%s", base);
        if (k < n)
            counts[k]++;
    }
    for (unsigned k = 0; k < n; k++)
        printf("%" PRIu64 " %s\n", counts[k], names[k]);
    printf("%" PRIu64 " none\n", none);
    return rc < 0 ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tr_check dump|stats|times|callsites|scan FILE\n");
        return 2;
    }
    if (!strcmp(argv[1], "scan")) {
        as_scan_t sc;
        as_err_t e = as_trace_scan(argv[2], &sc);
        printf("scan=%d\nevents=%" PRIu64 "\nchunks=%" PRIu64 "\nend=%d\n", (int)e,
               sc.events, sc.chunks, sc.end);
        return 0;
    }
    as_err_t err;
    as_reader_t *r = as_reader_open(argv[2], &err);
    if (!r) {
        fprintf(stderr, "tr_check: %s: %s\n", argv[2], as_strerror(err));
        return 2;
    }
    int rc = !strcmp(argv[1], "dump") ? dump(r)
           : !strcmp(argv[1], "times") ? times(r)
           : !strcmp(argv[1], "callsites") ? callsites(r) : stats(r);
    as_reader_close(r);
    return rc;
}
