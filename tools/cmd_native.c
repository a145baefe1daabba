/*
 * tools/cmd_native.c — `allocsim native`: replay a trace against a real
 * allocator in a fresh process and measure its resident memory (issue 4 §2).
 *
 * The work is in replay/native.c (decode, spawn allocsim-replayer, metrics);
 * this file parses the command line, finds the allocator's library, and
 * prints the result in the same shape as `allocsim replay`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/engine.h"
#include "replay/native.h"
#include "tools/cli.h"
#include "tools/report.h"

static const char usage_text[] =
    "usage: allocsim native TRACE [--allocator NAME|PATH.so] [--tunable KEY=VALUE ...]\n"
    "                       [--touch all|first|none] [--format text|json|csv]\n"
    "\n"
    "Replays TRACE against a real allocator in a fresh process (allocsim-replayer),\n"
    "one real thread per traced thread, in the recorded order, and measures the\n"
    "resident memory the replay adds: the ground truth models are scored against.\n"
    "\n"
    "  -a, --allocator NAME  glibc (default), jemalloc, tcmalloc, mimalloc, or the\n"
    "                        path of a malloc library to LD_PRELOAD (PATH.so)\n"
    "                          jemalloc  libjemalloc.so.2         (Debian: libjemalloc2)\n"
    "                          tcmalloc  libtcmalloc_minimal.so.4 (libtcmalloc-minimal4)\n"
    "                          mimalloc  libmimalloc.so.2         (libmimalloc2.0)\n"
    "  -t, --tunable K=V     a glibc malloc tunable, passed as GLIBC_TUNABLES=glibc.malloc.K=V\n"
    "                        (repeatable; sizes accept 64K, 1M): mmap_threshold,\n"
    "                        trim_threshold, top_pad, mmap_max, arena_max, arena_test,\n"
    "                        tcache_count, tcache_max, tcache_unsorted_limit, mxfast,\n"
    "                        perturb, hugetlb. Other allocators read their own\n"
    "                        environment (MALLOC_CONF, TCMALLOC_*, MIMALLOC_*), passed through.\n"
    "      --touch MODE      what the program is assumed to write after each call:\n"
    "                        all (default: every byte of malloc/memalign/realloc\n"
    "                        results), first (the first page), none; calloc results\n"
    "                        are never written (the same rules as the models)\n"
    "      --format FMT      text (default), json or csv: the schema of 'allocsim replay',\n"
    "                        model named native:ALLOCATOR; threads and replay speed\n"
    "                        follow as 'native:' lines (on stderr for json/csv)\n"
    "  -h, --help            this help\n"
    "\n"
    "Measures: peak_rss is the exact peak of the replayer's resident set above its\n"
    "own baseline (read from /proc/self/statm before every call that can give\n"
    "memory back); peak_live the largest sum of live requested bytes;\n"
    "peak_mapped the growth of its virtual size (includes glibc's 64 MiB arena\n"
    "reservations); fragmentation = 1 - live/RSS at the peak; jw = Johnstone &\n"
    "Wilson's four measures. Application mmap/brk calls in the trace are not\n"
    "replayed.\n"
    "\n"
    "The replayer is found next to allocsim, in ../lib/allocsim/, or at\n"
    "$ALLOCSIM_REPLAYER. Exit status: 0 ok, 2 usage or input error: an allocator\n"
    "that is not installed (the message names its Debian package), events that\n"
    "cannot be replayed in order (the message names the event), or damaged chunks\n"
    "or a torn tail (what could be read is replayed and printed first).\n";

static const struct known_alloc {
    const char *name, *soname, *package;
} known[] = {
    {"jemalloc", "libjemalloc.so.2", "libjemalloc2"},
    {"tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"},
    {"mimalloc", "libmimalloc.so.2", "libmimalloc2.0"},
};

static const char *const glibc_tunables[] = {
    "mmap_threshold", "trim_threshold", "top_pad", "mmap_max", "arena_max", "arena_test",
    "tcache_count", "tcache_max", "tcache_unsorted_limit", "mxfast", "perturb", "hugetlb",
    "check",
};

static int find_lib(const char *soname, char *buf, size_t len)
{
    static const char *const dirs[] = {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
                                       "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                                       "/usr/local/lib"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(buf, len, "%s/%s", dirs[i], soname);
        if (access(buf, R_OK) == 0)
            return 0;
    }
    return -1;
}

typedef struct tunable { const char *key; unsigned long long value; } tunable_t;

/* The replay result fields (replay/engine.h) from a native run. */
static void to_result(const as_native_result_t *n, as_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->peak_rss = n->peak_rss;
    r->peak_live = n->peak_live;
    r->peak_mapped = n->peak_mapped;
    r->peak_process_rss = AS_RESULT_NULL;   /* the heap is replayed, not the process */
    r->fragmentation = n->fragmentation;
    r->peak_event = n->peak_event;
    r->peak_time = n->peak_time;
    r->live_at_peak = n->live_at_peak;
    r->rss_at_peak_live = n->rss_at_peak_live;
    r->overhead = n->peak_rss > n->live_at_peak ? n->peak_rss - n->live_at_peak : 0;
    r->final_rss = n->final_rss;
    r->final_live = n->final_live;
    r->unknown_frees = n->unknown_frees;
    r->failed_calls = n->failed_calls;
    r->model_failures = n->diverged;   /* calls the real allocator answered differently */
    memcpy(r->jw, n->jw, sizeof r->jw);
    r->model.heap_bytes = n->heap_bytes;
    r->model.free_bytes = n->free_bytes;
    r->model.mmap_chunks = n->mmap_chunks;
}

