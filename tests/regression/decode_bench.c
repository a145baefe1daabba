/*
 * tests/regression/decode_bench.c — as-decode TRACE: reads every event with
 * as_reader_next and prints "events seconds events/s" (the "decode alone"
 * line of bench/replay.sh: the floor under every replay).
 */
#include <stdio.h>
#include <time.h>

#include "replay/trace.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: as-decode TRACE\n");
        return 2;
    }
    as_err_t err;
    as_reader_t *r = as_reader_open(argv[1], &err);
    if (!r) {
        fprintf(stderr, "as-decode: %s: %s\n", argv[1], as_strerror(err));
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    as_event_t ev;
    uint64_t n = 0, sum = 0;
    int rc;
    while ((rc = as_reader_next(r, &ev)) > 0) {
        n++;
        sum += ev.size;               /* keep the loop honest */
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%llu %.6f %.0f %llu\n", (unsigned long long)n, s, (double)n / s,
           (unsigned long long)(sum & 1));
    as_reader_close(r);
    return rc < 0 ? 2 : 0;
}
