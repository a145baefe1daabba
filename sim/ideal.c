/*
 * sim/ideal.c — the lower bound no allocator beats: RSS = live requested
 * bytes rounded up to a whole page (Johnstone & Wilson 1998's "live" line,
 * and DJ Delorie's trace_run "Max Ideal RSS", page-granular).
 *
 * Emulated in the shared space so the engine measures it like any model: the
 * break always ends at brk_base + round_up(live, page) and every page below
 * it is touched. Blocks are handles, not places in that heap: a handle
 * carries the block's requested size, (size + 1) * 16, so free needs no
 * table (a table lookup per free was a cache miss per event). A request
 * the space's break cannot hold (it spans about 2^45 bytes; every size of
 * 2^58 and more, whose handle would not fit) fails, as sbrk would make a
 * real allocator fail: the break always holds the live bytes. Its live method (sim/model.h) lets the
 * engine run plain mallocs and frees itself, as changes of live bytes in
 * the pass that measures them, and move the break once per run. The
 * model sets AS_MODEL_F_OWN_TOUCH and the engine never touches blocks; the
 * touch rule therefore does not change this model's answer (by design:
 * it is the bound for the case where every live byte is written).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sim/model.h"

typedef struct ideal {
    as_space_t *space;
    uint32_t page;
    uint64_t live;            /* requested bytes */
    uint64_t brk_base, brk;   /* the space's break, mirrored: only this model moves it */
} ideal_t;

/* Handles are nonzero and aligned like a real block: (size + 1) * 16 for
 * size < SIZE_H_MAX. */
#define SIZE_H_MAX (1ull << 58)
_Static_assert(AS_LIVE_HANDLE(5) == (5 + 1) << 4 && AS_LIVE_SIZE_MAX <= SIZE_H_MAX,
               "the engine's live runs write this model's size handles (sim/model.h)");

static const as_param_def_t ideal_params[] = {{NULL, 0, 0, 0, 0, NULL}};

static void *ideal_create(const as_params_t *p, as_space_t *space, const as_model_ctx_t *ctx,
                          char *err, size_t errlen)
{
    (void)p; (void)err; (void)errlen;
    ideal_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->space = space;
    m->page = ctx && ctx->page_size ? ctx->page_size : as_space_page_size(space);
    m->brk_base = as_space_brk_base(space);
    m->brk = as_space_brk_cur(space);
    return m;
}

static void ideal_destroy(void *vm)
{
    free(vm);
}

/* Moves the break to `want` and touches what it adds; -1 (the break
 * unmoved) if the space cannot grow that far. want - brk < 2^59: live
 * stays within the break's span and a change is below SIZE_H_MAX. */
static __attribute__((noinline)) int ideal_move(ideal_t *m, uint64_t want)
{
    uint64_t cur = m->brk;
    if (want > cur) {
        if (!as_space_sbrk(m->space, (int64_t)(want - cur)))
            return -1;
        as_space_touch(m->space, cur, want - cur);
    } else {
        as_space_sbrk(m->space, -(int64_t)(cur - want));
    }
    m->brk = as_space_brk_cur(m->space);
    return 0;
}

/* The break to base + round_up(live). Most events leave the page count
 * alone: that case is one compare against the mirrored break, inlined, no
 * call. */
static inline int ideal_settle(ideal_t *m)
{
    uint64_t want = m->brk_base + ((m->live + m->page - 1) & ~(uint64_t)(m->page - 1));
    return want != m->brk ? ideal_move(m, want) : 0;
}

/* Live bytes from old to new for one block: 0, or -1 with nothing changed
 * when the break cannot hold them. */
static inline int ideal_change(ideal_t *m, uint64_t old, uint64_t new)
{
    m->live = m->live - old + new;
    if (__builtin_expect(!ideal_settle(m), 1))
        return 0;
    m->live = m->live - new + old;            /* the break did not move */
    return -1;
}

