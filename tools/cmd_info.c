/*
 * tools/cmd_info.c — `allocsim info [--format text|json] TRACE…`: what a trace
 * holds and whether it is whole.
 *
 * Per file: the header, event counts per op, threads, duration, compressed
 * bytes per event, the exact peak of live requested bytes (a per-id size
 * table: ids pair every release with its allocation), the largest recorded
 * RSS sample, repairs, late runs, unknown frees, chunks decoded/damaged, truncation and
 * the stop reason. Then the totals over all files. The JSON keys are stable
 * and documented in doc/FORMAT.md ("allocsim info JSON").
 *
 * Damaged or truncated input: everything read from the intact chunks is
 * printed first, then "allocsim: FILE: problem" on stderr, exit 2.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "replay/trace.h"
#include "sim/glibc_env.h"
#include "tools/cli.h"

typedef struct info {
    const char *path;
    as_err_t open_err;          /* AS_OK if the file opened */
    int read_err;               /* a fatal read error (-as_err_t), 0 if none */
    as_header_t hdr;            /* copied; strings owned by the reader */
    as_reader_t *r;
    as_read_stats_t st;
    as_err_t problem;
    char detail[200];
    uint64_t ops[AS_OP_LIMIT];
    uint64_t threads, duration_ns, file_bytes;
    uint64_t peak_live, peak_rss;
    uint64_t null_frees;        /* free(NULL): recorded calls, no-ops */
    int writing;                /* its process is running and has it open */
} info_t;

static void usage(FILE *f)
{
    fputs("usage: allocsim info [--format text|json] TRACE...\n\n"
          "Summarize trace files: header, event counts per op, threads, duration,\n"
          "compressed bytes per event, peak live requested bytes (exact), recorded\n"
          "peak RSS, repairs, late events, unknown frees, free(NULL) calls, damaged or\n"
          "lost chunks.\n"
          "Several files (one per process) are summarized each, then in a table\n"
          "of one line per process (pid, parent, events, peak live, peak RSS,\n"
          "status, command line), then in total.\n\n"
          "  --format text|json   output format (default text; JSON keys: doc/FORMAT.md)\n"
          "  -h, --help           this help\n\n"
          "Exit status: 0 ok; 2 usage error, unreadable, damaged or truncated trace\n"
          "(what could be read is printed first).\n", f);
}

