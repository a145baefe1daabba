/*
 * replay/runner.c — allocsim-replayer: replays an op program (replay/native.h)
 * against whatever malloc this process has (glibc, or an LD_PRELOADed one) and
 * measures the resident memory that replay adds.
 *
 *   allocsim-replayer PROGRAM_FD RESULT_FD
 *
 * Started by `allocsim native` (replay/native.c) in a fresh process. Built
 * without sanitizers and with -fno-builtin: every heap call below must reach
 * the real allocator exactly as recorded.
 *
 * Rules it follows (issue 4 §2, sim/model.h):
 *  - Its own memory is mmapped and touched before the baseline: id table, op
 *    buffers, thread stacks (a pool of caller-provided stacks), and every page
 *    of every loaded library (text read, .data/.bss written back in place), so
 *    nothing but the replayed calls changes the resident set afterwards. It
 *    calls malloc for nothing of its own.
 *  - One real thread per traced thread; positions run in the recorded global
 *    order: a thread waits for its turn (spin, then futex on its own word) and
 *    the thread that finishes position g wakes the owner of g+1. A thread exit
 *    is a real return from the thread; the next position's executor joins it
 *    first, so glibc's tcache return at exit happens where it did.
 *  - User writes per the touch rule: all = every page of malloc/memalign/
 *    realloc results, first = the first byte's page, none = nothing; calloc
 *    results never.
 *  - RSS is read from /proc/self/statm, exact on Linux >= 6.16 (VmHWM is not:
 *    it comes from per-cpu approximations). Resident memory only rises in a
 *    call that writes and only falls in a call that can give memory back, so
 *    sampling before every "can give back" call that follows a "can write"
 *    call sees every local maximum: the peak is exact, not sampled.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "replay/native.h"
#include "replay/trace.h"

#define STACK_SIZE (96u << 10)
#define OPBUF_SIZE (sizeof(as_np_block_t) + AS_NP_BLOCK_OPS * sizeof(as_np_op_t))
/* A thread waiting for its turn polls while the turn is at most SPIN_NEAR
 * positions before its own (the holder hands over within a few ops): with
 * pause for SPIN_PAUSE_NS, then with sched_yield until SPIN_NS, then it
 * sleeps on its futex word. A fixed count of pause instructions was ~0.6 us
 * on an AMD EPYC guest, shorter than a hand-over there: both threads of a
 * two-thread trace slept and woke on every switch (1.1M events in 4.4 s,
 * 2.4 s of it in the kernel). Pausing for the whole 50 us instead made a
 * nine-thread trace 2.5x slower while another job had the second core: the
 * spinner held the core the holder needed; sched_yield gives it back. At
 * most ncpus - 1 threads poll at once. */
#define SPIN_NEAR 64u
#define SPIN_PAUSE_NS 2000u
#define SPIN_NS 50000u
#define SPIN_FREE 256u   /* pauses a thread waits for a polling slot */
static _Atomic uint32_t spinners;
static uint32_t max_spinners;

typedef struct rt_thread {
    pthread_t pt;
    _Atomic uint32_t wake;         /* futex word */
    _Atomic uint32_t sleeping;
    uint32_t idx;
    int32_t slot;                  /* stack pool slot, -1 = main or none */
    int running, joined;
    uint8_t *buf;                  /* OPBUF_SIZE bytes */
    uint64_t next_block;
    uint32_t nbuf, pos;
    uint64_t last_gidx;
} rt_thread_t;

typedef struct id_slot { void *p; uint64_t size; } id_slot_t;

static as_np_header_t H;
static as_np_thread_t *TH;
static as_np_start_t *ST;
static id_slot_t *IDS;
static rt_thread_t *RT;
static uint8_t *POOL;
static int32_t *FREE_SLOTS;
static uint32_t nfree_slots;
static int prog_fd = -1, res_fd = -1, statm_fd = -1;
static uint64_t page;

static _Atomic uint64_t turn;
/* Everything below is touched only by the thread holding the turn. */
static uint32_t start_cursor;
static int32_t pending_join = -1;
static int dirty;                  /* something may have raised RSS since the last sample */
static uint64_t live, done_pos, last_ev;
static uint64_t base_res, base_size;
static as_np_result_t R;
static uint8_t main_buf[OPBUF_SIZE];
static char statm_buf[128];