/* What replay's table does not show: threads, speed, divergences. */
static void print_native_notes(FILE *f, const as_native_result_t *r)
{
    char b[32];
    fprintf(f, "native: %u thread%s, %llu events (%llu calls) replayed in %.3f s "
               "(%.2fM events/s), replayer baseline %s\n",
            r->threads, r->threads == 1 ? "" : "s", (unsigned long long)r->events,
            (unsigned long long)r->ops, r->seconds,
            r->seconds > 0 ? (double)r->events / r->seconds / 1e6 : 0.0,
            as_cli_human(b, sizeof b, r->baseline_rss));
    if (r->diverged)
        fprintf(f, "native: %llu call%s succeeded or failed differently from the trace\n",
                (unsigned long long)r->diverged, r->diverged == 1 ? "" : "s");
    if (r->approximate)
        fprintf(f, "native: this kernel's RSS readings are approximate (exact from Linux "
                   "6.16): peak_rss may be off by tens of pages\n");
    if (r->gap_repairs)
        fprintf(f, "native: %llu call%s paired across damaged data (frees of lost blocks "
                   "skipped, blocks whose free was lost released)\n",
                (unsigned long long)r->gap_repairs, r->gap_repairs == 1 ? "" : "s");
    if (r->unknown_frees)
        fprintf(f, "native: %llu release%s of blocks allocated before tracing began "
                   "(skipped)\n",
                (unsigned long long)r->unknown_frees, r->unknown_frees == 1 ? "" : "s");
}

