/*
 * tests/glibc/glibc_speed.c — events per second of the glibc model on a
 * churn-like stream, driven directly through as_model_glibc (no trace, no
 * decoding), so the figure is the model's own cost plus as_space's.
 *
 * The stream is bench's churn: SLOTS slots (100k); each event picks one at
 * random and frees it if live, else mallocs into it; sizes as pick_size();
 * --mix also uses calloc (5% of allocations) and realloc (10% of would-be
 * frees); --threads N spreads events over N threads (cross-thread frees). With --touch the driver also writes the first page of
 * every new block, as the replay engine's --touch=first would.
 * A benchmark prints figures; it asserts nothing (STYLE.md).
 *
 *   glibc_speed [EVENTS] [RUNS] [--touch] [--mix] [--threads N] [--slots N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/glibc_internal.h"
#include "sim/model.h"
#include "tests/common/testutil.h"

typedef struct ev {
    uint8_t op;       /* 0 malloc, 1 free, 2 calloc, 3 realloc */
    uint8_t thread;
    uint32_t slot;
    uint32_t size;
} ev_t;

static uint64_t rng = 88172645463325252ull;
static uint64_t xs(void) { return as_test_xorshift(&rng); }

/* the churn workload of the recorder issue (tests/common/testutil.h) */
static uint32_t pick_size(void) { return (uint32_t)as_test_churn_size(&rng); }

static double now(void) { return as_test_now(); }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t n = 20000000;
    int runs = 5, touch = 0, threads = 1, mix = 0;
    uint32_t live = 100000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--touch"))
            touch = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mix"))
            mix = 1;
        else if (!strcmp(argv[i], "--slots") && i + 1 < argc)
            live = (uint32_t)atoi(argv[++i]);
        else if (i == 1)
            n = strtoull(argv[i], NULL, 0);
        else
            runs = atoi(argv[i]);
    }
    ev_t *evs = malloc(n * sizeof *evs);
    uint8_t *used = calloc(live, 1);
    if (!evs || !used)
        return 2;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t s = (uint32_t)(xs() % live);
        uint8_t t = (uint8_t)(xs() % (uint64_t)threads);
        if (used[s]) {
            int re = mix && xs() % 100 < 10;
            evs[i] = (ev_t){re ? 3 : 1, t, s, re ? pick_size() : 0};
            if (!re)
                used[s] = 0;
        } else {
            evs[i] = (ev_t){mix && xs() % 100 < 5 ? 2 : 0, t, s, pick_size()};
            used[s] = 1;
        }
    }
    const as_model_t *M = &as_model_glibc;
    double rate[64];
    if (runs > 64)
        runs = 64;
    uint64_t peak = 0;
    for (int r = 0; r < runs; r++) {
        as_space_t *sp = as_space_create(4096);
        as_params_t p = {{0}, 0};
        for (int i = 0; M->params[i].name; i++)
            p.v[i] = M->params[i].def;
        as_model_ctx_t ctx = {4096, 2, 0};
        char err[128];
        void *m = M->create(&p, sp, &ctx, err, sizeof err);
        uint64_t *addr = calloc(live, sizeof *addr);
        if (!m || !addr)
            return 2;
        double t0 = now();
        for (uint64_t i = 0; i < n; i++) {
            const ev_t *e = &evs[i];
            uint64_t a;
            switch (e->op) {
            case 0:
                a = addr[e->slot] = M->malloc(m, e->thread, e->size);
                if (touch && a)
                    as_space_touch(sp, a, e->size < 4096 ? e->size : 4096);
                break;
            case 2:
                addr[e->slot] = M->calloc(m, e->thread, e->size);
                break;
            case 3:
                a = addr[e->slot] = M->realloc(m, e->thread, addr[e->slot], e->size);
                if (touch && a)
                    as_space_touch(sp, a, e->size < 4096 ? e->size : 4096);
                break;
            default:
                M->free(m, e->thread, addr[e->slot]);
                addr[e->slot] = 0;
                break;
            }
        }
        double dt = now() - t0;
        rate[r] = (double)n / dt;
        if (as_space_resident(sp) > peak)
            peak = as_space_resident(sp);
        M->destroy(m);
        as_space_free(sp);
        free(addr);
    }
    qsort(rate, (size_t)runs, sizeof rate[0], cmp_d);
    printf("glibc model: %llu events, %u slots, %d thread(s), %s, touch %s: median %.1f M events/s "
           "(min %.1f, max %.1f, %d runs); final resident %.1f MiB\n",
           (unsigned long long)n, live, threads, mix ? "malloc/calloc/realloc/free" : "malloc/free",
           touch ? "first page" : "none",
           rate[runs / 2] / 1e6, rate[0] / 1e6, rate[runs - 1] / 1e6, runs,
           (double)peak / 1048576.0);
    free(evs);
    free(used);
    return 0;
}
