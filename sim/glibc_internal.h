/*
 * sim/glibc_internal.h — the glibc model's insides (sim/glibc.c).
 *
 * Two parts. For everyone (tests/glibc): a chunk query that describes a
 * block the way malloc_usable_size and the chunk header's IS_MMAPPED and
 * NON_MAIN_ARENA bits do on the real allocator, and the full invariant check.
 * For sim/glibc.c only (#define AS_GLIBC_IMPL first): the constants of
 * glibc 2.36 malloc.c/arena.c, the side records that stand in for chunk
 * headers, the address map, and the list primitives (bins, large-bin skip
 * list, tcache) the algorithms in sim/glibc.c are written with.
 */
#ifndef AS_GLIBC_INTERNAL_H
#define AS_GLIBC_INTERNAL_H

#include <stdint.h>

#include "sim/model.h"

extern const as_model_t as_model_glibc;

typedef struct as_glibc_chunk {
    uint64_t usable;   /* malloc_usable_size */
    int mmapped;       /* IS_MMAPPED */
    int arena;         /* 0 = main_arena */
} as_glibc_chunk_t;

/* Describes the user block at mem; returns -1 if mem is not one. */
int as_glibc_chunk_info(const void *model, uint64_t mem, as_glibc_chunk_t *out);

/* The model's invariants, always in full (the method table's check paces
 * itself on big heaps); 0 if they hold, else -1 and why in err. */
int as_glibc_check_full(const void *model, char *err, size_t errlen);

#ifdef AS_GLIBC_IMPL
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Constants (malloc.c, arena.c; 64-bit) ------------------------------- */
#define SIZE_SZ 8u
#define ALIGN_MASK 15u
#define HDR 16u                     /* CHUNK_HDR_SZ */
#define MINSIZE 32u
#define NBINS 128u
#define MIN_LARGE 1024u             /* MIN_LARGE_SIZE */
#define NFASTBINS 10u
#define TC_BINS 64u                 /* TCACHE_MAX_BINS */
#define TC_MAX_BYTES 1032u          /* tidx2usize(63) */
#define TC_STRUCT 640u              /* sizeof (tcache_perthread_struct) */
#define CONSOLIDATE_THRESHOLD 65536u
#define MMAP_THRESHOLD_MAX (32ull << 20)
#define HEAP_MIN (32ull << 10)
#define HEAP_MAX (64ull << 20)      /* 2 * DEFAULT_MMAP_THRESHOLD_MAX */
#define HEAP_INFO 48u               /* sizeof (heap_info) */
#define MSTATE 2200u                /* sizeof (struct malloc_state) */
#define MMAP_AS_MORECORE (1ull << 20)
#define MAX_ITERS 10000
#define BINMAPSIZE 4

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))

/* mallopt parameter numbers (malloc.h) */
#define M_MXFAST 1
#define M_TRIM_THRESHOLD (-1)
#define M_TOP_PAD (-2)
#define M_MMAP_THRESHOLD (-3)
#define M_MMAP_MAX (-4)
#define M_ARENA_TEST (-7)
#define M_ARENA_MAX (-8)

/* ---- Records ------------------------------------------------------------- */
enum {
    ST_NONE = 0,  /* record on the free list / bin sentinel */
    ST_INUSE,     /* held by the user or the allocator, or in a tcache */
    ST_FAST,      /* in a fastbin (glibc: in use) */
    ST_UNSORTED,
    ST_BIN,       /* small or large bin */
    ST_TOP,
    ST_FENCE,     /* fencepost: in use, too small to ever be freed */
    ST_MMAP,
};

/* A 40-byte record straddles two cache lines half the time, and on a big
 * heap a record is a miss per line: what nearly every operation reads (st,
 * pfree, nxt, size, the list links) comes first, so that it is more often
 * within one line; prev_size, read only behind pfree or for mmapped
 * chunks, last. */
typedef struct gl_rec {
    uint8_t st;          /* ST_* */
    uint8_t pfree;       /* !PREV_INUSE */
    uint16_t arena;
    uint32_t nxt;        /* the chunk at addr + size (0: end of its heap) */
    uint64_t size;       /* chunk size, no flag bits */
    uint32_t fd, bk;     /* list links (record indices, 0 = NULL) */
    uint64_t addr;       /* chunk address (mem = addr + 16) */
    uint64_t prev_size;  /* size of the free previous chunk (pfree), or the
                            mmapped chunk's offset into its mapping */
} gl_rec_t;