static void sys_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static __attribute__((noreturn)) void finish(uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void finish(uint32_t status, const char *fmt, ...)
{
    R.magic = AS_NP_RMAGIC;
    R.status = status;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(R.msg, sizeof R.msg, fmt, ap);   /* no allocation for %s/%llu */
        va_end(ap);
    }
    if (res_fd >= 0 && pwrite(res_fd, &R, sizeof R, 0) != (ssize_t)sizeof R && R.msg[0])
        sys_write_all(2, R.msg, strlen(R.msg));
    _exit(status == AS_NP_OK ? 0 : 3);
}

static void *map_touched(uint64_t bytes)
{
    if (!bytes)
        return NULL;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        finish(AS_NP_ESYS, "mmap of %llu bytes for the replayer's tables failed",
               (unsigned long long)bytes);
    memset(p, 0, bytes);   /* resident before the baseline */
    return p;
}

static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *b = buf;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* ---- RSS ------------------------------------------------------------------ */
static void statm(uint64_t *size, uint64_t *res)
{
    ssize_t n = pread(statm_fd, statm_buf, sizeof statm_buf - 1, 0);
    if (n <= 0)
        finish(AS_NP_ESYS, "reading /proc/self/statm failed");
    statm_buf[n] = 0;
    char *e;
    *size = strtoull(statm_buf, &e, 10);
    *res = strtoull(e, NULL, 10);
    R.statm_reads++;
}

/* The page faults when the last sample was read. No fault since then means
 * no page became resident, so the sample cannot be higher. A single-threaded
 * replay counts its thread's (getrusage(RUSAGE_THREAD): a third of a statm
 * read here); a multi-threaded one the whole process's (RUSAGE_SELF sums
 * every thread, the exited ones too: ~850 ns with 9 threads against ~1330
 * for a statm read on the 2-vCPU AMD guest). Threads that wait for their
 * turn fault nothing the replay made, so that only ever costs a read. */
static long last_minflt = -1;

static long faults_now(void)
{
    struct rusage ru;
    if (getrusage(H.nthreads == 1 ? RUSAGE_THREAD : RUSAGE_SELF, &ru))
        return -1;
    return ru.ru_minflt + ru.ru_majflt;
}

static void sample(void)
{
    uint64_t size, res;
    long f = faults_now();
    if (f >= 0 && f == last_minflt) {
        dirty = 0;
        R.statm_skipped++;
        return;
    }
    last_minflt = f;
    statm(&size, &res);
    uint64_t rss = res > base_res ? (res - base_res) * page : 0;
    uint64_t mapped = size > base_size ? (size - base_size) * page : 0;
    if (rss > R.peak_rss) {
        R.peak_rss = rss;
        R.peak_gidx = done_pos;
        R.peak_event = last_ev;
        R.live_at_peak = live;
    }
    if (mapped > R.peak_mapped)
        R.peak_mapped = mapped;
    dirty = 0;
}

/* ---- Threads and turns --------------------------------------------------- */
static long futex(_Atomic uint32_t *w, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)w, op, val, NULL, NULL, 0);
}

static void wake(uint32_t idx)
{
    rt_thread_t *t = &RT[idx];
    if (atomic_load(&t->sleeping)) {
        atomic_fetch_add(&t->wake, 1);
        futex(&t->wake, FUTEX_WAKE_PRIVATE, 1);
    }
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A spinning slot, if fewer than max_spinners are taken. */
static int take_spin_slot(void)
{
    uint32_t n = atomic_load_explicit(&spinners, memory_order_relaxed);
    while (n < max_spinners)
        if (atomic_compare_exchange_weak(&spinners, &n, n + 1))
            return 1;
    return 0;
}

/* Polls while the turn is near g, for at most SPIN_NS; 1 if it came. A
 * thread that just handed the turn over usually finds the slot still held
 * by the thread it handed to (which has not seen the turn yet), so it
 * retries for SPIN_FREE pauses before it gives up and sleeps. */
static int spin_turn(uint64_t g)
{
    uint64_t cur = atomic_load_explicit(&turn, memory_order_acquire);
    if (cur == g)
        return 1;
    if (g - cur > SPIN_NEAR)
        return 0;
    int came = 0, slot = 0, yielding = 0;
    uint64_t t0 = mono_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&turn, memory_order_acquire) == g) {
            came = 1;
            break;
        }
        if (!slot && !(slot = take_spin_slot()) && i > SPIN_FREE)
            break;
        if (!yielding) {
            __builtin_ia32_pause();
            if (slot && !(i & 63) && mono_ns() - t0 > SPIN_PAUSE_NS)
                yielding = 1;
            continue;
        }
        sched_yield();
        if (mono_ns() - t0 > SPIN_NS)
            break;
    }
    if (slot)
        atomic_fetch_sub(&spinners, 1);
    return came;
}

