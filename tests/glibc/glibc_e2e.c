/*
 * tests/glibc/glibc_e2e.c — end-to-end speed of the glibc model: a churn trace
 * (the recorder issue's workload, written with the trace writer, addresses
 * from the real glibc) read by the trace reader and replayed by the replay
 * engine (replay/engine.h) through one model at a time, on one worker, beside
 * the `ideal` model as the anchor in the same run. Prints events/s (median);
 * asserts nothing (a benchmark, STYLE.md).
 *
 * A third row, `floor`, is `ideal` without its live method: the engine's
 * general path (every event through the model's event methods, the page
 * accounting, the measures) around a model that does almost nothing. No model that takes the general path can run faster than it, so
 * it bounds what tuning mmap-threshold can reach (doc/REPLAY.md). A fourth,
 * `pfloor`, calls ideal's malloc and free from a plain method: the least a
 * model with a plain method (glibc) costs.
 * Predicted process RSS is off in every row (no hidden reference glibc).
 *
 *   glibc_e2e [-n EVENTS] [-r RUNS] [-t all|first|none] [-o TRACE (kept)]
 *             [-i TRACE (replay this recorded trace instead of writing one)]
 *             [-m ROW (run only that row: ideal, glibc, floor, pfloor; for perf)]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replay/engine.h"
#include "replay/trace.h"
#include "sim/model.h"
#include "tests/common/testutil.h"

#define NSLOT 100000

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return as_test_xorshift(&rs); }

static double now(void) { return as_test_now(); }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* churn: 100k slots, a live slot is freed, an empty one malloc'ed; sizes 90%
 * 8-256 B, 9% 256 B-8 KiB, 1% 64 KiB-1 MiB */
static int write_churn(const char *path, uint64_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    as_header_t h = {0};
    h.page_size = 4096;
    h.ncpus = 2;
    h.exe = "churn";
    h.argv = "churn";
    h.argv_len = 6;
    h.libc_version = "2.36";
    as_err_t err;
    as_writer_t *w = as_writer_create(fd, &h, NULL, 3, &err);
    if (!w)
        return -1;
    void **slot = calloc(NSLOT, sizeof *slot);
    for (uint64_t seq = 0; seq < n; seq++) {
        uint64_t s = rnd() % NSLOT;
        as_rec_t rec;
        if (slot[s]) {
            rec = (as_rec_t){as_rec_pack(seq, AS_OP_FREE, 0), 0, (uint64_t)slot[s], 0};
            free(slot[s]);
            slot[s] = NULL;
        } else {
            uint64_t size = as_test_churn_size(&rs);
            slot[s] = malloc(size);
            rec = (as_rec_t){as_rec_pack(seq, AS_OP_MALLOC, 0), (uint64_t)slot[s], 0, size};
        }
        if (seq % 32768 == 0)
            as_writer_time(w, seq, seq * 30);
        if (as_writer_add(w, 0, &rec))
            return -1;
    }
    as_writer_close(w, AS_OK);
    close(fd);
    for (uint64_t s = 0; s < NSLOT; s++)
        free(slot[s]);
    free(slot);
    return 0;
}

/* `plain floor`: ideal's malloc and free called from a plain method (the
 * engine's run path: no per-event dispatch, the measures over runs), the
 * least a model with a plain method, as glibc has, costs. One worker, so
 * the instance's space can be kept in a global. */
static const as_model_t *g_ideal;
static as_space_t *g_floor_space;

static void *floor_create(const as_params_t *p, as_space_t *space, const as_model_ctx_t *ctx,
                          char *err, size_t errlen)
{
    g_floor_space = space;
    return g_ideal->create(p, space, ctx, err, errlen);
}

static uint32_t floor_plain(void *m, const as_hevent_t *ev, uint32_t n, as_block_t *blk,
                            uint64_t nblk, uint64_t touch, uint64_t *rss, uint64_t *mapped)
{
    (void)touch;  /* ideal touches nothing of the user's (AS_MODEL_F_OWN_TOUCH) */
    uint32_t i = 0;
    for (; i < n; i++) {
        const as_hevent_t *c = &ev[i];
        if (i + 8 < n)  /* a free's table entry is a random read, as gl_plain fetches it */
            __builtin_prefetch(&blk[ev[i + 8].id < nblk ? ev[i + 8].id : 0], 1);
        if (c->flags || c->id >= nblk)
            break;
        as_block_t *b = &blk[c->id];
        if (c->op == AS_OP_MALLOC && !b->addr) {
            b->addr = g_ideal->malloc(m, c->thread, c->size);
            if (!b->addr)
                break;  /* the failure goes through the event path */
        } else if (c->op == AS_OP_FREE && b->addr) {
            g_ideal->free(m, c->thread, b->addr);
            b->addr = 0;
        } else {
            break;
        }
        rss[i] = as_space_resident(g_floor_space);
        mapped[i] = as_space_mapped(g_floor_space);
    }
    return i;
}