/* Reads the whole trace once. Memory: one size per block id (peak live count). */
static void scan(info_t *in)
{
    struct stat sb;
    if (stat(in->path, &sb) == 0)
        in->file_bytes = (uint64_t)sb.st_size;
    in->r = as_reader_open_flags(in->path, AS_READ_NO_ADDR, &in->open_err);  /* no address is shown */
    if (!in->r)
        return;
    in->hdr = *as_reader_header(in->r);
    uint64_t *size = NULL, live = 0;
    size_t cap = 0;
    uint8_t *seen = NULL;      /* thread indices seen */
    size_t seen_cap = 0;
    as_event_t ev;
    int k;
    while ((k = as_reader_next(in->r, &ev)) == 1) {
        in->ops[ev.op < AS_OP_LIMIT ? ev.op : 0]++;
        if (ev.time_ns > in->duration_ns)
            in->duration_ns = ev.time_ns;
        if (ev.thread >= seen_cap && ev.thread < (1u << 24)) {
            size_t n = seen_cap ? seen_cap : 64;
            while (n <= ev.thread)
                n *= 2;
            uint8_t *s = realloc(seen, n);
            if (s) {
                memset(s + seen_cap, 0, n - seen_cap);
                seen = s;
                seen_cap = n;
            }
        }
        if (ev.thread < seen_cap && !seen[ev.thread]) {
            seen[ev.thread] = 1;
            in->threads++;
        }
        if (ev.op == AS_OP_SAMPLE && ev.sample && ev.sample->rss > in->peak_rss)
            in->peak_rss = ev.sample->rss;
        /* live requested bytes: releases first (realloc's old block), then
         * the block created */
        int is_free = ev.op == AS_OP_FREE || ev.op == AS_OP_FREE_SIZED ||
                      ev.op == AS_OP_FREE_ALIGNED_SIZED;
        uint32_t rel = ev.op == AS_OP_REALLOC || ev.op == AS_OP_REALLOCARRAY ? ev.old_id
                       : is_free ? ev.id : AS_NO_ID;
        uint32_t cre = as_op_allocates(ev.op) ? ev.id : AS_NO_ID;
        if (is_free && ev.id == AS_NO_ID && !(ev.flags & AS_EVF_UNKNOWN))
            in->null_frees++;
        if (rel != AS_NO_ID && rel < cap) {
            live -= size[rel];
            size[rel] = 0;
        }
        if (cre != AS_NO_ID) {
            if (cre >= cap) {
                size_t n = cap ? cap : 1024;
                while (n <= cre)
                    n *= 2;
                uint64_t *s = realloc(size, n * sizeof *s);
                if (!s) {
                    k = -AS_ERR_NOMEM;
                    break;
                }
                memset(s + cap, 0, (n - cap) * sizeof *s);
                size = s;
                cap = n;
            }
            live -= size[cre];  /* nonzero only after damage lost a release */
            size[cre] = ev.size;
            live += ev.size;
            if (live > in->peak_live)
                in->peak_live = live;
        }
    }
    if (k < 0)
        in->read_err = k;
    free(size);
    free(seen);
    as_reader_stats(in->r, &in->st);
    in->problem = as_reader_problem(in->r, in->detail, sizeof in->detail);
    in->writing = !(in->hdr.flags & (AS_HDRF_COMPLETE | AS_HDRF_INCOMPLETE)) &&
                  as_cli_writing(in->path, in->hdr.pid);
}

static const char *options_text(uint32_t o, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", o & AS_OPT_CALLSITE ? "callsite " : "",
             o & AS_OPT_PYTHON ? "python " : "",
             o & AS_OPT_FOREIGN_MALLOC ? "foreign-malloc " : "", o & ~7u ? "other " : "");
    size_t n = strlen(buf);
    if (n)
        buf[n - 1] = 0;
    else
        snprintf(buf, len, "none");
    return buf;
}

/* NUL-separated strings (argv, the malloc environment): space-separated text,
 * or a JSON array. */
static void print_strings(FILE *f, const char *p, size_t len, int json)
{
    const char *end = p ? p + len : NULL;
    int first = 1;
    if (json)
        fputc('[', f);
    while (p && p < end) {
        size_t n = strnlen(p, (size_t)(end - p));
        if (n == 0 && p + 1 >= end)
            break;
        char *s = strndup(p, n);
        if (json) {
            fputs(first ? "" : ", ", f);
            as_cli_json_str(f, s ? s : "");
        } else {
            fprintf(f, "%s%s", first ? "" : " ", s ? s : "");
        }
        free(s);
        first = 0;
        p += n + 1;
    }
    if (json)
        fputc(']', f);
}

static const char *status_text(const info_t *in, char *buf, size_t len)
{
    if (in->hdr.flags & AS_HDRF_COMPLETE)
        snprintf(buf, len, "complete");
    else if (in->hdr.flags & AS_HDRF_INCOMPLETE)
        snprintf(buf, len, "incomplete (tracing stopped early: %s)",
                 as_strerror((as_err_t)in->hdr.stop_reason));
    else if (in->writing)
        snprintf(buf, len, "incomplete: being written (process %" PRId64 " is running)",
                 in->hdr.pid);
    else
        snprintf(buf, len, "incomplete (the writer did not finish)");
    return buf;
}

static void print_ops_text(FILE *f, const uint64_t *ops)
{
    int col = 0;
    for (unsigned op = 0; op < AS_OP_LIMIT; op++) {
        if (!ops[op])
            continue;
        const char *name = as_op_name(op);
        char other[16];
        if (!name) {
            snprintf(other, sizeof other, "op%u", op);
            name = other;
        }
        fprintf(f, "%s%-14s %12" PRIu64, col == 0 ? "  " : "   ", name, ops[op]);
        if (++col == 3) {
            fputc('\n', f);
            col = 0;
        }
    }
    if (col)
        fputc('\n', f);
}