/* aux caches, for chunks the user holds and tcache chunks, the size (in
 * 16-byte units) and IS_MMAPPED (bit 31), so the common free (straight into
 * the tcache) never loads the chunk's record: one cache miss instead of two.
 * 0 = unknown. Set where a chunk is handed to the user or put in a tcache
 * by the allocator itself; a chunk the user holds never changes size behind
 * the API's back. */
typedef struct gl_slot {
    uint64_t key;
    uint32_t val, aux;
} gl_slot_t;

/* A tcache bin is a stack of (chunk address, record) pairs, not a list
 * through the records: a free into the tcache and a malloc served by it
 * then touch no record at all (the record would be a cache miss on a big
 * heap). The chunk's record keeps st == ST_INUSE meanwhile, which is what
 * glibc's neighbours see too. Bin i is e[i * cap .. i * cap + counts[i]),
 * top = the head glibc would pop; cap = tcache_count, which never changes. */
typedef struct gl_tcent {
    uint64_t addr;        /* chunk address */
    uint32_t rec;
} gl_tcent_t;

typedef struct gl_tcache {
    uint16_t counts[TC_BINS];
    gl_tcent_t *e;
} gl_tcache_t;

typedef struct gl_thread {
    int32_t arena;        /* thread_arena, -1 = none yet */
    uint32_t tc_rec;      /* record of the 656-byte tcache chunk */
    gl_tcache_t *tc;      /* NULL until tcache_init, and after shutdown */
    uint8_t shutting_down;
    uint8_t exited;
} gl_thread_t;

typedef struct gl_heap {  /* a non-main arena's 64 MiB heap (arena.c heap_info) */
    uint64_t base, size, mprotect_size;
    int32_t prev;         /* heap index, -1 = first heap of the arena */
    uint16_t arena;
    uint8_t live;
} gl_heap_t;

typedef struct gl_seg {   /* a stretch of main-arena memory (brk or fallback mmap) */
    uint64_t start, end;  /* end is live for the last segment (top's end) */
} gl_seg_t;

/* A large bin's fd_nextsize skip list, as an array: one entry per size in
 * the bin, largest first, with the chunk glibc's skip links run through
 * (the first of that size in fd order). glibc walks the skip list chunk by
 * chunk, and so did the model: a cache miss per step on a big heap. The
 * array finds the same chunk from one contiguous block. */
typedef struct gl_lgrp {
    uint64_t size;
    uint32_t head;
} gl_lgrp_t;

typedef struct gl_lbin {
    gl_lgrp_t *grp;
    uint32_t n, cap;
} gl_lbin_t;

#define NLARGE (NBINS - 64u)  /* bins 64..126 (and the unused 127) */

typedef struct gl_arena {
    uint32_t bins;        /* record index of bin 0's sentinel; bin i = bins + i */
    uint32_t fast[NFASTBINS];
    uint32_t top;         /* record, 0 = main arena before its first sbrk */
    uint64_t last_rem;    /* address of last_remainder (glibc compares pointers) */
    uint32_t binmap[BINMAPSIZE];
    bool have_fast;
    bool contiguous;
    int32_t next;         /* arena ring: main -> newest -> ... -> oldest */
    int32_t next_free;    /* free_list link */
    uint32_t attached;
    int32_t heap;         /* newest heap (holds top); -1 for main */
    uint64_t system_mem, max_system_mem;
    gl_lbin_t large[NLARGE];  /* bin i's skip list is large[i - 64] */
} gl_arena_t;

