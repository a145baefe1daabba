/*
 * tracer/rec_writer.c — the writer thread of liballocsim-record.so and the
 * trace file's life cycle.
 *
 * The writer thread (all signals blocked, started at init) polls every ring,
 * merges the records in global seq order and feeds as_writer_add (replay/
 * trace.h). A record with seq s is emitted only once no thread can still
 * publish a smaller seq: with several threads, only seqs below the counter read
 * at the start of the previous round (a hook publishes within nanoseconds of
 * taking its seq, a round is >= 200 us); a record that still arrives late is
 * emitted anyway and counted. It also emits a time marker about every 1 ms (no
 * hook reads a clock), a ground-truth sample every ~10 ms (RSS from
 * /proc/self/statm, mallinfo2, the tracer's own resident bytes by mincore), and
 * writes out what the open chunk holds every ~100 ms (as_writer_sync: a
 * segment of a streamed chunk, doc/FORMAT.md §3.1) so a SIGKILL loses at most
 * that much; chunks end by size.
 *
 * Files: PREFIX.<pid>.ast, created O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode
 * 0600. A name already taken (an exec'd image of the same pid, whose previous
 * image closed its own file before exec) moves on to PREFIX.<pid>.<n>.ast,
 * n = 1, 2, ... A write error (disk full, file size limit) stops tracing: one
 * line on stderr, the file is closed as incomplete with the reason, and the
 * program runs on untraced.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/rec_internal.h"

AS_HIDDEN extern int (*as_real_pthread_create)(pthread_t *, const pthread_attr_t *,
                                                void *(*)(void *), void *);

static as_writer_t *g_w;
static int g_fd = -1;               /* the trace file (a tracer descriptor: rec_fd.c) */
static int g_statm = -1;            /* /proc/self/statm, kept open */
static int g_stat = -1;             /* /proc/self/stat, kept open (program_gone) */
static char g_path[4200];
static int64_t g_ppid;
static uint64_t g_t0;              /* CLOCK_MONOTONIC at trace start */
static int g_running;              /* the writer thread exists in this process */
static _Atomic int g_req;
static _Atomic unsigned g_ack;
static _Atomic int g_modules_dirty;
static uint64_t g_last_seq;        /* largest seq handed to as_writer_add */
static uint64_t g_added;           /* records since the last flush */

/* ---- The writer's memory: mmap only, tracked for the resident figure ------ */
#define AS_MAPS_MAX 1024
static struct { void *p; size_t len; } g_maps[AS_MAPS_MAX];
static unsigned g_nmaps;

static size_t page_round(size_t n)
{
    size_t pg = (size_t)getpagesize();
    return (n + pg - 1) & ~(pg - 1);
}

void *as_mem_alloc(void *ctx, size_t size)
{
    (void)ctx;
    size_t len = page_round(size ? size : 1);
    void *p = as_sys_mmap(len);
    if (p && g_nmaps < AS_MAPS_MAX) {
        g_maps[g_nmaps].p = p;
        g_maps[g_nmaps].len = len;
        g_nmaps++;
    }
    return p;
}

void as_mem_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (!p)
        return;
    size_t len = page_round(size ? size : 1);
    for (unsigned i = 0; i < g_nmaps; i++) {
        if (g_maps[i].p == p) {
            len = g_maps[i].len;
            g_maps[i] = g_maps[--g_nmaps];
            break;
        }
    }
    as_sys_munmap(p, len);
}

static const as_mem_t g_mem = {as_mem_alloc, as_mem_free, NULL};

static uint64_t resident_of(void *p, size_t len)
{
    static unsigned char vec[4096];
    size_t pg = (size_t)getpagesize();
    uint64_t n = 0;
    uintptr_t a = (uintptr_t)p & ~(pg - 1);
    uintptr_t end = (uintptr_t)p + len;
    while (a < end) {
        size_t pages = (end - a + pg - 1) / pg;
        if (pages > sizeof vec)
            pages = sizeof vec;
        if (mincore((void *)a, pages * pg, vec) == 0)
            for (size_t i = 0; i < pages; i++)
                n += vec[i] & 1;
        a += pages * pg;
    }
    return n * pg;
}

/* A ring's resident bytes without asking the kernel: its owners write slots
 * in order from its home slot, so the pages written are those of the most
 * slots any owner wrote (span) and of the current owner's. mincore over
 * every ring every 10 ms took the address space's lock against a program
 * that starts threads by the thousand (its mmap and mprotect of stacks):
 * 100 threads at a time, 10000 in all, spent most of 5-9 s in that lock. */
static uint64_t ring_resident(const as_ring_t *r)
{
    uint64_t used = atomic_load_explicit(&r->commit, memory_order_relaxed) - r->home;
    uint64_t span = used > r->span ? used : r->span;
    const uint64_t pg = (uint64_t)getpagesize(), per = pg / sizeof(as_rec_t);
    const uint64_t first = offsetof(as_ring_t, slot) / sizeof(as_rec_t);  /* slots of page 0 */
    if (span >= AS_RING_CAP)
        return page_round(sizeof *r);
    /* page 0 (the header) plus the pages of [home, home + span), which may
     * wrap to slot 0 (page 0 again) */
    uint64_t pages = 1, a = r->home, b = r->home + span;
    uint64_t hi = b < AS_RING_CAP ? b : AS_RING_CAP;
    if (hi > a)
        pages += (first + hi - 1) / per - (first + a) / per + ((first + a) / per ? 1 : 0);
    if (b > AS_RING_CAP)
        pages += (first + b - AS_RING_CAP - 1) / per;   /* pages past page 0 */
    return pages * pg;
}

