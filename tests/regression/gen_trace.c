/*
 * tests/regression/gen_trace.c — writes synthetic traces with the writer API
 * (replay/trace.h), for the regression table and bench/replay.sh while no
 * recorded traces are checked in (and as a fixed, recorder-independent input).
 *
 *   as-gen-trace OUT.ast churn N [SEED]   bench-churn's mix: random malloc/free
 *                                         over 100k slots; 90% 8-256 B, 9%
 *                                         256 B-8 KiB, 1% 64 KiB-1 MiB
 *   as-gen-trace OUT.ast phases N [SEED]  ramps and plateaus (Wilson et al.):
 *                                         a growing set of 100-300 KiB buffers
 *                                         that a few long-lived small blocks
 *                                         pin, then released; reallocs, callocs,
 *                                         memaligns
 * One time mark per 1000 events (1 us per event) and a ground-truth sample
 * every 10000 events, so every replay metric is exercised. Deterministic.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/trace.h"

static uint64_t rs = 88172645463325252ull;
static uint64_t rng(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static as_writer_t *w;
static uint64_t seq, next_addr = 0x10000000, live;

static void die(const char *what, as_err_t e)
{
    fprintf(stderr, "as-gen-trace: %s: %s\n", what, as_strerror(e));
    exit(2);
}

static void rec(unsigned op, unsigned flags, uint64_t a, uint64_t b, uint64_t size)
{
    as_rec_t r = {as_rec_pack(seq, op, flags), a, b, size};
    as_err_t e = as_writer_add(w, 0, &r);
    if (e)
        die("add", e);
    if (seq % 1000 == 0 && (e = as_writer_time(w, seq, seq * 1000)))
        die("time", e);
    if (seq % 10000 == 0) {
        as_sample_t s = {.rss = live + (8u << 20), .tracer_rss = 1u << 20, .arena = live,
                         .hblkhd = 0, .uordblks = live, .fordblks = 0};
        if ((e = as_writer_sample(w, seq, &s)))
            die("sample", e);
    }
    seq++;
}

static uint64_t fresh(uint64_t size)
{
    uint64_t a = next_addr;
    next_addr += ((size + 15) & ~15ull) + 16;
    return a;
}

static uint64_t do_malloc(uint64_t n)
{
    uint64_t a = fresh(n);
    rec(AS_OP_MALLOC, 0, a, 0, n);
    live += n;
    return a;
}

static void do_free(uint64_t a, uint64_t n)
{
    rec(AS_OP_FREE, 0, 0, a, 0);
    live -= n;
}

#define SLOTS 100000

static void churn(long n)
{
    static uint64_t addr[SLOTS], size[SLOTS];
    for (long i = 0; i < n; i++) {
        unsigned s = (unsigned)(rng() % SLOTS);
        if (addr[s]) {
            do_free(addr[s], size[s]);
            addr[s] = 0;
        } else {
            uint64_t r = rng();
            unsigned c = (unsigned)(r % 100);
            r >>= 8;
            size[s] = c < 90 ? 8 + r % 249 : c < 99 ? 256 + r % 7937 : 65536 + r % 983041;
            addr[s] = do_malloc(size[s]);
        }
    }
}

static void phases(long n)
{
    enum { BUFS = 512, PINS = 4096 };
    static uint64_t ba[BUFS], bs[BUFS], pa[PINS], ps[PINS];
    long i = 0;
    while (i < n) {
        /* Ramp: buffers of 100-300 KiB, each followed by a small pinning block. */
        int nb = 64 + (int)(rng() % (BUFS - 64));
        for (int k = 0; k < nb && i < n; k++, i += 2) {
            bs[k] = 100000 + rng() % 200000;
            ba[k] = do_malloc(bs[k]);
            int p = (int)(rng() % PINS);
            if (pa[p])
                do_free(pa[p], ps[p]);
            ps[p] = 16 + rng() % 200;
            pa[p] = fresh(ps[p]);
            if (rng() % 4 == 0) {
                rec(AS_OP_CALLOC, 0, pa[p], ps[p], ps[p]);
            } else if (rng() % 8 == 0) {
                rec(AS_OP_MEMALIGN, 0, pa[p], 64, ps[p]);
            } else {
                rec(AS_OP_MALLOC, 0, pa[p], 0, ps[p]);
            }
            live += ps[p];
        }
        /* Plateau: grow some buffers with realloc. */
        for (int k = 0; k < nb && i < n; k += 3, i++) {
            uint64_t ns = bs[k] + rng() % 100000, na = fresh(ns);
            rec(AS_OP_REALLOC, 0, na, ba[k], ns);
            live += ns - bs[k];
            ba[k] = na;
            bs[k] = ns;
        }
        /* Release. */
        for (int k = 0; k < nb && i < n; k++, i++)
            do_free(ba[k], bs[k]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: as-gen-trace OUT.ast churn|phases N [SEED]\n");
        return 2;
    }
    long n = atol(argv[3]);
    if (argc > 4)
        rs ^= strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    static const char argvbuf[] = "as-gen-trace";
    as_header_t h = {.version = AS_TRACE_VERSION, .page_size = 4096, .ncpus = 2, .pid = 1,
                     .exe = "as-gen-trace", .argv = argvbuf, .argv_len = sizeof argvbuf,
                     .libc_version = "2.36"};
    as_err_t e;
    w = as_writer_create(fd, &h, NULL, 3, &e);
    if (!w)
        die("create", e);
    if (!strcmp(argv[2], "churn"))
        churn(n);
    else if (!strcmp(argv[2], "phases"))
        phases(n);
    else {
        fprintf(stderr, "as-gen-trace: unknown kind '%s'\n", argv[2]);
        return 2;
    }
    if ((e = as_writer_close(w, AS_OK)))
        die("close", e);
    close(fd);
    return 0;
}
