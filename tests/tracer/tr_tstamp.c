/*
 * tests/tracer/tr_tstamp.c — heap calls after quiet spells, for the trace's
 * times. malloc(1), then five times: sleep 100 ms, read the clock, malloc of
 * i * 1000 bytes; prints "<size> <ms>" for each, ms since the malloc(1).
 * In the trace each malloc's time, less malloc(1)'s, must match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int main(void)
{
    struct timespec t0, pause = {0, 100000000};
    char *volatile p = malloc(1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    free(p);
    double at[6];
    for (int i = 1; i <= 5; i++) {
        nanosleep(&pause, NULL);
        at[i] = ms_since(&t0);
        p = malloc((size_t)i * 1000);
        free(p);
    }
    for (int i = 1; i <= 5; i++)
        printf("%d %.3f\n", i * 1000, at[i]);
    return 0;
}
