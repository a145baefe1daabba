/*
 * sim/mmap_threshold.c — the mmap-threshold policy alone, on a plain heap, to
 * isolate its effect from the rest of glibc (issue 3 §3).
 *
 * Rules taken from glibc 2.36 malloc.c (reference/allocators.md §1.2, §1.4,
 * §1.5, §1.9, §2):
 *   - chunk size request2size(n) = max(32, (n + 8 + 15) & ~15); the user
 *     pointer is chunk + 16;
 *   - a chunk >= mmap_threshold (while fewer than mmap_max are mapped) gets
 *     its own mapping of ALIGN_UP(nb + 8, page) bytes (sysmalloc_mmap). Unlike
 *     glibc, the heap is not searched first: this model is the policy alone;
 *   - everything else comes from one address-ordered first-fit heap (free
 *     chunks coalesced on free, split with a remainder >= 32), then from the
 *     top chunk, grown with sbrk(ALIGN_UP(nb + top_pad + 32 - top, page));
 *   - free coalesces, merges into top, and when the merged chunk is >= 64 KiB
 *     and top >= trim_threshold, systrim(top_pad) gives
 *     ALIGN_DOWN(top - 32 - 1 - top_pad, page) back with a negative sbrk;
 *   - dynamic threshold on freeing a mapped chunk: if its size with the
 *     IS_MMAPPED bit (size + 2) is > mmap_threshold and <= 32 MiB, the
 *     threshold becomes its size and trim_threshold twice that, unless any
 *     of the four parameters was set (command line or mallopt);
 *   - realloc of a mapped chunk is mremap (never back to the heap); of a heap
 *     chunk: shrink in place, grow into top or a free next chunk, else
 *     malloc + copy + free; memalign over-allocates nb + align + 32 and frees
 *     the leading and trailing pieces; calloc clears what is not fresh
 *     (a chunk carved from top is cleared only below the break's high-water
 *     mark, as glibc's MORECORE_CLEARS logic does; mapped chunks never);
 *   - malloc_trim(pad): MADV_DONTNEED of the whole pages of every free chunk
 *     past its first 48 bytes (mtrim), then systrim(pad).
 * Metadata writes touched: the size word of each chunk handed out, of the top
 * after a split, and of a mapped chunk; head, fd/bk and footer of a freed
 * chunk; realloc's copy.
 *
 * Every heap chunk below top, in use or free, is kept in address order in
 * regions of 2 KiB with a max tree over them (sim/flist_internal.h): a
 * free's size, its neighbours (coalescing) and a chunk's place come from its
 * address; first fit descends the tree to the first region that fits.
 * Mapped chunks: user address -> size and mapping base in a hash map.
 * The engine's prefetch hint (sim/model.h) fetches a free's region offsets
 * and a guess of its entry a few events early.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/flist_internal.h"
#include "sim/hmap_internal.h"
#include "sim/model.h"

#define MINSIZE 32ull
#define THRESHOLD_MAX (32ull << 20)         /* DEFAULT_MMAP_THRESHOLD_MAX, 64-bit */
#define CONSOLIDATION 65536ull              /* FASTBIN_CONSOLIDATION_THRESHOLD */
#define WRITTEN_WAYS 64                     /* pages in touch()'s cache */
#define REGION_SHIFT 11                     /* heap map: 2 KiB regions, <= 64 chunks each */
#ifndef MT_HEAP_MAX                         /* largest heap span (the fuzz build lowers it) */
#define MT_HEAP_MAX (1ull << 38)            /* 256 GiB: a heap map of at most ~4.3 GiB */
#endif

enum { P_MMAP_THRESHOLD, P_TRIM_THRESHOLD, P_TOP_PAD, P_MMAP_MAX };

static const as_param_def_t mt_params[] = {
    {"mmap_threshold", 128 << 10, 0, 1ll << 40, AS_PARAM_SIZE,
     "chunks this size or larger get their own mapping (glibc.malloc.mmap_threshold)"},
    {"trim_threshold", 128 << 10, 0, 1ll << 40, AS_PARAM_SIZE,
     "top of heap size that triggers giving memory back (glibc.malloc.trim_threshold)"},
    {"top_pad", 128 << 10, 0, 1ll << 40, AS_PARAM_SIZE,
     "extra bytes requested from sbrk and kept on trim (glibc.malloc.top_pad)"},
    {"mmap_max", 65536, 0, 0x7fffffff, 0,
     "most chunks mapped at once; 0 disables mapping (glibc.malloc.mmap_max)"},
    {NULL, 0, 0, 0, 0, NULL},
};