typedef struct gl {
    as_space_t *space;
    uint64_t page;

    /* mp_ */
    uint64_t mmap_threshold, trim_threshold, top_pad;
    int64_t n_mmaps_max;
    uint64_t n_mmaps, mmapped_mem;
    bool no_dyn_threshold;
    uint64_t arena_test, arena_max, narenas, narenas_limit;
    uint64_t tcache_count, tcache_bins, tcache_unsorted_limit;
    uint64_t max_fast;
    uint64_t sbrk_base;
    uint32_t cores;
    int32_t next_to_use, free_list;

    gl_rec_t *rec;
    uint32_t nrec, caprec, freerec, nfreerec;
    uint32_t rec_max;     /* nrec up to this leaves RESERVE_RECS records free */
    gl_slot_t *hs;
    uint64_t hmask, hcount;
    uint64_t h_max;       /* hcount up to this keeps the load <= 3/4 after RESERVE_RECS more */
    unsigned hshift;

    gl_arena_t **arenas;
    uint32_t narena, caparena;
    gl_heap_t *heaps;
    uint32_t nheap, capheap;
    gl_seg_t *segs;
    uint32_t nseg, capseg;
    gl_thread_t *threads;
    uint32_t nthread;

    gl_thread_t *cur;     /* the calling thread (glibc's TLS) */
    uint64_t check_calls; /* gl_check's pacing on big heaps */
    uint64_t free_bytes;  /* chunks in tcache, fastbins, unsorted, bins */
    bool oom;             /* a large bin's array could not grow: every later call fails */
} gl_t;

#define R(i) (g->rec[(i)])

/* ---- Size math (reference §1.2) ------------------------------------------- */
static inline uint64_t req2size(uint64_t n)
{
    return n + SIZE_SZ + ALIGN_MASK < MINSIZE ? MINSIZE : (n + SIZE_SZ + ALIGN_MASK) & ~(uint64_t)ALIGN_MASK;
}
static inline uint64_t tidx(uint64_t csize) { return (csize - MINSIZE + 15) / 16; }
static inline unsigned fastbin_index(uint64_t sz) { return (unsigned)(sz >> 4) - 2; }
static inline bool in_small(uint64_t sz) { return sz < MIN_LARGE; }
static inline unsigned largebin_index(uint64_t s)
{
    if ((s >> 6) <= 48) return 48 + (unsigned)(s >> 6);
    if ((s >> 9) <= 20) return 91 + (unsigned)(s >> 9);
    if ((s >> 12) <= 10) return 110 + (unsigned)(s >> 12);
    if ((s >> 15) <= 4) return 119 + (unsigned)(s >> 15);
    if ((s >> 18) <= 2) return 124 + (unsigned)(s >> 18);
    return 126;
}
static inline unsigned bin_index(uint64_t s) { return in_small(s) ? (unsigned)(s >> 4) : largebin_index(s); }
static inline uint64_t max_fast_of(uint64_t v) /* set_max_fast */
{
    return v <= ALIGN_MASK - SIZE_SZ ? MINSIZE / 2 : (v + SIZE_SZ) & ~(uint64_t)ALIGN_MASK;
}

static inline void touch(gl_t *g, uint64_t addr, uint64_t len) { as_space_touch(g->space, addr, len); }
/* set_head + fd/bk (+ fd/bk_nextsize for large) of a chunk going onto a list */
static inline void touch_free_hdr(gl_t *g, uint64_t addr, uint64_t size)
{
    touch(g, addr + SIZE_SZ, in_small(size) ? 24 : 40);
}

/* Writes into a chunk that exists already need not touch its size word's
 * page: a size word stays resident while its chunk exists. It is touched
 * where the chunk is made, and the only releases that leave chunks alive
 * (mtrim from a free chunk + 48, heap_trim and systrim beyond top's
 * header) never reach a header. */

/* touch_free_hdr of an existing chunk: only a page after its size word's. */
static inline void touch_links(gl_t *g, uint64_t addr, uint64_t size)
{
    uint64_t len = in_small(size) ? 24 : 40;
    if (((addr + SIZE_SZ) ^ (addr + SIZE_SZ + len - 1)) & ~(g->page - 1))
        touch(g, addr + SIZE_SZ, len);
}

/* A write of at most 16 bytes at mem of an existing chunk (tcache_put's
 * e->next and e->key, a fastbin's fd): 16-aligned, so within one page, the
 * size word's unless mem starts a page. */
static inline void touch_mem_link(gl_t *g, uint64_t mem)
{
    if (!(mem & (g->page - 1)))
        touch(g, mem, 16);
}

