/*
 * replay/native.c — the parent half of native replay (replay/native.h).
 *
 * Decodes a trace once (replay/trace.h reader) into the op program the
 * replayer reads, checking on the way that the events can be replayed in
 * order: every release names a live block, no block is created twice, no
 * thread acts after its exit. A trace that fails those checks is damaged and
 * the message names the event. Then runs allocsim-replayer in a fresh process
 * (posix_spawn) with the allocator's environment and turns its raw figures
 * into the replay metrics (issue 3 §4).
 *
 * Memory: bounded by the live set (one size per block id) and one 48 KiB op
 * block per traced thread; the program itself goes to an unnamed file on
 * disk (program_file()).
 */
#include "replay/native.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay/trace.h"
#include "replay/zmem.h"

extern char **environ;

const char *as_native_strerror(as_native_err_t err)
{
    switch (err) {
    case AS_NATIVE_OK: return "no error";
    case AS_NATIVE_READ: return "cannot read the trace";
    case AS_NATIVE_DAMAGED: return "the trace cannot be replayed in order";
    case AS_NATIVE_RUNNER: return "cannot start the replayer";
    case AS_NATIVE_FAILED: return "the replayer failed";
    case AS_NATIVE_SYS: return "system call failed";
    case AS_NATIVE_LIMIT: return "too many threads";
    case AS_NATIVE_NOMEM: return "out of memory";
    default: return "unknown error";
    }
}

