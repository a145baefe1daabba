/*
 * tests/common/testutil.h — helpers the test and figure programs share:
 * a deterministic xorshift64 generator (Marsaglia 2003, shifts 13/7/17; each
 * program keeps its own seed so its sequences are reproducible) and a
 * monotonic clock in seconds for the figure programs.
 */
#ifndef AS_TESTUTIL_H
#define AS_TESTUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t as_test_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static inline double as_test_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif /* AS_TESTUTIL_H */