uint64_t as_tracer_resident(void)
{
    uint64_t n = 0;
    for (as_ring_t *r = atomic_load(&as_g_rings); r; r = r->next)
        n += ring_resident(r);
    for (unsigned i = 0; i < g_nmaps; i++)
        n += resident_of(g_maps[i].p, g_maps[i].len);
    return n + as_tracer_lib_resident();
}

/* ---- File creation --------------------------------------------------------- */
static char *put_u(char *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *o++ = tmp[--n];
    return o;
}

/* Opens the next free name into g_fd (a tracer descriptor: rec_fd.c). */
static int open_trace(void)
{
    for (unsigned n = 0; n < 1000; n++) {
        char *o = g_path;
        size_t plen = strlen(as_g_prefix);
        memcpy(o, as_g_prefix, plen);
        o += plen;
        *o++ = '.';
        o = put_u(o, (uint64_t)as_g_pid);
        if (n) {
            *o++ = '.';
            o = put_u(o, n);
        }
        memcpy(o, AS_TRACE_EXT, sizeof AS_TRACE_EXT);
        int fd = as_fd_open(&g_fd, g_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

static char g_exe[4096];
static char *g_argv;               /* /proc/self/cmdline, mmap'd */
static size_t g_argv_len;

static void read_cmdline(void)
{
    if (!g_argv)
        g_argv = as_sys_mmap(1 << 20);
    g_argv_len = 0;
    if (!g_argv)
        return;
    int fd;
    if (as_fd_open(&fd, "/proc/self/cmdline", O_RDONLY, 0) < 0)
        return;
    ssize_t n;
    while (g_argv_len < (1 << 20) - 1 &&
           (n = read(fd, g_argv + g_argv_len, (1 << 20) - 1 - g_argv_len)) > 0)
        g_argv_len += (size_t)n;
    as_fd_close(&fd);
}

/* The entries of the environment this image started with that glibc's malloc
 * reads at start (GLIBC_TUNABLES, the MALLOC_* aliases): the replay engine's
 * reference glibc needs them (REPLAY.md). /proc/self/environ is that initial
 * environment, whatever setenv did since; a forked child inherits it. An
 * entry that does not fit is left out whole, never cut.
 * glibc 2.36 parses GLIBC_TUNABLES in the initial environment in place,
 * turning the ':' after each tunable it knows into a NUL (getenv sees an
 * intact copy), so "GLIBC_TUNABLES=a=1:b=2" reads back as "GLIBC_TUNABLES=a=1",
 * "b=2". The entries that follow one and whose name holds a '.' (tunable
 * names do, environment variable names do not) are joined back with ':'. */
static char g_menv[4096];
static size_t g_menv_len;

/* "name=value" whose name holds a '.' */
static int dotted_name(const char *e)
{
    for (; *e && *e != '='; e++)
        if (*e == '.')
            return 1;
    return 0;
}

static void read_malloc_env(void)
{
    /* Streamed through a small buffer: each entry is copied after the kept
     * ones and kept (start moves past it) if it is whole and matches. */
    char buf[4096];
    size_t start = 0, len = 0;   /* the current entry: g_menv[start, start+len) */
    int keep = 1, tun = 0;       /* tun: the last kept entry is GLIBC_TUNABLES */
    g_menv_len = 0;
    int fd;
    if (as_fd_open(&fd, "/proc/self/environ", O_RDONLY, 0) < 0)
        return;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t k = 0; k < n; k++) {
            char c = buf[k];
            if (keep && start + len < sizeof g_menv)
                g_menv[start + len] = c;
            else
                keep = 0;
            len++;
            if (c)
                continue;
            if (keep && tun && dotted_name(g_menv + start)) {
                g_menv[start - 1] = ':';           /* the tunable string goes on */
                start += len;
            } else if (keep && (!strncmp(g_menv + start, "GLIBC_TUNABLES=", 15) ||
                                !strncmp(g_menv + start, "MALLOC_", 7))) {
                tun = !strncmp(g_menv + start, "GLIBC_TUNABLES=", 15);
                start += len;
            } else {
                tun = 0;
            }
            len = 0;
            keep = 1;
        }
    }
    as_fd_close(&fd);
    g_menv_len = start;
}

/* Opens the next file and its as_writer. 0 on success; on failure says why on
 * stderr (once) and returns -1: the caller stops tracing. */
static int open_writer(void)
{
    int fd = open_trace();
    if (fd < 0) {
        char buf[200], why[256] = ": ";
        const char *e = strerror_r(errno, buf, sizeof buf);
        strncat(why, e ? e : "error", sizeof why - 3);
        as_say("tracing stopped (the program runs on untraced): cannot create ",
               g_path, why);
        return -1;
    }
    ssize_t n = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
    g_exe[n > 0 ? n : 0] = '\0';
    read_cmdline();
    read_malloc_env();
    cpu_set_t cs;
    CPU_ZERO(&cs);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    as_header_t h = {
        .version = AS_TRACE_VERSION,
        .page_size = (uint32_t)getpagesize(),
        .ncpus = sched_getaffinity(0, sizeof cs, &cs) == 0 ? (uint32_t)CPU_COUNT(&cs) : 0,
        .tracer_options = (as_callsite_on() ? AS_OPT_CALLSITE : 0) |
                          (as_foreign_malloc() ? AS_OPT_FOREIGN_MALLOC : 0),
        .pid = as_g_pid,
        .ppid = g_ppid,
        .start_time_ns = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec,
        .exe = g_exe,
        .argv = g_argv ? g_argv : "",
        .argv_len = g_argv_len,
        .libc_version = gnu_get_libc_version(),
        .python_version = NULL,
        .malloc_env = g_menv_len ? g_menv : NULL,
        .malloc_env_len = g_menv_len,
    };
    as_err_t err = AS_OK;
    g_w = as_writer_create(fd, &h, &g_mem, as_g_level, &err);
    if (!g_w) {
        as_say("tracing stopped (the program runs on untraced): ", g_path,
               err == AS_ERR_NOSPACE ? ": no space left on device" : ": cannot write the header");
        as_fd_close(&g_fd);
        return -1;
    }
    g_t0 = as_now_ns();
    g_last_seq = 0;
    g_added = 0;
    if (as_callsite_on())
        as_callsite_emit_modules(g_w);
    return 0;
}

/* Closes g_fd, unless the writer found that it no longer names the trace
 * file: then the number may be the program's own file now, and is left be. */
static void release_fd(as_err_t e)
{
    if (e == AS_ERR_FDLOST)
        as_fd_forget(&g_fd);
    else
        as_fd_close(&g_fd);
}

/* A write failed: one line, mark the file incomplete, stop tracing. */
static void stop_tracing(as_err_t err)
{
    char msg[200] = ": ";
    strncat(msg, as_strerror(err), sizeof msg - 80);
    strcat(msg, err == AS_ERR_FDLOST
                    ? "; the program runs on untraced, the file ends at its last complete write"
                    : "; the program runs on untraced, the file is marked incomplete");
    as_say("tracing stopped: ", g_path, msg);
    __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
    as_err_t e = as_writer_close(g_w, err == AS_OK ? AS_ERR_IO : err);
    g_w = NULL;
    release_fd(err == AS_ERR_FDLOST ? err : e);
}

/* ---- Markers (time, samples) wait for their place in seq order ------------- */
#define AS_MARKS 64
static struct mark {
    uint64_t seq;
    int is_sample;
    uint64_t t;
    as_sample_t s;
} g_marks[AS_MARKS];
static unsigned g_mhead, g_mcount;

static void push_mark(uint64_t seq, int is_sample, uint64_t t, const as_sample_t *s)
{
    if (g_mcount == AS_MARKS)
        return;   /* the writer is far behind; drop a marker, never an event */
    struct mark *m = &g_marks[(g_mhead + g_mcount) % AS_MARKS];
    m->seq = seq;
    m->is_sample = is_sample;
    m->t = t;
    if (s)
        m->s = *s;
    g_mcount++;
}

/* Emit markers whose seq is <= upto; 0 or an error. */
static as_err_t flush_marks(uint64_t upto)
{
    while (g_mcount && g_marks[g_mhead].seq <= upto) {
        struct mark *m = &g_marks[g_mhead];
        uint64_t seq = m->seq < g_last_seq ? g_last_seq : m->seq;
        as_err_t e = m->is_sample ? as_writer_sample(g_w, seq, &m->s)
                                  : as_writer_time(g_w, seq, m->t);
        if (e)
            return e;
        g_mhead = (g_mhead + 1) % AS_MARKS;
        g_mcount--;
    }
    return AS_OK;
}

/* *seq: where the sample goes in the event order. It is read again just
 * before the read that makes the kernel count the RSS, not where the loop
 * read it: the open, the time mark and above all a preemption in between
 * (three runnable threads on two cores) let the program's heap grow past
 * *seq before the RSS is counted, and the replay then takes that growth for
 * memory outside the heap, at the peak of all samples. */
/* What take_sample carries from one sample to the next (below); a fork
 * child starts afresh (as_writer_abandon): the parent's figures are not its. */
static struct {
    struct mallinfo2 mi;
    uint64_t mi_next;
    uint64_t last_seq, last_full, tracer_rss;
} g_smp = {.last_seq = UINT64_MAX};

static void take_sample(as_sample_t *s, uint64_t *seq)
{
    memset(s, 0, sizeof *s);
    /* kept open (a tracer descriptor, rec_fd.c): statm is generated afresh
     * by every read from offset 0 */
    if (g_statm >= 0 && !as_fd_check(&g_statm))
        as_fd_forget(&g_statm);   /* closed behind our back: the number is not ours */
    if (g_statm >= 0 || as_fd_open(&g_statm, "/proc/self/statm", O_RDONLY, 0) >= 0) {
        char buf[128];
        *seq = __atomic_load_n(&as_g_seq, __ATOMIC_ACQUIRE);
        ssize_t n = pread(g_statm, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            const char *p = buf;
            while (*p && *p != ' ')
                p++;
            uint64_t v = 0;
            while (*p == ' ')
                p++;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (uint64_t)(*p++ - '0');
            s->rss = v * (uint64_t)getpagesize();
        }
    }
    /* mallinfo2 walks every free chunk under the arena lock: on a big
     * fragmented heap (CPython with PYTHONMALLOC=malloc) one call takes
     * milliseconds and stalls the program's allocator meanwhile. So it is
     * refreshed at most at a 1% duty cycle (the next call no sooner than
     * 100x the last one's cost, and never more often than every 10 ms); in
     * between, samples carry the last values. RSS is read every time. */
    /* A program that made no heap call since the last sample (a server
     * waiting, a worker blocked on its queue) changed neither its heap nor
     * the tracer's rings: those figures are carried for up to a second, and
     * an idle process costs one pread a sample instead of ~30 syscalls
     * (mincore over the rings and writer memory, pagemap for the tracer's
     * libraries, mallinfo2): `allocsim record -- sleep 5` took 0.23 s of
     * CPU, 4.6% of a core. */
    uint64_t t0 = as_now_ns();
    int quiet = *seq == g_smp.last_seq && t0 - g_smp.last_full < 1000000000u;
    g_smp.last_seq = *seq;
    if (t0 >= g_smp.mi_next && !quiet) {
        g_smp.mi = mallinfo2();
        uint64_t cost = as_now_ns() - t0;
        g_smp.mi_next = t0 + (cost * 100 > 10000000u ? cost * 100 : 10000000u);
    }
    s->arena = g_smp.mi.arena;
    s->hblkhd = g_smp.mi.hblkhd;
    s->uordblks = g_smp.mi.uordblks;
    s->fordblks = g_smp.mi.fordblks;
    if (!quiet) {
        g_smp.tracer_rss = as_tracer_resident();
        g_smp.last_full = t0;
    }
    s->tracer_rss = g_smp.tracer_rss;
}

/* ---- Draining the rings ------------------------------------------------------ */
/* seq_op of the ring's oldest published record, 0 if none. */
static inline uint64_t peek(as_ring_t *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t >= atomic_load_explicit(&r->commit, memory_order_acquire))
        return 0;
    return r->slot[t & AS_RING_MASK].seq_op;
}