/* One replay of the whole trace through one model; events/s, or -1. */
static double replay_once(const char *path, const as_model_t *m, as_touch_t touch, uint64_t *peak)
{
    as_err_t err;
    /* as `allocsim replay` reads: no addresses reconstructed */
    as_reader_t *rd = as_reader_open_flags(path, AS_READ_NO_ADDR, &err);
    if (!rd)
        return -1;
    as_instance_t inst = {m, {{0}, 0}};
    for (int i = 0; m->params && m->params[i].name; i++)
        inst.params.v[i] = m->params[i].def;
    as_engine_opts_t o = {.touch = touch, .jobs = 1, .no_process_rss = 1};
    as_model_ctx_t ctx = {4096, 2, 0};
    char msg[256];
    as_engine_t *e = as_engine_create(&o, &inst, 1, &ctx, msg, sizeof msg);
    if (!e) {
        fprintf(stderr, "glibc_e2e: %s\n", msg);
        as_reader_close(rd);
        return -1;
    }
    double t0 = now();
    int rc = as_engine_run(e, as_engine_reader_next, rd, msg, sizeof msg);
    double dt = now() - t0;
    double rate = rc ? -1 : (double)as_engine_events(e) / dt;
    *peak = as_engine_result(e, 0)->peak_rss;
    as_engine_free(e);
    as_reader_close(rd);
    return rate;
}

int main(int argc, char **argv)
{
    uint64_t n = 10000000;
    int runs = 3;
    as_touch_t touch = AS_TOUCH_ALL;
    const char *defpath = "/tmp/glibc_e2e_churn.ast", *path = defpath, *input = NULL,
               *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-n"))
            n = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "-r"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-o"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "-i"))
            input = argv[i + 1];
        else if (!strcmp(argv[i], "-m"))
            only = argv[i + 1];
        else if (!strcmp(argv[i], "-t"))
            touch = !strcmp(argv[i + 1], "none") ? AS_TOUCH_NONE
                    : !strcmp(argv[i + 1], "first") ? AS_TOUCH_FIRST : AS_TOUCH_ALL;
    }
    if (runs < 1 || runs > 32)
        runs = 3;
    if (input) {
        path = input;
    } else if (write_churn(path, n)) {
        fprintf(stderr, "glibc_e2e: cannot write %s\n", path);
        return 2;
    }
    const as_model_t *ideal = as_model_find("ideal"), *glibc = as_model_find("glibc");
    if (!ideal || !glibc) {
        fprintf(stderr, "glibc_e2e: the ideal and glibc models must be registered\n");
        return 2;
    }
    as_model_t floor_model = *ideal;  /* the general path around ideal */
    floor_model.name = "floor";
    floor_model.live = NULL;
    g_ideal = ideal;
    as_model_t pfloor_model = floor_model;
    pfloor_model.name = "pfloor";
    pfloor_model.create = floor_create;
    pfloor_model.plain = floor_plain;
    const as_model_t *models[] = {ideal, glibc, &floor_model, &pfloor_model};
    enum { NROW = sizeof models / sizeof *models };
    double rate[NROW][32];
    uint64_t peak[NROW] = {0};
    for (int r = 0; r < runs; r++)
        for (int k = 0; k < NROW; k++) {  /* side by side, alternating */
            if (only && strcmp(only, models[k]->name))
                continue;
            rate[k][r] = replay_once(path, models[k], touch, &peak[k]);
            if (rate[k][r] < 0) {
                fprintf(stderr, "glibc_e2e: %s: replay through %s failed\n", path, models[k]->name);
                return 2;
            }
        }
    const char *tname = touch == AS_TOUCH_NONE ? "none" : touch == AS_TOUCH_FIRST ? "first" : "all";
    if (input)
        printf("%s, touch=%s, 1 worker, median of %d:\n", input, tname, runs);
    else
        printf("churn trace, %llu events, touch=%s, 1 worker, median of %d:\n",
               (unsigned long long)n, tname, runs);
    for (int k = 0; k < NROW; k++) {
        if (only && strcmp(only, models[k]->name))
            continue;
        qsort(rate[k], (size_t)runs, sizeof(double), cmp_d);
        printf("  %-6s %6.1f M events/s (min %.1f, max %.1f)  peak RSS %.1f MiB\n", models[k]->name,
               rate[k][runs / 2] / 1e6, rate[k][0] / 1e6, rate[k][runs - 1] / 1e6,
               (double)peak[k] / 1048576.0);
    }
    if (path == defpath)
        unlink(path);  /* -o FILE keeps the trace (for allocsim replay) */
    return 0;
}