/* ---- Hash map: chunk address -> record ---------------------------------- */
static inline uint64_t h_home(const gl_t *g, uint64_t key)
{
    return ((key >> 4) * 0x9E3779B97F4A7C15ull) >> g->hshift;
}

static uint32_t h_get(const gl_t *g, uint64_t key)
{
    for (uint64_t i = h_home(g, key);; i = (i + 1) & g->hmask) {
        if (g->hs[i].key == key)
            return g->hs[i].val;
        if (!g->hs[i].key)
            return 0;
    }
}

static gl_slot_t *h_slot(const gl_t *g, uint64_t key)
{
    for (uint64_t i = h_home(g, key);; i = (i + 1) & g->hmask) {
        if (g->hs[i].key == key)
            return &g->hs[i];
        if (!g->hs[i].key)
            return NULL;
    }
}

static void h_put(gl_t *g, uint64_t key, uint32_t val)
{
    uint64_t i = h_home(g, key);
    while (g->hs[i].key && g->hs[i].key != key)
        i = (i + 1) & g->hmask;
    if (!g->hs[i].key)
        g->hcount++;
    g->hs[i].key = key;
    g->hs[i].val = val;
    g->hs[i].aux = 0;
}

static void h_del(gl_t *g, uint64_t key)
{
    uint64_t i = h_home(g, key);
    while (g->hs[i].key != key) {
        if (!g->hs[i].key)
            return;
        i = (i + 1) & g->hmask;
    }
    /* backward-shift deletion keeps probe chains unbroken without tombstones */
    for (uint64_t j = i;;) {
        j = (j + 1) & g->hmask;
        if (!g->hs[j].key)
            break;
        uint64_t k = h_home(g, g->hs[j].key);
        bool move = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
        if (move) {
            g->hs[i] = g->hs[j];
            i = j;
        }
    }
    g->hs[i].key = 0;
    g->hcount--;
}

static int h_resize(gl_t *g, uint64_t cap)
{
    gl_slot_t *old = g->hs;
    uint64_t oldcap = old ? g->hmask + 1 : 0;
    gl_slot_t *n = calloc(cap, sizeof *n);
    if (!n)
        return -1;
    g->hs = n;
    g->hmask = cap - 1;
    g->hshift = 64 - (unsigned)__builtin_ctzll(cap);
    g->hcount = 0;
    for (uint64_t i = 0; i < oldcap; i++)
        if (old[i].key) {
            h_put(g, old[i].key, old[i].val);
            h_slot(g, old[i].key)->aux = old[i].aux;
        }
    free(old);
    return 0;
}

/* ---- Record pool ---------------------------------------------------------- */
/* Every operation first reserves enough records and hash room (gl_reserve),
 * so pointers into g->rec stay valid for the rest of that operation. */
#define RESERVE_RECS 320u  /* two new arenas (2 x 128 sentinels) + the chunks one call creates */