/* Ring heads by seq, a binary min-heap: with thousands of rings (a program
 * that runs threads by the thousand), finding the next run by scanning every
 * ring made each merged run cost the ring count (2000 threads at a time:
 * drain() took 72% of the run). */
typedef struct head {
    uint64_t seq;
    as_ring_t *r;
} head_t;
static head_t *g_heap;
static size_t g_nheap, g_heap_cap;

static int heap_push(uint64_t seq, as_ring_t *r)
{
    if (g_nheap == g_heap_cap) {
        size_t cap = g_heap_cap ? 2 * g_heap_cap : 256;
        head_t *h = as_mem_alloc(NULL, cap * sizeof *h);
        if (!h)
            return -1;
        if (g_nheap)
            memcpy(h, g_heap, g_nheap * sizeof *h);
        as_mem_free(NULL, g_heap, g_heap_cap * sizeof *h);
        g_heap = h;
        g_heap_cap = cap;
    }
    size_t i = g_nheap++;
    while (i && g_heap[(i - 1) / 2].seq > seq) {
        g_heap[i] = g_heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g_heap[i] = (head_t){seq, r};
    return 0;
}

static as_ring_t *heap_pop(void)
{
    as_ring_t *top = g_heap[0].r;
    head_t last = g_heap[--g_nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g_nheap)
            break;
        if (c + 1 < g_nheap && g_heap[c + 1].seq < g_heap[c].seq)
            c++;
        if (g_heap[c].seq >= last.seq)
            break;
        g_heap[i] = g_heap[c];
        i = c;
    }
    if (g_nheap)
        g_heap[i] = last;
    return top;
}

