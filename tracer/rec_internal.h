/*
 * tracer/rec_internal.h — shared state of liballocsim-record.so (the LD_PRELOAD
 * interposer). Nothing here is exported: the library's only public symbols are
 * the interposed libc functions and allocsim_mark().
 *
 * Shape (DESIGN.md "Data flows one way"; issue 2 §3):
 *   hook (program thread)  --32-byte as_rec_t-->  its own SPSC ring (mmap'd)
 *   writer thread          merges rings in global seq order --> as_writer_add
 * Rules that hold everywhere in this library: no stdio, no malloc, no lock the
 * program could hold inside a hook; the tracer's own memory comes from mmap.
 */
#ifndef AS_REC_INTERNAL_H
#define AS_REC_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "replay/trace.h"

#define AS_HIDDEN __attribute__((visibility("hidden")))
#define AS_LIKELY(x) __builtin_expect(!!(x), 1)
#define AS_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- Global state -------------------------------------------------------- */
enum as_state {
    AS_ST_UNINIT = 0,  /* before the constructor (or a first hook) ran */
    AS_ST_ON = 1,      /* hooks record */
    AS_ST_OFF = 2,     /* never traced (AT_SECURE, --no-follow child, error) or
                          stopped (disk full, exit): hooks pass straight through */
};

/* Ring capacity: 32768 records (1 MiB) per thread. At churn's ~40 M events/s
 * that is ~0.8 ms of slack for the writer thread; a full ring makes the
 * producer wait, never drop. */
#define AS_RING_BITS 15
#define AS_RING_CAP (1u << AS_RING_BITS)
#define AS_RING_MASK (AS_RING_CAP - 1u)

enum as_ring_state { AS_RING_FREE = 0, AS_RING_LIVE = 1, AS_RING_DEAD = 2 };

/* One thread's single-producer single-consumer ring. The producer (the
 * owning thread, and signal handlers that interrupt it) reserves slots with a
 * signal-atomic xadd, fills them, and publishes by storing `commit`; only the
 * outermost hook on a thread publishes (depth counter), so a handler that
 * interrupts a hook between reserve and fill can never publish the outer
 * hook's half-written slot: it is published with the outer one. The consumer
 * never writes a slot, so slot cache lines only travel producer -> consumer. */
typedef struct as_ring {
    /* producer side: the owning thread and its signal handlers */
    uint64_t reserve;          /* next slot index to hand out */
    uint64_t limit;            /* cached tail + AS_RING_CAP */
    _Atomic uint64_t commit;   /* slots below are filled (release store) */
    uint32_t thread;           /* thread index written with its records */
    int32_t tid;               /* the owner's kernel thread id once it runs, else 0 */
    void *(*start_fn)(void *); /* pthread_create trampoline payload */
    void *start_arg;
    uint64_t waits;            /* times the ring was full (read by the writer) */
    char pad1[64 - 56];
    /* consumer side: the writer thread */
    _Atomic uint64_t tail;
    uint64_t dead_ns;          /* when the writer first saw it DEAD and empty */
    uint64_t home;             /* slot every owner starts at (rings differ) */
    uint64_t span;             /* most slots any owner wrote from home, <= CAP */
    char pad2[64 - 32];
    _Atomic int state;         /* as_ring_state */
    struct as_ring *next;      /* all rings ever made (append-only list) */
    char pad3[64 - 16];
    as_rec_t slot[AS_RING_CAP];
} as_ring_t;

typedef struct as_thr {
    as_ring_t *ring;
    int guard;                 /* >0: tracer code runs; hooks pass through */
    int depth;                 /* >0: inside as_emit (a signal may nest) */
    int exited;                /* our pthread key destructor ran */
} as_thr_t;