int cmd_native(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"allocator", required_argument, NULL, 'a'},
        {"tunable", required_argument, NULL, 't'},
        {"touch", required_argument, NULL, 'T'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *alloc = "glibc", *touch = "all";
    as_format_t fmt = AS_FMT_TEXT;
    tunable_t tun[32];
    int ntun = 0;
    int c;
    optind = 1;
    opterr = 0;   /* our own one-line message instead of getopt's */
    while ((c = getopt_long(argc, argv, "a:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            alloc = optarg;
            break;
        case 't': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return as_cli_error(NULL, "--tunable wants KEY=VALUE, got '%s'", optarg);
            *eq = 0;
            const char *key = optarg;
            if (!strncmp(key, "glibc.malloc.", 13))
                key += 13;
            size_t i;
            for (i = 0; i < sizeof glibc_tunables / sizeof glibc_tunables[0]; i++)
                if (!strcmp(key, glibc_tunables[i]))
                    break;
            if (i == sizeof glibc_tunables / sizeof glibc_tunables[0])
                return as_cli_error(NULL,
                                    "unknown glibc tunable '%s' (valid: mmap_threshold, "
                                    "trim_threshold, top_pad, mmap_max, arena_max, arena_test, "
                                    "tcache_count, tcache_max, tcache_unsorted_limit, mxfast, "
                                    "perturb, hugetlb, check)", key);
            uint64_t v;
            if (as_cli_parse_size(eq + 1, &v))
                return as_cli_error(NULL, "--tunable %s: '%s' is not a number or size", key,
                                    eq + 1);
            if (ntun == (int)(sizeof tun / sizeof tun[0]))
                return as_cli_error(NULL, "too many --tunable options");
            tun[ntun].key = glibc_tunables[i];
            tun[ntun++].value = v;
            break;
        }
        case 'T':
            if (strcmp(optarg, "all") && strcmp(optarg, "first") && strcmp(optarg, "none"))
                return as_cli_error(NULL, "--touch wants all, first or none, got '%s'", optarg);
            touch = optarg;
            break;
        case 'f':
            if (as_cli_parse_format(optarg, 1u << AS_FMT_TEXT | 1u << AS_FMT_JSON | 1u << AS_FMT_CSV, &fmt))
                return as_cli_error(NULL, "--format wants text, json or csv, got '%s'", optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return AS_EXIT_OK;
        default:
            if (optopt)
                return as_cli_error(NULL, "native: unknown option or missing value: -%c "
                                          "(see 'allocsim native --help')", optopt);
            return as_cli_error(NULL, "native: unknown option or missing value: %s "
                                      "(see 'allocsim native --help')", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return as_cli_error(NULL, "native: %s (see 'allocsim native --help')",
                            optind == argc ? "needs one TRACE" : "takes one TRACE");
    const char *trace = argv[optind];

    as_native_opts_t o = {0};
    o.touch = !strcmp(touch, "all") ? AS_NP_TOUCH_ALL
              : !strcmp(touch, "first") ? AS_NP_TOUCH_FIRST : AS_NP_TOUCH_NONE;
    char libpath[4096], model[4200];
    if (!strcmp(alloc, "glibc")) {
        snprintf(model, sizeof model, "native:glibc");
    } else {
        size_t i;
        for (i = 0; i < sizeof known / sizeof known[0]; i++)
            if (!strcmp(alloc, known[i].name))
                break;
        if (i < sizeof known / sizeof known[0]) {
            if (find_lib(known[i].soname, libpath, sizeof libpath))
                return as_cli_error(trace, "%s is not installed (Debian package %s)",
                                    known[i].name, known[i].package);
            snprintf(model, sizeof model, "native:%s", known[i].name);
        } else if (strchr(alloc, '/') || strstr(alloc, ".so")) {
            if (access(alloc, R_OK))
                return as_cli_error(alloc, "no such allocator library");
            snprintf(libpath, sizeof libpath, "%s", alloc);
            snprintf(model, sizeof model, "native:%s", alloc);
        } else {
            return as_cli_error(NULL, "unknown allocator '%s' (glibc, jemalloc, tcmalloc, "
                                      "mimalloc, or the PATH.so of a malloc library)", alloc);
        }
        if (ntun)
            return as_cli_error(NULL, "--tunable sets glibc tunables; %s reads its own "
                                      "settings from the environment", alloc);
        o.preload = libpath;
    }
    char tunables[1024] = "";
    size_t tl = 0;
    for (int i = 0; i < ntun; i++) {
        tl += (size_t)snprintf(tunables + tl, sizeof tunables - tl, "%sglibc.malloc.%s=%llu",
                               i ? ":" : "", tun[i].key, tun[i].value);
        if (tl >= sizeof tunables)
            return as_cli_error(NULL, "too many --tunable options");
    }
    o.tunables = ntun ? tunables : NULL;

    char runner[4096];
    if (as_native_find_runner(runner, sizeof runner))
        return as_cli_error(NULL, "cannot find allocsim-replayer next to allocsim, in "
                                  "../lib/allocsim/, or at $ALLOCSIM_REPLAYER");
    o.runner = runner;

    as_native_result_t r;
    char detail[512];
    as_native_err_t err = as_native_run(trace, &o, &r, detail, sizeof detail);
    if (err)
        return as_cli_error(trace, "%s", detail[0] ? detail : as_native_strerror(err));
    as_result_t res;
    to_result(&r, &res);
    as_report_kv_t kv[32];
    for (int i = 0; i < ntun; i++) {
        kv[i] = (as_report_kv_t){.key = tun[i].key, .value = (int64_t)tun[i].value};
        if (strstr(tun[i].key, "threshold") || !strcmp(tun[i].key, "top_pad"))
            kv[i].flags = AS_PARAM_SIZE;
    }
    as_report_row_t row = {.model = model, .params = kv, .nparams = (size_t)ntun, .r = &res};
    as_report_trace_t t = {.trace = trace, .events = r.events, .rows = &row, .nrows = 1};
    as_report_print(stdout, fmt, &t, 1);
    print_native_notes(fmt == AS_FMT_TEXT ? stdout : stderr, &r);
    if (r.incomplete) {   /* results of what could be read, then the error */
        fflush(stdout);
        return as_cli_error(trace, "%s", detail);
    }
    return AS_EXIT_OK;
}