/* The ring's head into the heap if it holds a record below bound. If the
 * heap cannot grow (no memory), the ring waits for the next scan: its records
 * may then go out late, which the reader counts; none is lost. */
static void heap_offer(as_ring_t *r, uint64_t bound)
{
    uint64_t so = peek(r);
    if (so && (so >> 16) < bound)
        (void)heap_push(so >> 16, r);
}

/* Emits every published record with seq < bound, merged across rings in seq
 * order: the rings' heads go into a heap; each step takes a run from the
 * lowest, up to the next head's seq, and offers that ring again; once the
 * heap is empty the rings are scanned again for records published since.
 * Returns the number emitted, or -1 after an error stopped tracing. */
static long drain(uint64_t bound)
{
    long total = 0;
    for (;;) {
        g_nheap = 0;
        for (as_ring_t *r = atomic_load(&as_g_rings); r; r = r->next)
            heap_offer(r, bound);
        if (!g_nheap)
            return total;
        while (g_nheap) {
            as_ring_t *best = heap_pop();
            uint64_t second = g_nheap ? g_heap[0].seq : UINT64_MAX;
            uint64_t stop = second < bound ? second : bound;
            /* a run from one ring: every record below the other rings' heads
             * (with one thread, the whole ring), handed over in pieces of up to
             * 1024 records, contiguous in the ring and not crossing a pending
             * marker's seq; the tail is released after each piece so a waiting
             * producer moves on */
            uint64_t t = atomic_load_explicit(&best->tail, memory_order_relaxed);
            uint64_t c = atomic_load_explicit(&best->commit, memory_order_acquire);
            long run = 0;
            int more = 1;
            while (more && t < c) {
                const as_rec_t *first = &best->slot[t & AS_RING_MASK];
                uint64_t s = first->seq_op >> 16;
                if (s >= stop && run)
                    break;
                uint64_t lim = AS_RING_CAP - (t & AS_RING_MASK);
                if (lim > c - t)
                    lim = c - t;
                if (lim > 1024)
                    lim = 1024;
                as_err_t e = AS_OK;
                uint64_t mark = UINT64_MAX, n = 0;
                for (;;) {
                    if (s > g_last_seq)   /* else late: the reader counts it */
                        g_last_seq = s;
                    if (n++ == 0 && g_mcount) {   /* markers due before the first */
                        e = flush_marks(s);
                        mark = g_mcount ? g_marks[g_mhead].seq : UINT64_MAX;
                    }
                    if (s >= stop) {
                        more = 0;
                        break;
                    }
                    if (n == lim)
                        break;
                    s = first[n].seq_op >> 16;
                    if (s >= stop || s >= mark)
                        break;
                }
                if (!e && !as_g_discard)
                    e = as_writer_add_batch(g_w, best->thread, first, n);
                t += n;
                run += (long)n;
                atomic_store_explicit(&best->tail, t, memory_order_release);
                if (e) {
                    stop_tracing(e);
                    return -1;
                }
                if (t == c)
                    c = atomic_load_explicit(&best->commit, memory_order_acquire);
            }
            total += run;
            g_added += (uint64_t)run;
            heap_offer(best, bound);
        }
    }
}