/* One line per file, for runs of many processes (a build, a pool, a
 * shell's helpers): which one holds the memory. The command line is cut at
 * 60 bytes; exe when the header has no argv. */
static void print_process_table(FILE *f, const info_t *in, int nfiles)
{
    fprintf(f, "\nprocesses\n  %-8s %-8s %12s %10s %10s  %-10s %s\n", "PID", "PPID", "EVENTS",
            "PEAK LIVE", "PEAK RSS", "STATUS", "COMMAND");
    for (int i = 0; i < nfiles; i++) {
        const info_t *x = &in[i];
        if (!x->r) {
            fprintf(f, "  %-8s %-8s %12s %10s %10s  %-10s %s\n", "-", "-", "-", "-", "-",
                    "unreadable", x->path);
            continue;
        }
        const as_header_t *h = &x->hdr;
        char cmd[61], b1[32], b2[32];
        size_t n = 0;
        const char *a = h->argv && h->argv_len ? h->argv : h->exe ? h->exe : "?";
        size_t alen = h->argv && h->argv_len ? h->argv_len : strlen(a);
        for (size_t k = 0; k < alen && n < sizeof cmd - 1; k++)
            cmd[n++] = a[k] ? a[k] : ' ';
        while (n && cmd[n - 1] == ' ')
            n--;
        cmd[n] = 0;
        const char *st = x->writing ? "writing"
                       : x->st.chunks_damaged || x->read_err ? "damaged"
                       : h->flags & AS_HDRF_COMPLETE ? "complete" : "incomplete";
        fprintf(f, "  %-8lld %-8lld %12" PRIu64 " %10s %10s  %-10s %s\n", (long long)h->pid,
                (long long)h->ppid, x->st.events, as_cli_human(b1, sizeof b1, x->peak_live),
                x->ops[AS_OP_SAMPLE] ? as_cli_human(b2, sizeof b2, x->peak_rss) : "-", st, cmd);
    }
}