extern __thread as_thr_t as_t_thr __attribute__((tls_model("initial-exec"))) AS_HIDDEN;
extern int as_g_state AS_HIDDEN;
extern int as_g_multi AS_HIDDEN;       /* a second thread was ever created */
/* Read by every as_emit, one load for both: AS_SLOW_CALLSITE (--callsite:
 * every event takes as_emit_callsite), AS_SLOW_NAP (the writer sleeps until
 * woken, after a quiet spell: the first record wakes it, rec_writer.c),
 * AS_SLOW_LEAVE (rec_fd.c: the next event closes the program's copies of the
 * tracer's descriptors, once the writer has a table of its own). */
#define AS_SLOW_CALLSITE 1
#define AS_SLOW_NAP 2
#define AS_SLOW_LEAVE 4   /* the writer has its own table: close the program's copies */
AS_HIDDEN void as_fd_leave_shared(void);   /* rec_fd.c: that close, in a program thread */
extern int as_g_slow AS_HIDDEN;
/* --callsite (set at init, never changed) */
static inline int as_callsite_on(void)
{
    return __atomic_load_n(&as_g_slow, __ATOMIC_RELAXED) & AS_SLOW_CALLSITE;
}
AS_HIDDEN void as_writer_wake(void);   /* rec_writer.c: end the writer's nap */
/* What a set AS_SLOW_LEAVE or AS_SLOW_NAP asks of the next event. */
static inline void as_slow_chores(int slow)
{
    if (slow & AS_SLOW_LEAVE)
        as_fd_leave_shared();
    if (slow & AS_SLOW_NAP)
        as_writer_wake();
}
extern uint64_t as_g_seq AS_HIDDEN;    /* next global sequence number */
extern as_ring_t *_Atomic as_g_rings AS_HIDDEN;
extern _Atomic uint32_t as_g_nthreads AS_HIDDEN;
extern pid_t as_g_pid AS_HIDDEN;       /* the pid this state belongs to */

/* ---- rec_ring.c ---------------------------------------------------------- */
AS_HIDDEN void as_init(void);
AS_HIDDEN as_ring_t *as_ring_attach(as_thr_t *t);   /* slow path: no ring yet */
AS_HIDDEN as_ring_t *as_ring_new(void);              /* LIVE ring, new thread index */
AS_HIDDEN void as_ring_wait(as_ring_t *r, uint64_t h);
AS_HIDDEN void as_rings_reset_after_fork(as_ring_t *keep);
AS_HIDDEN void *as_sys_mmap(size_t len);
AS_HIDDEN void as_sys_munmap(void *p, size_t len);
AS_HIDDEN uint64_t as_now_ns(void);
AS_HIDDEN void as_say(const char *a, const char *b, const char *c);
AS_HIDDEN extern int as_g_said;              /* 1: a writer's line waits (as_say_flush) */
AS_HIDDEN void as_say_flush(void);           /* program threads: write it */

/* Should this call be recorded? Initialises lazily when a hook runs before
 * our constructor (a library constructor that allocates). */
static inline int as_tracing(as_thr_t *t)
{
    if (AS_LIKELY(as_g_state == AS_ST_ON && !t->guard))
        return 1;
    if (as_g_state == AS_ST_UNINIT && !t->guard) {
        as_init();
        return as_g_state == AS_ST_ON && !t->guard;
    }
    if (AS_UNLIKELY(as_g_said == 1) && !t->guard)
        as_say_flush();   /* the writer's line (tracing stopped) */
    return 0;
}

/* Signal-atomic increment of a per-thread (or single-thread) counter: one
 * xadd without the lock prefix cannot be split by a signal handler, and costs
 * no bus lock. */