/* zstd is a quarter of the writer's time at level 3, and level 1 makes
 * churn's chunks no larger (2.42 bytes an event both) but Python's heap
 * traffic's about 9% larger (hg with PYTHONMALLOC=malloc). So chunks are
 * compressed at the configured level while the writer keeps up, and at level
 * 1 (or the configured one if lower) for the next 100 ms after 100 ms in
 * which a program thread found its ring full while the writer was busy
 * (more than half of it on the CPU): then the writer's time is the
 * program's. A full ring while the writer was mostly off the CPU (other
 * jobs had the core) says nothing about its speed. */
static uint64_t g_waits, g_win_ns, g_win_cpu;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pick_level(uint64_t now)
{
    if (now - g_win_ns < 100000000u)
        return;
    uint64_t waits = 0, cpu = thread_cpu_ns();
    for (as_ring_t *r = atomic_load(&as_g_rings); r; r = r->next)
        waits += __atomic_load_n(&r->waits, __ATOMIC_RELAXED);
    int behind = g_win_ns && waits != g_waits && (cpu - g_win_cpu) * 2 > now - g_win_ns;
    g_waits = waits;
    g_win_ns = now;
    g_win_cpu = cpu;
    as_writer_level(g_w, behind && as_g_level > 1 ? 1 : as_g_level);
}

/* Discard what is left in the rings (tracing stopped). */
static void discard_all(void)
{
    for (as_ring_t *r = atomic_load(&as_g_rings); r; r = r->next)
        atomic_store(&r->tail, atomic_load(&r->commit));
}

/* Rings of threads that exited, drained and dead for a second, are reused. */
static void recycle_rings(uint64_t now)
{
    pid_t pid = getpid();
    for (as_ring_t *r = atomic_load(&as_g_rings); r; r = r->next) {
        if (atomic_load(&r->state) != AS_RING_DEAD || peek(r))
            continue;
        if (!r->dead_ns)
            r->dead_ns = now;
        /* A thread can still allocate after our key destructor (in later
         * ones) until it is gone: then nothing can reach its ring, and the
         * next thread may have it. Once the kernel no longer knows its id
         * (ESRCH; ids come round again only after pid_max others), that is
         * certain; otherwise a second dead and empty is taken as enough. A
         * program that starts and ends threads by the thousand each second
         * kept that many rings and the writer scanned them all for every run
         * it merged (10000 threads, 16 at a time: 7.4 s traced against 0.8
         * untraced, 149 MB resident). */
        int gone = r->tid > 0 && syscall(SYS_tgkill, pid, r->tid, 0) != 0 && errno == ESRCH;
        if (gone || now - r->dead_ns > 1000000000u) {
            /* the next owner starts at the ring's home slot: a short-lived
             * thread then writes the pages the last one did, where counting
             * on from here made every reused ring resident end to end */
            uint64_t used = atomic_load(&r->commit) - r->home;
            if (used > r->span)
                r->span = used < AS_RING_CAP ? used : AS_RING_CAP;
            r->reserve = r->home;
            r->limit = r->home + AS_RING_CAP;
            atomic_store(&r->commit, r->home);
            atomic_store(&r->tail, r->home);
            atomic_store(&r->state, AS_RING_FREE);
        }
    }
}

/* Records at or past this seq are not written by the final drain: set by
 * as_writer_close_at (a signal ends the process; the other threads' later
 * calls, made while it finishes the trace, are not the program's story and
 * could keep a drain going for as long as they run). */
static _Atomic uint64_t g_end_seq = UINT64_MAX;

/* Everything published so far, then the chunk: before exec, posix_spawn,
 * exit. */
static void final_drain(void)
{
    if (!g_w)
        return;
    if (drain(atomic_load(&g_end_seq)) < 0)
        return;
    as_err_t e = flush_marks(UINT64_MAX);
    if (!e)
        e = as_writer_flush(g_w);
    if (e)
        stop_tracing(e);
}

static void close_file(void)
{
    if (!g_w)
        return;
    as_err_t e = as_writer_close(g_w, AS_OK);
    g_w = NULL;
    release_fd(e);
    if (e)
        as_say("tracing stopped: ", g_path, ": could not finish the file");
}

/* The program is about to dup2 onto fd, one of ours: move ours elsewhere.
 * In the writer thread (or where none runs), so no write is in flight. If
 * no other number is free, the trace is finished now, while it still can be. */