static void print_text(FILE *f, const info_t *in)
{
    char b1[64], b2[64], b3[128];
    const as_header_t *h = &in->hdr;
    fprintf(f, "trace         %s\n", in->path);
    fprintf(f, "process       pid %" PRId64 ", parent %" PRId64 "\n", h->pid, h->ppid);
    fprintf(f, "exe           %s\n", h->exe ? h->exe : "");
    fputs("argv          ", f);
    print_strings(f, h->argv, h->argv_len, 0);
    fputc('\n', f);
    if (h->malloc_env) {   /* what glibc's malloc read at start (FORMAT.md §2) */
        fputs("malloc env    ", f);
        print_strings(f, h->malloc_env, h->malloc_env_len, 0);
        fputc('\n', f);
        /* settings the reference glibc model (predicted process RSS) cannot apply */
        char skipped[256];
        int listed;
        int ns = as_glibc_env_skipped(as_model_find("glibc"), h->malloc_env, h->malloc_env_len,
                                      skipped, sizeof skipped, &listed);
        if (ns && listed == ns)
            fprintf(f, "              (the glibc model skips %s)\n", skipped);
        else if (ns)
            fprintf(f, "              (the glibc model skips %s and %d more)\n", skipped,
                    ns - listed);
    }
    time_t secs = (time_t)(h->start_time_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(b3, sizeof b3, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fprintf(f, "started       %s\n", b3);
    fprintf(f, "libc          %s%s%s\n", h->libc_version ? h->libc_version : "?",
            h->python_version ? ", python " : "", h->python_version ? h->python_version : "");
    fprintf(f, "system        page size %u, %u cpus\n", h->page_size, h->ncpus);
    fprintf(f, "options       %s\n", options_text(h->tracer_options, b1, sizeof b1));
    fprintf(f, "format        version %u\n", h->version);
    fprintf(f, "status        %s\n", status_text(in, b3, sizeof b3));
    fprintf(f, "events        %" PRIu64 " in %" PRIu64 " chunks, %s, %.2f bytes/event\n",
            in->st.events, in->st.chunks, as_cli_human(b1, sizeof b1, in->file_bytes),
            in->st.events ? (double)in->file_bytes / (double)in->st.events : 0.0);
    fprintf(f, "duration      %.3f s\n", (double)in->duration_ns / 1e9);
    fprintf(f, "threads       %" PRIu64 "\n", in->threads);
    fprintf(f, "peak live     %s (requested bytes)\n", as_cli_human(b1, sizeof b1, in->peak_live));
    if (in->ops[AS_OP_SAMPLE])
        fprintf(f, "peak RSS      %s (recorded)\n", as_cli_human(b2, sizeof b2, in->peak_rss));
    else
        fprintf(f, "peak RSS      - (no samples)\n");
    fprintf(f, "repairs       %" PRIu64 "\n", in->st.repairs);
    fprintf(f, "late          %" PRIu64 " (runs of events recorded after later ones)\n",
            in->st.late);
    fprintf(f, "unknown frees %" PRIu64 "\n", in->st.unknown_frees);
    fprintf(f, "null frees    %" PRIu64 " (free(NULL): no-ops, counted in free)\n",
            in->null_frees);
    fprintf(f, "damage        %" PRIu64 " chunks damaged, %s lost%s\n", in->st.chunks_damaged,
            as_cli_human(b1, sizeof b1, in->st.bytes_lost),
            in->st.truncated ? ", truncated" : "");
    fputs("ops\n", f);
    print_ops_text(f, in->ops);
}

static void json_ops(FILE *f, const uint64_t *ops)
{
    int first = 1;
    fputc('{', f);
    for (unsigned op = 0; op < AS_OP_LIMIT; op++) {
        if (!ops[op])
            continue;
        char other[16];
        const char *name = as_op_name(op);
        if (!name) {
            snprintf(other, sizeof other, "op%u", op);
            name = other;
        }
        fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ", name, ops[op]);
        first = 0;
    }
    fputc('}', f);
}

static void json_str_or_null(FILE *f, const char *s)
{
    if (s)
        as_cli_json_str(f, s);
    else
        fputs("null", f);
}

static void print_json_file(FILE *f, const info_t *in)
{
    char b[128];
    fputs("    {\"file\": ", f);
    as_cli_json_str(f, in->path);
    if (!in->r) {
        fputs(", \"error\": ", f);
        as_cli_json_str(f, as_strerror(in->open_err));
        fputc('}', f);
        return;
    }
    const as_header_t *h = &in->hdr;
    fprintf(f, ", \"error\": null, \"version\": %u, \"pid\": %" PRId64 ", \"ppid\": %" PRId64
            ", \"exe\": ", h->version, h->pid, h->ppid);
    json_str_or_null(f, h->exe);
    fputs(", \"argv\": ", f);
    print_strings(f, h->argv, h->argv_len, 1);
    fputs(", \"malloc_env\": ", f);
    if (h->malloc_env)
        print_strings(f, h->malloc_env, h->malloc_env_len, 1);
    else
        fputs("null", f);
    fprintf(f, ", \"start_time_ns\": %" PRIu64 ", \"libc\": ", h->start_time_ns);
    json_str_or_null(f, h->libc_version);
    fputs(", \"python\": ", f);
    json_str_or_null(f, h->python_version);
    fprintf(f, ", \"page_size\": %u, \"ncpus\": %u, \"options\": ", h->page_size, h->ncpus);
    as_cli_json_str(f, options_text(h->tracer_options, b, sizeof b));
    fprintf(f, ",\n     \"complete\": %s, \"writing\": %s, \"stop_reason\": ",
            h->flags & AS_HDRF_COMPLETE ? "true" : "false", in->writing ? "true" : "false");
    json_str_or_null(f, h->flags & AS_HDRF_INCOMPLETE ? as_strerror((as_err_t)h->stop_reason)
                                                      : NULL);
    fprintf(f, ", \"events\": %" PRIu64 ", \"threads\": %" PRIu64 ", \"duration_s\": %.6f"
            ", \"file_bytes\": %" PRIu64 ", \"bytes_per_event\": %.4f"
            ", \"peak_live\": %" PRIu64 ", \"peak_rss_recorded\": ",
            in->st.events, in->threads, (double)in->duration_ns / 1e9, in->file_bytes,
            in->st.events ? (double)in->file_bytes / (double)in->st.events : 0.0,
            in->peak_live);
    if (in->ops[AS_OP_SAMPLE])
        fprintf(f, "%" PRIu64, in->peak_rss);
    else
        fputs("null", f);
    fprintf(f, ",\n     \"repairs\": %" PRIu64 ", \"late\": %" PRIu64 ", \"unknown_frees\": %" PRIu64
            ", \"null_frees\": %" PRIu64 ", \"chunks\": %" PRIu64 ", \"chunks_damaged\": %" PRIu64
            ", \"truncated\": %s, \"bytes_lost\": %" PRIu64 ", \"max_id\": %" PRIu64
            ", \"problem\": ",
            in->st.repairs, in->st.late, in->st.unknown_frees, in->null_frees, in->st.chunks,
            in->st.chunks_damaged,
            in->st.truncated ? "true" : "false", in->st.bytes_lost, in->st.max_id);
    json_str_or_null(f, in->problem ? in->detail : NULL);
    fputs(",\n     \"ops\": ", f);
    json_ops(f, in->ops);
    fputc('}', f);
}

int cmd_info(int argc, char **argv)
{
    as_format_t fmt = AS_FMT_TEXT;
    int nfiles = 0;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files)
        return as_cli_error(NULL, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return AS_EXIT_OK;
        } else if (!strcmp(a, "--format") || !strncmp(a, "--format=", 9)) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || as_cli_parse_format(v, 1u << AS_FMT_TEXT | 1u << AS_FMT_JSON, &fmt)) {
                free(files);
                usage(stderr);
                return as_cli_error(NULL, "info: --format takes text or json");
            }
        } else if (!strcmp(a, "--")) {
            while (++i < argc)
                files[nfiles++] = argv[i];
        } else if (a[0] == '-' && a[1]) {
            free(files);
            usage(stderr);
            return as_cli_error(NULL, "info: unknown option '%s'", a);
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (!nfiles) {
        free(files);
        usage(stderr);
        return as_cli_error(NULL, "info: no trace file given");
    }

    info_t *in = calloc((size_t)nfiles, sizeof *in);
    if (!in) {
        free(files);
        return as_cli_error(NULL, "out of memory");
    }
    info_t tot = {0};
    int bad = 0, complete = 1;
    for (int i = 0; i < nfiles; i++) {
        in[i].path = files[i];
        scan(&in[i]);
        if (!in[i].r) {
            bad = 1;
            complete = 0;
            continue;
        }
        if (in[i].problem || in[i].read_err)
            bad = 1;
        if (!(in[i].hdr.flags & AS_HDRF_COMPLETE))
            complete = 0;
        tot.st.events += in[i].st.events;
        tot.st.chunks += in[i].st.chunks;
        tot.st.chunks_damaged += in[i].st.chunks_damaged;
        tot.st.repairs += in[i].st.repairs;
        tot.st.late += in[i].st.late;
        tot.st.unknown_frees += in[i].st.unknown_frees;
        tot.null_frees += in[i].null_frees;
        tot.st.bytes_lost += in[i].st.bytes_lost;
        tot.threads += in[i].threads;
        tot.file_bytes += in[i].file_bytes;
        tot.peak_live += in[i].peak_live;
        tot.peak_rss += in[i].peak_rss;
        if (in[i].duration_ns > tot.duration_ns)
            tot.duration_ns = in[i].duration_ns;
        for (unsigned op = 0; op < AS_OP_LIMIT; op++)
            tot.ops[op] += in[i].ops[op];
    }
    int processes = 0;
    for (int i = 0; i < nfiles; i++)
        processes += in[i].r != NULL;

    FILE *f = stdout;
    if (fmt == AS_FMT_JSON) {
        fprintf(f, "{\"events\": %" PRIu64 ", \"ops\": ", tot.st.events);
        json_ops(f, tot.ops);
        fprintf(f, ",\n \"peak_live\": %" PRIu64 ", \"peak_rss_recorded\": ", tot.peak_live);
        if (tot.ops[AS_OP_SAMPLE])
            fprintf(f, "%" PRIu64, tot.peak_rss);
        else
            fputs("null", f);
        fprintf(f, ", \"threads\": %" PRIu64 ", \"chunks_damaged\": %" PRIu64
                ",\n \"processes\": %d, \"complete\": %s, \"chunks\": %" PRIu64
                ", \"file_bytes\": %" PRIu64 ", \"bytes_per_event\": %.4f"
                ", \"repairs\": %" PRIu64 ", \"late\": %" PRIu64 ", \"unknown_frees\": %" PRIu64
                ", \"null_frees\": %" PRIu64 ", \"duration_s\": %.6f,\n \"files\": [\n",
                tot.threads, tot.st.chunks_damaged, processes, complete ? "true" : "false",
                tot.st.chunks, tot.file_bytes,
                tot.st.events ? (double)tot.file_bytes / (double)tot.st.events : 0.0,
                tot.st.repairs, tot.st.late, tot.st.unknown_frees, tot.null_frees,
                (double)tot.duration_ns / 1e9);
        for (int i = 0; i < nfiles; i++) {
            print_json_file(f, &in[i]);
            fputs(i + 1 < nfiles ? ",\n" : "\n", f);
        }
        fputs(" ]}\n", f);
    } else {
        for (int i = 0; i < nfiles; i++) {
            if (i)
                fputc('\n', f);
            if (in[i].r)
                print_text(f, &in[i]);
            else
                fprintf(f, "trace         %s\nstatus        unreadable: %s\n", in[i].path,
                        as_strerror(in[i].open_err));
        }
        if (nfiles > 1) {
            char b1[64], b2[64];
            print_process_table(f, in, nfiles);
            fprintf(f, "\ntotal         %d files, %d processes, %s\n", nfiles, processes,
                    complete ? "all complete" : "not all complete");
            fprintf(f, "events        %" PRIu64 " in %" PRIu64 " chunks, %s, %.2f bytes/event\n",
                    tot.st.events, tot.st.chunks, as_cli_human(b1, sizeof b1, tot.file_bytes),
                    tot.st.events ? (double)tot.file_bytes / (double)tot.st.events : 0.0);
            fprintf(f, "threads       %" PRIu64 "\n", tot.threads);
            fprintf(f, "peak live     %s (sum of the processes' peaks)\n",
                    as_cli_human(b1, sizeof b1, tot.peak_live));
            fprintf(f, "peak RSS      %s (sum of the processes' recorded peaks)\n",
                    as_cli_human(b2, sizeof b2, tot.peak_rss));
            fprintf(f, "damage        %" PRIu64 " chunks damaged, %s lost\n",
                    tot.st.chunks_damaged, as_cli_human(b1, sizeof b1, tot.st.bytes_lost));
            fputs("ops\n", f);
            print_ops_text(f, tot.ops);
        }
    }
    fflush(f);

    /* then the problems, one line each */
    for (int i = 0; i < nfiles; i++) {
        if (!in[i].r)
            as_cli_error(in[i].path, "%s", as_strerror(in[i].open_err));
        else if (in[i].read_err)
            as_cli_error(in[i].path, "%s", as_strerror((as_err_t)-in[i].read_err));
        else if (in[i].problem)
            as_cli_error(in[i].path, "%s: %s%s", as_strerror(in[i].problem), in[i].detail,
                         in[i].writing ? AS_CLI_WRITING_NOTE : "");
        as_reader_close(in[i].r);
    }
    free(in);
    free(files);
    return bad ? AS_EXIT_USAGE : AS_EXIT_OK;
}