typedef struct mt {
    as_space_t *sp;
    uint64_t page;
    unsigned space_shift;                    /* log2 of the space's page size */
    uint64_t epoch;                          /* 1..4095, see touch() */
    uint64_t written[WRITTEN_WAYS];          /* page << 12 | epoch of recent writes */
    uint64_t mmap_threshold, trim_threshold, top_pad, mmap_max;
    int frozen;                              /* no_dyn_threshold */
    uint64_t n_mmaps, mmapped_bytes;
    uint64_t heap_lo, top, top_size, brk_hw; /* heap_lo 0: no heap yet */
    uint64_t free_bytes, used_bytes;
    as_flist_t heap;                         /* chunks below top: key = chunk, len = size
                                                (| AS_FL_USED); covers [heap_lo, brk_hw) */
    as_hmap_t maps;                          /* mapped chunks: mem -> a = size, b = base */
} mt_t;


static inline uint64_t req2size(uint64_t n)
{
    uint64_t s = (n + 8 + 15) & ~15ull;
    return n > (UINT64_MAX >> 2) ? 0 : s < MINSIZE ? MINSIZE : s;
}

static inline uint64_t pg_up(const mt_t *m, uint64_t x) { return (x + m->page - 1) & ~(m->page - 1); }
static inline uint64_t pg_down(const mt_t *m, uint64_t x) { return x & ~(m->page - 1); }
/* A write by the allocator. Pages only stop being resident through this
 * model's own sbrk shrink, munmap, mremap and MADV_DONTNEED (the engine only
 * touches), so a page written since the last of those (epoch) is still
 * resident and writing it again changes nothing: the small cache of such
 * pages saves the space's lookup for most header writes. */
static inline void touch(mt_t *m, uint64_t a, uint64_t len)
{
    uint64_t p = a >> m->space_shift;
    if (((a + len - 1) >> m->space_shift) == p) {
        uint64_t tag = p << 12 | m->epoch, *w = &m->written[p % WRITTEN_WAYS];
        if (*w == tag)
            return;
        *w = tag;
    }
    as_space_touch(m->sp, a, len);
}

/* After any call that can make pages non-resident. */
static void released(mt_t *m)
{
    m->epoch = (m->epoch + 1) & 0xfff;
    if (!m->epoch) {                            /* tags of 4096 epochs ago would match */
        memset(m->written, 0, sizeof m->written);
        m->epoch = 1;
    }
}

static void *mt_create(const as_params_t *p, as_space_t *space, const as_model_ctx_t *ctx,
                       char *err, size_t errlen)
{
    mt_t *m = calloc(1, sizeof *m);
    if (!m || as_hm_init(&m->maps, 10)) {
        free(m);
        snprintf(err, errlen, "mmap-threshold: out of memory");
        return NULL;
    }
    m->sp = space;
    m->page = ctx && ctx->page_size ? ctx->page_size : as_space_page_size(space);
    m->space_shift = (unsigned)__builtin_ctz(as_space_page_size(space));
    m->epoch = 1;
    m->mmap_threshold = (uint64_t)p->v[P_MMAP_THRESHOLD];
    m->trim_threshold = (uint64_t)p->v[P_TRIM_THRESHOLD];
    m->top_pad = (uint64_t)p->v[P_TOP_PAD];
    m->mmap_max = (uint64_t)p->v[P_MMAP_MAX];
    /* glibc: setting any of these (tunable or mallopt) sets no_dyn_threshold. */
    m->frozen = (p->set & 0xf) != 0;
    return m;
}

static void mt_destroy(void *vm)
{
    mt_t *m = vm;
    if (!m)
        return;
    as_fl_fini(&m->heap);
    as_hm_fini(&m->maps);
    free(m);
}

/* ---- Heap ------------------------------------------------------------------ */

static void systrim(mt_t *m, uint64_t pad)
{
    if (!m->heap_lo || m->top_size <= MINSIZE + 1 + pad)
        return;
    uint64_t extra = pg_down(m, m->top_size - MINSIZE - 1 - pad);
    if (!extra || as_space_brk_cur(m->sp) != m->top + m->top_size)
        return;
    as_space_sbrk(m->sp, -(int64_t)extra);
    released(m);
    m->top_size -= extra;
}

