/*
 * tools/cmd_replay.c — `allocsim replay`: every trace through every model
 * instance (--model, --sweep), one decode per trace (replay/engine.h), results
 * through the shared emitter (tools/report.h). Issue 3 §5; doc/REPLAY.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "replay/engine.h"
#include "sim/glibc_env.h"
#include "tools/cli.h"
#include "tools/report.h"

#define MAX_INST 256
#define SERIES_POINTS 4096
#define TICK_NS 10000000ull                 /* shared time axis: 10 ms ticks */

/* Peak of the processes' summed RSS for instance i: at every tick where some
 * process has events, a process counts with its largest RSS in that tick if
 * it has events there, else with its RSS after its last earlier tick; before
 * its first and after its last tick it counts 0 (not started, or exited). An
 * upper bound of the exact peak of the sum at tick resolution. */
static void sum_peak(as_engine_t **eng, size_t ntr, size_t i, uint64_t t0_tick,
                     uint64_t *peak, double *when)
{
    size_t pos[ntr], len[ntr];
    const as_tick_t *tk[ntr];
    uint64_t carry[ntr];
    for (size_t f = 0; f < ntr; f++) {
        tk[f] = as_engine_ticks(eng[f], i, &len[f]);
        pos[f] = 0;
        carry[f] = 0;
    }
    *peak = 0;
    *when = 0;
    for (;;) {
        uint64_t t = UINT64_MAX;
        for (size_t f = 0; f < ntr; f++)
            if (pos[f] < len[f] && tk[f][pos[f]].tick < t)
                t = tk[f][pos[f]].tick;
        if (t == UINT64_MAX)
            break;
        uint64_t total = 0;
        for (size_t f = 0; f < ntr; f++) {
            if (pos[f] < len[f] && tk[f][pos[f]].tick == t) {
                total += tk[f][pos[f]].max_rss;
                carry[f] = tk[f][pos[f]].end_rss;
                pos[f]++;
            } else if (pos[f] > 0 && pos[f] < len[f]) {
                total += carry[f];
            }
        }
        if (total > *peak) {
            *peak = total;
            *when = (double)(t - t0_tick) * (double)TICK_NS / 1e9;
        }
    }
}

static void usage(FILE *f)
{
    fputs("usage: allocsim replay TRACE... [--model SPEC]... [--sweep 'SPEC:key=v1,v2,...']...\n"
          "                       [--touch all|first|none] [--format text|json|csv]\n"
          "                       [--series FILE.csv [-f]] [-j N] [--no-process-rss]\n\n"
          "Replays each trace through allocator models and prints, per model and\n"
          "parameters, the predicted peak RSS, peak live and mapped bytes, the\n"
          "predicted process RSS (traces with ground-truth samples), fragmentation\n"
          "and Johnstone & Wilson's measures. Each trace is decoded once for all models.\n\n"
          "  --model SPEC     NAME or NAME:key=value,key=value (sizes take K/M/G);\n"
          "                   repeatable. Default: every model with its defaults.\n"
          "  --sweep SPEC     NAME:[fixed=v,...,]key=v1,v2,...: one instance per value\n"
          "                   of the last key, e.g. 'mmap-threshold:mmap_threshold=64K,128K,1M'.\n"
          "  --touch RULE     what the program writes in each block it allocates:\n"
          "                   all (default: every byte), first (its first byte), none.\n"
          "                   Nothing after calloc: the model counts calloc's own clearing.\n"
          "  --format FMT     text (default, human sizes), json or csv (exact bytes).\n"
          "  --series FILE    write every model's RSS/mapped/live time series as CSV\n"
          "                   (at most 4096 points per model); -f to overwrite.\n"
          "  -j N             worker threads (default: all cores).\n"
          "  --no-process-rss skip the predicted process RSS (reported as null): it\n"
          "                   needs a reference glibc model at its defaults, which runs\n"
          "                   hidden beside any other model and costs its replay time.\n"
          "  -f, --force      overwrite the --series file.\n"
          "  -h, --help       this text.\n\n"
          "models:\n", f);
    for (size_t i = 0; as_models[i]; i++) {
        const as_model_t *m = as_models[i];
        fprintf(f, "  %-15s %s\n", m->name, m->summary);
        for (int k = 0; m->params && m->params[k].name; k++) {
            const as_param_def_t *d = &m->params[k];
            fprintf(f, "      %-16s %s (default %lld)\n", d->name, d->doc ? d->doc : "",
                    (long long)d->def);
        }
    }
    fputs("\nJSON schema and how each metric is computed: doc/REPLAY.md.\n"
          "Exit status: 0 ok, 2 usage or input error. A file that cannot be opened,\n"
          "or is damaged or cut short, does not stop the others: each is replayed\n"
          "as far as it reads, the results are printed, then one line per file\n"
          "with a problem, and the exit status is 2.\n", f);
}