static void wait_turn(rt_thread_t *t, uint64_t g)
{
    if (spin_turn(g))
        return;
    for (;;) {
        uint32_t w = atomic_load(&t->wake);
        atomic_store(&t->sleeping, 1);
        if (atomic_load(&turn) == g)
            break;
        futex(&t->wake, FUTEX_WAIT_PRIVATE, w);
    }
    atomic_store(&t->sleeping, 0);
}

static void *thread_main(void *arg);

static void create_thread(uint32_t idx)
{
    if (idx == 0 || idx >= H.nthreads)
        finish(AS_NP_EPROGRAM, "thread start for slot %u of %u", idx, H.nthreads);
    rt_thread_t *t = &RT[idx];
    if (t->running)
        finish(AS_NP_EPROGRAM, "thread slot %u started twice", idx);
    if (!nfree_slots)
        finish(AS_NP_EPROGRAM, "more live threads than the program declared (%u)",
               H.max_live_threads);
    t->slot = FREE_SLOTS[--nfree_slots];
    uint8_t *base = POOL + (uint64_t)t->slot * (STACK_SIZE + OPBUF_SIZE);
    t->buf = base + STACK_SIZE;
    t->next_block = TH[idx].first_block;
    t->nbuf = t->pos = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, base, STACK_SIZE);
    int rc = pthread_create(&t->pt, &attr, thread_main, t);
    pthread_attr_destroy(&attr);
    if (rc)
        finish(AS_NP_ETHREAD, "pthread_create for trace thread %u failed: %s",
               TH[idx].trace_thread, strerror(rc));
    t->running = 1;
}

static void join_thread(uint32_t idx)
{
    rt_thread_t *t = &RT[idx];
    if (!t->running || t->joined)
        return;
    pthread_join(t->pt, NULL);
    t->joined = 1;
    FREE_SLOTS[nfree_slots++] = t->slot;
}

/* Hands the turn on after position next-1: creates the threads whose starts
 * come next, then wakes the owner of the next op. */
static void pass_to(rt_thread_t *self, uint64_t next, uint32_t owner)
{
    while (owner == AS_NP_OWNER_START) {
        if (start_cursor >= H.nstarts || ST[start_cursor].gidx != next)
            finish(AS_NP_EPROGRAM, "position %llu: expected a thread start",
                   (unsigned long long)next);
        const as_np_start_t *s = &ST[start_cursor++];
        create_thread(s->thread);
        done_pos = ++next;
        last_ev = s->ev;
        owner = s->next_owner;
    }
    atomic_store_explicit(&turn, next, memory_order_release);
    if (H.nthreads == 1)
        return;   /* nobody to wake: no fence (a locked store costs ~100 ns here) */
    /* Store turn, then load the owner's sleeping flag: the StoreLoad fence
     * pairs with the sleeper's store of sleeping then load of turn. */
    atomic_thread_fence(memory_order_seq_cst);
    if (owner == AS_NP_OWNER_END) {
        for (uint32_t i = 0; i < H.nthreads; i++)
            if (i != self->idx)
                wake(i);
    } else if (owner != self->idx) {
        if (owner >= H.nthreads)
            finish(AS_NP_EPROGRAM, "position %llu: owner %u out of range",
                   (unsigned long long)next, owner);
        wake(owner);
    }
}

