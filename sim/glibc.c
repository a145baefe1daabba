/*
 * sim/glibc.c — glibc 2.36 ptmalloc2 (x86-64), as a replayable model.
 *
 * Source of truth: glibc-2.36 malloc/malloc.c (__libc_malloc, _int_malloc,
 * _int_free, malloc_consolidate, sysmalloc, systrim, _int_realloc,
 * _int_memalign, __libc_calloc, mtrim, __libc_mallopt, tcache_*) and
 * malloc/arena.c (new_heap, grow_heap, shrink_heap, heap_trim, _int_new_arena,
 * arena_get2, reused_arena, __malloc_arena_thread_freeres); the constants and
 * rules are summarised in reference/allocators.md §1-2 and doc/GLIBC_MODEL.md.
 *
 * There is no memory behind simulated addresses, so every chunk header lives
 * in a side record (gl_rec_t): address, size, the borrowed prev_size, the
 * PREV_INUSE bit, list links and which list the chunk is on. A hash map from
 * chunk address to record stands in for pointer arithmetic (previous chunk =
 * addr - prev_size; the next chunk is a link in the record). Lists (bins,
 * fastbins) are record indices with glibc's exact order, including the
 * sorted large bins and the binmap, so the search order is glibc's. Two
 * glibc lists are arrays instead, so that their fast paths read no record:
 * a large bin's nextsize skip list is an array of its sizes, each with the
 * chunk the links run through, and a tcache bin is a stack of (address,
 * record) pairs in glibc's LIFO order. The plain method (gl_plain) takes
 * the engine's runs of mallocs and frees with those tcache paths inline.
 *
 * The allocator's own writes are touches (as_space_touch) wherever they can
 * make a page resident: the size word of every new chunk header, fd/bk
 * (+ fd/bk_nextsize) of a chunk going onto a list, tcache next/key, the
 * tcache struct's memset, heap_info and malloc_state of new heaps, calloc's
 * clearing and realloc's copy. Writes that provably land on pages already
 * resident are skipped, as they cannot change the resident set: unlinking,
 * the inuse bit of the next chunk, bin headers, and any write into an
 * existing chunk that stays on the page of its size word (a live chunk's size
 * word is always resident; sim/glibc_internal.h, touch_links).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AS_GLIBC_IMPL  /* the model's internals in sim/glibc_internal.h */
#include "sim/glibc_internal.h"
#include "sim/model.h"

/* ---- Parameters (GLIBC_TUNABLES glibc.malloc.<name>) --------------------- */
enum {
    P_MMAP_THRESHOLD, P_TRIM_THRESHOLD, P_TOP_PAD, P_MMAP_MAX, P_ARENA_MAX,
    P_ARENA_TEST, P_TCACHE_COUNT, P_TCACHE_MAX, P_TCACHE_UNSORTED_LIMIT,
    P_MXFAST, P_CORES, P__COUNT
};