static int gl_grow(gl_t *g)
{
    if (g->oom)
        return -1;
    if (g->nrec + RESERVE_RECS > g->caprec) {
        uint32_t cap = g->caprec ? g->caprec * 2 : 4096;
        while (cap < g->nrec + RESERVE_RECS)
            cap *= 2;
        gl_rec_t *n = realloc(g->rec, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        g->rec = n;
        g->caprec = cap;
    }
    if ((g->hcount + RESERVE_RECS) * 4 > (g->hmask + 1) * 3)  /* load <= 3/4 */
        if (h_resize(g, (g->hmask + 1) * 2))
            return -1;
    g->rec_max = g->caprec - RESERVE_RECS;
    g->h_max = (g->hmask + 1) * 3 / 4 - RESERVE_RECS;
    return 0;
}

/* Both pools have room for what one call may create. */
static inline bool gl_room(const gl_t *g) { return g->nrec <= g->rec_max && g->hcount <= g->h_max; }

static inline int gl_reserve(gl_t *g) { return gl_room(g) ? 0 : gl_grow(g); }

static uint32_t rec_alloc(gl_t *g)
{
    uint32_t i;
    if (g->freerec) {
        i = g->freerec;
        g->freerec = R(i).fd;
        g->nfreerec--;
    } else {
        i = g->nrec++;
    }
    memset(&R(i), 0, sizeof R(i));
    return i;
}

static uint32_t rec_new(gl_t *g, uint64_t addr, uint64_t size, uint8_t st, uint16_t arena)
{
    uint32_t i = rec_alloc(g);
    R(i).addr = addr;
    R(i).size = size;
    R(i).st = st;
    R(i).arena = arena;
    h_put(g, addr, i);
    return i;
}

static void rec_del(gl_t *g, uint32_t i)
{
    h_del(g, R(i).addr);
    R(i).st = ST_NONE;
    R(i).addr = 0;
    R(i).fd = g->freerec;
    g->freerec = i;
    g->nfreerec++;
}

static void rec_rekey(gl_t *g, uint32_t i, uint64_t addr)
{
    h_del(g, R(i).addr);
    R(i).addr = addr;
    h_put(g, addr, i);
}

/* Physical neighbours are linked (nxt), so "next chunk" is a record read,
 * not an address lookup; split_link/absorb keep the links as chunks split
 * and merge, and check() verifies every link against the address map. */
static inline uint32_t next_rec(const gl_t *g, uint32_t c) { return R(c).nxt; }
static inline void split_link(gl_t *g, uint32_t v, uint32_t r)  /* r now follows v */
{
    R(r).nxt = R(v).nxt;
    R(v).nxt = r;
}
static inline void absorb(gl_t *g, uint32_t c, uint32_t n)  /* c takes in its next, n */
{
    R(c).nxt = R(n).nxt;
}

static inline uint32_t aux_of(const gl_rec_t *r)
{
    uint64_t u = r->size >> 4;
    return u && u < (1u << 31) ? (uint32_t)u | (r->st == ST_MMAP ? 1u << 31 : 0) : 0;
}
/* Refreshes the slot's cached size/IS_MMAPPED (see gl_slot_t). */
static inline void set_aux(gl_t *g, uint32_t c)
{
    gl_slot_t *sl = h_slot(g, R(c).addr);
    if (sl)
        sl->aux = aux_of(&R(c));
}
static inline bool is_free(const gl_rec_t *r) { return r->st == ST_UNSORTED || r->st == ST_BIN; }

/* set_foot: the next chunk borrows our size as its prev_size, PREV_INUSE clear */
static inline void set_foot_free(gl_t *g, uint32_t c)
{
    uint32_t n = next_rec(g, c);
    if (n) {
        R(n).pfree = 1;
        R(n).prev_size = R(c).size;
    }
}
static inline void set_next_inuse(gl_t *g, uint32_t c)
{
    uint32_t n = next_rec(g, c);
    if (n)
        R(n).pfree = 0;
}

/* ---- Bins ------------------------------------------------------------------ */
static inline uint32_t bin_at(const gl_arena_t *a, unsigned i) { return a->bins + i; }
static inline void mark_bin(gl_arena_t *a, unsigned i) { a->binmap[i >> 5] |= 1u << (i & 31); }

static inline gl_lbin_t *lbin(gl_arena_t *a, unsigned idx) { return &a->large[idx - 64]; }

/* Where size s is or would go in a large bin's array: the first entry of
 * size <= s (sizes are descending). */
static inline uint32_t lgrp_find(const gl_lbin_t *b, uint64_t s)
{
    uint32_t lo = 0, hi = b->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (b->grp[mid].size > s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void lgrp_insert(gl_t *g, gl_lbin_t *b, uint32_t k, uint64_t s, uint32_t head)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 8;
        gl_lgrp_t *n = realloc(b->grp, cap * sizeof *n);
        if (!n) {
            g->oom = true;
            g->rec_max = 0;  /* so gl_reserve asks gl_grow, which fails */
            return;
        }
        b->grp = n;
        b->cap = cap;
    }
    memmove(&b->grp[k + 1], &b->grp[k], (b->n - k) * sizeof *b->grp);
    b->grp[k] = (gl_lgrp_t){s, head};
    b->n++;
}

/* unlink_chunk, including the large-bin nextsize skip list */
static void unlink_chunk(gl_t *g, uint32_t p)
{
    uint32_t fd = R(p).fd, bk = R(p).bk;
    uint64_t size = R(p).size;
    R(fd).bk = bk;
    R(bk).fd = fd;
    if (R(p).st == ST_BIN && !in_small(size)) {
        gl_lbin_t *b = lbin(g->arenas[R(p).arena], largebin_index(size));
        uint32_t k = lgrp_find(b, size);
        if (k < b->n && b->grp[k].head == p) {  /* k == n only after oom */
            /* the next of its size inherits the skip links; glibc tells it
             * by its NULL fd_nextsize: not the bin header (whose
             * fd_nextsize overlays the next bin), not a smaller size */
            if (R(fd).addr && R(fd).size == size) {
                b->grp[k].head = fd;
            } else {
                b->n--;
                memmove(&b->grp[k], &b->grp[k + 1], (b->n - k) * sizeof *b->grp);
            }
        }
    }
    g->free_bytes -= size;
}

/* insert after bck, before fwd */
static inline void link_between(gl_t *g, uint32_t c, uint32_t bck, uint32_t fwd)
{
    R(c).bk = bck;
    R(c).fd = fwd;
    R(fwd).bk = c;
    R(bck).fd = c;
}

/* The head of the unsorted bin, as _int_free, consolidate and remainders do. */
static void unsorted_push(gl_t *g, gl_arena_t *a, uint32_t c)
{
    uint32_t uns = bin_at(a, 1);
    link_between(g, c, uns, R(uns).fd);
    R(c).st = ST_UNSORTED;
    g->free_bytes += R(c).size;
}

/* _int_malloc's placement of an unsorted chunk into its bin. */
static void bin_place(gl_t *g, gl_arena_t *a, uint32_t v)
{
    uint64_t size = R(v).size;
    unsigned idx;
    uint32_t bck, fwd;
    if (in_small(size)) {
        idx = (unsigned)(size >> 4);
        bck = bin_at(a, idx);
        fwd = R(bck).fd;
    } else {
        idx = largebin_index(size);
        gl_lbin_t *b = lbin(a, idx);
        uint32_t k = lgrp_find(b, size);
        if (k < b->n && b->grp[k].size == size) {
            bck = b->grp[k].head;  /* second of its size: no skip links */
            fwd = R(bck).fd;
        } else {  /* before the next smaller size, or at the tail */
            fwd = k < b->n ? b->grp[k].head : bin_at(a, idx);
            bck = R(fwd).bk;
            lgrp_insert(g, b, k, size, v);
        }
    }
    mark_bin(a, idx);
    link_between(g, v, bck, fwd);
    R(v).st = ST_BIN;
    g->free_bytes += size;
}

/* ---- tcache ---------------------------------------------------------------- */
/* The size of every chunk in tcache bin ti (tidx is one-to-one on chunk sizes). */
static inline uint64_t tc_size(uint64_t ti) { return MINSIZE + 16 * ti; }

/* tcache_put of chunk c at addr, whose slot already caches its size */
static inline void tc_push(gl_t *g, gl_tcache_t *tc, uint64_t ti, uint64_t addr, uint32_t c)
{
    tc->e[ti * g->tcache_count + tc->counts[ti]++] = (gl_tcent_t){addr, c};
    g->free_bytes += tc_size(ti);
    touch_mem_link(g, addr + HDR);
}

static inline void tcache_put(gl_t *g, gl_tcache_t *tc, uint32_t c, uint64_t ti)
{
    R(c).st = ST_INUSE;
    set_aux(g, c);  /* may come from a split or merge: sizes change */
    tc_push(g, tc, ti, R(c).addr, c);
}

/* The freeing thread's bin holds c already (debug builds: a double free). */
static inline bool in_tcache(const gl_t *g, const gl_tcache_t *tc, uint64_t ti, uint32_t c)
{
    for (unsigned k = 0; k < tc->counts[ti]; k++)
        if (tc->e[ti * g->tcache_count + k].rec == c)
            return true;
    return false;
}

static inline gl_tcent_t tcache_get(gl_t *g, gl_tcache_t *tc, uint64_t ti)
{
    g->free_bytes -= tc_size(ti);
    return tc->e[ti * g->tcache_count + --tc->counts[ti]];
}

#endif /* AS_GLIBC_IMPL */

#endif /* AS_GLIBC_INTERNAL_H */