static const as_np_op_t *next_op(rt_thread_t *t)
{
    if (t->pos == t->nbuf) {
        if (!t->next_block)
            return NULL;
        ssize_t n = pread(prog_fd, t->buf, OPBUF_SIZE, (off_t)t->next_block);
        as_np_block_t b;
        if (n < (ssize_t)sizeof b)
            finish(AS_NP_EPROGRAM, "short op block at %llu", (unsigned long long)t->next_block);
        memcpy(&b, t->buf, sizeof b);
        if (b.thread != t->idx || b.nops == 0 || b.nops > AS_NP_BLOCK_OPS ||
            (size_t)n < sizeof b + (size_t)b.nops * sizeof(as_np_op_t))
            finish(AS_NP_EPROGRAM, "bad op block at %llu", (unsigned long long)t->next_block);
        t->next_block = b.next_off;
        t->nbuf = b.nops;
        t->pos = 0;
    }
    const as_np_op_t *o = (const as_np_op_t *)(t->buf + sizeof(as_np_block_t)) + t->pos++;
    if (o->gidx >= H.nops || (t->last_gidx != UINT64_MAX && o->gidx <= t->last_gidx))
        finish(AS_NP_EPROGRAM, "op position %llu out of order in thread slot %u",
               (unsigned long long)o->gidx, t->idx);
    t->last_gidx = o->gidx;
    return o;
}

/* ---- Replaying one op ----------------------------------------------------- */
static void touch(void *ptr, uint64_t n)
{
    volatile char *p = ptr;
    if (!p || !n || H.touch == AS_NP_TOUCH_NONE)
        return;
    p[0] = 1;
    if (H.touch == AS_NP_TOUCH_FIRST)
        return;
    uintptr_t a = ((uintptr_t)p + page) & ~(uintptr_t)(page - 1);
    uintptr_t end = (uintptr_t)p + n;
    for (; a < end; a += page)
        *(volatile char *)a = 1;
}

static id_slot_t *id_at(uint32_t id, uint64_t g)
{
    if (id >= H.max_id)
        finish(AS_NP_EPROGRAM, "position %llu: block id %u out of range",
               (unsigned long long)g, id);
    return &IDS[id];
}

static void created(const as_np_op_t *o, void *p, int do_touch)
{
    if (o->flags & AS_NPF_FAILED) {
        if (p) {            /* recorded as failed, succeeded here */
            R.diverged++;
            free(p);
        }
        return;
    }
    if (!p) {
        R.diverged++;
        return;
    }
    if (o->id == AS_NO_ID) {   /* nothing will free it: keep the trace's view */
        free(p);
        return;
    }
    id_slot_t *s = id_at(o->id, o->gidx);
    s->p = p;
    s->size = o->size;
    live += o->size;
    if (do_touch)
        touch(p, o->size);
}

static void release(uint32_t id, uint64_t g)
{
    if (id == AS_NO_ID)
        return;
    id_slot_t *s = id_at(id, g);
    free(s->p);
    live -= s->size;
    s->p = NULL;
    s->size = 0;
}

static void do_realloc(const as_np_op_t *o)
{
    id_slot_t *old = o->old_id == AS_NO_ID ? NULL : id_at(o->old_id, o->gidx);
    void *op = old ? old->p : NULL;
    if (o->flags & AS_NPF_FREED) {          /* realloc(p, 0) that freed p */
        void *r = realloc(op, 0);
        if (r)                               /* allocators that return a block */
            free(r);
        if (old) {
            live -= old->size;
            old->p = NULL;
            old->size = 0;
        }
        return;
    }
    if (o->flags & AS_NPF_FAILED) {
        void *r = realloc(op, o->size);
        if (r) {                             /* succeeded here: p moved or grew */
            R.diverged++;
            if (old)
                old->p = r;
            else
                free(r);
        }
        return;
    }
    void *r = realloc(op, o->size);
    if (!r) {
        R.diverged++;
        if (old) {                           /* the trace released it: do so */
            free(op);
            live -= old->size;
            old->p = NULL;
            old->size = 0;
        }
        return;
    }
    if (old) {
        live -= old->size;
        old->p = NULL;
        old->size = 0;
    }
    created(o, r, 1);
}