int as_native_find_runner(char *buf, size_t len)
{
    const char *env = getenv("ALLOCSIM_REPLAYER");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    static const char *const rel[] = {"/allocsim-replayer", "/../lib/allocsim/allocsim-replayer"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(buf, len, "%s%s", self, rel[i]);
        if (access(buf, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* ---- Program builder ------------------------------------------------------ */
typedef struct tslot {
    as_np_block_t *blk;       /* open block: header + AS_NP_BLOCK_OPS ops */
    uint64_t first_block, last_block_off, nops;
    uint32_t trace_thread;
    int started, exited;
    int exit_deferred;        /* its exit event came before its last call */
} tslot_t;

typedef struct builder {
    int fd;
    uint64_t fend;            /* end of the file so far */
    tslot_t *slots;
    uint32_t nslots, cap_slots;
    uint32_t *slot_of;        /* trace thread -> slot + 1 (0 = none) */
    uint32_t cap_slot_of;
    as_np_start_t *starts;
    uint32_t nstarts, cap_starts;
    as_np_op_t *prev_op;      /* the previous position, if an op (its block */
    uint32_t prev_start;      /* is still open), else an index in starts */
    uint32_t first_owner;
    uint64_t gidx;
    uint32_t *num;            /* per trace block id: its number in the program + 1
                                 (0 = not live; dense_take) */
    uint64_t cap_ids;
    uint64_t *size_of;        /* per number: the live block's requested size */
    uint64_t cap_size_of;
    uint32_t *dfree;          /* numbers released, handed out again first */
    uint64_t ndfree, cap_dfree;
    uint64_t max_id;          /* numbers handed out: the replayer's table size */
    uint64_t live, peak_live, peak_live_gidx;
    uint32_t live_threads, max_live_threads;
    uint64_t unknown, failed;
    int damaged;              /* the reader skipped damaged data (detail says what) */
    int lenient;              /* ... so pairing across the gap cannot be checked */
    uint64_t gap_repairs;     /* pairing breaks after a gap, skipped or closed */
    uint64_t *last_real;      /* per trace thread: event index of its last call + 1 */
    uint32_t nlast_real;
    char *detail;
    size_t detail_len;
} builder_t;

static as_native_err_t damaged(builder_t *b, uint64_t ev, const as_event_t *e, const char *fmt,
                               unsigned long long v)
{
    char what[160];
    snprintf(what, sizeof what, fmt, v);
    snprintf(b->detail, b->detail_len, "event %llu (%s, thread %u): %s", (unsigned long long)ev,
             as_op_name(e->op) ? as_op_name(e->op) : "?", e->thread, what);
    return AS_NATIVE_DAMAGED;
}

static as_native_err_t pwrite_all(builder_t *b, const void *p, size_t n, uint64_t off)
{
    const char *c = p;
    while (n) {
        ssize_t w = pwrite(b->fd, c, n, (off_t)off);
        if (w <= 0) {
            snprintf(b->detail, b->detail_len, "writing the op program: %s", strerror(errno));
            return AS_NATIVE_SYS;
        }
        c += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return AS_NATIVE_OK;
}

static as_native_err_t flush_slot(builder_t *b, uint32_t s)
{
    tslot_t *t = &b->slots[s];
    if (!t->blk || !t->blk->nops)
        return AS_NATIVE_OK;
    uint64_t off = b->fend;
    size_t n = sizeof(as_np_block_t) + t->blk->nops * sizeof(as_np_op_t);
    t->blk->next_off = 0;
    t->blk->thread = s;
    as_native_err_t err = pwrite_all(b, t->blk, n, off);
    if (err)
        return err;
    b->fend += n;
    if (t->last_block_off) {   /* chain: patch the previous block's next_off */
        err = pwrite_all(b, &off, sizeof off, t->last_block_off);
        if (err)
            return err;
    } else {
        t->first_block = off;
    }
    t->last_block_off = off;
    t->blk->nops = 0;
    return AS_NATIVE_OK;
}

static as_native_err_t slot_for(builder_t *b, uint32_t thread, uint32_t *out)
{
    if (thread >= AS_REPLAY_THREAD_LIMIT) {
        snprintf(b->detail, b->detail_len, "thread index %u is beyond what native replay supports",
                 thread);
        return AS_NATIVE_LIMIT;
    }
    if (thread >= b->cap_slot_of) {
        uint32_t cap = b->cap_slot_of ? b->cap_slot_of : 64;
        while (cap <= thread)
            cap *= 2;
        uint32_t *n = realloc(b->slot_of, cap * sizeof *n);
        if (!n)
            return AS_NATIVE_NOMEM;
        memset(n + b->cap_slot_of, 0, (cap - b->cap_slot_of) * sizeof *n);
        b->slot_of = n;
        b->cap_slot_of = cap;
    }
    if (!b->slot_of[thread]) {
        if (b->nslots >= AS_NP_MAX_THREADS) {
            snprintf(b->detail, b->detail_len,
                     "the trace has more than %u threads; native replay supports %u",
                     AS_NP_MAX_THREADS, AS_NP_MAX_THREADS);
            return AS_NATIVE_LIMIT;
        }
        if (b->nslots == b->cap_slots) {
            uint32_t cap = b->cap_slots ? b->cap_slots * 2 : 16;
            tslot_t *n = realloc(b->slots, cap * sizeof *n);
            if (!n)
                return AS_NATIVE_NOMEM;
            b->slots = n;   /* ops live in each slot's own block: prev_op stays valid */
            b->cap_slots = cap;
        }
        memset(&b->slots[b->nslots], 0, sizeof b->slots[0]);
        b->slots[b->nslots].trace_thread = thread;
        b->slot_of[thread] = ++b->nslots;
    }
    *out = b->slot_of[thread] - 1;
    return AS_NATIVE_OK;
}

/* A new position owned by `owner`: completes the previous position's link. */
static void link_prev(builder_t *b, uint32_t owner)
{
    if (b->gidx == 0)
        b->first_owner = owner;
    else if (b->prev_op)
        b->prev_op->next_owner = (uint16_t)owner;
    else
        b->starts[b->prev_start].next_owner = owner;
}

static as_native_err_t add_start(builder_t *b, uint32_t s, uint64_t ev)
{
    if (b->nstarts == b->cap_starts) {
        uint32_t cap = b->cap_starts ? b->cap_starts * 2 : 16;
        as_np_start_t *n = realloc(b->starts, cap * sizeof *n);
        if (!n)
            return AS_NATIVE_NOMEM;
        b->starts = n;
        b->cap_starts = cap;
    }
    link_prev(b, AS_NP_OWNER_START);
    as_np_start_t *st = &b->starts[b->nstarts++];
    memset(st, 0, sizeof *st);
    st->gidx = b->gidx++;
    st->ev = ev;
    st->thread = s;
    st->next_owner = AS_NP_OWNER_END;
    b->prev_op = NULL;
    b->prev_start = b->nstarts - 1;
    tslot_t *t = &b->slots[s];
    t->started = 1;
    if (++b->live_threads > b->max_live_threads)
        b->max_live_threads = b->live_threads;
    return AS_NATIVE_OK;
}

static as_native_err_t add_op(builder_t *b, uint32_t s, const as_np_op_t *op)
{
    tslot_t *t = &b->slots[s];
    if (!t->blk) {
        t->blk = calloc(1, sizeof(as_np_block_t) + AS_NP_BLOCK_OPS * sizeof(as_np_op_t));
        if (!t->blk)
            return AS_NATIVE_NOMEM;
    }
    link_prev(b, s);
    if (t->blk->nops == AS_NP_BLOCK_OPS) {
        as_native_err_t err = flush_slot(b, s);
        if (err)
            return err;
    }
    as_np_op_t *o = (as_np_op_t *)(t->blk + 1) + t->blk->nops++;
    *o = *op;
    o->gidx = b->gidx++;
    o->next_owner = AS_NP_OWNER_END;
    b->prev_op = o;
    t->nops++;
    return AS_NATIVE_OK;
}

static as_native_err_t id_room(builder_t *b, uint32_t id)
{
    if (id >= b->cap_ids) {                 /* zero pages (replay/zmem.h) */
        void *p = b->num;
        if (as_zgrow(&p, &b->cap_ids, id, sizeof *b->num, 1024))
            return AS_NATIVE_NOMEM;
        b->num = p;
    }
    return AS_NATIVE_OK;
}

/* Room for element `need` of *p (*cap elements of elem bytes), doubling
 * from 1024. 0, or -1 with *p unchanged. */
static int room(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need < *cap)
        return 0;
    uint64_t n = *cap ? *cap * 2 : 1024;
    while (n <= need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static inline int is_live(const builder_t *b, uint32_t id)
{
    return id < b->cap_ids && b->num[id];
}

/* The program names blocks by numbers of its own, not by trace ids: the
 * replayer's table (runner.c) is faulted in whole before the replay, so
 * page faults stay out of what it measures, and sized by the largest
 * number. Handing out released numbers first keeps that to the peak of
 * live blocks, where a (crafted) trace id near 2^28 made it 2 GiB. The
 * program runs in trace order (one baton across threads), so a number
 * reused right after its release names the new block only. Creates block
 * id (id_room done, not live) of `size` bytes. */
static as_native_err_t dense_take(builder_t *b, uint32_t id, uint64_t size, uint32_t *num)
{
    uint32_t x = b->ndfree ? b->dfree[--b->ndfree] : (uint32_t)b->max_id;
    if (room((void **)&b->size_of, &b->cap_size_of, x, sizeof *b->size_of))
        return AS_NATIVE_NOMEM;
    if (x == b->max_id)
        b->max_id++;
    b->size_of[x] = size;
    b->num[id] = x + 1;
    b->live += size;
    *num = x;
    return AS_NATIVE_OK;
}

/* Releases live block id; *num = its number. */
static as_native_err_t dense_drop(builder_t *b, uint32_t id, uint32_t *num)
{
    uint32_t x = b->num[id] - 1;
    if (room((void **)&b->dfree, &b->cap_dfree, b->ndfree, sizeof *b->dfree))
        return AS_NATIVE_NOMEM;
    b->num[id] = 0;
    b->live -= b->size_of[x];
    b->dfree[b->ndfree++] = x;
    *num = x;
    return AS_NATIVE_OK;
}

static int is_alloc_op(unsigned op)
{
    switch (op) {
    case AS_OP_MALLOC: case AS_OP_CALLOC: case AS_OP_MEMALIGN: case AS_OP_POSIX_MEMALIGN:
    case AS_OP_ALIGNED_ALLOC: case AS_OP_VALLOC: case AS_OP_PVALLOC:
        return 1;
    default:
        return 0;
    }
}

/* A call that does something when replayed (free(NULL) and releases of
 * blocks from before tracing do not). */
static int is_real_call(const as_event_t *e)
{
    switch (e->op) {
    case AS_OP_FREE: case AS_OP_FREE_SIZED: case AS_OP_FREE_ALIGNED_SIZED:
        return !(e->flags & AS_EVF_UNKNOWN) && e->id != AS_NO_ID;
    case AS_OP_MALLOC_TRIM: case AS_OP_MALLOPT: case AS_OP_REALLOC: case AS_OP_REALLOCARRAY:
        return 1;
    default:
        return is_alloc_op(e->op);
    }
}

static uint64_t last_real(const builder_t *b, uint32_t thread)
{
    return thread < b->nlast_real ? b->last_real[thread] : 0;
}

static as_native_err_t add_event_1(builder_t *b, uint64_t evi, const as_event_t *e)
{
    as_native_err_t err;
    unsigned op = e->op;
    int heap = is_alloc_op(op) || op == AS_OP_REALLOC || op == AS_OP_REALLOCARRAY ||
               op == AS_OP_FREE || op == AS_OP_FREE_SIZED || op == AS_OP_FREE_ALIGNED_SIZED;
    int control = op == AS_OP_MALLOC_TRIM || op == AS_OP_MALLOPT;
    if (!heap && !control && op != AS_OP_THREAD_START && op != AS_OP_THREAD_EXIT)
        return AS_NATIVE_OK;   /* app mmap/brk, marks, samples, fork/exec: not heap calls */
    uint32_t s;
    if ((err = slot_for(b, e->thread, &s)))
        return err;
    tslot_t *t = &b->slots[s];

    if (op == AS_OP_THREAD_START) {
        if (s != 0 && (t->exited || t->exit_deferred))
            return damaged(b, evi, e, "thread index %llu started again after its exit",
                           e->thread);
        if (s == 0 || t->started)
            return AS_NATIVE_OK;   /* the main thread, or a repeated start */
        return add_start(b, s, evi);
    }
    if (heap && !is_real_call(e)) {
        if (e->flags & AS_EVF_UNKNOWN)
            b->unknown++;
        return AS_NATIVE_OK;   /* free(NULL), or a block from before tracing */
    }
    if (s != 0 && t->exited)
        return damaged(b, evi, e, "thread %llu acts after its exit", e->thread);
    if (op == AS_OP_THREAD_EXIT) {
        if (s == 0 || !t->started)
            return AS_NATIVE_OK;   /* main's exit is the end; a thread never seen did nothing */
        if (last_real(b, e->thread) > evi + 1) {
            /* Calls logged after the exit (TLS destructors, libc's own
             * teardown) still run on the thread: it exits after the last. */
            t->exit_deferred = 1;
            return AS_NATIVE_OK;
        }
        as_np_op_t o = {.ev = evi, .op = AS_OP_THREAD_EXIT, .id = AS_NO_ID, .old_id = AS_NO_ID};
        if ((err = add_op(b, s, &o)))
            return err;
        t->exited = 1;
        b->live_threads--;
        return AS_NATIVE_OK;
    }
    if (s != 0 && !t->started && (err = add_start(b, s, evi)))   /* traced mid-life */
        return err;

    as_np_op_t o = {.ev = evi, .op = (uint8_t)op, .size = e->size, .arg = e->arg,
                    .id = AS_NO_ID, .old_id = AS_NO_ID};
    int failed = (e->flags & AS_EVF_FAILED) != 0;
    if (failed) {
        o.flags |= AS_NPF_FAILED;
        b->failed++;
    }
    if (op == AS_OP_MALLOPT)
        o.arg2 = (int32_t)e->arg2;
    if (control)
        return add_op(b, s, &o);

    if (op == AS_OP_FREE || op == AS_OP_FREE_SIZED || op == AS_OP_FREE_ALIGNED_SIZED) {
        if ((e->flags & AS_EVF_UNKNOWN) || e->id == AS_NO_ID) {
            if (e->flags & AS_EVF_UNKNOWN)
                b->unknown++;
            return AS_NATIVE_OK;   /* free(NULL) or a block from before tracing */
        }
        if (!is_live(b, e->id)) {
            if (b->lenient) {     /* allocated in a chunk the reader lost */
                b->gap_repairs++;
                return AS_NATIVE_OK;
            }
            return damaged(b, evi, e, "frees block id %llu, which is not live", e->id);
        }
        if ((err = dense_drop(b, e->id, &o.id)))
            return err;
        return add_op(b, s, &o);
    }
    if (op == AS_OP_REALLOC || op == AS_OP_REALLOCARRAY) {
        uint32_t old = e->old_id;
        if (e->flags & AS_EVF_UNKNOWN) {
            b->unknown++;
            old = AS_NO_ID;        /* realloc of a block from before tracing: a malloc */
        }
        if (old != AS_NO_ID && !is_live(b, old)) {
            if (!b->lenient)
                return damaged(b, evi, e, "reallocates block id %llu, which is not live", old);
            b->gap_repairs++;
            old = AS_NO_ID;      /* its block was in a lost chunk: a malloc */
        }
        if (old != AS_NO_ID)
            o.old_id = b->num[old] - 1;
        if (e->flags & AS_EVF_FREED) {
            o.flags |= AS_NPF_FREED;
            o.flags &= (uint8_t)~AS_NPF_FAILED;
            if (old != AS_NO_ID && (err = dense_drop(b, old, &o.old_id)))
                return err;
            return add_op(b, s, &o);
        }
        if (failed)
            return add_op(b, s, &o);
        if (old != AS_NO_ID && (err = dense_drop(b, old, &o.old_id)))
            return err;
    } else if (failed) {
        return add_op(b, s, &o);
    }
    /* A block is created. */
    if (e->id != AS_NO_ID) {
        if ((err = id_room(b, e->id)))
            return err;
        if (b->num[e->id]) {
            if (!b->lenient)
                return damaged(b, evi, e, "creates block id %llu, which is still live", e->id);
            /* its free was in a lost chunk: release it here */
            as_np_op_t fo = {.ev = evi, .op = AS_OP_FREE, .id = AS_NO_ID, .old_id = AS_NO_ID};
            b->gap_repairs++;
            if ((err = dense_drop(b, e->id, &fo.id)) || (err = add_op(b, s, &fo)))
                return err;
        }
        if ((err = dense_take(b, e->id, e->size, &o.id)))
            return err;
    }
    if ((err = add_op(b, s, &o)))
        return err;
    if (b->live > b->peak_live) {
        b->peak_live = b->live;
        b->peak_live_gidx = b->gidx - 1;
    }
    return AS_NATIVE_OK;
}

static as_native_err_t add_event(builder_t *b, uint64_t evi, const as_event_t *e)
{
    as_native_err_t err = add_event_1(b, evi, e);
    if (err || e->thread == 0 || !is_real_call(e) || last_real(b, e->thread) != evi + 1)
        return err;
    uint32_t s = b->slot_of[e->thread] - 1;
    tslot_t *t = &b->slots[s];
    if (!t->exit_deferred)
        return AS_NATIVE_OK;
    as_np_op_t o = {.ev = evi, .op = AS_OP_THREAD_EXIT, .id = AS_NO_ID, .old_id = AS_NO_ID};
    if ((err = add_op(b, s, &o)))
        return err;
    t->exit_deferred = 0;
    t->exited = 1;
    b->live_threads--;
    return AS_NATIVE_OK;
}

/* First pass: the last real call of each thread, so an exit logged before a
 * thread's last calls can be moved after them. */
static as_native_err_t scan_last_calls(const char *trace, builder_t *b)
{
    as_err_t oerr = AS_OK;
    as_reader_t *r = as_reader_open(trace, &oerr);
    if (!r)
        return AS_NATIVE_OK;   /* the main pass reports it */
    as_event_t ev;
    for (uint64_t i = 0; as_reader_next(r, &ev) > 0; i++) {
        if (!is_real_call(&ev) || ev.thread >= AS_REPLAY_THREAD_LIMIT)
            continue;
        if (ev.thread >= b->nlast_real) {
            uint32_t cap = b->nlast_real ? b->nlast_real : 64;
            while (cap <= ev.thread)
                cap *= 2;
            uint64_t *n = realloc(b->last_real, cap * sizeof *n);
            if (!n) {
                as_reader_close(r);
                return AS_NATIVE_NOMEM;
            }
            memset(n + b->nlast_real, 0, (cap - b->nlast_real) * sizeof *n);
            b->last_real = n;
            b->nlast_real = cap;
        }
        b->last_real[ev.thread] = i + 1;
    }
    as_reader_close(r);
    return AS_NATIVE_OK;
}

static void builder_free(builder_t *b)
{
    for (uint32_t i = 0; i < b->nslots; i++)
        free(b->slots[i].blk);
    free(b->slots);
    free(b->slot_of);
    free(b->starts);
    as_zfree(b->num, b->cap_ids, sizeof *b->num);
    free(b->size_of);
    free(b->dfree);
    free(b->last_real);
}

static as_native_err_t read_problem(as_reader_t *r, const char *what, int rc, char *detail,
                                    size_t len)
{
    char why[200] = "";
    as_err_t e = rc < 0 ? (as_err_t)-rc : as_reader_problem(r, why, sizeof why);
    if (why[0])
        snprintf(detail, len, "%s: %s", as_strerror(e), why);
    else
        snprintf(detail, len, "%s%s%s", what, *what ? ": " : "", as_strerror(e));
    return AS_NATIVE_READ;
}

/* Decodes the trace into a program in b->fd. */
static as_native_err_t build(const char *trace, builder_t *b, unsigned touch, int sample_all,
                             uint64_t *events)
{
    as_native_err_t err = scan_last_calls(trace, b);
    if (err)
        return err;
    as_err_t oerr = AS_OK;
    as_reader_t *r = as_reader_open(trace, &oerr);
    if (!r) {
        snprintf(b->detail, b->detail_len, "%s", as_strerror(oerr));
        return AS_NATIVE_READ;
    }
    uint32_t s0;
    if ((err = slot_for(b, 0, &s0)))   /* slot 0 is the main thread, always */
        goto out;
    b->slots[0].started = 1;
    b->fend = sizeof(as_np_header_t);
    as_event_t ev;
    uint64_t n = 0;
    int rc;
    while ((rc = as_reader_next(r, &ev)) > 0) {
        b->lenient = as_reader_problem(r, NULL, 0) != AS_OK;
        if ((err = add_event(b, n, &ev)))
            goto out;
        n++;
    }
    *events = n;
    char why[8];
    if (rc < 0) {
        err = read_problem(r, "", rc, b->detail, b->detail_len);
        goto out;
    }
    if (as_reader_problem(r, why, sizeof why) != AS_OK) {
        /* Damaged chunks or a torn tail: replay what could be read (as
         * `allocsim replay` reports it) and say what was lost afterwards. */
        read_problem(r, "", 0, b->detail, b->detail_len);
        b->damaged = 1;
    }
    link_prev(b, AS_NP_OWNER_END);   /* also sets first_owner of an empty program */
    for (uint32_t i = 0; i < b->nslots; i++)
        if ((err = flush_slot(b, i)))
            goto out;

    as_np_header_t h = {0};
    h.magic = AS_NP_MAGIC;
    h.version = AS_NP_VERSION;
    h.touch = touch;
    h.page_size = as_reader_header(r)->page_size;
    h.nthreads = b->nslots;
    h.max_live_threads = b->max_live_threads + 1 < b->nslots ? b->max_live_threads + 1
                                                             : b->nslots - 1;
    h.nstarts = b->nstarts;
    h.first_owner = b->first_owner;
    h.sample_all = (uint32_t)sample_all;
    h.nops = b->gidx;
    h.max_id = b->max_id;
    h.sample_every = 1024;
    h.peak_live_gidx = b->peak_live ? b->peak_live_gidx : UINT64_MAX;
    h.threads_off = b->fend;
    for (uint32_t i = 0; i < b->nslots; i++) {
        as_np_thread_t th = {.first_block = b->slots[i].first_block, .nops = b->slots[i].nops,
                             .exits = (uint32_t)b->slots[i].exited,
                             .trace_thread = b->slots[i].trace_thread};
        if ((err = pwrite_all(b, &th, sizeof th, b->fend)))
            goto out;
        b->fend += sizeof th;
    }
    h.starts_off = b->fend;
    if (b->nstarts) {
        if ((err = pwrite_all(b, b->starts, b->nstarts * sizeof *b->starts, b->fend)))
            goto out;
        b->fend += b->nstarts * sizeof *b->starts;
    }
    err = pwrite_all(b, &h, sizeof h, 0);
out:
    as_reader_close(r);
    return err;
}

/* Seconds since trace start of event `index` (a second, short decode). */
static double event_time(const char *trace, uint64_t index)
{
    as_err_t oerr;
    as_reader_t *r = as_reader_open(trace, &oerr);
    if (!r)
        return 0;
    as_event_t ev;
    double t = 0;
    for (uint64_t i = 0; as_reader_next(r, &ev) > 0; i++) {
        if (i == index) {
            t = (double)ev.time_ns * 1e-9;
            break;
        }
    }
    as_reader_close(r);
    return t;
}

/* ---- Running the replayer --------------------------------------------------- */
static int env_dropped(const char *kv)
{
    static const char *const drop[] = {
        "LD_PRELOAD=", "GLIBC_TUNABLES=", "ALLOCSIM_EXPECT_LIB=", "MALLOC_ARENA_MAX=",
        "MALLOC_ARENA_TEST=", "MALLOC_MMAP_THRESHOLD_=", "MALLOC_TRIM_THRESHOLD_=",
        "MALLOC_TOP_PAD_=", "MALLOC_MMAP_MAX_=", "MALLOC_PERTURB_=", "MALLOC_CHECK_=",
    };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (!strncmp(kv, drop[i], strlen(drop[i])))
            return 1;
    return 0;
}

static as_native_err_t spawn_runner(const as_native_opts_t *o, int prog_fd, int res_fd,
                                    int *status, char *detail, size_t len)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 4, sizeof *envp);
    char *pre = NULL, *tun = NULL, *exp = NULL;
    if (!envp)
        return AS_NATIVE_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_dropped(environ[i]))
            envp[k++] = environ[i];
    if (o->preload) {
        char real[4096];
        if (!realpath(o->preload, real))
            snprintf(real, sizeof real, "%s", o->preload);
        if (asprintf(&pre, "LD_PRELOAD=%s", real) < 0 ||
            asprintf(&exp, "ALLOCSIM_EXPECT_LIB=%s", real) < 0) {
            free(envp);
            free(pre);
            return AS_NATIVE_NOMEM;
        }
        envp[k++] = pre;
        envp[k++] = exp;
    }
    if (o->tunables && *o->tunables) {
        if (asprintf(&tun, "GLIBC_TUNABLES=%s", o->tunables) < 0) {
            free(envp);
            free(pre);
            free(exp);
            return AS_NATIVE_NOMEM;
        }
        envp[k++] = tun;
    }
    envp[k] = NULL;
    char a1[24], a2[24];
    snprintf(a1, sizeof a1, "%d", prog_fd);
    snprintf(a2, sizeof a2, "%d", res_fd);
    char *argv[] = {(char *)o->runner, a1, a2, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, o->runner, NULL, NULL, argv, envp);
    free(envp);
    free(pre);
    free(exp);
    free(tun);
    if (rc) {
        snprintf(detail, len, "%s: %s", o->runner, strerror(rc));
        return AS_NATIVE_RUNNER;
    }
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(detail, len, "waitpid: %s", strerror(errno));
            return AS_NATIVE_SYS;
        }
    }
    return AS_NATIVE_OK;
}

/* The op program (48 bytes per call) goes to an unnamed file on disk, so a
 * long trace costs page cache the kernel can evict, not memory (a memfd
 * would pin it): $TMPDIR, else /var/tmp, else /tmp; a memfd only if none
 * accepts O_TMPFILE. */
static int program_file(void)
{
    const char *dirs[] = {getenv("TMPDIR"), "/var/tmp", "/tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        int fd = open(dirs[i], O_TMPFILE | O_RDWR, 0600);
        if (fd >= 0)
            return fd;
    }
    return memfd_create("allocsim-native-program", 0);
}

as_native_err_t as_native_run(const char *trace, const as_native_opts_t *opts,
                              as_native_result_t *res, char *detail, size_t detail_len)
{
    memset(res, 0, sizeof *res);
    detail[0] = 0;
    char lost[512] = "";
    builder_t b = {.detail = detail, .detail_len = detail_len};
    as_native_err_t err;
    int res_fd = -1;
    b.fd = program_file();
    res_fd = memfd_create("allocsim-native-result", 0);
    if (b.fd < 0 || res_fd < 0) {
        snprintf(detail, detail_len, "cannot create the op program or result file: %s",
                 strerror(errno));
        err = AS_NATIVE_SYS;
        goto out;
    }
    uint64_t events = 0;
    if ((err = build(trace, &b, opts->touch, opts->preload != NULL, &events)))
        goto out;
    res->events = events;
    res->ops = b.gidx;
    res->threads = b.nslots;
    res->peak_live = b.peak_live;
    res->unknown_frees = b.unknown;
    res->failed_calls = b.failed;
    res->incomplete = b.damaged;
    res->gap_repairs = b.gap_repairs;

    if (b.damaged)
        snprintf(lost, sizeof lost, "%s", detail);
    int status = 0;
    if ((err = spawn_runner(opts, b.fd, res_fd, &status, detail, detail_len)))
        goto out;
    as_np_result_t r = {0};
    ssize_t got = pread(res_fd, &r, sizeof r, 0);
    int have = got == (ssize_t)sizeof r && r.magic == AS_NP_RMAGIC;
    if (have)
        r.msg[sizeof r.msg - 1] = 0;
    if (WIFSIGNALED(status)) {
        snprintf(detail, detail_len, "the replayer was killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
        err = AS_NATIVE_FAILED;
        goto out;
    }
    if (!have || r.status != AS_NP_OK || WEXITSTATUS(status) != 0) {
        if (have && r.msg[0])
            snprintf(detail, detail_len, "%s", r.msg);
        else
            snprintf(detail, detail_len, "the replayer exited with status %d",
                     WEXITSTATUS(status));
        err = WEXITSTATUS(status) == 127 ? AS_NATIVE_RUNNER : AS_NATIVE_FAILED;
        goto out;
    }
    res->peak_rss = r.peak_rss;
    res->approximate = (int)r.approximate;
    res->peak_mapped = r.peak_mapped;
    res->live_at_peak = r.live_at_peak;
    res->rss_at_peak_live = r.rss_at_peak_live;
    res->final_rss = r.final_rss;
    res->final_live = r.final_live;
    res->heap_bytes = r.heap_bytes;
    res->free_bytes = r.free_bytes;
    res->mmap_chunks = r.mmap_chunks;
    res->peak_event = r.peak_event;
    res->seconds = r.seconds;
    res->baseline_rss = r.baseline_rss;
    res->diverged = r.diverged;
    double prss = (double)r.peak_rss, plive = (double)b.peak_live;
    res->fragmentation = r.peak_rss ? 1.0 - (double)r.live_at_peak / prss : 0.0;
    res->jw[0] = r.live_sum > 0 ? r.rss_sum / r.live_sum - 1.0 : 0.0;
    res->jw[1] = plive > 0 ? (double)r.rss_at_peak_live / plive - 1.0 : 0.0;
    res->jw[2] = r.live_at_peak ? prss / (double)r.live_at_peak - 1.0 : 0.0;
    res->jw[3] = plive > 0 ? prss / plive - 1.0 : 0.0;
    res->peak_time = r.peak_rss ? event_time(trace, r.peak_event) : 0.0;
    if (b.damaged)
        snprintf(detail, detail_len, "%s", lost);
out:
    builder_free(&b);
    if (b.fd >= 0)
        close(b.fd);
    if (res_fd >= 0)
        close(res_fd);
    return err;
}