static const as_param_def_t gl_params[] = {
    {"mmap_threshold", 128 << 10, 0, 1ll << 40, AS_PARAM_SIZE,
     "requests >= this get their own mapping; setting it freezes the dynamic threshold"},
    {"trim_threshold", 128 << 10, 0, 1ll << 40, AS_PARAM_SIZE,
     "top chunk size that makes free() give memory back; freezes the dynamic threshold"},
    {"top_pad", 128 << 10, 0, 1ll << 40, AS_PARAM_SIZE,
     "extra bytes asked of sbrk/new heaps and kept by trims; freezes the dynamic threshold"},
    {"mmap_max", 65536, 0, 0x7fffffff, 0,
     "most chunks served by mmap at once (0 disables); freezes the dynamic threshold"},
    {"arena_max", 0, 0, 1 << 20, 0, "arena limit (0 = 8 x cores once arena_test is passed)"},
    {"arena_test", 8, 1, 1 << 20, 0, "arenas created before the cores-based limit applies"},
    {"tcache_count", 7, 0, 65535, 0, "chunks per tcache bin"},
    {"tcache_max", 1032, 0, 1032, AS_PARAM_SIZE, "largest request served by the tcache"},
    {"tcache_unsorted_limit", 0, 0, 1 << 30, 0,
     "unsorted chunks scanned while filling the tcache (0 = no limit)"},
    {"mxfast", 128, 0, 160, AS_PARAM_SIZE, "largest request served by fastbins"},
    {"cores", 0, 0, 1 << 16, 0, "cpus glibc sees (0 = the recorded machine's)"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* ---- Forward declarations ------------------------------------------------ */
static uint32_t int_malloc(gl_t *g, int ai, uint64_t nb);
static void int_free(gl_t *g, int ai, uint32_t c);

static inline gl_arena_t *A(gl_t *g, int ai) { return g->arenas[ai]; }
static inline gl_heap_t *heap_of(gl_t *g, gl_arena_t *a) { return &g->heaps[a->heap]; }

/* ---- Coalescing (shared by _int_free and malloc_consolidate) ------------- */
/* Merges c with free neighbours, then puts it at the head of unsorted or
 * into top. Returns the merged size. */
static uint64_t coalesce(gl_t *g, gl_arena_t *a, uint32_t c)
{
    uint64_t size = R(c).size;
    uint32_t nx = next_rec(g, c);
    if (R(c).pfree) {
        uint32_t p = h_get(g, R(c).addr - R(c).prev_size);
        unlink_chunk(g, p);
        size += R(p).size;
        absorb(g, p, c);
        rec_del(g, c);
        c = p;
    }
    if (nx != a->top) {
        if (is_free(&R(nx))) {
            unlink_chunk(g, nx);
            size += R(nx).size;
            absorb(g, c, nx);
            rec_del(g, nx);
            R(c).size = size;
            set_foot_free(g, c);
        } else {  /* set_foot into the next chunk, which we already hold */
            R(c).size = size;
            R(nx).pfree = 1;
            R(nx).prev_size = size;
        }
        unsorted_push(g, a, c);
        touch_links(g, R(c).addr, size);
    } else {  /* into top: only c's own size word changes */
        size += R(nx).size;
        absorb(g, c, nx);
        rec_del(g, nx);
        R(c).size = size;
        R(c).st = ST_TOP;
        a->top = c;
    }
    return size;
}

static void malloc_consolidate(gl_t *g, gl_arena_t *a)
{
    a->have_fast = false;
    for (unsigned i = 0; i < NFASTBINS; i++) {
        uint32_t p = a->fast[i];
        a->fast[i] = 0;
        while (p) {
            uint32_t nextp = R(p).fd;
            g->free_bytes -= R(p).size;
            coalesce(g, a, p);
            p = nextp;
        }
    }
}

/* ---- Giving memory back (§1.9) -------------------------------------------- */
static int systrim(gl_t *g, uint64_t pad)
{
    gl_arena_t *a = A(g, 0);
    if (!a->top)
        return 0;
    uint64_t top_size = R(a->top).size;
    int64_t top_area = (int64_t)top_size - MINSIZE - 1;
    if (top_area <= 0 || (uint64_t)top_area <= pad)
        return 0;
    uint64_t extra = ALIGN_DOWN((uint64_t)top_area - pad, g->page);
    if (!extra)
        return 0;
    uint64_t cur = as_space_brk_cur(g->space);
    if (cur != R(a->top).addr + top_size)
        return 0;  /* foreign sbrk or non-contiguous: never trim */
    as_space_sbrk(g->space, -(int64_t)extra);
    uint64_t released = cur - as_space_brk_cur(g->space);
    if (!released)
        return 0;
    a->system_mem -= released;
    R(a->top).size = top_size - released;
    return 1;
}

static void delete_heap(gl_t *g, int hi)
{
    gl_heap_t *h = &g->heaps[hi];
    as_space_munmap(g->space, h->base, HEAP_MAX);
    h->live = 0;
}

static int heap_trim(gl_t *g, int ai, uint64_t pad)
{
    gl_arena_t *a = A(g, ai);
    gl_heap_t *h = heap_of(g, a);
    uint32_t top = a->top;
    while (R(top).addr == h->base + HEAP_INFO) {
        gl_heap_t *ph = &g->heaps[h->prev];
        /* the fencepost pair at the end of the previous heap */
        uint32_t z = h_get(g, ph->base + ph->size - HDR);
        uint32_t p = h_get(g, R(z).addr - R(z).prev_size);
        uint64_t new_size = R(p).size + HDR;
        if (R(p).pfree)
            new_size += R(p).prev_size;
        if (new_size + (HEAP_MAX - ph->size) < pad + MINSIZE + g->page)
            break;
        a->system_mem -= h->size;
        rec_del(g, top);
        delete_heap(g, a->heap);
        a->heap = h->prev;
        h = ph;
        rec_del(g, z);
        R(p).nxt = 0;  /* it ends the heap now */
        if (R(p).pfree) {  /* consolidate backward */
            uint32_t q = h_get(g, R(p).addr - R(p).prev_size);
            unlink_chunk(g, q);
            absorb(g, q, p);
            rec_del(g, p);
            p = q;
        }
        R(p).size = new_size;  /* p's own size word: resident */
        R(p).st = ST_TOP;
        R(p).fd = R(p).bk = 0;
        a->top = top = p;
    }
    uint64_t top_size = R(top).size;
    if (top_size < g->trim_threshold)
        return 0;
    int64_t top_area = (int64_t)top_size - MINSIZE - 1;
    if (top_area < 0 || (uint64_t)top_area <= pad)
        return 0;
    uint64_t extra = ALIGN_DOWN((uint64_t)top_area - pad, g->page);
    if (!extra)
        return 0;
    /* shrink_heap: MADV_DONTNEED (vm.overcommit_memory != 2) */
    uint64_t new_size = h->size - extra;
    as_space_dontneed(g->space, h->base + new_size, extra);
    h->size = new_size;
    a->system_mem -= extra;
    R(top).size = top_size - extra;
    return 1;
}

/* ---- Heaps and arenas (arena.c) ------------------------------------------- */
static int new_heap(gl_t *g, uint64_t size, uint64_t top_pad, int ai, int prev)
{
    if (size + top_pad < HEAP_MIN)
        size = HEAP_MIN;
    else if (size + top_pad <= HEAP_MAX)
        size += top_pad;
    else if (size > HEAP_MAX)
        return -1;
    else
        size = HEAP_MAX;
    size = ALIGN_UP(size, g->page);
    uint64_t base = as_space_mmap(g->space, HEAP_MAX, HEAP_MAX);
    if (!base)
        return -1;
    if (g->nheap == g->capheap) {
        uint32_t cap = g->capheap ? g->capheap * 2 : 16;
        gl_heap_t *n = realloc(g->heaps, cap * sizeof *n);
        if (!n) {
            as_space_munmap(g->space, base, HEAP_MAX);
            return -1;
        }
        g->heaps = n;
        g->capheap = cap;
    }
    int hi = (int)g->nheap++;
    g->heaps[hi] = (gl_heap_t){base, size, size, prev, (uint16_t)ai, 1};
    touch(g, base, 40);  /* heap_info fields */
    return hi;
}

static int grow_heap(gl_t *g, gl_heap_t *h, uint64_t diff)
{
    diff = ALIGN_UP(diff, g->page);
    uint64_t new_size = h->size + diff;
    if (new_size > HEAP_MAX)
        return -1;
    if (new_size > h->mprotect_size)
        h->mprotect_size = new_size;
    h->size = new_size;
    return 0;
}

static void arena_free(gl_arena_t *a)
{
    for (unsigned i = 0; i < NLARGE; i++)
        free(a->large[i].grp);
    free(a);
}

static int arena_alloc_slot(gl_t *g)
{
    if (g->narena == g->caparena) {
        uint32_t cap = g->caparena ? g->caparena * 2 : 16;
        gl_arena_t **n = realloc(g->arenas, cap * sizeof *n);
        if (!n)
            return -1;
        g->arenas = n;
        g->caparena = cap;
    }
    gl_arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    /* 128 consecutive sentinel records, fresh from the end of the pool
     * (gl_reserve keeps RESERVE_RECS of room there): bin i = bins + i. */
    a->bins = g->nrec;
    g->nrec += NBINS;
    for (unsigned i = 0; i < NBINS; i++) {
        uint32_t b = a->bins + i;
        memset(&R(b), 0, sizeof R(b));
        R(b).fd = R(b).bk = b;
    }
    a->heap = -1;
    a->next_free = -1;
    a->contiguous = true;
    g->arenas[g->narena] = a;
    return (int)g->narena++;
}

/* _int_new_arena: a heap holding heap_info, malloc_state, then top. */
static int int_new_arena(gl_t *g, uint64_t size)
{
    int ai = arena_alloc_slot(g);
    if (ai < 0)
        return -1;
    int hi = new_heap(g, size + (HEAP_INFO + MSTATE + 16), g->top_pad, ai, -1);
    if (hi < 0)
        hi = new_heap(g, HEAP_INFO + MSTATE + 16, g->top_pad, ai, -1);
    if (hi < 0) {
        /* undo the slot; its sentinels stay unused at the end of the pool */
        arena_free(g->arenas[--g->narena]);
        return -1;
    }
    gl_arena_t *a = A(g, ai);
    gl_heap_t *h = &g->heaps[hi];
    a->heap = hi;
    a->attached = 1;
    a->system_mem = a->max_system_mem = h->size;
    uint64_t ptr = h->base + HEAP_INFO + MSTATE;
    uint64_t mis = (ptr + HDR) & ALIGN_MASK;
    if (mis)
        ptr += 16 - mis;
    a->top = rec_new(g, ptr, h->base + h->size - ptr, ST_TOP, (uint16_t)ai);
    touch(g, h->base, HEAP_INFO + MSTATE);  /* malloc_init_state */
    touch(g, ptr + SIZE_SZ, 8);
    /* main_arena.next = a, a->next = old main_arena.next */
    a->next = A(g, 0)->next;
    A(g, 0)->next = ai;
    return ai;
}

static void remove_from_free_list(gl_t *g, int ai)
{
    int32_t *pp = &g->free_list;
    while (*pp >= 0) {
        if (*pp == ai) {
            *pp = A(g, ai)->next_free;
            return;
        }
        pp = &A(g, *pp)->next_free;
    }
}

static void detach_arena(gl_t *g, int ai)
{
    if (ai >= 0 && A(g, ai)->attached > 0)
        A(g, ai)->attached--;
}

/* arena_get2: free_list, then a new arena under the limit, else reuse. */
static int arena_get2(gl_t *g, gl_thread_t *t, uint64_t size, int avoid)
{
    int ai = -1;
    if (g->free_list >= 0) {
        ai = g->free_list;
        g->free_list = A(g, ai)->next_free;
        A(g, ai)->attached = 1;
        detach_arena(g, t->arena);
        t->arena = ai;
        return ai;
    }
    if (g->narenas_limit == 0) {
        if (g->arena_max)
            g->narenas_limit = g->arena_max;
        else if (g->narenas > g->arena_test)
            g->narenas_limit = 8ull * (g->cores ? g->cores : 2);
    }
    if (g->narenas <= g->narenas_limit - 1) {  /* limit 0 wraps: no limit yet */
        g->narenas++;
        ai = int_new_arena(g, size);
        if (ai < 0) {
            g->narenas--;
            return -1;
        }
        detach_arena(g, t->arena);
        t->arena = ai;
        return ai;
    }
    /* reused_arena: with no lock contention in a replay, the first trylock
     * succeeds, so it is simply next_to_use. */
    ai = g->next_to_use;
    if (ai == avoid)
        ai = A(g, ai)->next;
    detach_arena(g, t->arena);
    remove_from_free_list(g, ai);
    A(g, ai)->attached++;
    t->arena = ai;
    g->next_to_use = A(g, ai)->next;
    return ai;
}

static int arena_get(gl_t *g, gl_thread_t *t, uint64_t size)
{
    if (t->arena >= 0)
        return t->arena;
    return arena_get2(g, t, size, -1);
}

/* ---- System memory (sysmalloc, §1.4) --------------------------------------- */
static uint32_t mmap_chunk(gl_t *g, uint64_t nb)
{
    uint64_t size = ALIGN_UP(nb + SIZE_SZ, g->page);
    if (size <= nb)
        return 0;
    uint64_t mm = as_space_mmap(g->space, size, 0);
    if (!mm)
        return 0;
    uint32_t c = rec_new(g, mm, size, ST_MMAP, 0);
    R(c).prev_size = 0;
    g->n_mmaps++;
    g->mmapped_mem += size;
    touch(g, mm, HDR);  /* prev_size and size words */
    return c;
}

static void seg_push(gl_t *g, uint64_t start)
{
    if (g->nseg == g->capseg) {
        uint32_t cap = g->capseg ? g->capseg * 2 : 8;
        gl_seg_t *n = realloc(g->segs, cap * sizeof *n);
        if (!n)
            return;  /* only check() walks segments; it then reports */
        g->segs = n;
        g->capseg = cap;
    }
    g->segs[g->nseg++] = (gl_seg_t){start, start};
}

/* Old top of the main arena cut off by a gap: two 16-byte fenceposts at its
 * end, the rest freed (sysmalloc, "double fencepost"). */
static void main_fencepost(gl_t *g, uint32_t old_top, uint64_t old_size)
{
    uint64_t at = R(old_top).addr;
    old_size = (old_size - 2 * HDR) & ~(uint64_t)ALIGN_MASK;
    uint32_t f1, f2;
    if (old_size == 0) {
        f1 = old_top;  /* fencepost overwrites the old top */
        R(f1).size = HDR;
        R(f1).st = ST_FENCE;
    } else {
        R(old_top).size = old_size;
        R(old_top).st = ST_INUSE;
        f1 = rec_new(g, at + old_size, HDR, ST_FENCE, 0);
        split_link(g, old_top, f1);
    }
    f2 = rec_new(g, at + old_size + HDR, HDR, ST_FENCE, 0);
    split_link(g, f1, f2);
    touch(g, at + old_size + SIZE_SZ, 2 * HDR - SIZE_SZ);
    if (old_size >= MINSIZE)
        int_free(g, 0, old_top);
    else if (old_size)
        R(old_top).st = ST_FENCE;
}

static uint32_t sysmalloc(gl_t *g, int ai, uint64_t nb)
{
    gl_arena_t *a = A(g, ai);
    bool tried_mmap = false;
    if (nb >= g->mmap_threshold && (int64_t)g->n_mmaps < g->n_mmaps_max) {
        uint32_t c = mmap_chunk(g, nb);
        if (c)
            return c;
        tried_mmap = true;
    }
    uint32_t old_top = a->top;
    uint64_t old_size = old_top ? R(old_top).size : 0;
    uint64_t old_end = old_top ? R(old_top).addr + old_size : 0;

    if (ai != 0) {
        gl_heap_t *h = heap_of(g, a);
        uint64_t old_heap_size = h->size;
        int hi;
        if (MINSIZE + nb > old_size && grow_heap(g, h, MINSIZE + nb - old_size) == 0) {
            a->system_mem += h->size - old_heap_size;
            R(old_top).size = h->base + h->size - R(old_top).addr;
        } else if ((hi = new_heap(g, nb + (MINSIZE + HEAP_INFO), g->top_pad, ai, a->heap)) >= 0) {
            h = &g->heaps[hi];
            a->heap = hi;
            a->system_mem += h->size;
            a->top = rec_new(g, h->base + HEAP_INFO, h->size - HEAP_INFO, ST_TOP, (uint16_t)ai);
            touch(g, h->base + HEAP_INFO + SIZE_SZ, 8);
            /* fenceposts at the end of the old heap; the old top is freed */
            uint64_t at = R(old_top).addr;
            old_size = (old_size - MINSIZE) & ~(uint64_t)ALIGN_MASK;
            uint32_t z = rec_new(g, at + old_size + HDR, 0, ST_FENCE, (uint16_t)ai);
            split_link(g, old_top, z);
            if (old_size >= MINSIZE) {
                uint32_t f = rec_new(g, at + old_size, HDR, ST_FENCE, (uint16_t)ai);
                split_link(g, old_top, f);
                R(z).prev_size = HDR;  /* set_foot of the 16-byte fencepost */
                R(old_top).size = old_size;
                R(old_top).st = ST_INUSE;
                touch(g, at + old_size + SIZE_SZ, HDR + SIZE_SZ);
                int_free(g, ai, old_top);
            } else {
                R(old_top).size = old_size + HDR;
                R(old_top).st = ST_FENCE;
                R(z).prev_size = old_size + HDR;
                touch(g, at + SIZE_SZ, old_size + HDR);
            }
        } else if (!tried_mmap) {
            return mmap_chunk(g, nb);
        } else {
            return 0;
        }
    } else {
        uint64_t size = nb + g->top_pad + MINSIZE;
        if (a->contiguous)
            size -= old_size;
        size = ALIGN_UP(size, g->page);
        uint64_t brk = 0, snd_brk = 0;
        bool snd_set = false;
        if ((int64_t)size > 0)
            brk = as_space_sbrk(g->space, (int64_t)size);
        if (!brk) {
            /* MORECORE failed: mmap at least 1 MiB as backup (non-contiguous) */
            uint64_t msize = size;
            if (a->contiguous)
                msize = ALIGN_UP(size + old_size, g->page);
            if (msize < MMAP_AS_MORECORE)
                msize = MMAP_AS_MORECORE;
            uint64_t mbrk = msize > nb ? as_space_mmap(g->space, msize, 0) : 0;
            if (mbrk) {
                a->contiguous = false;
                size = msize;
                brk = mbrk;
                snd_brk = brk + size;
                snd_set = true;
            }
        }
        if (!brk)
            return 0;
        if (!g->sbrk_base)
            g->sbrk_base = brk;
        a->system_mem += size;
        if (old_top && brk == old_end && !snd_set) {
            R(old_top).size = size + old_size;
        } else {
            uint64_t front_misalign = 0, correction = 0, aligned_brk = brk;
            if (a->contiguous) {
                if (old_size)
                    a->system_mem += brk - old_end;
                front_misalign = (brk + HDR) & ALIGN_MASK;
                if (front_misalign) {
                    correction = 16 - front_misalign;
                    aligned_brk += correction;
                }
                correction += old_size;
                uint64_t end_misalign = brk + size + correction;
                correction += ALIGN_UP(end_misalign, g->page) - end_misalign;
                snd_brk = correction ? as_space_sbrk(g->space, (int64_t)correction)
                                     : as_space_brk_cur(g->space);
                if (!snd_brk) {
                    correction = 0;
                    snd_brk = as_space_brk_cur(g->space);
                }
            } else if (!snd_set) {
                snd_brk = as_space_brk_cur(g->space);
            }
            uint32_t nt = rec_new(g, aligned_brk, snd_brk - aligned_brk + correction, ST_TOP, 0);
            a->top = nt;
            a->system_mem += correction;
            touch(g, aligned_brk + SIZE_SZ, 8);
            if (old_size && g->nseg)  /* the old stretch ends where its top did */
                g->segs[g->nseg - 1].end = old_end;
            seg_push(g, aligned_brk);
            if (old_size)
                main_fencepost(g, old_top, old_size);
        }
    }
    if (a->system_mem > a->max_system_mem)
        a->max_system_mem = a->system_mem;

    uint32_t p = a->top;
    uint64_t size = R(p).size;
    if (size >= nb + MINSIZE) {
        R(p).size = nb;
        R(p).st = ST_INUSE;
        a->top = rec_new(g, R(p).addr + nb, size - nb, ST_TOP, (uint16_t)ai);
        split_link(g, p, a->top);
        touch(g, R(p).addr + nb + SIZE_SZ, 8);
        return p;
    }
    return 0;
}

/* ---- _int_malloc (§1.3) ---------------------------------------------------- */
/* Splits victim v (already unlinked) at nb; a remainder >= MINSIZE goes to the
 * head of unsorted. Returns the remainder record or 0. */
static uint32_t split_free(gl_t *g, gl_arena_t *a, int ai, uint32_t v, uint64_t nb)
{
    uint64_t size = R(v).size;
    R(v).st = ST_INUSE;
    if (size - nb < MINSIZE) {
        set_next_inuse(g, v);
        return 0;
    }
    uint32_t r = rec_new(g, R(v).addr + nb, size - nb, ST_UNSORTED, (uint16_t)ai);
    split_link(g, v, r);
    R(v).size = nb;
    unsorted_push(g, a, r);
    set_foot_free(g, r);
    touch_free_hdr(g, R(r).addr, R(r).size);
    return r;
}

static uint32_t int_malloc(gl_t *g, int ai, uint64_t nb)
{
    gl_arena_t *a = A(g, ai);
    gl_tcache_t *tc = g->cur ? g->cur->tc : NULL;
    uint64_t ti = tidx(nb);
    bool tc_ok = tc && ti < g->tcache_bins;
    unsigned idx;
    uint32_t v;

    if (nb <= g->max_fast) {
        idx = fastbin_index(nb);
        if ((v = a->fast[idx])) {
            a->fast[idx] = R(v).fd;
            R(v).st = ST_INUSE;
            g->free_bytes -= R(v).size;
            if (tc_ok) {  /* stash the rest of this size in the tcache */
                uint32_t c;
                while (tc->counts[ti] < g->tcache_count && (c = a->fast[idx])) {
                    a->fast[idx] = R(c).fd;
                    g->free_bytes -= R(c).size;
                    tcache_put(g, tc, c, ti);
                }
            }
            return v;
        }
    }
    if (in_small(nb)) {
        idx = (unsigned)(nb >> 4);
        uint32_t bin = bin_at(a, idx);
        if ((v = R(bin).bk) != bin) {  /* smallbins are FIFO: take the tail */
            unlink_chunk(g, v);
            R(v).st = ST_INUSE;
            set_next_inuse(g, v);
            if (tc_ok) {
                uint32_t c;
                while (tc->counts[ti] < g->tcache_count && (c = R(bin).bk) != bin) {
                    unlink_chunk(g, c);
                    set_next_inuse(g, c);
                    tcache_put(g, tc, c, ti);
                }
            }
            return v;
        }
    } else {
        idx = largebin_index(nb);
        if (a->have_fast)
            malloc_consolidate(g, a);
    }

    bool return_cached = false;
    uint64_t tc_unsorted = 0;
    uint32_t uns = bin_at(a, 1);
    for (;;) {
        int iters = 0;
        while ((v = R(uns).bk) != uns) {
            uint32_t bck = R(v).bk;
            uint64_t size = R(v).size;
            if (in_small(nb) && bck == uns && R(v).addr == a->last_rem && size > nb + MINSIZE) {
                unlink_chunk(g, v);
                uint32_t r = split_free(g, a, ai, v, nb);
                a->last_rem = r ? R(r).addr : 0;
                return v;
            }
            unlink_chunk(g, v);
            if (size == nb) {
                R(v).st = ST_INUSE;
                set_next_inuse(g, v);
                if (tc_ok && tc->counts[ti] < g->tcache_count) {
                    tcache_put(g, tc, v, ti);
                    return_cached = true;
                    continue;
                }
                return v;
            }
            bin_place(g, a, v);
            ++tc_unsorted;
            if (return_cached && g->tcache_unsorted_limit > 0 && tc_unsorted > g->tcache_unsorted_limit)
                return tcache_get(g, tc, ti).rec;
            if (++iters >= MAX_ITERS)
                break;
        }
        if (return_cached)
            return tcache_get(g, tc, ti).rec;

        if (!in_small(nb)) {  /* best fit in the request's own large bin */
            const gl_lbin_t *b = lbin(a, idx);
            if (b->n && b->grp[0].size >= nb) {
                /* glibc walks bk_nextsize up from the smallest size */
                uint32_t k = b->n - 1;
                while (b->grp[k].size < nb)
                    k--;
                v = b->grp[k].head;
                /* take the second of that size if there is one, keeping
                 * the skip links in place: fd is then not the next size */
                uint32_t next = k + 1 < b->n ? b->grp[k + 1].head : bin_at(a, idx);
                if (R(v).fd != next)
                    v = R(v).fd;
                unlink_chunk(g, v);
                split_free(g, a, ai, v, nb);
                return v;
            }
        }

        /* binmap: the next non-empty larger bin, smallest chunk at its tail */
        ++idx;
        unsigned block = idx >> 5;
        uint32_t map = a->binmap[block];
        uint32_t bit = 1u << (idx & 31);
        for (;;) {
            if (bit > map || bit == 0) {
                do {
                    if (++block >= BINMAPSIZE)
                        goto use_top;
                } while ((map = a->binmap[block]) == 0);
                idx = block << 5;
                bit = 1;
            }
            while ((bit & map) == 0) {
                idx++;
                bit <<= 1;
            }
            uint32_t bin = bin_at(a, idx);
            v = R(bin).bk;
            if (v == bin) {  /* stale bit: clear it and go on */
                a->binmap[block] = map &= ~bit;
                idx++;
                bit <<= 1;
            } else {
                unlink_chunk(g, v);
                uint32_t r = split_free(g, a, ai, v, nb);
                if (r && in_small(nb))
                    a->last_rem = R(r).addr;
                return v;
            }
        }
    use_top:
        v = a->top;
        if (v && R(v).size >= nb + MINSIZE) {
            uint64_t size = R(v).size;
            R(v).size = nb;
            R(v).st = ST_INUSE;
            a->top = rec_new(g, R(v).addr + nb, size - nb, ST_TOP, (uint16_t)ai);
            split_link(g, v, a->top);
            touch(g, R(v).addr + nb + SIZE_SZ, 8);
            return v;
        } else if (a->have_fast) {
            malloc_consolidate(g, a);
            idx = bin_index(nb);
        } else {
            return sysmalloc(g, ai, nb);
        }
    }
}

/* ---- _int_free (§1.5) ------------------------------------------------------ */
/* Writes c's record and reads nothing of it. */
static inline void fastbin_push(gl_t *g, gl_arena_t *a, uint32_t c, uint64_t addr, uint64_t size)
{
    a->have_fast = true;
    unsigned idx = fastbin_index(size);
    R(c).fd = a->fast[idx];
    R(c).st = ST_FAST;
    a->fast[idx] = c;
    g->free_bytes += size;
    touch_mem_link(g, addr + HDR);  /* fd, at the same place as e->next */
}

static void int_free(gl_t *g, int ai, uint32_t c)
{
    gl_arena_t *a = A(g, ai);
    uint64_t size = R(c).size;
    gl_tcache_t *tc = g->cur ? g->cur->tc : NULL;
    if (tc) {
        uint64_t ti = tidx(size);
        if (ti < g->tcache_bins && tc->counts[ti] < g->tcache_count) {
            tcache_put(g, tc, c, ti);
            return;
        }
    }
    if (size <= g->max_fast) {
        fastbin_push(g, a, c, R(c).addr, size);
        return;
    }
    size = coalesce(g, a, c);
    if (size >= CONSOLIDATE_THRESHOLD) {
        if (a->have_fast)
            malloc_consolidate(g, a);
        if (ai == 0) {
            if (R(a->top).size >= g->trim_threshold)
                systrim(g, g->top_pad);
        } else {
            heap_trim(g, ai, g->top_pad);
        }
    }
}

/* ---- tcache_init / shutdown ------------------------------------------------ */
static gl_tcache_t *tcache_new(const gl_t *g)
{
    gl_tcache_t *tc = calloc(1, sizeof *tc);
    if (tc && g->tcache_count) {
        tc->e = malloc(g->tcache_bins * g->tcache_count * sizeof *tc->e);
        if (!tc->e) {
            free(tc);
            return NULL;
        }
    }
    return tc;
}

static void tcache_delete(gl_tcache_t *tc)
{
    if (tc)
        free(tc->e);
    free(tc);
}

static void tcache_init(gl_t *g, gl_thread_t *t)
{
    if (t->shutting_down || t->tc)
        return;
    int ai = arena_get(g, t, TC_STRUCT);
    if (ai < 0)
        return;
    uint32_t c = int_malloc(g, ai, req2size(TC_STRUCT));
    if (!c) {
        ai = ai != 0 ? 0 : arena_get2(g, t, TC_STRUCT, ai);
        if (ai >= 0)
            c = int_malloc(g, ai, req2size(TC_STRUCT));
    }
    if (!c)
        return;
    t->tc = tcache_new(g);
    if (!t->tc) {
        int_free(g, R(c).st == ST_MMAP ? 0 : R(c).arena, c);
        return;
    }
    t->tc_rec = c;
    touch(g, R(c).addr + HDR, TC_STRUCT);  /* memset (tcache, 0, ...) */
}

static inline void maybe_init_tcache(gl_t *g, gl_thread_t *t)
{
    if (!t->tc && !t->shutting_down)
        tcache_init(g, t);
}

static void free_chunk(gl_t *g, uint32_t c);

/* __malloc_arena_thread_freeres: the tcache goes back to the arenas, then
 * the arena is detached and, with no thread left, pushed onto free_list. */
static void thread_exit(gl_t *g, gl_thread_t *t)
{
    gl_tcache_t *tc = t->tc;
    t->shutting_down = 1;
    if (tc) {
        t->tc = NULL;  /* frees below bypass the tcache */
        for (unsigned i = 0; i < TC_BINS; i++)
            while (tc->counts[i])
                free_chunk(g, tcache_get(g, tc, i).rec);
        tcache_delete(tc);
        uint32_t tr = t->tc_rec;
        t->tc_rec = 0;
        free_chunk(g, tr);
    }
    int ai = t->arena;
    t->arena = -1;
    if (ai >= 0) {
        gl_arena_t *a = A(g, ai);
        if (a->attached > 0 && --a->attached == 0) {
            a->next_free = g->free_list;
            g->free_list = ai;
        }
    }
    t->exited = 1;
}

/* ---- Public calls (__libc_*) --------------------------------------------- */
/* Grows the thread table to hold idx (a thread index not seen yet), or
 * NULL past AS_REPLAY_THREAD_LIMIT: a damaged or crafted index must neither
 * make the model allocate gigabytes for the table nor, past 2^31, double
 * its uint32_t size forever. */
static gl_thread_t *new_thread(gl_t *g, uint32_t idx)
{
    if (idx >= AS_REPLAY_THREAD_LIMIT)
        return NULL;
    uint32_t n = g->nthread ? g->nthread : 8;
    while (n <= idx)
        n *= 2;
    gl_thread_t *t = realloc(g->threads, (size_t)n * sizeof *t);
    if (!t)
        return NULL;
    for (uint32_t i = g->nthread; i < n; i++)
        t[i] = (gl_thread_t){i == 0 ? 0 : -1, 0, NULL, 0, 0};
    g->threads = t;
    g->nthread = n;
    return &g->threads[idx];
}

static inline gl_thread_t *get_thread(gl_t *g, uint32_t idx)
{
    return idx < g->nthread ? &g->threads[idx] : new_thread(g, idx);
}

/* Every entry point: room for the records this call may create, and the
 * calling thread in g->cur (glibc's thread-local tcache and thread_arena). */
static inline gl_thread_t *enter(gl_t *g, uint32_t thread)
{
    if (gl_reserve(g))
        return NULL;
    gl_thread_t *t = get_thread(g, thread);
    if (t)
        g->cur = t;
    return t;
}

/* enter() when it has nothing to grow (NULL otherwise): the fast paths of
 * malloc and free make no call, so they save no registers. */
static inline gl_thread_t *enter_fast(gl_t *g, uint32_t thread)
{
    if (!gl_room(g) || thread >= g->nthread)
        return NULL;
    return g->cur = &g->threads[thread];
}

/* tcache_get from bin ti of t's tcache, if it has a chunk */
static inline bool tc_take(gl_t *g, const gl_thread_t *t, uint64_t ti, gl_tcent_t *out)
{
    if (!t->tc || ti >= g->tcache_bins || !t->tc->counts[ti])
        return false;
    *out = tcache_get(g, t->tc, ti);
    return true;
}

static inline uint64_t mem_of(const gl_t *g, uint32_t c) { return c ? R(c).addr + HDR : 0; }

/* arena_get_retry: a non-main arena retries in main, main asks arena_get2 */
static int arena_retry(gl_t *g, gl_thread_t *t, int ai, uint64_t bytes)
{
    return ai != 0 ? 0 : arena_get2(g, t, bytes, ai);
}

/* __libc_malloc: the chunk (rec 0 if none) and its address, which a tcache
 * hit knows without reading the record. */
static gl_tcent_t do_malloc(gl_t *g, gl_thread_t *t, uint64_t bytes)
{
    if (bytes > (uint64_t)INT64_MAX - 64)
        return (gl_tcent_t){0, 0};
    uint64_t nb = req2size(bytes);
    gl_tcent_t c;
    maybe_init_tcache(g, t);
    if (tc_take(g, t, tidx(nb), &c))
        return c;
    int ai = arena_get(g, t, bytes);
    if (ai < 0)
        return (gl_tcent_t){0, 0};
    uint32_t v = int_malloc(g, ai, nb);
    if (!v && (ai = arena_retry(g, t, ai, bytes)) >= 0)
        v = int_malloc(g, ai, nb);
    if (!v)
        return (gl_tcent_t){0, 0};
    set_aux(g, v);
    return (gl_tcent_t){R(v).addr, v};
}

static __attribute__((noinline)) uint64_t malloc_slow(gl_t *g, uint32_t thread, uint64_t size)
{
    gl_thread_t *t = enter(g, thread);
    if (!t)
        return 0;
    gl_tcent_t c = do_malloc(g, t, size);
    return c.rec ? c.addr + HDR : 0;
}

/* __libc_malloc's tcache hit, without a call: the block's address, or 0
 * if the tcache cannot serve it (malloc_slow then does all of it). */
static inline __attribute__((always_inline)) uint64_t malloc_fast(gl_t *g, uint32_t thread,
                                                                  uint64_t size)
{
    gl_thread_t *t = enter_fast(g, thread);
    gl_tcent_t c;
    /* no request above TC_MAX_BYTES is cached (and none wraps req2size) */
    if (t && size <= TC_MAX_BYTES && tc_take(g, t, tidx(req2size(size)), &c))
        return c.addr + HDR;
    return 0;
}

static uint64_t gl_malloc(void *m, uint32_t thread, uint64_t size)
{
    gl_t *g = m;
    uint64_t a = malloc_fast(g, thread, size);
    return a ? a : malloc_slow(g, thread, size);
}

static void munmap_chunk(gl_t *g, uint32_t c)
{
    uint64_t total = R(c).prev_size + R(c).size;
    as_space_munmap(g->space, R(c).addr - R(c).prev_size, total);
    g->n_mmaps--;
    g->mmapped_mem -= total;
    rec_del(g, c);
}

/* __libc_free on a chunk record */
static void free_chunk(gl_t *g, uint32_t c)
{
    if (R(c).st == ST_MMAP) {
        /* dynamic threshold (§2): chunksize_nomask includes IS_MMAPPED (2) */
        uint64_t nomask = R(c).size | 2;
        if (!g->no_dyn_threshold && nomask > g->mmap_threshold && nomask <= MMAP_THRESHOLD_MAX) {
            g->mmap_threshold = R(c).size;
            g->trim_threshold = 2 * g->mmap_threshold;
        }
        munmap_chunk(g, c);
        return;
    }
    maybe_init_tcache(g, g->cur);
    int_free(g, R(c).arena, c);
}

static uint32_t user_chunk(const gl_t *g, uint64_t addr)
{
    uint32_t c = addr > HDR ? h_get(g, addr - HDR) : 0;
    return c && (R(c).st == ST_INUSE || R(c).st == ST_MMAP) ? c : 0;
}

/* The common free, straight into the tcache t has, from what the chunk's
 * slot holds (record c, aux) alone; false if it cannot go there. */
static inline bool free_to_tcache(gl_t *g, const gl_thread_t *t, uint64_t addr, uint32_t c,
                                  uint32_t aux)
{
    gl_tcache_t *tc = t->tc;
    if (!tc || !aux || aux >> 31)
        return false;
    uint64_t size = (uint64_t)aux << 4, ti = tidx(size);
    if (ti >= g->tcache_bins || tc->counts[ti] >= g->tcache_count)
        return false;
#ifdef AS_DEBUG
    /* a chunk in a tcache is ST_INUSE too: glibc's double-free scan */
    if (R(c).st != ST_INUSE || R(c).size != size || in_tcache(g, tc, ti, c))
        return true;  /* not a block the user holds: ignored, check() will not see it */
#endif
    tc_push(g, tc, ti, addr - HDR, c);
    return true;
}

static __attribute__((noinline)) void free_slow(gl_t *g, uint32_t thread, uint64_t addr)
{
    gl_thread_t *t = enter(g, thread);
    if (!t || addr <= HDR)
        return;
    const gl_slot_t *sl = h_slot(g, addr - HDR);
    if (!sl)
        return;
    uint32_t c = sl->val, aux = sl->aux;
    if (aux && !(aux >> 31)) {
        uint64_t size = (uint64_t)aux << 4;
        maybe_init_tcache(g, t);  /* may move slots: sl is stale from here */
        if (free_to_tcache(g, t, addr, c, aux))
            return;
        /* _int_free's fastbin push, from the slot too: with a single arena
         * the chunk is main's, and the push does not wait for its record */
        if (size <= g->max_fast && g->narena == 1) {
#ifdef AS_DEBUG
            if (R(c).st != ST_INUSE || R(c).size != size)
                return;
#endif
            fastbin_push(g, A(g, 0), c, addr - HDR, size);
            return;
        }
    }
    if (R(c).st == ST_INUSE || R(c).st == ST_MMAP)
        free_chunk(g, c);
}

/* __libc_free's tcache push, without a call; false if free_slow must do
 * all of it. Its only write that can change the space is tc_push's
 * touch_mem_link, and only if addr starts a page. */
static inline __attribute__((always_inline)) bool free_fast(gl_t *g, uint32_t thread, uint64_t addr)
{
    gl_thread_t *t = enter_fast(g, thread);
    const gl_slot_t *sl = t && addr > HDR ? h_slot(g, addr - HDR) : NULL;
    return sl && free_to_tcache(g, t, addr, sl->val, sl->aux);
}

/* __libc_free: the tcache push inline, anything else in free_slow. */
static inline __attribute__((always_inline)) void do_free(gl_t *g, uint32_t thread, uint64_t addr)
{
    if (!free_fast(g, thread, addr))
        free_slow(g, thread, addr);
}

static void gl_free(void *m, uint32_t thread, uint64_t addr) { do_free(m, thread, addr); }

#define PLAIN_AHEAD 16u       /* events ahead whose table entry is prefetched */
#define PLAIN_SLOT_AHEAD 8u    /* events ahead whose map slot is prefetched */
#define PLAIN_REC_AHEAD 4u     /* events ahead whose record is prefetched */
#define PLAIN_HOMES 8u         /* map slots kept from SLOT_AHEAD to REC_AHEAD */
_Static_assert(PLAIN_HOMES > PLAIN_SLOT_AHEAD - PLAIN_REC_AHEAD, "home[] ring too small");

/* as_model_t.plain: the engine's per-event dispatch (an indirect call, the
 * switch on the op, the table and the space's counters read through calls)
 * cost more than the common malloc and free, which the tcache serves. Here
 * they are a loop over the events with those fast paths inline; the rest of
 * glibc is the same calls gl_malloc and gl_free make. Every malloc may go
 * through int_malloc, so any may fail: one is taken only over an empty
 * table entry, which a failure leaves empty, and a failure ends the run.
 *
 * The space's resident and mapped bytes are read again only after what
 * can change them: a slow path, or a touch. The fast paths map nothing,
 * and the user's write after a tcache hit is no touch when it stays on
 * the page of the chunk's size word (resident while the chunk exists:
 * sim/glibc_internal.h, touch_links), as it does for --touch first unless
 * the block starts a page. So the common event makes no call at all. */
static uint32_t gl_plain(void *m, const as_hevent_t *ev, uint32_t n, as_block_t *blk,
                         uint64_t nblk, uint64_t touch, uint64_t *rss, uint64_t *mapped)
{
    gl_t *g = m;
    as_space_t *sp = g->space;
    uint32_t i = 0, home[PLAIN_HOMES] = {0};
    if (!nblk)
        return 0;
    uint64_t pm = g->page - 1, res = as_space_resident(sp), map = as_space_mapped(sp);
    while (i < n) {
        const as_hevent_t *c = &ev[i];
        /* A free's first reads are misses on a big heap, one after the
         * other: its table entry (read at random), its chunk's map slot
         * and, if the tcache cannot take it, its record. The entry is
         * fetched PLAIN_AHEAD events ahead, the slot (from the entry,
         * arrived by then) PLAIN_SLOT_AHEAD ahead, the record (from the
         * slot, whose place home[] keeps) PLAIN_REC_AHEAD ahead. For a
         * malloc, whose entry is 0, the lines fetched are useless but
         * harmless; a branch on the op would mispredict. Slot indices stay
         * inside the map (& hmask: it only grows), and a slot's record
         * index, even a stale one, inside the records. */
        if (i + PLAIN_AHEAD < n) {
            uint32_t fid = ev[i + PLAIN_AHEAD].id, sid = ev[i + PLAIN_SLOT_AHEAD].id;
            uint64_t h = h_home(g, blk[sid < nblk ? sid : 0].addr - HDR);
            __builtin_prefetch(&blk[fid < nblk ? fid : 0], 1);
            __builtin_prefetch(&g->hs[h]);
            home[(i + PLAIN_SLOT_AHEAD) % PLAIN_HOMES] = (uint32_t)h;
            __builtin_prefetch(&R(g->hs[home[(i + PLAIN_REC_AHEAD) % PLAIN_HOMES] & g->hmask].val));
        }
        if (c->flags || c->id >= nblk)
            break;
        as_block_t *b = &blk[c->id];
        if (c->op == AS_OP_MALLOC) {
            uint64_t len = c->size < touch ? c->size : touch;  /* the engine's user_touch */
            uint64_t a = malloc_fast(g, c->thread, c->size);
            if (a) {
                b->addr = a;
                if (len && ((a - SIZE_SZ) ^ (a + len - 1)) > pm) {
                    as_space_touch(sp, a, len);
                    res = as_space_resident(sp);
                }
            } else {
                if (b->addr)
                    break;
                b->addr = a = malloc_slow(g, c->thread, c->size);
                if (a)
                    as_space_touch(sp, a, len);
                res = as_space_resident(sp);
                map = as_space_mapped(sp);
            }
        } else if (c->op == AS_OP_FREE && b->addr) {
            uint64_t addr = b->addr;
            b->addr = 0;
            if (!free_fast(g, c->thread, addr)) {
                free_slow(g, c->thread, addr);
                map = as_space_mapped(sp);
                res = as_space_resident(sp);
            } else if (!(addr & pm)) {  /* tc_push's touch_mem_link */
                res = as_space_resident(sp);
            }
        } else {
            break;
        }
        rss[i] = res;
        mapped[i++] = map;
        if (!b->addr && c->op == AS_OP_MALLOC)
            break;
    }
    return i;
}

static uint64_t gl_calloc(void *m, uint32_t thread, uint64_t size)
{
    gl_t *g = m;
    gl_thread_t *t = enter(g, thread);
    if (!t || size > (uint64_t)INT64_MAX - 64)
        return 0;
    maybe_init_tcache(g, t);
    int ai = arena_get(g, t, size);
    if (ai < 0)
        return 0;
    /* MORECORE_CLEARS: what sysmalloc adds to top during this call is fresh
     * zeroes and is not cleared. In a non-main heap, everything up to
     * mprotect_size counts as old. malloc.c would also raise the main arena's
     * limit to its max_system_mem high-water mark, but Debian's 2.36 binary
     * does not (its __libc_calloc has no such code; checked against the real
     * allocator in tests/glibc), so memory re-grown after a trim is fresh. */
    gl_arena_t *a = A(g, ai);
    uint64_t oldtop = a->top ? R(a->top).addr : 0, oldtopsize = a->top ? R(a->top).size : 0;
    if (oldtop && ai != 0) {
        gl_heap_t *h = heap_of(g, a);
        uint64_t hw = h->base + h->mprotect_size - oldtop;
        if (oldtopsize < hw)
            oldtopsize = hw;
    }
    uint64_t nb = req2size(size);
    uint32_t c = int_malloc(g, ai, nb);
    if (!c && (ai = arena_retry(g, t, ai, size)) >= 0)
        c = int_malloc(g, ai, nb);
    if (!c)
        return 0;
    set_aux(g, c);
    if (R(c).st == ST_MMAP)
        return mem_of(g, c);  /* fresh mapping: already zero */
    uint64_t csz = R(c).size;
    if (R(c).addr == oldtop && csz > oldtopsize)
        csz = oldtopsize;
    if (csz > SIZE_SZ)
        touch(g, R(c).addr + HDR, csz - SIZE_SZ);
    return mem_of(g, c);
}

/* _int_memalign (§1.6) */
static uint32_t int_memalign(gl_t *g, int ai, uint64_t align, uint64_t bytes)
{
    uint64_t nb = req2size(bytes);
    uint32_t p = int_malloc(g, ai, req2size(nb + align + MINSIZE));
    if (!p)
        return 0;
    uint64_t mem = R(p).addr + HDR;
    if (mem % align) {
        uint64_t brk = ((mem + align - 1) & ~(align - 1)) - HDR;
        if (brk - R(p).addr < MINSIZE)
            brk += align;
        uint64_t lead = brk - R(p).addr;
        uint64_t newsize = R(p).size - lead;
        if (R(p).st == ST_MMAP) {
            uint64_t off = R(p).prev_size + lead;
            rec_rekey(g, p, brk);
            R(p).prev_size = off;
            R(p).size = newsize;
            touch(g, brk, HDR);
            return p;
        }
        uint32_t np = rec_new(g, brk, newsize, ST_INUSE, (uint16_t)ai);
        split_link(g, p, np);
        touch(g, brk + SIZE_SZ, 8);
        R(p).size = lead;
        int_free(g, ai, p);
        p = np;
    }
    if (R(p).st != ST_MMAP) {
        uint64_t size = R(p).size;
        if (size > nb + MINSIZE) {
            uint32_t r = rec_new(g, R(p).addr + nb, size - nb, ST_INUSE, (uint16_t)ai);
            split_link(g, p, r);
            R(p).size = nb;
            touch(g, R(r).addr + SIZE_SZ, 8);
            int_free(g, ai, r);
        }
    }
    return p;
}

static uint64_t gl_memalign(void *m, uint32_t thread, uint64_t align, uint64_t size)
{
    gl_t *g = m;
    if (align <= 16)
        return gl_malloc(m, thread, size);
    gl_thread_t *t = enter(g, thread);
    if (!t || size > (uint64_t)INT64_MAX - 64 || align > (1ull << 62))
        return 0;
    if (align < MINSIZE)
        align = MINSIZE;
    if (align & (align - 1)) {
        uint64_t x = 32;
        while (x < align)
            x <<= 1;
        align = x;
    }
    /* _mid_memalign does not initialise the tcache */
    int ai = arena_get(g, t, size + align + MINSIZE);
    if (ai < 0)
        return 0;
    uint32_t c = int_memalign(g, ai, align, size);
    if (!c && (ai = arena_retry(g, t, ai, size)) >= 0)
        c = int_memalign(g, ai, align, size);
    if (c)
        set_aux(g, c);
    return mem_of(g, c);
}

/* _int_realloc (§1.6) */
static uint32_t int_realloc(gl_t *g, int ai, uint32_t oldp, uint64_t nb)
{
    gl_arena_t *a = A(g, ai);
    uint64_t oldsize = R(oldp).size, newsize;
    uint32_t next = next_rec(g, oldp);
    uint32_t newp = oldp;
    if (oldsize >= nb) {
        newsize = oldsize;
    } else if (next == a->top && (newsize = oldsize + R(next).size) >= nb + MINSIZE) {
        R(oldp).size = nb;  /* grow into top */
        rec_rekey(g, next, R(oldp).addr + nb);
        R(next).size = newsize - nb;
        touch(g, R(next).addr + SIZE_SZ, 8);
        return oldp;
    } else if (next != a->top && is_free(&R(next)) && (newsize = oldsize + R(next).size) >= nb) {
        unlink_chunk(g, next);  /* absorb the free next chunk */
        absorb(g, oldp, next);
        rec_del(g, next);
        R(oldp).size = newsize;
    } else {
        uint32_t nm = int_malloc(g, ai, nb);
        if (!nm)
            return 0;
        if (R(nm).addr == R(oldp).addr + oldsize) {  /* carved right after us: merge */
            newsize = oldsize + R(nm).size;
            absorb(g, oldp, nm);
            rec_del(g, nm);
            R(oldp).size = newsize;
        } else {
            touch(g, R(nm).addr + HDR, oldsize - SIZE_SZ);  /* memcpy */
            int_free(g, ai, oldp);
            return nm;
        }
    }
    uint64_t rem = newsize - nb;
    if (rem < MINSIZE) {
        set_next_inuse(g, newp);
    } else {
        R(newp).size = nb;
        uint32_t r = rec_new(g, R(newp).addr + nb, rem, ST_INUSE, (uint16_t)ai);
        split_link(g, newp, r);
        set_next_inuse(g, r);
        touch(g, R(r).addr + SIZE_SZ, 8);
        int_free(g, ai, r);
    }
    return newp;
}

static uint64_t gl_realloc(void *m, uint32_t thread, uint64_t addr, uint64_t size)
{
    gl_t *g = m;
    gl_thread_t *t = enter(g, thread);
    if (!t)
        return 0;
    uint32_t c = user_chunk(g, addr);
    if (!c)
        return gl_malloc(m, thread, size);
    if (size > (uint64_t)INT64_MAX - 64)
        return 0;
    uint64_t nb = req2size(size);
    if (R(c).st == ST_MMAP) {
        /* mremap_chunk: same page count is a no-op; the chunk stays mmapped */
        uint64_t off = R(c).prev_size, total = off + R(c).size;
        uint64_t new_size = ALIGN_UP(nb + off + SIZE_SZ, g->page);
        if (total == new_size)
            return addr;
        uint64_t na = as_space_mremap(g->space, R(c).addr - off, total, new_size);
        if (na) {
            rec_rekey(g, c, na + off);
            R(c).size = new_size - off;
            g->mmapped_mem += new_size - total;
            touch(g, na + off + SIZE_SZ, 8);
            set_aux(g, c);
            return mem_of(g, c);
        }
        if (R(c).size - SIZE_SZ >= nb)
            return addr;
        uint32_t n = do_malloc(g, t, size).rec;
        if (!n)
            return 0;
        touch(g, R(n).addr + HDR, R(c).size - HDR);
        munmap_chunk(g, c);
        set_aux(g, n);
        return mem_of(g, n);
    }
    maybe_init_tcache(g, t);
    int ai = R(c).arena;
    uint32_t n = int_realloc(g, ai, c, nb);
    if (!n) {  /* try harder in other arenas */
        n = do_malloc(g, t, size).rec;
        if (!n)
            return 0;
        touch(g, R(n).addr + HDR, R(c).size - SIZE_SZ);
        int_free(g, ai, c);
    }
    set_aux(g, n);
    return mem_of(g, n);
}

/* mtrim: consolidate, DONTNEED whole pages of big free chunks, systrim */
static void mtrim(gl_t *g, int ai, uint64_t pad)
{
    gl_arena_t *a = A(g, ai);
    malloc_consolidate(g, a);
    uint64_t ps = g->page, psm1 = ps - 1;
    unsigned psindex = bin_index(ps);
    for (unsigned i = 1; i < NBINS; i++) {
        if (i != 1 && i < psindex)
            continue;
        uint32_t bin = bin_at(a, i);
        for (uint32_t p = R(bin).bk; p != bin; p = R(p).bk) {
            uint64_t size = R(p).size;
            if (size > psm1 + 48) {
                uint64_t pal = (R(p).addr + 48 + psm1) & ~psm1;
                size -= pal - R(p).addr;
                if (size > psm1)
                    as_space_dontneed(g->space, pal, size & ~psm1);
            }
        }
    }
    if (ai == 0)
        systrim(g, pad);
}

static void gl_control(void *m, const as_event_t *ev)
{
    gl_t *g = m;
    gl_thread_t *t = enter(g, ev->thread);
    if (!t)
        return;
    switch (ev->op) {
    case AS_OP_MALLOC_TRIM: {
        int ai = 0;
        do {  /* main, then main.next ... (the arena ring) */
            mtrim(g, ai, ev->arg);
            ai = A(g, ai)->next;
        } while (ai != 0);
        break;
    }
    case AS_OP_MALLOPT: {
        int value = (int)ev->arg2;
        uint64_t uv = (uint64_t)(int64_t)value;  /* int -> size_t as glibc does */
        malloc_consolidate(g, A(g, 0));
        switch ((int)(int64_t)ev->arg) {
        case M_MXFAST:
            if (uv <= 160)
                g->max_fast = max_fast_of(uv);
            break;
        case M_TRIM_THRESHOLD:
            g->trim_threshold = uv;
            g->no_dyn_threshold = true;
            break;
        case M_TOP_PAD:
            g->top_pad = uv;
            g->no_dyn_threshold = true;
            break;
        case M_MMAP_THRESHOLD:
            g->mmap_threshold = uv;
            g->no_dyn_threshold = true;
            break;
        case M_MMAP_MAX:
            g->n_mmaps_max = value;
            g->no_dyn_threshold = true;
            break;
        case M_ARENA_TEST:
            if (value > 0)
                g->arena_test = uv;
            break;
        case M_ARENA_MAX:
            if (value > 0)
                g->arena_max = uv;
            break;
        default:  /* M_CHECK_ACTION, M_PERTURB, unknown: consolidation only */
            break;
        }
        break;
    }
    case AS_OP_THREAD_START:
        if (ev->thread != 0 && t->exited)
            *t = (gl_thread_t){-1, 0, NULL, 0, 0};
        break;
    case AS_OP_THREAD_EXIT:
        if (ev->thread != 0 && !t->exited)
            thread_exit(g, t);
        break;
    default:
        break;
    }
}

static void gl_stats(const void *m, as_model_stats_t *st)
{
    const gl_t *g = m;
    uint64_t sys = 0, tops = 0;
    for (uint32_t i = 0; i < g->narena; i++) {
        sys += g->arenas[i]->system_mem;
        if (g->arenas[i]->top)
            tops += R(g->arenas[i]->top).size;
    }
    memset(st, 0, sizeof *st);
    st->heap_bytes = sys + g->mmapped_mem;
    st->free_bytes = g->free_bytes + tops;
    st->mmap_chunks = g->n_mmaps;
    st->mmap_threshold = g->mmap_threshold;
}

/* ---- Invariants (run after every operation in debug builds) --------------- */
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Walks the chunks of [start, end): every header has a record, sizes add up,
 * PREV_INUSE/prev_size match the previous chunk, no two free chunks touch. */
static int walk(const gl_t *g, int ai, uint64_t start, uint64_t end, bool has_top,
                uint64_t *nfree, char *err, size_t errlen)
{
    const gl_arena_t *a = g->arenas[ai];
    uint64_t at = start, prev_size = 0;
    bool prev_free = false;
    while (at < end) {
        uint32_t c = h_get(g, at);
        if (!c)
            FAIL("arena %d: no chunk header at %#llx (segment %#llx..%#llx)", ai,
                 (unsigned long long)at, (unsigned long long)start, (unsigned long long)end);
        const gl_rec_t *r = &R(c);
        if (r->arena != ai && r->st != ST_NONE)
            FAIL("chunk %#llx: arena %u, found in arena %d", (unsigned long long)at, r->arena, ai);
        if (r->st == ST_NONE || r->st == ST_MMAP)
            FAIL("chunk %#llx: bad state %u inside a heap", (unsigned long long)at, r->st);
        if (r->pfree != prev_free)
            FAIL("chunk %#llx: PREV_INUSE is %d, previous chunk %s", (unsigned long long)at,
                 !r->pfree, prev_free ? "free" : "in use");
        if (prev_free && r->prev_size != prev_size)
            FAIL("chunk %#llx: prev_size %llu, previous chunk is %llu", (unsigned long long)at,
                 (unsigned long long)r->prev_size, (unsigned long long)prev_size);
        bool f = is_free(r);
        if (f && prev_free)
            FAIL("chunk %#llx: two adjacent free chunks", (unsigned long long)at);
        if (f)
            (*nfree)++;
        if (r->st == ST_TOP) {
            if (!has_top || c != a->top || at + r->size != end)
                FAIL("top %#llx is not the last chunk of its arena's current heap",
                     (unsigned long long)at);
        }
        if (r->size == 0) {  /* the closing fencepost of an old non-main heap */
            if (r->st != ST_FENCE || at + HDR != end)
                FAIL("zero-sized chunk %#llx", (unsigned long long)at);
            if (r->nxt)
                FAIL("chunk %#llx ends its heap but links a next chunk", (unsigned long long)at);
            return 0;
        }
        if (r->nxt != (at + r->size < end ? h_get(g, at + r->size) : 0))
            FAIL("chunk %#llx: next-chunk link %u, the map says %u", (unsigned long long)at, r->nxt,
                 at + r->size < end ? h_get(g, at + r->size) : 0);
        if (r->st != ST_FENCE && (r->size < MINSIZE || (r->size & ALIGN_MASK)))
            FAIL("chunk %#llx: bad size %llu", (unsigned long long)at, (unsigned long long)r->size);
        prev_free = f;
        prev_size = r->size;
        at += r->size;
    }
    if (at != end)
        FAIL("arena %d: chunks overrun the segment end %#llx by %llu", ai,
             (unsigned long long)end, (unsigned long long)(at - end));
    if (has_top && !(a->top && R(a->top).addr + R(a->top).size == end))
        FAIL("arena %d: top does not end the current heap", ai);
    return 0;
}

int as_glibc_check_full(const void *m, char *err, size_t errlen)
{
    const gl_t *g = m;
    uint64_t walked_free = 0, listed_free = 0, free_bytes = 0, live = 0;
    if (g->oom)
        FAIL("out of memory for a large bin's skip list");
    for (uint32_t ai = 0; ai < g->narena; ai++) {
        const gl_arena_t *a = g->arenas[ai];
        if (ai == 0) {
            for (uint32_t s = 0; s < g->nseg; s++) {
                bool last = s + 1 == g->nseg;
                uint64_t end = last ? R(a->top).addr + R(a->top).size : g->segs[s].end;
                if (walk(g, 0, g->segs[s].start, end, last, &walked_free, err, errlen))
                    return -1;
            }
        } else {
            for (uint32_t h = 0; h < g->nheap; h++) {
                const gl_heap_t *hp = &g->heaps[h];
                if (!hp->live || hp->arena != ai)
                    continue;
                uint64_t start = hp->base + HEAP_INFO;
                if (hp->prev < 0) {
                    start += MSTATE;
                    if ((start + HDR) & ALIGN_MASK)
                        start += 16 - ((start + HDR) & ALIGN_MASK);
                }
                if (hp->size > HEAP_MAX || hp->size > hp->mprotect_size)
                    FAIL("heap %#llx: size %llu", (unsigned long long)hp->base,
                         (unsigned long long)hp->size);
                if (walk(g, (int)ai, start, hp->base + hp->size, (int)h == a->heap, &walked_free,
                         err, errlen))
                    return -1;
            }
        }
        for (unsigned i = 1; i < NBINS; i++) {
            uint32_t bin = bin_at(a, i), prev = bin, groups = 0;
            bool nonempty = R(bin).fd != bin;
            if (i != 1 && nonempty && !(a->binmap[i >> 5] & (1u << (i & 31))))
                FAIL("arena %u bin %u: chunks but no binmap bit", ai, i);
            for (uint32_t p = R(bin).fd; p != bin; prev = p, p = R(p).fd) {
                const gl_rec_t *r = &R(p);
                if (r->bk != prev)
                    FAIL("arena %u bin %u: broken bk link at %#llx", ai, i, (unsigned long long)r->addr);
                if (r->st != (i == 1 ? ST_UNSORTED : ST_BIN) || r->arena != ai)
                    FAIL("arena %u bin %u: chunk %#llx in state %u", ai, i,
                         (unsigned long long)r->addr, r->st);
                if (i != 1 && bin_index(r->size) != i)
                    FAIL("arena %u bin %u: chunk of size %llu belongs in bin %u", ai, i,
                         (unsigned long long)r->size, bin_index(r->size));
                if (i >= 64 && prev != bin && r->size > R(prev).size)
                    FAIL("arena %u large bin %u not sorted", ai, i);
                if (i >= 64 && (prev == bin || r->size != R(prev).size)) {
                    const gl_lbin_t *b = &a->large[i - 64];
                    if (groups >= b->n || b->grp[groups].size != r->size || b->grp[groups].head != p)
                        FAIL("arena %u large bin %u: skip list misses %#llx", ai, i,
                             (unsigned long long)r->addr);
                    groups++;
                }
                if (++listed_free > g->nrec)
                    FAIL("arena %u bin %u: cycle", ai, i);
                free_bytes += r->size;
            }
            if (i >= 64 && groups != a->large[i - 64].n)
                FAIL("arena %u large bin %u: %u sizes, %u in its skip list", ai, i, groups,
                     a->large[i - 64].n);
        }
        for (unsigned i = 0; i < NFASTBINS; i++)
            for (uint32_t p = a->fast[i]; p; p = R(p).fd) {
                if (R(p).st != ST_FAST || fastbin_index(R(p).size) != i || R(p).arena != ai)
                    FAIL("arena %u fastbin %u: bad chunk %#llx", ai, i, (unsigned long long)R(p).addr);
                free_bytes += R(p).size;
                if (++live > g->nrec)
                    FAIL("arena %u fastbin %u: cycle", ai, i);
            }
    }
    if (walked_free != listed_free)
        FAIL("%llu free chunks in the heaps, %llu in bins", (unsigned long long)walked_free,
             (unsigned long long)listed_free);
    for (uint32_t t = 0; t < g->nthread; t++) {
        const gl_tcache_t *tc = g->threads[t].tc;
        if (!tc)
            continue;
        for (unsigned i = 0; i < TC_BINS; i++) {
            if (tc->counts[i] > (i < g->tcache_bins ? g->tcache_count : 0))
                FAIL("thread %u tcache bin %u: count %u", t, i, tc->counts[i]);
            for (unsigned k = 0; k < tc->counts[i]; k++) {
                const gl_tcent_t *e = &tc->e[i * g->tcache_count + k];
                const gl_rec_t *r = &R(e->rec);
                if (r->st != ST_INUSE || r->addr != e->addr || tidx(r->size) != i)
                    FAIL("thread %u tcache bin %u: bad chunk %#llx", t, i, (unsigned long long)e->addr);
                free_bytes += r->size;
            }
        }
    }
    if (free_bytes != g->free_bytes)
        FAIL("free bytes %llu, counter says %llu", (unsigned long long)free_bytes,
             (unsigned long long)g->free_bytes);
    uint64_t mm = 0, mmb = 0;
    live = 0;
    for (uint32_t i = 1; i < g->nrec; i++) {
        if (R(i).st == ST_NONE)
            continue;
        live++;
        if (h_get(g, R(i).addr) != i)
            FAIL("record %u (%#llx) not in the address map", i, (unsigned long long)R(i).addr);
        if (R(i).st == ST_MMAP) {
            mm++;
            mmb += R(i).prev_size + R(i).size;
        }
    }
    if (live != g->hcount)
        FAIL("%llu live records, %llu in the address map", (unsigned long long)live,
             (unsigned long long)g->hcount);
    if (mm != g->n_mmaps || mmb != g->mmapped_mem)
        FAIL("%llu mmapped chunks (%llu B), counters say %llu (%llu B)", (unsigned long long)mm,
             (unsigned long long)mmb, (unsigned long long)g->n_mmaps,
             (unsigned long long)g->mmapped_mem);
    return 0;
}

/* The full walk above is O(heap). Debug builds call check after every
 * operation, also when the regression traces (10^5 calls, thousands of
 * chunks) go through every model under ASan, so beyond CHECK_FULL chunks the
 * method walks every chunks / CHECK_EVERY calls: amortised O(CHECK_EVERY)
 * per call. tests/glibc calls as_glibc_check_full after every call.
 * CHECK_EVERY 16 made the walk half of the ASan suite's replay_test_engine
 * (270 s of a 330 s ctest on a 2-core EPYC); 4 still walks a heap of n
 * chunks every n/4 calls. */
#define CHECK_FULL 256u
#define CHECK_EVERY 4u

static int gl_check(const void *m, char *err, size_t errlen)
{
    const gl_t *g = m;
    if (g->hcount > CHECK_FULL) {
        uint64_t *calls = &((gl_t *)m)->check_calls;  /* pacing only, not model state */
        if (++*calls * CHECK_EVERY < g->hcount)
            return 0;
        *calls = 0;
    }
    return as_glibc_check_full(m, err, errlen);
}

/* ---- Life cycle ------------------------------------------------------------ */
static void gl_destroy(void *m)
{
    gl_t *g = m;
    if (!g)
        return;
    for (uint32_t i = 0; i < g->narena; i++)
        arena_free(g->arenas[i]);
    for (uint32_t i = 0; i < g->nthread; i++)
        tcache_delete(g->threads[i].tc);
    free(g->arenas);
    free(g->heaps);
    free(g->segs);
    free(g->threads);
    free(g->rec);
    free(g->hs);
    free(g);
}

static void *gl_create(const as_params_t *p, as_space_t *space, const as_model_ctx_t *ctx,
                       char *err, size_t errlen)
{
    for (int i = 0; gl_params[i].name; i++)  /* the parser checks too; callers may not */
        if (p->v[i] < gl_params[i].min || p->v[i] > gl_params[i].max) {
            snprintf(err, errlen, "%s=%lld is out of range %lld..%lld", gl_params[i].name,
                     (long long)p->v[i], (long long)gl_params[i].min, (long long)gl_params[i].max);
            return NULL;
        }
    gl_t *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->space = space;
    g->page = ctx && ctx->page_size ? ctx->page_size : as_space_page_size(space);
    g->mmap_threshold = (uint64_t)p->v[P_MMAP_THRESHOLD];
    g->trim_threshold = (uint64_t)p->v[P_TRIM_THRESHOLD];
    g->top_pad = (uint64_t)p->v[P_TOP_PAD];
    g->n_mmaps_max = p->v[P_MMAP_MAX];
    /* a tunable for any of these four disables the dynamic threshold (§2) */
    const uint64_t freeze = 1u << P_MMAP_THRESHOLD | 1u << P_TRIM_THRESHOLD | 1u << P_TOP_PAD |
                            1u << P_MMAP_MAX;
    g->no_dyn_threshold = (p->set & freeze) != 0;
    g->arena_max = (uint64_t)p->v[P_ARENA_MAX];
    g->arena_test = (uint64_t)p->v[P_ARENA_TEST];
    g->tcache_count = (uint64_t)p->v[P_TCACHE_COUNT];
    g->tcache_bins = tidx(req2size((uint64_t)p->v[P_TCACHE_MAX])) + 1;
    g->tcache_unsorted_limit = (uint64_t)p->v[P_TCACHE_UNSORTED_LIMIT];
    g->max_fast = max_fast_of((uint64_t)p->v[P_MXFAST]);
    g->cores = p->v[P_CORES] ? (uint32_t)p->v[P_CORES] : (ctx ? ctx->ncpus : 0);
    g->narenas = 1;
    g->free_list = -1;
    g->next_to_use = 0;
    g->nrec = 1;  /* record 0 is NULL */
    if (h_resize(g, 1u << 12) || gl_reserve(g) || arena_alloc_slot(g) != 0) {
        gl_destroy(g);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    A(g, 0)->attached = 1;  /* the main thread */
    A(g, 0)->next = 0;
    return g;
}

int as_glibc_chunk_info(const void *m, uint64_t mem, as_glibc_chunk_t *out)
{
    const gl_t *g = m;
    uint32_t c = user_chunk(g, mem);
    if (!c)
        return -1;
    out->mmapped = R(c).st == ST_MMAP;
    out->usable = R(c).size - (out->mmapped ? HDR : SIZE_SZ);
    out->arena = out->mmapped ? 0 : R(c).arena;
    return 0;
}

const as_model_t as_model_glibc = {
    .name = "glibc",
    .summary = "glibc 2.36 ptmalloc2: tcache, fastbins, bins, top trimming, dynamic mmap threshold, per-thread arenas",
    .params = gl_params,
    .create = gl_create,
    .malloc = gl_malloc,
    .calloc = gl_calloc,
    .memalign = gl_memalign,
    .realloc = gl_realloc,
    .free = gl_free,
    .control = gl_control,
    .stats = gl_stats,
    .check = gl_check,
    .destroy = gl_destroy,
    .plain = gl_plain,
};
