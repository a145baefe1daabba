/*
 * tests/format/gen_churn.c — the churn workload of issue 2 fed straight into the
 * trace writer, to measure the format: bytes/event after zstd and decode speed.
 *
 * One thread, random malloc/free over 100k slots (a slot is freed if live,
 * else allocated), sizes 90% 8–256 B, 9% 256 B–8 KiB, 1% 64 KiB–1 MiB. The
 * addresses are the real glibc's (the generator calls malloc/free), so address
 * prediction is measured against the real allocator. Deterministic (xorshift).
 *
 *   gen_churn [-n EVENTS] [-l ZSTD_LEVEL] [-r DECODE_RUNS] [-c CHUNK_KIB] [-o FILE]
 *             [-d RECORDS | -f RECORDS] [-s EVENTS | -e EVENTS]
 * (-c ends chunks earlier than the writer's 3 MiB, to see the size trade-off;
 * -s syncs every EVENTS events, as the tracer does every 100 ms, and -e ends
 * a chunk every EVENTS events instead, as it did before format version 3)
 * -d saves the generated records (32 bytes each); -f feeds saved ones instead
 * of generating: the writer alone, on the same input every run, so two
 * writers can be compared by instruction counts and their files byte for
 * byte (a generated run's addresses move with the heap's layout).
 * prints one table row: events, file bytes, bytes/event, encode ns/event
 * (wall and thread CPU time), decode events/s (median of the runs, single thread) by wall clock and
 * by the thread's CPU time (steadier on a shared machine).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replay/trace_internal.h"
#include "tests/common/testutil.h"

#define NSLOT 100000

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { return as_test_xorshift(&rs); }

static double now(void) { return as_test_now(); }

/* CPU time of this thread: on a shared machine the figure that says what one
 * core does, whatever the others are running. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uint64_t n = 10000000;
    int level = 3, runs = 5;
    size_t chunk_kib = 0;
    uint64_t every = 0;
    int sync = 0;
    const char *path = "/tmp/gen_churn.ast";
    FILE *dump = NULL, *feed = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-n"))
            n = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "-l"))
            level = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            runs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
        else if (!strcmp(argv[i], "-c"))
            chunk_kib = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "-e")) {
            every = strtoull(argv[i + 1], NULL, 0);
            sync = argv[i][1] == 's';
        } else if (!strcmp(argv[i], "-o"))
            path = argv[i + 1];
        else if (!strcmp(argv[i], "-d") && (dump = fopen(argv[i + 1], "wb")))
            ;
        else if (!strcmp(argv[i], "-f") && (feed = fopen(argv[i + 1], "rb")))
            ;
        else {
            fprintf(stderr, "usage: gen_churn [-n EVENTS] [-l LEVEL] [-r RUNS] [-c CHUNK_KIB] "
                            "[-o FILE] [-d RECORDS | -f RECORDS]\n");
            return 2;
        }
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        return 2;
    }
    as_header_t h = {0};
    h.page_size = 4096;
    h.ncpus = 1;
    h.exe = "gen_churn";
    h.argv = "gen_churn";
    h.argv_len = 10;
    h.libc_version = "2.36";
    as_err_t err;
    as_writer_t *w = as_writer_create(fd, &h, NULL, level, &err);
    if (!w) {
        fprintf(stderr, "gen_churn: %s\n", as_strerror(err));
        return 2;
    }
    if (chunk_kib)
        asf_writer_chunk_target(w, chunk_kib << 10);
    void **slot = calloc(NSLOT, sizeof *slot);
    /* generate a batch with the real allocator, then time feeding it */
    enum { BATCH = 65536 };
    as_rec_t *batch = malloc(BATCH * sizeof *batch);
    double enc = 0, enc_cpu = 0;
    for (uint64_t seq = 0; seq < n;) {
        uint64_t first = seq;
        unsigned k = 0;
        if (feed) {
            k = (unsigned)fread(batch, sizeof *batch, n - seq < BATCH ? n - seq : BATCH, feed);
            if (!k) {
                n = seq;               /* a shorter file: what it holds */
                break;
            }
            seq += k;
        }
        for (; !feed && k < BATCH && seq < n; k++, seq++) {
            uint64_t s = rnd() % NSLOT;
            if (slot[s]) {
                batch[k] = (as_rec_t){as_rec_pack(seq, AS_OP_FREE, 0), 0, (uint64_t)slot[s], 0};
                free(slot[s]);
                slot[s] = NULL;
            } else {
                uint64_t size = as_test_churn_size(&rs);
                slot[s] = malloc(size);
                batch[k] = (as_rec_t){as_rec_pack(seq, AS_OP_MALLOC, 0), (uint64_t)slot[s], 0, size};
            }
        }
        if (dump && fwrite(batch, sizeof *batch, k, dump) != k) {
            fprintf(stderr, "gen_churn: cannot save the records\n");
            return 2;
        }
        double t0 = now(), c0 = cpu_now();
        /* as the tracer's writer thread does: runs between time markers
         * (one every 32768 events, ~1 ms of untraced churn) in one call */
        for (unsigned i = 0; i < k;) {
            uint64_t q = first + i;
            if (q % 32768 == 0)
                as_writer_time(w, q, q * 30);
            unsigned run = 32768 - (unsigned)(q % 32768);
            if (run > k - i)
                run = k - i;
            if (every && run > every - q % every)
                run = (unsigned)(every - q % every);
            if (as_writer_add_batch(w, 0, &batch[i], run) ||
                (every && (q + run) % every == 0 &&
                 (sync ? as_writer_sync(w) : as_writer_flush(w)))) {
                fprintf(stderr, "gen_churn: write failed\n");
                return 2;
            }
            i += run;
        }
        enc += now() - t0;
        enc_cpu += cpu_now() - c0;
    }
    free(batch);
    if (dump)
        fclose(dump);
    if (feed)
        fclose(feed);
    uint64_t bytes, events;
    as_writer_close(w, AS_OK);
    close(fd);
    for (uint64_t s = 0; s < NSLOT; s++)
        free(slot[s]);
    free(slot);

    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    bytes = (uint64_t)ftell(f);
    fclose(f);
    double *dt = calloc((size_t)runs, sizeof *dt), *ct = calloc((size_t)runs, sizeof *ct);
    events = 0;
    for (int k = 0; k < runs; k++) {
        as_reader_t *rd = as_reader_open(path, &err);
        if (!rd) {
            fprintf(stderr, "gen_churn: %s\n", as_strerror(err));
            return 2;
        }
        as_event_t ev;
        uint64_t m = 0, chk = 0;
        double t0 = now(), c0 = cpu_now();
        while (as_reader_next(rd, &ev) == 1) {
            m++;
            chk += ev.id;
        }
        dt[k] = now() - t0;
        ct[k] = cpu_now() - c0;
        events = m;
        as_reader_close(rd);
        if (chk == 42)
            puts("");
    }
    qsort(dt, (size_t)runs, sizeof *dt, cmp_d);
    qsort(ct, (size_t)runs, sizeof *ct, cmp_d);
    printf("%-10s %-6s %-12s %-9s %-13s %-13s %-13s %-13s\n", "events", "level", "file_bytes",
           "bytes/ev", "enc_ns/ev", "enc_cpu_ns/ev", "dec_Mev/s", "dec_Mev/cpu_s");
    printf("%-10llu %-6d %-12llu %-9.3f %-13.1f %-13.1f %-13.1f %-13.1f\n",
           (unsigned long long)events, level, (unsigned long long)bytes,
           (double)bytes / (double)events, 1e9 * enc / (double)events,
           1e9 * enc_cpu / (double)events, (double)events / dt[runs / 2] / 1e6,
           (double)events / ct[runs / 2] / 1e6);
    free(dt);
    free(ct);
    return events == n ? 0 : 1;
}
