/*
 * tests/common/testutil.h — helpers the test and figure programs share:
 * a deterministic xorshift64 generator (Marsaglia 2003, shifts 13/7/17; each
 * program keeps its own seed so its sequences are reproducible), the churn
 * workload's size mix, and a
 * monotonic clock in seconds for the figure programs; the real traces
 * committed in traces/ and their paths in this source tree.
 */
#ifndef AS_TESTUTIL_H
#define AS_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline uint64_t as_test_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* A size of the recorder issue's churn workload, from two draws of *state:
 * 90% 8-256 B, 9% 256 B-8 KiB, 1% 64 KiB-1 MiB. */
static inline uint64_t as_test_churn_size(uint64_t *state)
{
    uint64_t p = as_test_xorshift(state) % 100;
    if (p < 90)
        return 8 + as_test_xorshift(state) % 249;
    if (p < 99)
        return 256 + as_test_xorshift(state) % (8192 - 256 + 1);
    return 65536 + as_test_xorshift(state) % (1048576 - 65536 + 1);
}

static inline double as_test_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The i-th real trace of traces/ (traces/record.sh), NULL past the last. */
static inline const char *as_test_trace_name(size_t i)
{
    static const char *const names[] = {"churn-200k.ast", "threads-200k.ast", "fragdemo.ast",
                                        "python-malloc.ast", "python-pymalloc.ast"};
    return i < sizeof names / sizeof *names ? names[i] : NULL;
}

/* traces/NAME of this source tree, found from the calling file's own path
 * (pass __FILE__: it lies under tests/), so no path needs configuring.
 * 0 on success, -1 if file is not under tests/ or out is too small. */
static inline int as_test_trace_path(char *out, size_t n, const char *file, const char *name)
{
    const char *cut = NULL;
    for (const char *p = strstr(file, "/tests/"); p; p = strstr(p + 1, "/tests/"))
        cut = p;
    if (!cut && strncmp(file, "tests/", 6))
        return -1;
    /* a relative __FILE__ ("tests/...") means the build runs from the root */
    int k = cut ? snprintf(out, n, "%.*s/traces/%s", (int)(cut - file), file, name)
                : snprintf(out, n, "traces/%s", name);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

#endif /* AS_TESTUTIL_H */