/* The in-use heap chunk at c: 1 and its place, else 0. */
static inline int heap_find_used(const mt_t *m, uint64_t c, uint64_t *r, uint32_t *i)
{
    return c >= m->heap_lo && c < m->top && as_fl_find(&m->heap, c, r, i)
           && (as_fl_at(&m->heap, *r, *i)->len & AS_FL_USED);
}

/* Gives the in-use chunk at (r, i) back to the heap: coalesce with the free
 * chunks around it (its neighbours in the map), merge into top, trim. */
static void heap_release(mt_t *m, uint64_t r, uint32_t i)
{
    as_flist_t *f = &m->heap;
    uint64_t c = as_fl_at(f, r, i)->key, sz = as_fl_at(f, r, i)->len & ~AS_FL_USED;
    uint64_t pr, nr, pk = 0, pl = 0;
    uint32_t pi, ni;
    m->used_bytes -= sz;
    int pv = as_fl_prev(f, r, i, &pr, &pi) && !(as_fl_at(f, pr, pi)->len & AS_FL_USED);
    if (pv) {
        pk = as_fl_at(f, pr, pi)->key;
        pl = as_fl_at(f, pr, pi)->len;
    }
    /* Removals go from the highest place down, so the places still to use
     * stay valid. */
    if (c + sz == m->top) {
        as_fl_remove_at(f, r, i);
        if (pv) {
            as_fl_remove_at(f, pr, pi);
            m->free_bytes -= pl;
            c = pk;
            sz += pl;
        }
        m->top = c;
        m->top_size += sz;
        sz = m->top_size;
        touch(m, c + 8, 8);                     /* new top's size word */
    } else {
        m->free_bytes += sz;
        if (as_fl_next(f, r, i, &nr, &ni) && !(as_fl_at(f, nr, ni)->len & AS_FL_USED)) {
            sz += as_fl_at(f, nr, ni)->len;
            as_fl_remove_at(f, nr, ni);
        }
        if (pv) {
            as_fl_remove_at(f, r, i);
            as_fl_set_len_at(f, pr, pi, pl + sz);
            c = pk;
            sz += pl;
        } else {
            as_fl_set_len_at(f, r, i, sz);
        }
        touch(m, c + 8, 24);                    /* size, fd, bk */
        touch(m, c + sz, 8);                    /* prev_size footer */
    }
    if (sz >= CONSOLIDATION && m->top_size >= m->trim_threshold)
        systrim(m, m->top_pad);
}

/* Cuts the chunk at (r, i) to keep bytes, in use; the rest becomes a chunk
 * of its own (flag: AS_FL_USED or 0) at (*tr, *ti). 0, or -1 on no memory. */
static int heap_split(mt_t *m, uint64_t r, uint32_t i, uint64_t keep, uint64_t flag,
                      uint64_t *tr, uint32_t *ti)
{
    as_fl_ent_t *e = as_fl_at(&m->heap, r, i);
    uint64_t c = e->key, rest = (e->len & ~AS_FL_USED) - keep;
    /* The rest follows c: next in c's region, or first in a later one. */
    *tr = as_fl_region(&m->heap, c + keep);
    *ti = *tr == r ? i + 1 : 0;
    if (as_fl_insert_at(&m->heap, *tr, *ti, c + keep, rest | flag))
        return -1;
    as_fl_set_len_at(&m->heap, r, i, keep | AS_FL_USED);
    return 0;
}

/* A chunk of at least nb bytes from the heap, entered in the map as in use;
 * *got = its size. *fresh_end: for a chunk carved from top, where
 * never-written memory starts (calloc). 0 on failure. */