static void exec_op(const as_np_op_t *o)
{
    void *p = NULL;
    switch (o->op) {
    case AS_OP_MALLOC:
        created(o, malloc(o->size), 1);
        break;
    case AS_OP_CALLOC:
        created(o, calloc(1, o->size), 0);   /* calloc's clearing is the only write */
        break;
    case AS_OP_REALLOC:
    case AS_OP_REALLOCARRAY:
        do_realloc(o);
        break;
    case AS_OP_MEMALIGN:
        created(o, memalign(o->arg, o->size), 1);
        break;
    case AS_OP_POSIX_MEMALIGN:
        if (posix_memalign(&p, o->arg, o->size))
            p = NULL;
        created(o, p, 1);
        break;
    case AS_OP_ALIGNED_ALLOC:
        created(o, aligned_alloc(o->arg, o->size), 1);
        break;
    case AS_OP_VALLOC:
        created(o, valloc(o->size), 1);
        break;
    case AS_OP_PVALLOC:
        created(o, pvalloc(o->size), 1);
        break;
    case AS_OP_FREE:
    case AS_OP_FREE_SIZED:
    case AS_OP_FREE_ALIGNED_SIZED:         /* not in glibc 2.36: plain free */
        release(o->id, o->gidx);
        break;
    case AS_OP_MALLOC_TRIM:
        malloc_trim(o->arg);
        break;
    case AS_OP_MALLOPT:
        mallopt((int)o->arg, o->arg2);
        break;
    default:
        finish(AS_NP_EPROGRAM, "position %llu: op %u cannot be replayed",
               (unsigned long long)o->gidx, o->op);
    }
}

/* Can this op give memory back to the system (so a peak may end here)? */
static int may_release(const as_np_op_t *o)
{
    if (H.sample_all)
        return 1;
    switch (o->op) {
    case AS_OP_MALLOC: case AS_OP_CALLOC: case AS_OP_VALLOC: case AS_OP_PVALLOC:
        return 0;   /* glibc's malloc path never shrinks the heap or unmaps */
    default:
        return 1;   /* frees, realloc, memalign's frees, trim, mallopt, exit */
    }
}

static void run_ops(rt_thread_t *t)
{
    const as_np_op_t *o;
    while ((o = next_op(t))) {
        wait_turn(t, o->gidx);
        if (pending_join >= 0) {
            join_thread((uint32_t)pending_join);
            pending_join = -1;
        }
        if (dirty && may_release(o))
            sample();
        if (H.sample_every && o->gidx % H.sample_every == 0) {
            if (dirty)
                sample();
            uint64_t size, res;
            statm(&size, &res);
            R.samples++;
            R.rss_sum += (double)(res > base_res ? (res - base_res) * page : 0);
            R.live_sum += (double)live;
        }
        if (o->op == AS_OP_THREAD_EXIT) {
            if (t->idx == 0)
                finish(AS_NP_EPROGRAM, "exit of the main thread in the program");
            pending_join = (int32_t)t->idx;
            done_pos = o->gidx + 1;
            last_ev = o->ev;
            pass_to(t, o->gidx + 1, o->next_owner);
            return;   /* the thread really ends: tcache and arena go back */
        }
        exec_op(o);
        done_pos = o->gidx + 1;
        last_ev = o->ev;
        /* Frees write only inside blocks that are already resident under
         * touch=all; otherwise their metadata writes may fault pages in. */
        if (o->op != AS_OP_FREE || H.touch != AS_NP_TOUCH_ALL || H.sample_all)
            dirty = 1;
        if (o->gidx == H.peak_live_gidx) {
            uint64_t size, res;
            sample();
            statm(&size, &res);
            R.rss_at_peak_live = res > base_res ? (res - base_res) * page : 0;
        }
        R.ops_done = done_pos;
        pass_to(t, o->gidx + 1, o->next_owner);
    }
}

static void *thread_main(void *arg)
{
    rt_thread_t *t = arg;
    run_ops(t);
    if (!TH[t->idx].exits)   /* never exited in the trace: live until the end */
        wait_turn(t, H.nops);
    return NULL;
}