/* Expands one --sweep into instances. */
static int expand_sweep(const char *sweep, as_instance_t *in, size_t *n)
{
    char err[1024];
    const char *eq = strrchr(sweep, '=');
    const char *colon = strchr(sweep, ':');
    if (!colon || !eq || eq < colon)
        return as_cli_error(NULL, "--sweep '%s': expected NAME:key=v1,v2,...", sweep);
    /* The swept key starts after the last ',' or ':' before the last '='. */
    const char *k = eq;
    while (k > colon && k[-1] != ',' && k[-1] != ':')
        k--;
    size_t base_len = (size_t)(k - sweep);
    const char *v = eq + 1;
    size_t count = 0;
    while (*v || count == 0) {
        const char *comma = strchr(v, ',');
        size_t vlen = comma ? (size_t)(comma - v) : strlen(v);
        if (*n >= MAX_INST)
            return as_cli_error(NULL, "too many model instances (at most %d)", MAX_INST);
        char spec[1024];
        int w = snprintf(spec, sizeof spec, "%.*s%.*s%.*s", (int)base_len, sweep,
                         (int)(eq + 1 - k), k, (int)vlen, v);
        if (w < 0 || (size_t)w >= sizeof spec)
            return as_cli_error(NULL, "--sweep: spec too long");
        if (as_model_parse_spec(spec, &in[*n].model, &in[*n].params, err, sizeof err))
            return as_cli_error(NULL, "%s", err);
        (*n)++;
        count++;
        if (!comma)
            break;
        v = comma + 1;
    }
    return 0;
}

typedef struct progress {
    const char *trace;
    struct timespec last;
    int drawn;
} progress_t;

static void progress_cb(void *ctx, uint64_t events)
{
    progress_t *p = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - p->last.tv_sec) + (double)(now.tv_nsec - p->last.tv_nsec) / 1e9;
    if (dt < 0.1)                                   /* at most 10 Hz */
        return;
    p->last = now;
    fprintf(stderr, "\rreplay: %s: %llu events", p->trace, (unsigned long long)events);
    p->drawn = 1;
}

static uint64_t mem_available(void)
{
    /* ALLOCSIM_MEM_AVAILABLE (bytes) stands in for MemAvailable: tests. */
    const char *env = getenv("ALLOCSIM_MEM_AVAILABLE");
    if (env && *env)
        return strtoull(env, NULL, 10);
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb << 10;
}

int cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"sweep", required_argument, NULL, 's'},
        {"touch", required_argument, NULL, 't'}, {"format", required_argument, NULL, 'F'},
        {"series", required_argument, NULL, 'S'}, {"force", no_argument, NULL, 'f'},
        {"jobs", required_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
        {"no-process-rss", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    static as_instance_t in[MAX_INST];
    size_t n = 0;
    as_engine_opts_t eo = {.touch = AS_TOUCH_ALL};
    as_format_t fmt = AS_FMT_TEXT;
    const char *series = NULL;
    int force = 0, c;
    char err[1024];
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:s:t:F:S:fj:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (n >= MAX_INST)
                return as_cli_error(NULL, "too many model instances (at most %d)", MAX_INST);
            if (as_model_parse_spec(optarg, &in[n].model, &in[n].params, err, sizeof err))
                return as_cli_error(NULL, "%s", err);
            n++;
            break;
        case 's':
            if (expand_sweep(optarg, in, &n))
                return AS_EXIT_USAGE;
            break;
        case 't':
            if (!strcmp(optarg, "all")) eo.touch = AS_TOUCH_ALL;
            else if (!strcmp(optarg, "first")) eo.touch = AS_TOUCH_FIRST;
            else if (!strcmp(optarg, "none")) eo.touch = AS_TOUCH_NONE;
            else return as_cli_error(NULL, "--touch '%s': expected all, first or none", optarg);
            break;
        case 'F':
            if (as_cli_parse_format(optarg, 7, &fmt))
                return as_cli_error(NULL, "--format '%s': expected text, json or csv", optarg);
            break;
        case 'S': series = optarg; break;
        case 'f': force = 1; break;
        case 'j': {
            char *end;
            long j = strtol(optarg, &end, 10);
            if (*end || j < 1 || j > 1024)
                return as_cli_error(NULL, "-j '%s': expected a thread count 1..1024", optarg);
            eo.jobs = (unsigned)j;
            break;
        }
        case 'P': eo.no_process_rss = 1; break;
        case 'h': usage(stdout); return AS_EXIT_OK;
        default:
            fputs("(try 'allocsim replay --help')\n", stderr);
            return AS_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return as_cli_error(NULL, "replay needs at least one TRACE (try 'allocsim replay --help')");
    if (!n) {
        for (size_t i = 0; as_models[i] && n < MAX_INST; i++, n++)
            as_model_parse_spec(as_models[i]->name, &in[n].model, &in[n].params, err, sizeof err);
    }
    size_t ntr = (size_t)(argc - optind);

    FILE *sf = NULL;
    if (series) {
        int fd = open(series, O_WRONLY | O_CREAT | O_TRUNC | (force ? 0 : O_EXCL), 0644);
        if (fd < 0)
            return as_cli_error(series, errno == EEXIST ? "exists (use -f to overwrite)" : "%s",
                                strerror(errno));
        sf = fdopen(fd, "w");
        as_report_series_header(sf);
        eo.series_points = SERIES_POINTS;
    }

    as_report_trace_t *tr = calloc(ntr, sizeof *tr);
    as_report_row_t *rows = calloc(ntr * n, sizeof *rows);
    as_report_kv_t *kv = calloc(n, sizeof(as_report_kv_t) * AS_MAX_PARAMS);
    as_engine_t **eng = calloc(ntr, sizeof *eng);
    if (!tr || !rows || !kv || !eng)
        return as_cli_error(NULL, "out of memory");
    int status = AS_EXIT_OK;
    /* A file that cannot be opened, or is damaged or cut short, does not
     * stop the others (a pool's worker killed, a daemon still writing):
     * each is replayed as far as it reads, and every problem is told, one
     * line a file, after the results. */
    struct fail {
        const char *path;
        char msg[1100];
    } *fails = calloc(ntr, sizeof *fails);
    size_t nfail = 0, done = 0;   /* done: traces replayed, tr[0..done) */
    uint64_t t0 = 0;              /* earliest trace start */
    int stop = 0;                 /* a problem of the models', not of a file */
    if (!fails)
        return as_cli_error(NULL, "out of memory");
    for (size_t k = 0; k < ntr && !stop; k++) {
        const char *path = argv[optind + (int)k];
        size_t t = done;
        as_err_t oe;
        /* The models place blocks themselves: the trace's addresses are
         * never looked at, so the reader does not rebuild them. */
        as_reader_t *r = as_reader_open_flags(path, AS_READ_NO_ADDR, &oe);
        if (!r) {
            fails[nfail].path = path;
            snprintf(fails[nfail++].msg, sizeof fails->msg, "%s", as_strerror(oe));
            continue;
        }
        const as_header_t *h = as_reader_header(r);
        as_model_ctx_t ctx = {.page_size = h->page_size ? h->page_size : 4096, .ncpus = h->ncpus};
        as_engine_opts_t o = eo;
        /* the reference glibc runs with the tunables the program ran with */
        as_params_t refp;
        const as_model_t *gm = as_model_find("glibc");
        if (gm && h->malloc_env && as_glibc_env_params(gm, h->malloc_env, h->malloc_env_len, &refp))
            o.ref_params = &refp;
        /* Memory check before starting. The reader does not know the peak id
         * count before reading, so first bound it by the file size (every
         * live block took at least one compressed byte to allocate); only if
         * that bound does not fit, pay one decode pass for the exact count. */
        as_read_stats_t st;
        as_reader_stats(r, &st);
        struct stat sb;
        uint64_t hint = st.max_id ? st.max_id : (stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0);
        uint64_t avail = mem_available(), need = as_engine_estimate_run(&o, in, n, hint);
        if (avail && need > avail && !st.max_id) {
            as_err_t pe;
            as_reader_t *pr = as_reader_open_flags(path, AS_READ_NO_ADDR, &pe);
            if (pr) {
                as_event_t ev;
                while (as_reader_next(pr, &ev) > 0)
                    ;
                as_reader_stats(pr, &st);
                as_reader_close(pr);
                need = as_engine_estimate_run(&o, in, n, st.max_id);
            }
        }
        if (avail && need > avail) {
            char a[32], b[32];
            status = as_cli_error(path, "%zu model instance(s) would need about %s, only %s is "
                                  "available: use fewer --model/--sweep values",
                                  n, as_cli_human(a, sizeof a, need), as_cli_human(b, sizeof b, avail));
            as_reader_close(r);
            stop = 1;
            break;
        }
        if ((h->tracer_options & AS_OPT_FOREIGN_MALLOC) && !eo.no_process_rss) {
            o.no_process_rss = 1;
            fprintf(stderr, "allocsim: %s: note: no predicted process RSS: the program ran on "
                    "its own malloc, not glibc's, so the recorded RSS holds a heap that the "
                    "glibc reference cannot stand in for\n", path);
        }
        progress_t pg = {.trace = path};
        char skipped[256];
        if (gm && h->malloc_env && !eo.no_process_rss &&
            as_glibc_env_skipped(gm, h->malloc_env, h->malloc_env_len, skipped, sizeof skipped,
                                 NULL))
            fprintf(stderr, "allocsim: %s: note: the predicted process RSS ignores %s (the glibc "
                    "model has no such setting)\n", path, skipped[0] ? skipped : "some settings");
        if (ntr > 1) {
            o.tick_ns = TICK_NS;
            o.time_base_ns = h->start_time_ns;
            if (!done || h->start_time_ns < t0)
                t0 = h->start_time_ns;
        }
        if (as_cli_stderr_tty()) {
            o.progress = progress_cb;
            o.progress_ctx = &pg;
        }
        eng[t] = as_engine_create(&o, in, n, &ctx, err, sizeof err);
        if (!eng[t]) {
            status = as_cli_error(path, "%s", err);
            as_reader_close(r);
            stop = 1;
            break;
        }
        int rc = as_engine_run(eng[t], as_engine_reader_next, r, err, sizeof err);
        if (pg.drawn)
            fputs("\r\033[K", stderr);
        char detail[512] = "";
        if (rc < 0) {
            fails[nfail].path = path;
            snprintf(fails[nfail++].msg, sizeof fails->msg, "%s", err);
        } else if (as_reader_problem(r, detail, sizeof detail) != AS_OK) {
            fails[nfail].path = path;
            snprintf(fails[nfail++].msg, sizeof fails->msg, "%s%s", detail,
                     as_cli_writing(path, h->pid) ? AS_CLI_WRITING_NOTE
                                                 : "");
        }
        as_reader_close(r);
        tr[t].trace = path;
        tr[t].events = as_engine_events(eng[t]);
        tr[t].rows = &rows[t * n];
        tr[t].nrows = n;
        for (size_t i = 0; i < n; i++) {
            as_report_row_t *row = &rows[t * n + i];
            row->model = in[i].model->name;
            row->params = &kv[i * AS_MAX_PARAMS];
            row->nparams = as_report_params(in[i].model, &in[i].params, &kv[i * AS_MAX_PARAMS]);
            row->r = as_engine_result(eng[t], i);
            if (sf) {
                size_t np;
                const as_series_point_t *pts = as_engine_series(eng[t], i, &np);
                as_report_series(sf, path, row, pts, np);
            }
        }
        done = t + 1;
    }
    /* Several processes: their sum on the shared time axis (of those read,
     * as far as they read: the problem lines below say what is missing). */
    as_report_sum_t sum = {.tick_ns = TICK_NS, .rows = rows, .n = n};
    uint64_t *speak = calloc(n, sizeof *speak);
    double *stime = calloc(n, sizeof *stime);
    int with_sum = ntr > 1 && done > 1 && !stop && speak && stime;
    if (with_sum) {
        for (size_t t = 0; t < done; t++)
            sum.events += tr[t].events;
        for (size_t i = 0; i < n; i++)
            sum_peak(eng, done, i, t0 / TICK_NS, &speak[i], &stime[i]);
        sum.peak_rss = speak;
        sum.peak_time = stime;
    }
    /* Print what was read, then the error (damaged traces). */
    if (done)
        as_report_print_sum(stdout, fmt, tr, done, with_sum ? &sum : NULL);
    free(speak);
    free(stime);
    fflush(stdout);
    for (size_t k = 0; k < nfail; k++)
        status = as_cli_error(fails[k].path, "%s", fails[k].msg);
    free(fails);
    if (sf && fclose(sf))
        status = as_cli_error(series, "%s", strerror(errno));
    for (size_t t = 0; t < ntr; t++)
        as_engine_free(eng[t]);
    free(eng);
    free(kv);
    free(rows);
    free(tr);
    return status;
}
