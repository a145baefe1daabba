/*
 * tests/glibc/random_script.h — seeded random op scripts (the scenario
 * language of test_glibc.c) shared by the model tests and the model-vs-native
 * tests: 500 block ids; frees, reallocs, callocs, memaligns and mallocs in a
 * size mix from 0 to 400 KB; with threads, thread exits; a malloc_trim every
 * 1999 ops; optionally state queries ("q", checked against the real glibc).
 */
#ifndef AS_TEST_RANDOM_SCRIPT_H
#define AS_TEST_RANDOM_SCRIPT_H

#include <stdio.h>
#include <stdlib.h>

/* Writes head, then nops random ops from srand(seed), into s (cap bytes).
 * nthreads > 1: ops run on threads 1..nthreads, which exit now and then;
 * else every op is on thread 0. query_every > 0: a query every that many ops
 * and one at the end. */
static inline void random_script(char *s, size_t cap, const char *head, unsigned seed,
                                 int nthreads, int nops, int query_every)
{
    size_t off = 0;
    int live[512] = {0};
    srand(seed);
    off += (size_t)snprintf(s + off, cap - off, "%s", head);
    for (int i = 0; i < nops; i++) {
        int id = 2 + rand() % 500, t = nthreads > 1 ? 1 + rand() % nthreads : 0, r = rand() % 100;
        if (nthreads > 1 && r < 2) {
            off += (size_t)snprintf(s + off, cap - off, "%d x\n", t);
            continue;
        }
        if (live[id] && r < 47) {
            off += (size_t)snprintf(s + off, cap - off, "%d f %d\n", t, id);
            live[id] = 0;
            continue;
        }
        int cls = rand() % 100;
        long size = cls < 60 ? rand() % 128 : cls < 85 ? rand() % 2048 : cls < 97 ? rand() % 40000
                                                                                  : rand() % 400000;
        if (live[id])
            off += (size_t)snprintf(s + off, cap - off, "%d r %d %ld\n", t, id, size + 1);
        else if (r < 57)
            off += (size_t)snprintf(s + off, cap - off, "%d c %d %ld\n", t, id, size);
        else if (r < 61)
            off += (size_t)snprintf(s + off, cap - off, "%d a %d %d %ld\n", t, id, 32 << (rand() % 8), size);
        else
            off += (size_t)snprintf(s + off, cap - off, "%d m %d %ld\n", t, id, size);
        live[id] = 1;
        if (query_every && i % query_every == 0)
            off += (size_t)snprintf(s + off, cap - off, "0 q\n");
        if (i % 1999 == 0)
            off += (size_t)snprintf(s + off, cap - off, "0 t %d\n", (rand() % 4) * 65536);
    }
    if (query_every)
        snprintf(s + off, cap - off, "0 q\n");
}

#endif /* AS_TEST_RANDOM_SCRIPT_H */
