/*
 * sim/ideal.c — the lower bound no allocator beats: RSS = live requested
 * bytes rounded up to a whole page (Johnstone & Wilson 1998's "live" line,
 * and DJ Delorie's trace_run "Max Ideal RSS", page-granular).
 *
 * Emulated in the shared space so the engine measures it like any model: the
 * break always ends at brk_base + round_up(live, page) and every page below
 * it is touched. Blocks are handles, not places in that heap: a handle
 * carries the block's requested size, (size + 1) * 16, so free needs no
 * table (a table lookup per free was a cache miss per event); sizes of
 * 2^58 and more, which no real heap returns, get a slot in a table and a
 * handle with the top bit set. Its live method (sim/model.h) lets the
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
    uint64_t *size;           /* slot -> requested size (free slots chain) */
    uint64_t nslots, cap, free_head; /* free_head: slot + 1, 0 = none */
    uint64_t brk_base, brk;   /* the space's break, mirrored: only this model moves it */
} ideal_t;

#define SLOT_FREE (1ull << 63)
/* Handles are nonzero and aligned like a real block. Size handles:
 * (size + 1) * 16 for size < SIZE_H_MAX. Slot handles: TAG | (slot + 1) * 16. */
#define SIZE_H_MAX (1ull << 58)
#define TAG (1ull << 63)
#define H2S(h) ((((h) & ~TAG) >> 4) - 1)
_Static_assert(AS_LIVE_HANDLE(5) == (5 + 1) << 4 && AS_LIVE_SIZE_MAX <= SIZE_H_MAX,
               "the engine's live runs write this model's size handles (sim/model.h)");
#define S2H(s) (TAG | (((s) + 1) << 4))

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
    ideal_t *m = vm;
    if (!m)
        return;
    free(m->size);
    free(m);
}

/* Moves the break to `want` and touches what it adds. */
static __attribute__((noinline)) void ideal_move(ideal_t *m, uint64_t want)
{
    uint64_t cur = m->brk;
    if (want > cur) {
        as_space_sbrk(m->space, (int64_t)(want - cur));
        as_space_touch(m->space, cur, want - cur);
    } else {
        as_space_sbrk(m->space, -(int64_t)(cur - want));
    }
    m->brk = as_space_brk_cur(m->space);
}

/* The break to base + round_up(live). Most events leave the page count
 * alone: that case is one compare against the mirrored break, inlined, no
 * call. */
static inline void ideal_settle(ideal_t *m)
{
    uint64_t want = m->brk_base + ((m->live + m->page - 1) & ~(uint64_t)(m->page - 1));
    if (want != m->brk)
        ideal_move(m, want);
}

/* A block of 2^58 bytes or more: a slot handle. */
static __attribute__((noinline)) uint64_t ideal_alloc_huge(ideal_t *m, uint64_t size)
{
    uint64_t s;
    if (m->free_head) {
        s = m->free_head - 1;
        m->free_head = m->size[s] & ~SLOT_FREE;
    } else {
        if (m->nslots == m->cap) {
            uint64_t ncap = m->cap ? m->cap * 2 : 1024;
            uint64_t *n = realloc(m->size, ncap * sizeof *n);
            if (!n)
                return 0;
            m->size = n;
            m->cap = ncap;
        }
        s = m->nslots++;
    }
    m->size[s] = size;
    m->live += size;
    ideal_settle(m);
    return S2H(s);
}

/* Inlined into each entry point: a size handle is an add and a compare. */
static inline __attribute__((always_inline)) uint64_t ideal_alloc(void *vm, uint64_t size)
{
    ideal_t *m = vm;
    if (size >= SIZE_H_MAX)
        return ideal_alloc_huge(m, size);
    m->live += size;
    ideal_settle(m);
    return (size + 1) << 4;
}

static uint64_t ideal_malloc(void *m, uint32_t t, uint64_t size) { (void)t; return ideal_alloc(m, size); }
static uint64_t ideal_calloc(void *m, uint32_t t, uint64_t size) { (void)t; return ideal_alloc(m, size); }
static uint64_t ideal_memalign(void *m, uint32_t t, uint64_t a, uint64_t size)
{
    (void)t; (void)a;
    return ideal_alloc(m, size);
}

/* Slot of a slot handle; -1 if h is not one of the live ones. */
static int ideal_slot(const ideal_t *m, uint64_t h, uint64_t *s)
{
    if (!(h & TAG) || (h & 15))
        return -1;
    *s = H2S(h);
    return *s < m->nslots && !(m->size[*s] & SLOT_FREE) ? 0 : -1;
}

static void ideal_free(void *vm, uint32_t t, uint64_t h)
{
    (void)t;
    ideal_t *m = vm;
    uint64_t s;
    if (h && !(h & (TAG | 15))) {
        m->live -= (h >> 4) - 1;
        ideal_settle(m);
        return;
    }
    if (ideal_slot(m, h, &s))
        return;
    m->live -= m->size[s];
    m->size[s] = SLOT_FREE | m->free_head;
    m->free_head = s + 1;
    ideal_settle(m);
}

static uint64_t ideal_realloc(void *vm, uint32_t t, uint64_t h, uint64_t size)
{
    (void)t;
    ideal_t *m = vm;
    uint64_t s;
    if (h && !(h & (TAG | 15)) && size < SIZE_H_MAX) {
        /* A new handle for the new size; the engine keeps what realloc returns. */
        m->live = m->live - ((h >> 4) - 1) + size;
        ideal_settle(m);
        return (size + 1) << 4;
    }
    if (h && !(h & (TAG | 15))) {             /* small to huge: into the table */
        ideal_free(vm, t, h);
        return ideal_alloc(vm, size);
    }
    if (ideal_slot(m, h, &s))
        return 0;
    if (size < SIZE_H_MAX) {                  /* huge to small */
        ideal_free(vm, t, h);
        return ideal_alloc(vm, size);
    }
    m->live = m->live - m->size[s] + size;
    m->size[s] = size;
    ideal_settle(m);
    return h;
}

/* as_model_t.live: the engine ran plain events itself (sim/model.h), and
 * the break moves once for all of them. Only from the state ideal_check
 * asserts (a failed sbrk breaks it: ideal_move leaves the break behind but
 * touches up to want), and with the space's own page, so live
 * page-rounded is its RSS and mapped bytes. */
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
