/*
 * bench/workloads/churn.c — the recorder's main benchmark (issue 2
 * "Benchmarks"): one thread, random malloc/free over 100k slots, N operations
 * (default 10M). Sizes: 90% 8–256 B, 9% 256 B–8 KiB, 1% 64 KiB–1 MiB.
 * Deterministic (fixed-seed xorshift), so traced and untraced runs make the
 * same calls. Usage: bench-churn [N_OPS] [SEED]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 100000

static uint64_t rng_state;

static inline uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t pick_size(void)
{
    uint64_t r = rng();
    unsigned c = (unsigned)(r % 100);
    r >>= 8;
    if (c < 90)
        return 8 + r % (256 - 8 + 1);
    if (c < 99)
        return 256 + r % (8192 - 256 + 1);
    return 65536 + r % (1048576 - 65536 + 1);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000000L;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ull;
    static void *slot[SLOTS];
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        unsigned k = (unsigned)(rng() % SLOTS);
        if (slot[k]) {
            free(slot[k]);
            slot[k] = NULL;
        } else {
            size_t sz = pick_size();
            char *p = malloc(sz);
            p[0] = (char)i;          /* touch the block like a real program */
            sum += sz;
            slot[k] = p;
        }
    }
    for (unsigned k = 0; k < SLOTS; k++)
        free(slot[k]);
    printf("churn: %ld ops, checksum %llu\n", n, (unsigned long long)(sum & 0xffff));
    return 0;
}