/* ---- Before the baseline --------------------------------------------------- */
static char maps_buf[1 << 16];

/* Makes every page of every loaded file resident now, so code paths met for
 * the first time during replay do not fault library pages in: text and
 * read-only data are read; .data and the .bss after it are written back with
 * their own value (single-threaded here, so nothing can race). */
static void prefault_libraries(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        finish(AS_NP_ESYS, "cannot open /proc/self/maps");
    size_t n = 0;
    ssize_t r;
    while (n < sizeof maps_buf - 1 && (r = read(fd, maps_buf + n, sizeof maps_buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    maps_buf[n] = 0;
    uintptr_t prev_end = 0;
    int prev_file = 0;
    /* allocsim native names the library it preloaded: a file ld.so refused
     * (it only warns and goes on) must not pass for that allocator. */
    const char *expect = getenv("ALLOCSIM_EXPECT_LIB");
    int found = !expect || !*expect;
    for (char *line = maps_buf; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break;   /* a torn last line: skip it */
        *nl = 0;
        /* "lo-hi perms offset dev inode   path", parsed by hand: sscanf
         * may allocate, and no malloc may run before the baseline. */
        char *c = line;
        uintptr_t lo = (uintptr_t)strtoull(c, &c, 16);
        uintptr_t hi = *c == '-' ? (uintptr_t)strtoull(c + 1, &c, 16) : 0;
        const char *perms = *c == ' ' ? c + 1 : "----";
        for (int field = 0; field < 4 && *c; field++) {   /* perms offset dev inode */
            while (*c == ' ')
                c++;
            while (*c && *c != ' ')
                c++;
        }
        while (*c == ' ')
            c++;
        const char *path = c;
        if (!found && !strcmp(path, expect))
            found = 1;
        if (hi > lo) {
            int file = path[0] == '/';
            int anon = path[0] == 0;
            int bss = anon && prev_file && lo == prev_end;
            if (perms[0] == 'r' && (file || bss)) {
                for (uintptr_t a = lo; a < hi; a += page) {
                    if (perms[1] == 'w')
                        __atomic_fetch_or((char *)a, 0, __ATOMIC_RELAXED);
                    else
                        (void)*(volatile char *)a;
                }
            }
            prev_end = hi;
            prev_file = file;
        }
        line = nl + 1;
    }
    if (!found)
        finish(AS_NP_ESYS, "the allocator library %s was not loaded (not a shared library?)",
               expect);
}

static __attribute__((noinline)) void prefault_stack(void)
{
    volatile char buf[256 << 10];
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = 0;
}

/* Are statm readings exact here? Linux >= 6.16 sums the per-cpu RSS
 * counters when /proc is read; older kernels report an approximation that
 * can be off by tens of pages. Touch 64 fresh pages and look. */
static void statm_selftest(void)
{
    enum { N = 64 };
    char *p = mmap(NULL, N * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    uint64_t s0, r0, s1, r1;
    statm(&s0, &r0);
    for (int i = 0; i < N; i++)
        p[(uint64_t)i * page] = 1;
    statm(&s1, &r1);
    munmap(p, N * page);
    R.approximate = r1 - r0 != N;
}

static uint64_t parse_u64(const char *s, int *ok)
{
    char *e;
    errno = 0;
    uint64_t v = strtoull(s, &e, 10);
    *ok = !errno && *s && !*e;
    return v;
}

int main(int argc, char **argv)
{
    int ok1 = 0, ok2 = 0;
    if (argc == 3) {
        prog_fd = (int)parse_u64(argv[1], &ok1);
        res_fd = (int)parse_u64(argv[2], &ok2);
    }
    if (!ok1 || !ok2) {
        static const char usage[] =
            "usage: allocsim-replayer PROGRAM_FD RESULT_FD\n"
            "The replayer of 'allocsim native'; run that instead.\n";
        sys_write_all(2, usage, sizeof usage - 1);
        return 2;
    }
    /* Without address randomization: where the brk heap starts modulo a
     * large alignment decides how memalign splits, so with ASLR two replays
     * of one trace could differ by a page. Re-exec once with it off (the
     * fds stay open: they are not close-on-exec). */
    int pers = personality(0xffffffff);
    if (pers != -1 && !(pers & ADDR_NO_RANDOMIZE) &&
        personality((unsigned long)pers | ADDR_NO_RANDOMIZE) != -1)
        execv("/proc/self/exe", argv);   /* returns only on failure: go on randomized */
    page = (uint64_t)sysconf(_SC_PAGESIZE);
    R.page_size = (uint32_t)page;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    max_spinners = ncpu > 1 ? (uint32_t)(ncpu - 1) : 0;
    if (read_full(prog_fd, &H, sizeof H, 0) || H.magic != AS_NP_MAGIC)
        finish(AS_NP_EPROGRAM, "not an allocsim op program");
    if (H.version != AS_NP_VERSION)
        finish(AS_NP_EPROGRAM, "op program version %u, this replayer reads %u", H.version,
               AS_NP_VERSION);
    if (H.nthreads == 0 || H.nthreads > AS_NP_MAX_THREADS || H.nstarts >= H.nthreads ||
        H.max_live_threads > H.nthreads || H.max_id > (1ull << 32) || H.touch > 2)
        finish(AS_NP_EPROGRAM, "op program header out of range");

    statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (statm_fd < 0)
        finish(AS_NP_ESYS, "cannot open /proc/self/statm");

    TH = map_touched(H.nthreads * sizeof *TH);
    if (read_full(prog_fd, TH, H.nthreads * sizeof *TH, H.threads_off))
        finish(AS_NP_EPROGRAM, "thread table missing");
    ST = map_touched((H.nstarts + 1) * sizeof *ST);
    if (H.nstarts && read_full(prog_fd, ST, H.nstarts * sizeof *ST, H.starts_off))
        finish(AS_NP_EPROGRAM, "thread start table missing");
    IDS = map_touched(H.max_id * sizeof *IDS + 1);
    RT = map_touched(H.nthreads * sizeof *RT);
    uint32_t slots = H.max_live_threads;
    POOL = map_touched((uint64_t)slots * (STACK_SIZE + OPBUF_SIZE) + 1);
    FREE_SLOTS = map_touched((slots + 1) * sizeof *FREE_SLOTS);
    for (uint32_t i = 0; i < slots; i++)
        FREE_SLOTS[nfree_slots++] = (int32_t)(slots - 1 - i);
    for (uint32_t i = 0; i < H.nthreads; i++) {
        RT[i].idx = i;
        RT[i].slot = -1;
        RT[i].last_gidx = UINT64_MAX;
    }
    memset(main_buf, 0, sizeof main_buf);
    RT[0].buf = main_buf;
    RT[0].next_block = TH[0].first_block;
    RT[0].running = 1;
    RT[0].joined = 1;

    prefault_stack();
    prefault_libraries();
    statm_selftest();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);   /* warms the vDSO page too */
    uint64_t sz, res;
    statm(&sz, &res);
    statm(&base_size, &base_res);
    R.baseline_rss = base_res * page;
    R.statm_reads = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rt_thread_t *m = &RT[0];
    pass_to(m, 0, H.first_owner);
    run_ops(m);
    wait_turn(m, H.nops);
    if (pending_join >= 0) {
        join_thread((uint32_t)pending_join);
        pending_join = -1;
    }
    last_minflt = -1;
    sample();   /* the end is a candidate peak too */
    {
        uint64_t fsize, fres;
        statm(&fsize, &fres);
        R.final_rss = fres > base_res ? (fres - base_res) * page : 0;
        R.final_live = live;
    }
    if (!H.sample_all) {   /* glibc's own view, after measuring (it may lock/allocate) */
        struct mallinfo2 mi = mallinfo2();
        R.heap_bytes = mi.arena + mi.hblkhd;
        R.free_bytes = mi.fordblks + mi.fsmblks;
        R.mmap_chunks = mi.hblks;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    R.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    R.ops_done = done_pos;
    R.peak_live = 0;   /* the parent knows it exactly */
    for (uint32_t i = 1; i < H.nthreads; i++)
        join_thread(i);
    finish(AS_NP_OK, NULL);
}