static uint64_t heap_alloc(mt_t *m, uint64_t nb, uint64_t *got, uint64_t *fresh_end)
{
    *fresh_end = UINT64_MAX;
    uint64_t r;
    uint32_t i;
    if (as_fl_first_fit(&m->heap, nb, &r, &i)) {
        uint64_t c = as_fl_at(&m->heap, r, i)->key, sz = as_fl_at(&m->heap, r, i)->len;
        m->free_bytes -= sz;
        if (sz - nb >= MINSIZE) {
            uint64_t tr;
            uint32_t ti;
            if (heap_split(m, r, i, nb, 0, &tr, &ti))
                return 0;
            m->free_bytes += sz - nb;
            touch(m, c + nb + 8, 24);           /* remainder: size, fd, bk */
            sz = nb;
        } else {
            as_fl_set_len_at(&m->heap, r, i, sz | AS_FL_USED);
        }
        m->used_bytes += sz;
        touch(m, c + 8, 8);
        *got = sz;
        return c;
    }
    if (!m->heap_lo || m->top_size < nb + MINSIZE) {
        uint64_t size = nb + m->top_pad + MINSIZE;
        if (m->heap_lo)
            size -= m->top_size;
        size = pg_up(m, size);
        /* The heap map is a table over the heap's span (~33 bytes a 2 KiB
         * region): past MT_HEAP_MAX the sbrk fails, so a crafted request
         * (or a mallopt(M_MMAP_MAX, 0) and a 21 TiB calloc) is a model
         * failure, not a table of hundreds of GiB. */
        uint64_t span = m->heap_lo ? m->top + m->top_size - m->heap_lo : 0;
        if (span + size > MT_HEAP_MAX)
            return 0;
        uint64_t old = as_space_sbrk(m->sp, (int64_t)size);
        if (!old)
            return 0;
        if (!m->heap_lo) {
            m->heap_lo = m->top = old;
            m->brk_hw = old;
            as_fl_init(&m->heap, old, REGION_SHIFT);
        } else {
            *fresh_end = m->brk_hw > m->top + m->top_size ? m->brk_hw : m->top + m->top_size;
        }
        m->top_size += size;
        if (m->top + m->top_size > m->brk_hw)
            m->brk_hw = m->top + m->top_size;
        if (as_fl_cover(&m->heap, m->brk_hw))
            return 0;
    }
    uint64_t c = m->top;
    if (as_fl_insert(&m->heap, c, nb | AS_FL_USED))
        return 0;
    m->top += nb;
    m->top_size -= nb;
    m->used_bytes += nb;
    touch(m, c + 8, 8);
    touch(m, m->top + 8, 8);                    /* the new top's size word */
    *got = nb;
    return c;
}

/* ---- Mapped chunks --------------------------------------------------------- */

static uint64_t mmap_chunk(mt_t *m, uint64_t nb, uint64_t *base, uint64_t *len)
{
    *len = pg_up(m, nb + 8);
    *base = as_space_mmap(m->sp, *len, 0);
    if (!*base)
        return 0;
    m->n_mmaps++;
    m->mmapped_bytes += *len;
    touch(m, *base + 8, 8);                     /* set_head */
    return *base;
}

static void munmap_chunk(mt_t *m, uint64_t base, uint64_t chunk, uint64_t size)
{
    /* __libc_free: the dynamic threshold, then munmap_chunk. */
    uint64_t nomask = size | 2;
    if (!m->frozen && nomask > m->mmap_threshold && nomask <= THRESHOLD_MAX) {
        m->mmap_threshold = size;
        m->trim_threshold = 2 * size;
    }
    uint64_t total = size + (chunk - base);
    as_space_munmap(m->sp, base, total);
    released(m);
    m->n_mmaps--;
    m->mmapped_bytes -= total;
}

static inline int use_mmap(const mt_t *m, uint64_t nb)
{
    return nb >= m->mmap_threshold && m->n_mmaps < m->mmap_max;
}

/* malloc and calloc. */
static uint64_t alloc_common(mt_t *m, uint64_t n, int clear)
{
    uint64_t nb = req2size(n);
    if (!nb)
        return 0;
    if (use_mmap(m, nb)) {
        uint64_t base, len;
        if (!mmap_chunk(m, nb, &base, &len))
            return 0;
        /* Fresh mapping: calloc clears nothing. */
        if (as_hm_put(&m->maps, base + 16, len, base))
            return 0;
        return base + 16;
    }
    uint64_t got, fresh;
    uint64_t c = heap_alloc(m, nb, &got, &fresh);
    if (!c)
        return 0;
    if (clear) {
        uint64_t end = c + got;                 /* clears csz - 8 from mem */
        if (fresh < end)
            end = fresh;
        if (end > c + 16)
            touch(m, c + 16, end - (c + 16));
    }
    return c + 16;
}

static uint64_t mt_malloc(void *m, uint32_t t, uint64_t n) { (void)t; return alloc_common(m, n, 0); }
static uint64_t mt_calloc(void *m, uint32_t t, uint64_t n) { (void)t; return alloc_common(m, n, 1); }

