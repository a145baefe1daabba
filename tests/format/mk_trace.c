/*
 * tests/format/mk_trace.c — writes a small deterministic trace for the CLI
 * tests and the fuzz seed corpus, and prints on stdout what it wrote, computed
 * here independently of the reader: "events N malloc N free N peak_live B
 * peak_rss B threads N chunks N".
 *
 *   mk_trace OUT [EVENTS [FLUSH_EVERY [STOP_REASON [batch]]]]
 * Three threads, a mix of every heap op, marks, samples and time markers; a
 * chunk ends every FLUSH_EVERY records. STOP_REASON (an as_err_t number)
 * closes the file as incomplete. "batch" hands the records over with
 * as_writer_add_batch in runs of random length (1..64, one thread each)
 * instead of one by one: the file must come out byte for byte the same.
 * "levels" changes the zstd level at every chunk end (as the tracer does
 * when the program waits for its writer): only the compressed bytes differ.
 * "sync" syncs every FLUSH_EVERY records instead of ending a chunk (segments
 * of streamed chunks, doc/FORMAT.md §3.1); "kill" does the same and then
 * exits without closing the file, as a SIGKILL after a sync would leave it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/trace.h"
#include "tests/common/testutil.h"

#define NSLOT 512

static uint64_t rs = 12345;
static uint64_t rnd(void) { return as_test_xorshift(&rs); }

/* "batch": records wait here until a run ends (its own generator, so the
 * records themselves are the same either way) */
static int batch;
static as_rec_t run[64];
static unsigned nrun, run_len = 1;
static uint32_t run_thread;
static uint64_t rs_run = 777;

static as_err_t end_run(as_writer_t *w)
{
    as_err_t e = nrun ? as_writer_add_batch(w, run_thread, run, nrun) : AS_OK;
    nrun = 0;
    run_len = 1 + (unsigned)(as_test_xorshift(&rs_run) % 64);
    return e;
}

static as_err_t add(as_writer_t *w, uint32_t th, const as_rec_t *r)
{
    if (!batch)
        return as_writer_add(w, th, r);
    as_err_t e = AS_OK;
    if (nrun && (th != run_thread || nrun == run_len))
        e = end_run(w);
    run[nrun++] = *r;
    run_thread = th;
    return e;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mk_trace OUT [EVENTS [FLUSH_EVERY [STOP_REASON "
                        "[batch|levels|sync|kill]]]]\n");
        return 2;
    }
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 0) : 3000;
    uint64_t every = argc > 3 ? strtoull(argv[3], NULL, 0) : 500;
    int stop = argc > 4 ? atoi(argv[4]) : 0;
    batch = argc > 5 && !strcmp(argv[5], "batch");
    int levels = argc > 5 && !strcmp(argv[5], "levels");
    int kill = argc > 5 && !strcmp(argv[5], "kill");
    int sync = kill || (argc > 5 && !strcmp(argv[5], "sync"));
    static const int level[] = {1, 9, -1, 3};
    unsigned nlevel = 0;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    static const char args[] = "./demo\0--size\0" "42";
    as_header_t h = {0};
    h.page_size = 4096;
    h.ncpus = 2;
    h.tracer_options = AS_OPT_CALLSITE;
    h.pid = 1234;
    h.ppid = 1;
    h.start_time_ns = 1763780400000000000ull;   /* 2025-11-22 03:00:00 UTC */
    h.exe = "/usr/local/bin/demo";
    h.argv = args;
    h.argv_len = sizeof args;
    h.libc_version = "2.36";
    as_err_t err;
    as_writer_t *w = as_writer_create(fd, &h, NULL, 3, &err);
    if (!w) {
        fprintf(stderr, "mk_trace: %s\n", as_strerror(err));
        return 2;
    }
    as_writer_module(w, "/usr/local/bin/demo", 0x555555554000, 0x20000,
                     (const uint8_t *)"\x01\x02\x03\x04", 4);
    uint64_t addr[NSLOT] = {0}, size[NSLOT] = {0};
    uint64_t top = 0x555555600000, live = 0, peak = 0, rss = 0, peak_rss = 0;
    uint64_t events = 0, mallocs = 0, frees = 0, chunks_recs = 0, seq = 1;
    for (uint64_t i = 0; i < n; i++, seq++) {
        uint32_t th = (uint32_t)(rnd() % 3);
        unsigned s = (unsigned)(rnd() % NSLOT);
        as_rec_t r;
        if (i % 97 == 0) {
            end_run(w);
            as_writer_time(w, seq, i * 1000000 / 7);
        }
        if (i % 250 == 0) {
            end_run(w);
            rss = 8 << 20 | (live & ~4095ull);
            as_sample_t smp = {rss, 1 << 20, live + 4096, 0, live, 4096};
            as_writer_sample(w, seq, &smp);
            if (rss > peak_rss)
                peak_rss = rss;
            events++;
        }
        if (i % 1000 == 500) {
            r = (as_rec_t){as_rec_pack(seq, AS_OP_MARK, 0), 0, 0, 0};
            memcpy(&r.a, "phase", 6);
        } else if (addr[s]) {
            if (rnd() % 5 == 0) {
                uint64_t ns = 1 + rnd() % 2000;
                r = (as_rec_t){as_rec_pack(seq, AS_OP_REALLOC, 0), top, addr[s], ns};
                live += ns - size[s];
                addr[s] = top;
                size[s] = ns;
                top += (ns + 31) & ~15ull;
            } else {
                r = (as_rec_t){as_rec_pack(seq, AS_OP_FREE, 0), 0, addr[s], 0};
                live -= size[s];
                addr[s] = 0;
                frees++;
            }
        } else {
            uint64_t ns = rnd() % 10 == 0 ? 4096 + rnd() % 100000 : 1 + rnd() % 300;
            if (rnd() % 4 == 0) {
                as_rec_t cs = {as_rec_pack(seq, AS_REC_CALLSITE, 0),
                               0x555555554000 + 0x1000 + 16 * (rnd() % 8), 0, 0};
                add(w, th, &cs);
            }
            r = (as_rec_t){as_rec_pack(seq, AS_OP_MALLOC, 0), top, 0, ns};
            addr[s] = top;
            size[s] = ns;
            top += (ns + 31) & ~15ull;
            live += ns;
            mallocs++;
        }
        if (live > peak)
            peak = live;
        if (add(w, th, &r)) {
            fprintf(stderr, "mk_trace: write failed\n");
            return 2;
        }
        events++;
        if (every && ++chunks_recs == every) {
            end_run(w);
            if (sync)
                as_writer_sync(w);
            else
                as_writer_flush(w);
            chunks_recs = 0;
            if (levels)
                as_writer_level(w, level[nlevel++ % 4]);
        }
    }
    if (end_run(w)) {
        fprintf(stderr, "mk_trace: write failed\n");
        return 2;
    }
    uint64_t bytes, total;
    as_writer_totals(w, &bytes, &total);
    if (kill) {
        if (as_writer_sync(w))
            return 2;
        _exit(0);          /* the file as a SIGKILL leaves it: the chunk open */
    }
    if (as_writer_close(w, (as_err_t)stop)) {
        fprintf(stderr, "mk_trace: close failed\n");
        return 2;
    }
    close(fd);
    printf("events %" PRIu64 " malloc %" PRIu64 " free %" PRIu64 " peak_live %" PRIu64
           " peak_rss %" PRIu64 " threads 3\n", events, mallocs, frees, peak, peak_rss);
    return 0;
}
