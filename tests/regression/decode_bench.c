/*
 * tests/regression/decode_bench.c — as-decode [--replay] TRACE: reads every
 * event and prints "events seconds events/s" (the "decode alone" lines of
 * bench/replay.sh: the floor under every replay).
 *
 * Default: as_reader_next one event at a time, addresses reconstructed.
 * --replay: the way `allocsim replay` reads (replay/engine.c, fill_reader):
 * AS_READ_NO_ADDR, runs of plain mallocs and frees with as_reader_next_plain,
 * anything else with as_reader_next.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "replay/trace.h"

#define RUN 16384                /* the engine's batch */

int main(int argc, char **argv)
{
    int replay = argc == 3 && !strcmp(argv[1], "--replay");
    if (argc != 2 + replay) {
        fprintf(stderr, "usage: as-decode [--replay] TRACE\n");
        return 2;
    }
    const char *path = argv[1 + replay];
    as_err_t err;
    as_reader_t *r = as_reader_open_flags(path, replay ? AS_READ_NO_ADDR : 0, &err);
    if (!r) {
        fprintf(stderr, "as-decode: %s: %s\n", path, as_strerror(err));
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    static as_hevent_t run[RUN];
    as_event_t ev;
    uint64_t n = 0, sum = 0, t;
    int rc;
    /* the size sum keeps the loops honest */
    for (;;) {
        int k = replay ? as_reader_next_plain(r, run, RUN, &t) : 0;
        for (int i = 0; i < k; i++)
            sum += run[i].size;
        n += (uint64_t)k;
        if (k > 0)
            continue;
        if ((rc = as_reader_next(r, &ev)) <= 0)
            break;
        n++;
        sum += ev.size;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%llu %.6f %.0f %llu\n", (unsigned long long)n, s, (double)n / s,
           (unsigned long long)(sum & 1));
    as_reader_close(r);
    return rc < 0 ? 2 : 0;
}