static void mt_free(void *vm, uint32_t t, uint64_t mem)
{
    (void)t;
    mt_t *m = vm;
    uint64_t r;
    uint32_t i;
    if (heap_find_used(m, mem - 16, &r, &i)) {
        heap_release(m, r, i);
        return;
    }
    as_hm_slot_t *x = as_hm_get(&m->maps, mem);
    if (!x)
        return;
    uint64_t size = x->a, base = x->b;
    as_hm_del(&m->maps, x);
    munmap_chunk(m, base, mem - 16, size);
}

/* mt_free's first misses: the region's entry in the directory, then its
 * offset bytes, then its entry. The directory (24 bytes a region) mostly
 * stays in the outer caches, so reading it here to find the offset line
 * costs little. The entry's index needs those offsets, so its line is a
 * guess: chunks spread evenly over the region would put it at the chunk's
 * share of the region times the region's count (churn10m -j1: 3-4% fewer
 * cycles than the offsets alone, in 4 of 4 interleaved pairs; a line
 * either side as well cost more than it saved). */
static void mt_prefetch(const void *vm, uint32_t t, uint64_t mem)
{
    (void)t;
    const mt_t *m = vm;
    uint64_t c = mem - 16;
    if (c < m->heap_lo || c >= m->top || as_fl_region(&m->heap, c) >= m->heap.cap)
        return;
    const as_fl_reg_t *g = &m->heap.reg[as_fl_region(&m->heap, c)];
    if (g->e) {
        __builtin_prefetch(as_fl_offs(g));
        __builtin_prefetch(&g->e[(as_fl_off(&m->heap, c) * g->n) >> 7]);
    }
}

static uint64_t mt_memalign(void *vm, uint32_t t, uint64_t align, uint64_t n)
{
    mt_t *m = vm;
    if (align <= 16)
        return alloc_common(m, n, 0);
    /* Before the rounding, whose doubling would wrap to 0 and never end
     * past 2^63 (a fuzzer find). glibc fails past SIZE_MAX / 2 + 1 (EINVAL);
     * past 2^40 nothing fits this model's space, so that fails too. */
    if (align > (1ull << 40))
        return 0;
    if (align & (align - 1)) {                  /* _mid_memalign rounds up */
        uint64_t a = MINSIZE;
        while (a < align)
            a <<= 1;
        align = a;
    }
    uint64_t nb = req2size(n);
    if (!nb)
        return 0;
    uint64_t want = nb + align + MINSIZE;
    if (use_mmap(m, want)) {
        uint64_t base, len;
        if (!mmap_chunk(m, want, &base, &len))
            return 0;
        uint64_t mem = ((base + 16) + align - 1) & ~(align - 1);
        uint64_t chunk = mem - 16;
        if (chunk != base)
            touch(m, chunk, 16);                /* prev_size = lead, new head */
        if (as_hm_put(&m->maps, mem, len - (chunk - base), base))
            return 0;
        return mem;
    }
    (void)t;
    uint64_t got, fresh;
    uint64_t c = heap_alloc(m, want, &got, &fresh);
    if (!c)
        return 0;
    uint64_t nc = c, r, tr;
    uint32_t i, ti;
    if ((c + 16) & (align - 1)) {
        nc = (((c + 16) + align - 1) & ~(align - 1)) - 16;
        if (nc - c < MINSIZE)
            nc += align;
        uint64_t lead = nc - c;
        touch(m, nc + 8, 8);
        if (!as_fl_find(&m->heap, c, &r, &i) || heap_split(m, r, i, lead, AS_FL_USED, &tr, &ti))
            return 0;
        heap_release(m, r, i);                  /* used -= lead inside */
        got -= lead;
    }
    if (got - nb >= MINSIZE) {
        if (!as_fl_find(&m->heap, nc, &r, &i) || heap_split(m, r, i, nb, AS_FL_USED, &tr, &ti))
            return 0;
        heap_release(m, tr, ti);
        got = nb;
    }
    return nc + 16;
}

/* realloc's last resort: malloc, copy the old usable bytes, free. */
static uint64_t realloc_move(mt_t *m, uint32_t t, uint64_t mem, uint64_t n, uint64_t usable)
{
    uint64_t nm = alloc_common(m, n, 0);
    if (!nm)
        return 0;
    touch(m, nm, usable);                       /* the memcpy */
    mt_free(m, t, mem);
    return nm;
}