static void vacate(int fd)
{
    int nfd = as_fd_move(fd);
    if (nfd >= 0) {
        if (nfd == g_fd && g_w && as_writer_set_fd(g_w, nfd) != AS_OK)
            stop_tracing(AS_ERR_FDLOST);
        return;
    }
    if (fd == g_fd && g_w) {
        final_drain();
        if (g_w) {
            as_say("tracing stopped: ", g_path,
                   ": the program takes the trace's descriptor number and none other is free");
            __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
            close_file();
        }
    } else {
        as_fd_close_number(fd);
    }
}

static void ack(void)
{
    atomic_store(&g_req, AS_REQ_NONE);
    atomic_fetch_add(&g_ack, 1);
}

#define IDLE_SYNC 25u   /* empty polls (200 us apart) before an early sync */

/* 1 once every thread of the program has ended and only this one is left:
 * the main thread called pthread_exit (a zombie until the process ends) and
 * the others returned. glibc ends the process when its last thread exits,
 * but this thread counts as one, so such a program ran on forever under the
 * tracer (tracer.mainexit). /proc/self/stat: the leader's state, then
 * num_threads 17 fields on. */
/* ---- The keeper --------------------------------------------------------------
 * The writer keeps its files in a table of its own (rec_fd.c). When a
 * program's last thread ends by pthread_exit (main did so earlier), glibc
 * would call exit(0) in it; with the writer still running, the writer is the
 * one to call exit (finish_for_program). But by then the kernel has closed
 * the program's table (its last user is gone), and exit run from the
 * writer's table would flush the program's stdio into nothing: its output was
 * lost (tracer.mainexit). So a second, idle thread shares the program's table
 * from the start and keeps it alive; on the writer's word it calls exit(0)
 * there. Without it the writer stays in the shared table, as before. */
static _Atomic int g_keeper;       /* 1 while a keeper thread exists */
static int g_keeper_go;            /* futex word: 1 = call exit(0), 2 = end quietly */