static inline uint64_t as_local_xadd(uint64_t *p, uint64_t v)
{
    __asm__ __volatile__("xaddq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}

static inline uint64_t as_next_seq(uint64_t n)
{
    if (AS_LIKELY(!__atomic_load_n(&as_g_multi, __ATOMIC_RELAXED)))
        return as_local_xadd(&as_g_seq, n);
    return __atomic_fetch_add(&as_g_seq, n, __ATOMIC_RELAXED);
}

/* The slot AS_RING_AHEAD records on (4 KiB) is asked for in exclusive state
 * now. The writer thread's core read that line last, so a plain store to it
 * misses; glibc takes its arena lock with a locked instruction in most
 * mallocs and frees of a multi-threaded process (the writer makes every
 * traced process one), and a locked instruction waits until every earlier
 * store owns its line. On churn that wait was most of the program thread's
 * added cycles (tracer/README.md, "Where the time goes"). prefetchw by hand:
 * GCC emits it for __builtin_prefetch only under -mprfchw, and x86-64 CPUs
 * without PRFCHW execute the opcode as a no-op. */
#define AS_RING_AHEAD 128u

static inline as_rec_t *as_ring_slot(as_ring_t *r, uint64_t h)
{
    if (AS_UNLIKELY(h >= r->limit))
        as_ring_wait(r, h);
    if (AS_LIKELY(h + AS_RING_AHEAD < r->limit)) {
#if defined(__x86_64__)
        __asm__("prefetchw %0" : : "m"(r->slot[(h + AS_RING_AHEAD) & AS_RING_MASK]));
#else
        __builtin_prefetch(&r->slot[(h + AS_RING_AHEAD) & AS_RING_MASK], 1);
#endif
    }
    return &r->slot[h & AS_RING_MASK];
}

/* Publish every filled slot, unless an outer hook on this thread is still
 * filling one (then it publishes ours too). */
static inline void as_commit(as_thr_t *t, as_ring_t *r)
{
    if (--t->depth == 0)
        atomic_store_explicit(&r->commit, *(volatile uint64_t *)&r->reserve,
                              memory_order_release);
}

/* The hot path: one record into the calling thread's ring (callsite, if on,
 * as an AS_REC_CALLSITE record with the same seq just before it). */
AS_HIDDEN void as_emit_callsite(as_thr_t *t, as_ring_t *r, unsigned op, unsigned fl,
                                uint64_t a, uint64_t b, uint64_t size);

static inline void as_emit(as_thr_t *t, unsigned op, unsigned fl, uint64_t a,
                           uint64_t b, uint64_t size)
{
    as_ring_t *r = t->ring;
    if (AS_UNLIKELY(!r)) {
        r = as_ring_attach(t);
        if (!r)
            return;
    }
    int slow = __atomic_load_n(&as_g_slow, __ATOMIC_RELAXED);
    if (AS_UNLIKELY(slow)) {
        as_slow_chores(slow);
        if (slow & AS_SLOW_CALLSITE) {
            as_emit_callsite(t, r, op, fl, a, b, size);
            return;
        }
    }
    t->depth++;
    uint64_t h = as_local_xadd(&r->reserve, 1);
    as_rec_t *s = as_ring_slot(r, h);
    s->a = a;
    s->b = b;
    s->size = size;
    s->seq_op = as_rec_pack(as_next_seq(1), op, fl);
    as_commit(t, r);
}

/* Two records with one seq (event + its AS_REC_ARG continuation). */
AS_HIDDEN void as_emit2(as_thr_t *t, unsigned op, unsigned fl, uint64_t a, uint64_t b,
                        uint64_t size, uint64_t a2, uint64_t b2, uint64_t size2);

/* ---- rec_writer.c ------------------------------------------------------- */
enum as_req { AS_REQ_NONE = 0, AS_REQ_FLUSH, AS_REQ_CLOSE, AS_REQ_RESUME,
              AS_REQ_VACATE /* | fd << 8 */ };
AS_HIDDEN int as_writer_start(int64_t ppid);   /* open the file, start the thread */
AS_HIDDEN void as_writer_request(int req);     /* synchronous hand-shake */
AS_HIDDEN int as_writer_request_within(int req, unsigned ms);   /* 0, or -1 after ~ms */
AS_HIDDEN int as_writer_close_at(uint64_t seq, unsigned ms); /* close; records < seq only */
AS_HIDDEN void as_writer_abandon(void);        /* in a fork child: drop parent's */
AS_HIDDEN void as_writer_modules_changed(void);
AS_HIDDEN void as_writer_fd_vacate(int fd);    /* the program dup2s onto our fd */
AS_HIDDEN int as_foreign_malloc(void);          /* rec_hooks.c: not glibc's malloc */
AS_HIDDEN uint64_t as_tracer_resident(void);
AS_HIDDEN uint64_t as_tracer_lib_resident(void); /* rec_rss.c */
AS_HIDDEN void as_rss_open(void);                  /* rec_rss.c: open pagemap now */
AS_HIDDEN void as_rss_after_fork(void);           /* rec_rss.c: drop the parent's pagemap */

/* ---- rec_proc.c: the real functions behind the hooks ------------------------ */
/* dlsym(RTLD_NEXT, name) under the recursion guard (dlsym may allocate). */
AS_HIDDEN void *as_resolve(const char *name);
/* The real function in var, found at init or, for a hook that runs before
 * that, on the spot (never from inside a heap hook). */
#define AS_REAL(var, name) (var ? var : (*(void **)&var = as_resolve(name), var))

/* The entries of an LD_PRELOAD list other than ours (rec_ring.c), ':'-joined
 * into out (cap bytes; entries that do not fit are left out); its length. */
AS_HIDDEN size_t as_preload_strip(char *out, size_t cap, const char *list);

/* ---- rec_fd.c: the tracer's descriptors, out of the program's reach ------- */
AS_HIDDEN void as_sig_init(void);          /* rec_sig.c: fatal signals finish the trace */
AS_HIDDEN void as_fini_within(unsigned ms); /* rec_proc.c: finish the trace, bounded wait */
AS_HIDDEN void as_fd_init(void);
/* open(path, flags | O_CLOEXEC) moved to a high number, kept in *var and
 * registered; -1 (errno set, *var = -1) on failure. */
AS_HIDDEN int as_fd_open(int *var, const char *path, int flags, mode_t mode);
AS_HIDDEN void as_fd_solo(int on);           /* 1: single-threaded, open above the limit */
AS_HIDDEN int as_fd_take_private(void);      /* writer thread: a table of its own (0) */
AS_HIDDEN void as_fd_after_fork(void);
AS_HIDDEN int as_fd_private_thread(void);    /* this thread is that writer */
AS_HIDDEN void as_fd_close(int *var);         /* unregister, close, *var = -1 */
AS_HIDDEN void as_fd_forget(int *var);        /* unregister without closing */
AS_HIDDEN void as_fd_close_number(int fd);    /* as_fd_close of the entry holding fd */
AS_HIDDEN int as_fd_ours(int fd);
/* 1 if *var still names the file it was opened on (not closed behind the
 * library's back and reused by the program: rec_fd.c). */
AS_HIDDEN int as_fd_check(int *var);
AS_HIDDEN int as_fd_move(int fd);             /* ours off fd: the new number, or -1 */
AS_HIDDEN void *as_mem_alloc(void *ctx, size_t size);
AS_HIDDEN void as_mem_free(void *ctx, void *p, size_t size);

/* ---- rec_callsite.c ------------------------------------------------------ */
AS_HIDDEN void as_callsite_init(void);         /* our own range + wrapper ranges */
AS_HIDDEN uint64_t as_callsite_find(void);     /* first frame outside tracer/wrappers */
AS_HIDDEN void as_callsite_emit_modules(as_writer_t *w);

/* ---- options (rec_ring.c) ----------------------------------------------- */
extern char as_g_prefix[4096] AS_HIDDEN;
extern int as_g_nofollow AS_HIDDEN;
extern int as_g_level AS_HIDDEN;
extern uint64_t as_g_sync_ns AS_HIDDEN;   /* sync=MS: the open chunk's write-out interval */
extern int as_g_discard AS_HIDDEN;
extern int as_g_signals AS_HIDDEN;        /* 0: signals=0, dispositions left alone */

#endif /* AS_REC_INTERNAL_H */
