/*
 * tests/tracer/tr_usable.c — prints malloc_usable_size (and 16-byte
 * alignment) of a deterministic mix of blocks, plus a checksum of their
 * relative layout: the tracer must not change any of it. Exits 5.
 * Usage: tr_usable [ROUNDS] (default 20000)
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    static void *p[4096];
    uint64_t s = 1, sum = 0;
    long rounds = argc > 1 ? atol(argv[1]) : 20000;
    for (long r = 0; r < rounds; r++) {
        s = s * 6364136223846793005ull + 1;
        unsigned k = (unsigned)(s >> 40) % 4096;
        if (p[k]) {
            sum = sum * 31 + malloc_usable_size(p[k]);
            free(p[k]);
            p[k] = NULL;
        } else {
            size_t n = (s >> 20) % 100 == 0 ? (s >> 8) % 300000 : (s >> 8) % 2000;
            p[k] = (s & 1) ? malloc(n) : calloc(1, n);
            sum = sum * 31 + malloc_usable_size(p[k]) + ((uintptr_t)p[k] & 15);
        }
    }
    for (int k = 0; k < 4096; k++)
        if (p[k]) {
            printf("%zu ", malloc_usable_size(p[k]));
            free(p[k]);
        }
    printf("\nsum=%llu\n", (unsigned long long)sum);
    return 5;
}