static void *keeper_main(void *arg)
{
    (void)arg;
    as_t_thr.guard = 1;
    int go;
    while (!(go = __atomic_load_n(&g_keeper_go, __ATOMIC_ACQUIRE)))
        syscall(SYS_futex, &g_keeper_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    if (go == 1) {
        /* as a program thread would: the program's atexit handlers and
         * destructors run here, with signals open */
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        exit(0);
    }
    atomic_store(&g_keeper, 0);
    return NULL;
}

static void keeper_say(int go)
{
    __atomic_store_n(&g_keeper_go, go, __ATOMIC_RELEASE);
    syscall(SYS_futex, &g_keeper_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int program_gone(void)
{
    char buf[1024];
    if (g_stat < 0 && as_fd_open(&g_stat, "/proc/self/stat", O_RDONLY, 0) < 0)
        return 0;
    ssize_t n = pread(g_stat, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    char state = p[2];
    p += 2;
    for (int field = 0; field < 17 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    long threads = p ? atol(p) : 0, ours = atomic_load(&g_keeper) ? 2 : 1;
    return threads == ours || (threads == ours + 1 && state == 'Z');
}

/* The program is over but for this thread: finish the file and end the
 * process as glibc's last thread would have, exit(0) (atexit handlers and
 * destructors run here, untraced). */
static void finish_for_program(void)
{
    final_drain();
    close_file();
    __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
    g_running = 0;
    if (!atomic_load(&g_keeper))
        exit(0);
    keeper_say(1);   /* exit in the program's table */
    for (;;)
        pause();
}

/* A quiet program's writer woke every 1 ms to find nothing (plus a sample
 * every 10 ms: ~30 syscalls before take_sample carried quiet figures), 4.6%
 * of a core for `allocsim record -- sleep 5`. It now naps: AS_SLOW_NAP in
 * as_g_slow, which every as_emit reads anyway, and a futex wait on it until
 * the next sample; the first record after the flag is seen wakes it, so
 * that record's time is still the writer's ~1 ms time marker, and a request
 * (exit, exec, a signal) wakes it too. A record published just as the flag
 * goes up may miss it (no fence on the hot path): the nap then ends at its
 * timeout, as before with the 1 ms polls, only later. */
static void nap(uint64_t ns)
{
    int v = __atomic_or_fetch(&as_g_slow, AS_SLOW_NAP, __ATOMIC_SEQ_CST);
    int any = 0;
    for (as_ring_t *r = atomic_load(&as_g_rings); r && !any; r = r->next)
        any = peek(r) != 0;
    if (!any && atomic_load(&g_req) == AS_REQ_NONE) {
        struct timespec ts = {0, (long)ns};
        syscall(SYS_futex, &as_g_slow, FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0);
    }
    __atomic_and_fetch(&as_g_slow, ~AS_SLOW_NAP, __ATOMIC_RELAXED);
}

void as_writer_wake(void)
{
    if (__atomic_fetch_and(&as_g_slow, ~AS_SLOW_NAP, __ATOMIC_RELAXED) & AS_SLOW_NAP) {
        int e = errno;
        syscall(SYS_futex, &as_g_slow, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        errno = e;
    }
}

/* Time markers: each says that the calls from its seq on were made at or
 * after its time. A pass marks the calls from the current counter on, at
 * most once a millisecond while calls come. The calls since the previous
 * pass happened after it: after a quiet spell they are timed at this pass,
 * from their first seq. Before, they kept the last marker before the spell
 * (the first malloc after a 100 ms sleep read as made 100 ms early; after
 * a nap, as long as the nap). Now they are at most one pass late (200 us
 * polls; a nap ends at the call). A request (exit, exec) drains after a
 * pass, so the last calls before an exit are timed too. */
static struct {
    uint64_t last, last_seq;   /* the last marker's time and seq */
    uint64_t seen;             /* the seq counter at the previous pass */
    int quiet;                 /* that pass found no new calls */
} g_tm;

static void time_mark(uint64_t seq, uint64_t now)
{
    push_mark(seq, 0, now - g_t0, NULL);
    g_tm.last = now;
    g_tm.last_seq = seq;
}

static void time_pass(uint64_t now)
{
    uint64_t c = __atomic_load_n(&as_g_seq, __ATOMIC_ACQUIRE);
    if (c != g_tm.seen && g_tm.quiet && g_tm.seen >= g_tm.last_seq)
        time_mark(g_tm.seen, now);
    g_tm.quiet = c == g_tm.seen;
    g_tm.seen = c;
    if (now - g_tm.last >= 1000000u && c != g_tm.last_seq)
        time_mark(c, now);
}

static void *writer_main(void *arg)
{
    (void)arg;
    as_t_thr.guard = 1;          /* nothing this thread does is traced */
    if (atomic_load(&g_keeper))
        as_fd_take_private();   /* else, or if it fails, the table stays shared */
    uint64_t prev_c = __atomic_load_n(&as_g_seq, __ATOMIC_ACQUIRE);
    uint64_t last_sample = 0, last_flush = as_now_ns();
    unsigned idle = 0;
    g_tm.last = g_tm.last_seq = 0;
    g_tm.seen = prev_c;
    g_tm.quiet = 0;
    for (;;) {
        if (g_w)   /* before a request's drain, which may be the last */
            time_pass(as_now_ns());
        int req = atomic_load(&g_req);
        if (req == AS_REQ_FLUSH) {
            final_drain();
            ack();
        } else if (req == AS_REQ_CLOSE) {
            final_drain();
            close_file();
            ack();
        } else if ((req & 0xff) == AS_REQ_VACATE) {
            vacate(req >> 8);   /* the number rides in the request */
            ack();
        } else if (req == AS_REQ_RESUME) {
            if (!g_w && open_writer() != 0)
                __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
            prev_c = __atomic_load_n(&as_g_seq, __ATOMIC_ACQUIRE);
            ack();
        }
        uint64_t now = as_now_ns();
        if (!g_w) {
            if (as_g_state == AS_ST_OFF)
                discard_all();
            /* tracing stopped (a full disk): the program must still end */
            if (now - last_sample >= 10000000u) {
                last_sample = now;
                if (program_gone())
                    finish_for_program();
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        uint64_t c = __atomic_load_n(&as_g_seq, __ATOMIC_ACQUIRE);
        if (now - last_sample >= 10000000u && !as_fd_check(&g_fd)) {
            /* closed behind our back (a raw syscall) and perhaps reused by
             * the program: its close of that number must work again soon */
            stop_tracing(AS_ERR_FDLOST);
            continue;
        }
        if (now - last_sample >= 10000000u && program_gone())
            finish_for_program();
        if (now - last_sample >= 10000000u) {
            as_sample_t s;
            uint64_t sc = c;
            take_sample(&s, &sc);
            /* a sample has no time of its own: it reads the last marker's.
             * While the program is quiet no call brings a new marker, and
             * every sample of the spell read as taken at its start (an
             * idle server's trace ended at its last request; replay's sum
             * of processes took it for gone). So one goes with it. */
            if (now - g_tm.last >= 1000000u && sc >= g_tm.last_seq)
                time_mark(sc, now);
            push_mark(sc, 1, 0, &s);
            last_sample = now;
            recycle_rings(now);
        }
        int multi = __atomic_load_n(&as_g_multi, __ATOMIC_ACQUIRE);
        uint64_t bound = multi ? prev_c : UINT64_MAX;
        long n = drain(bound);
        if (n < 0)
            continue;
        prev_c = c;
        pick_level(now);
        /* a marker goes out once every record below its seq has */
        as_err_t e = flush_marks(multi ? bound : g_last_seq + 1);
        if (!e && atomic_exchange(&g_modules_dirty, 0))
            as_callsite_emit_modules(g_w);
        /* The open chunk is written out every sync interval (100 ms), and
         * once the program has made no heap call for ~5 ms (IDLE_SYNC empty
         * polls): processes are mostly killed while they wait (a pool
         * worker, a server), and then lose nothing instead of up to 100 ms.
         * At most one early sync per 20 ms (a quiet spell that starts sooner
         * waits for it), so a program that pauses often does not cut its
         * chunks into small segments: on an hg-malloc clone (hg's checkout
         * workers pause for I/O all the time) 2 ms and 10 ms cost the
         * workers' traces 7% more bytes; 5 ms and 20 ms, nothing measurable
         * (tracer/README.md). */
        idle = n ? 0 : idle + 1;
        if (!e && (now - last_flush >= as_g_sync_ns ||
                   (idle >= IDLE_SYNC && g_added && now - last_flush >= 20000000u))) {
            if (g_added)
                e = as_writer_sync(g_w);
            g_added = 0;
            last_flush = now;
        }
        if (e) {
            stop_tracing(e);
            continue;
        }
        /* idle: poll every 200 us; once idle for ~10 ms, nap until the
         * next sample is due or the program's next heap call wakes us */
        if (n == 0) {
            if (idle > 50) {
                uint64_t since = as_now_ns() - last_sample;
                nap(since < 10000000u ? 10000000u - since : 200000u);
            } else {
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
            }
        }
    }
    return NULL;
}

/* Opens the file and starts the writer thread (in init, and in a fork child).
 * The caller holds the recursion guard. */
int as_writer_start(int64_t ppid)
{
    g_ppid = ppid;
    g_running = 0;
    atomic_store(&g_req, AS_REQ_NONE);
    atomic_store(&g_end_seq, UINT64_MAX);
    __atomic_and_fetch(&as_g_slow, ~AS_SLOW_NAP, __ATOMIC_RELAXED);   /* the parent's nap */
    g_mhead = g_mcount = 0;
    g_win_ns = 0;
    /* open and read are cancellation points: a cancel pending on the thread
     * that forked must not act inside fork */
    int cs;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
    /* every long-lived descriptor now, while the process is single-threaded:
     * then they can go above the soft limit (rec_fd.c) */
    as_fd_solo(1);
    int rc = open_writer();
    if (rc == 0) {
        if (g_statm < 0)
            as_fd_open(&g_statm, "/proc/self/statm", O_RDONLY, 0);
        if (g_stat < 0)
            as_fd_open(&g_stat, "/proc/self/stat", O_RDONLY, 0);
        as_rss_open();
    }
    as_fd_solo(0);
    if (rc != 0) {
        pthread_setcancelstate(cs, NULL);
        return -1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1u << 20);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    g_keeper_go = 0;
    pthread_attr_t kattr;
    pthread_attr_init(&kattr);
    pthread_attr_setdetachstate(&kattr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&kattr, 1u << 20);   /* exit's handlers may run on it */
    atomic_store(&g_keeper, as_real_pthread_create(&th, &kattr, keeper_main, NULL) == 0);
    pthread_attr_destroy(&kattr);
    rc = as_real_pthread_create(&th, &attr, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        if (atomic_load(&g_keeper))
            keeper_say(2);   /* no writer: it would only keep the process alive */
        as_say("tracing stopped (the program runs on untraced): ", g_path,
               ": cannot start the writer thread");
        release_fd(as_writer_close(g_w, AS_ERR_NOMEM));
        g_w = NULL;
        pthread_setcancelstate(cs, NULL);
        return -1;
    }
    g_running = 1;
    pthread_setcancelstate(cs, NULL);
    return 0;
}

/* Synchronous hand-shake with the writer thread (exec, posix_spawn, exit). */
void as_writer_request(int req) { (void)as_writer_request_within(req, 0); }

/* The same, giving up after ms milliseconds (0: never): -1 then. Only the
 * nanosleep syscall, the vDSO clock and atomics: a signal handler may call it
 * (rec_sig.c), and it runs in exit, exec and posix_spawn, which a pending
 * cancel must not end there (glibc's nanosleep is a cancellation point). */
int as_writer_request_within(int req, unsigned ms)
{
    if (!g_running)
        return 0;
    int e = errno;
    const struct timespec ts = {0, 50000};
    uint64_t deadline = ms ? as_now_ns() + (uint64_t)ms * 1000000u : UINT64_MAX;
    int none = AS_REQ_NONE;
    while (!atomic_compare_exchange_weak(&g_req, &none, req)) {
        none = AS_REQ_NONE;
        if (ms && as_now_ns() > deadline) {
            errno = e;
            return -1;
        }
        syscall(SYS_nanosleep, &ts, NULL);
    }
    as_writer_wake();
    unsigned a = atomic_load(&g_ack);
    /* the writer may already have acked between the CAS and this load only if
     * it handled our request: then g_req is NONE again */
    while (atomic_load(&g_ack) == a && atomic_load(&g_req) == req) {
        if (ms && as_now_ns() > deadline) {   /* left posted: the writer may still get to it */
            errno = e;
            return -1;
        }
        syscall(SYS_nanosleep, &ts, NULL);
    }
    errno = e;
    return 0;
}

int as_writer_close_at(uint64_t seq, unsigned ms)
{
    atomic_store(&g_end_seq, seq);
    return as_writer_request_within(AS_REQ_CLOSE, ms);
}

void as_writer_fd_vacate(int fd)
{
    if (!g_running) {
        vacate(fd);
        return;
    }
    as_writer_request(AS_REQ_VACATE | fd << 8);
}

/* In a fork child: the parent's writer thread does not exist here; drop its
 * writer (the memory is ours to unmap, the file is the parent's). */
void as_writer_abandon(void)
{
    g_running = 0;
    g_w = NULL;
    /* the parent's; statm and pagemap name the parent's /proc entries */
    as_fd_close(&g_fd);
    as_fd_close(&g_statm);
    as_fd_close(&g_stat);
    as_rss_after_fork();
    for (unsigned i = 0; i < g_nmaps; i++)
        as_sys_munmap(g_maps[i].p, g_maps[i].len);
    g_nmaps = 0;
    g_heap = NULL;   /* it was among them */
    g_nheap = g_heap_cap = 0;
    memset(&g_smp, 0, sizeof g_smp);
    g_smp.last_seq = UINT64_MAX;
    as_fd_after_fork();   /* the next files start in the program's table */
}

void as_writer_modules_changed(void) { atomic_store(&g_modules_dirty, 1); }