/* realloc of a mapped chunk (x from the map): mremap_chunk, so it stays
 * mapped whatever the new size. */
static uint64_t realloc_mapped(mt_t *m, uint32_t t, as_hm_slot_t *x, uint64_t n, uint64_t nb)
{
    uint64_t mem = x->key, size = x->a, base = x->b, c = mem - 16;
    uint64_t off = c - base, total = size + off;
    uint64_t new_size = pg_up(m, nb + off + 8);
    if (new_size == total)
        return mem;
    uint64_t nbase = as_space_mremap(m->sp, base, total, new_size);
    released(m);
    if (nbase) {
        as_hm_del(&m->maps, x);
        m->mmapped_bytes = m->mmapped_bytes - total + new_size;
        touch(m, nbase + off + 8, 8);
        if (as_hm_put(&m->maps, nbase + off + 16, new_size - off, nbase))
            return 0;
        return nbase + off + 16;
    }
    if (size - 8 >= nb)
        return mem;
    return realloc_move(m, t, mem, n, size - 16);
}

static uint64_t mt_realloc(void *vm, uint32_t t, uint64_t mem, uint64_t n)
{
    mt_t *m = vm;
    as_flist_t *f = &m->heap;
    uint64_t c = mem - 16, r, tr;
    uint32_t i, ti;
    if (!heap_find_used(m, c, &r, &i)) {
        as_hm_slot_t *x = as_hm_get(&m->maps, mem);
        uint64_t nb = req2size(n);
        return x && nb ? realloc_mapped(m, t, x, n, nb) : 0;
    }
    uint64_t nb = req2size(n);
    if (!nb)
        return 0;
    uint64_t size = as_fl_at(f, r, i)->len & ~AS_FL_USED;
    if (size >= nb) {                           /* shrink in place */
        if (size - nb >= MINSIZE) {
            touch(m, c + 8, 8);
            if (!heap_split(m, r, i, nb, AS_FL_USED, &tr, &ti))
                heap_release(m, tr, ti);
        }
        return mem;
    }
    uint64_t next = c + size, nr;
    uint32_t ni;
    if (next == m->top && size + m->top_size >= nb + MINSIZE) {
        uint64_t grow = nb - size;
        m->top += grow;
        m->top_size -= grow;
        m->used_bytes += grow;
        as_fl_at(f, r, i)->len = nb | AS_FL_USED;   /* in use either way: no fit changes */
        touch(m, m->top + 8, 8);
        return mem;
    }
    if (as_fl_next(f, r, i, &nr, &ni) && !(as_fl_at(f, nr, ni)->len & AS_FL_USED)
        && size + as_fl_at(f, nr, ni)->len >= nb) {
        uint64_t nl = as_fl_at(f, nr, ni)->len;
        as_fl_remove_at(f, nr, ni);             /* after (r, i): its place holds */
        m->free_bytes -= nl;
        m->used_bytes += nl;
        uint64_t ns = size + nl;
        as_fl_at(f, r, i)->len = ns | AS_FL_USED;
        if (ns - nb >= MINSIZE && !heap_split(m, r, i, nb, AS_FL_USED, &tr, &ti))
            heap_release(m, tr, ti);
        touch(m, c + 8, 8);
        return mem;
    }
    return realloc_move(m, t, mem, n, size - 8);
}

/* ---- Control ----------------------------------------------------------------- */

/* mtrim: whole pages of every free chunk past its first 48 bytes. */
static void mtrim(mt_t *m)
{
    for (uint64_t r = 0; r < m->heap.cap; r++) {
        const as_fl_reg_t *g = &m->heap.reg[r];
        for (uint32_t i = 0; i < g->n; i++) {
            uint64_t c = g->e[i].key, sz = as_fl_fit_len(&g->e[i]);
            uint64_t a = pg_up(m, c + 48), e = pg_down(m, c + sz);
            if (sz && e > a)
                as_space_dontneed(m->sp, a, e - a);
        }
    }
    released(m);
}

