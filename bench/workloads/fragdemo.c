/*
 * bench/workloads/fragdemo.c — the bundled demo workload (tools/quickstart.sh):
 * the DESIGN.md story in one second. Phase "load": buffers of 32–120 KiB
 * (below glibc's 128 KiB mmap threshold, so they come from the brk heap), each
 * followed by a small long-lived block (an index entry). Phase "release": every
 * buffer is freed, the small blocks stay. The small blocks pin the top of the
 * brk heap, so the heap cannot shrink: RSS stays near its peak while the live
 * bytes drop to almost nothing. Phase "reuse": a second, smaller wave shows the
 * freed space being reused rather than returned. Calls allocsim_mark() when the
 * tracer is loaded (weak symbol), and prints live bytes and RSS per phase.
 * Usage: bench-fragdemo [ROUNDS] (default 6)
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void allocsim_mark(const char *name) __attribute__((weak));

#define NBUF 2000

static void mark(const char *name)
{
    if (allocsim_mark)
        allocsim_mark(name);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void report(const char *phase, size_t live)
{
    printf("%-8s live %7.1f MiB   RSS %7.1f MiB\n", phase, live / 1048576.0, rss_kib() / 1024.0);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 6;
    static char *buf[NBUF];
    static char *small[NBUF];
    uint64_t seed = 12345;
    size_t live = 0;
    for (int r = 0; r < rounds; r++) {
        mark("load");
        for (int i = 0; i < NBUF; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t n = 32768 + (size_t)(seed >> 33) % (90 * 1024);
            buf[i] = malloc(n);
            memset(buf[i], 1, n);           /* the program writes its buffers */
            live += n;
            if (!small[i]) {
                small[i] = malloc(64);      /* long-lived: stays to the end */
                memset(small[i], 2, 64);
                live += 64;
            }
        }
        if (r == 0)
            report("load", live);
        mark("release");
        for (int i = 0; i < NBUF; i++) {
            size_t n = malloc_usable_size(buf[i]);
            free(buf[i]);
            live -= n < live ? n : live;
        }
        if (r == 0)
            report("release", live);
    }
    mark("end");
    report("end", live);
    for (int i = 0; i < NBUF; i++)
        free(small[i]);
    return 0;
}