/* Inlined into each entry point: a size handle is an add and a compare. */
static inline __attribute__((always_inline)) uint64_t ideal_alloc(void *vm, uint64_t size)
{
    ideal_t *m = vm;
    if (__builtin_expect(size >= SIZE_H_MAX, 0) || ideal_change(m, 0, size))
        return 0;
    return (size + 1) << 4;
}

/* The size a handle stands for; -1 if h is not a handle. */
static inline int ideal_size(uint64_t h, uint64_t *size)
{
    if (!h || (h & 15) || h > SIZE_H_MAX << 4)
        return -1;
    *size = (h >> 4) - 1;
    return 0;
}

static uint64_t ideal_malloc(void *m, uint32_t t, uint64_t size) { (void)t; return ideal_alloc(m, size); }
static uint64_t ideal_calloc(void *m, uint32_t t, uint64_t size) { (void)t; return ideal_alloc(m, size); }
static uint64_t ideal_memalign(void *m, uint32_t t, uint64_t a, uint64_t size)
{
    (void)t; (void)a;
    return ideal_alloc(m, size);
}

static void ideal_free(void *vm, uint32_t t, uint64_t h)
{
    (void)t;
    ideal_t *m = vm;
    uint64_t size;
    if (!ideal_size(h, &size))
        ideal_change(m, size, 0);
}

/* A new handle for the new size (the engine keeps what realloc returns);
 * on failure the old block stays, as with a real realloc. */
static uint64_t ideal_realloc(void *vm, uint32_t t, uint64_t h, uint64_t size)
{
    (void)t;
    ideal_t *m = vm;
    uint64_t old;
    if (ideal_size(h, &old) || size >= SIZE_H_MAX || ideal_change(m, old, size))
        return 0;
    return (size + 1) << 4;
}

/* as_model_t.live: the engine ran plain events itself (sim/model.h), and
 * the break moves once for all of them (it holds AS_LIVE_SIZE_MAX: the
 * move cannot fail). Only from the state ideal_check asserts and with the
 * space's own page, so live page-rounded is its RSS and mapped bytes. */
static uint64_t ideal_live(void *vm, int64_t delta)
{
    ideal_t *m = vm;
    uint64_t mask = m->page - 1, live = m->live, heap = (live + mask) & ~mask;
    if (m->brk != m->brk_base + heap || as_space_resident(m->space) != heap
        || m->page != as_space_page_size(m->space))
        return UINT64_MAX;
    if (delta) {
        m->live = live + (uint64_t)delta;
        ideal_settle(m);
    }
    return live;
}

static void ideal_stats(const void *vm, as_model_stats_t *st)
{
    const ideal_t *m = vm;
    st->heap_bytes = as_space_brk_cur(m->space) - as_space_brk_base(m->space);
    st->free_bytes = st->heap_bytes - m->live;
    st->mmap_chunks = 0;
    st->mmap_threshold = 0;
}

static int ideal_check(const void *vm, char *err, size_t errlen)
{
    const ideal_t *m = vm;
    uint64_t heap = as_space_brk_cur(m->space) - as_space_brk_base(m->space);
    if (heap < m->live || heap - m->live >= m->page) {
        snprintf(err, errlen, "ideal: heap %llu bytes for %llu live bytes",
                 (unsigned long long)heap, (unsigned long long)m->live);
        return -1;
    }
    if (as_space_resident(m->space) != heap) {
        snprintf(err, errlen, "ideal: resident %llu != heap %llu",
                 (unsigned long long)as_space_resident(m->space), (unsigned long long)heap);
        return -1;
    }
    return 0;
}

const as_model_t as_model_ideal = {
    .name = "ideal",
    .summary = "live requested bytes rounded up to a page: the lower bound",
    .params = ideal_params,
    .create = ideal_create,
    .malloc = ideal_malloc,
    .calloc = ideal_calloc,
    .memalign = ideal_memalign,
    .realloc = ideal_realloc,
    .free = ideal_free,
    .stats = ideal_stats,
    .check = ideal_check,
    .destroy = ideal_destroy,
    .flags = AS_MODEL_F_OWN_TOUCH,
    .live = ideal_live,
};