static void mt_control(void *vm, const as_event_t *ev)
{
    mt_t *m = vm;
    if (ev->op == AS_OP_MALLOC_TRIM) {
        mtrim(m);
        systrim(m, ev->arg);
    } else if (ev->op == AS_OP_MALLOPT && !(ev->flags & AS_EVF_FAILED)) {
        int64_t v = ev->arg2;
        switch ((int64_t)ev->arg) {
        case -1: m->trim_threshold = (uint64_t)v; m->frozen = 1; break;   /* M_TRIM_THRESHOLD */
        case -2: m->top_pad = (uint64_t)v; m->frozen = 1; break;          /* M_TOP_PAD */
        case -3: m->mmap_threshold = (uint64_t)v; m->frozen = 1; break;   /* M_MMAP_THRESHOLD */
        case -4: m->mmap_max = v < 0 ? 0 : (uint64_t)v; m->frozen = 1; break; /* M_MMAP_MAX */
        default: break;
        }
    }
}

static void mt_stats(const void *vm, as_model_stats_t *st)
{
    const mt_t *m = vm;
    uint64_t heap = m->heap_lo ? as_space_brk_cur(m->sp) - m->heap_lo : 0;
    st->heap_bytes = heap + m->mmapped_bytes;
    st->free_bytes = m->free_bytes + m->top_size;
    st->mmap_chunks = m->n_mmaps;
    st->mmap_threshold = m->mmap_threshold;
}

static int mt_check(const void *vm, char *err, size_t errlen)
{
    const mt_t *m = vm;
    if (m->heap_lo) {
        uint64_t brk = as_space_brk_cur(m->sp);
        if (m->top + m->top_size != brk) {
            snprintf(err, errlen, "mmap-threshold: top ends at %#llx, break at %#llx",
                     (unsigned long long)(m->top + m->top_size), (unsigned long long)brk);
            return -1;
        }
        if (m->used_bytes + m->free_bytes + m->top_size != brk - m->heap_lo) {
            snprintf(err, errlen, "mmap-threshold: used %llu + free %llu + top %llu != heap %llu",
                     (unsigned long long)m->used_bytes, (unsigned long long)m->free_bytes,
                     (unsigned long long)m->top_size, (unsigned long long)(brk - m->heap_lo));
            return -1;
        }
    }
    if (m->heap.count <= 128 && m->heap.cap <= 1024) {   /* full walks only while cheap */
        if (as_fl_check(&m->heap)) {
            snprintf(err, errlen, "mmap-threshold: heap map order or maxima broken");
            return -1;
        }
        /* The chunks tile [heap_lo, top); no two free ones touch. */
        uint64_t used = 0, freeb = 0, end = m->heap_lo;
        int prev_free = 0;
        for (uint64_t r = 0; r < m->heap.cap; r++) {
            for (uint32_t i = 0; i < m->heap.reg[r].n; i++) {
                const as_fl_ent_t *e = &m->heap.reg[r].e[i];
                uint64_t sz = e->len & ~AS_FL_USED;
                int is_free = !(e->len & AS_FL_USED);
                if (e->key != end || sz < MINSIZE || (sz & 15) || (is_free && prev_free)) {
                    snprintf(err, errlen, "mmap-threshold: chunk %#llx+%llu overlaps, leaves a gap "
                             "or is uncoalesced", (unsigned long long)e->key, (unsigned long long)sz);
                    return -1;
                }
                *(is_free ? &freeb : &used) += sz;
                end += sz;
                prev_free = is_free;
            }
        }
        if (end != m->top || prev_free || used != m->used_bytes || freeb != m->free_bytes) {
            snprintf(err, errlen, "mmap-threshold: chunks end at %#llx (top %#llx), hold %llu used "
                     "+ %llu free, counted %llu + %llu", (unsigned long long)end,
                     (unsigned long long)m->top, (unsigned long long)used, (unsigned long long)freeb,
                     (unsigned long long)m->used_bytes, (unsigned long long)m->free_bytes);
            return -1;
        }
    }
    return 0;
}

const as_model_t as_model_mmap_threshold = {
    .name = "mmap-threshold",
    .summary = "glibc's mmap threshold (dynamic rule, mmap_max, top_pad, trim) on a first-fit brk heap",
    .params = mt_params,
    .create = mt_create,
    .malloc = mt_malloc,
    .calloc = mt_calloc,
    .memalign = mt_memalign,
    .realloc = mt_realloc,
    .free = mt_free,
    .control = mt_control,
    .stats = mt_stats,
    .check = mt_check,
    .destroy = mt_destroy,
    .prefetch = mt_prefetch,
};
