/*
 * sim/space.c — the simulated address space every model places blocks in, and
 * its page accounting (reference/allocators.md §0, the kernel's rules):
 *   - a page is resident once written (as_space_touch) and stops being
 *     resident on munmap, brk shrink (Linux mm/mmap.c brk(): only whole pages
 *     above PAGE_ALIGN(new break)) and madvise(MADV_DONTNEED);
 *   - fresh mmap and sbrk memory is not resident until touched;
 *   - mmap places top-down below a fixed mmap_base, in the highest free gap
 *     that can hold len + (align - page) (Linux unmapped_area_topdown with an
 *     alignment mask, as glibc's 64 MiB-aligned heap reservation needs);
 *   - mremap grows in place when the gap after the mapping allows, else moves
 *     (MREMAP_MAYMOVE), carrying resident pages with the data.
 *
 * Layout: the break starts at BRK_BASE and grows up; mappings come down from
 * MMAP_BASE. Free gaps of [BRK_BASE, MMAP_BASE) are an augmented tree
 * (sim/atree_internal.h), so placement and unmapping cost O(log gaps).
 * Resident pages are a three-level radix bitmap (1024 x 1024 x 32768 pages),
 * so touching, releasing and moving cost a word operation per 64 pages
 * covered, never anything proportional to the size of the space; empty
 * leaves are freed, and wholly resident ones all point to one shared full
 * leaf (copied when part of one is released), so memory follows the
 * resident set's edges, not its size: touching a 40 TiB block (a crafted
 * trace's successful malloc) costs a pointer per 128 MiB, not 1.3 GiB of
 * leaves.
 */
#include <stdlib.h>
#include <string.h>

#include "sim/atree_internal.h"
#include "sim/model.h"

#define BRK_BASE 0x0000555555600000ull   /* 2 MiB aligned: fits any page size */
#define MMAP_BASE 0x00007ff000000000ull

#define LEAF_BITS 15u                     /* pages per leaf: 32768 */
#define LEAF_WORDS (1u << (LEAF_BITS - 6))
#define MID_BITS 10u
#define TOP_BITS 10u
#define MAX_PAGES (1ull << (LEAF_BITS + MID_BITS + TOP_BITS))
_Static_assert(MAX_PAGES * AS_SPACE_PAGE_MIN >= MMAP_BASE, "the bitmap covers the space");

typedef struct leaf {
    uint64_t w[LEAF_WORDS];
    uint32_t count;                       /* resident pages in this leaf */
} leaf_t;

#define LEAF_PAGES (1ull << LEAF_BITS)

/* Every page resident: shared by every such leaf, never written (const, so
 * a write faults) nor freed. */
static const leaf_t full_leaf = {.w = {[0 ... LEAF_WORDS - 1] = ~0ull}, .count = LEAF_PAGES};
#define FULL ((leaf_t *)&full_leaf)

typedef struct mid {
    leaf_t *l[1u << MID_BITS];
    uint32_t nleaves;
} mid_t;

struct as_space {
    uint32_t page_size, page_shift;
    uint64_t brk_cur;                     /* exact break (may be unaligned) */
    uint64_t free_bytes;                  /* sum of gaps */
    uint64_t resident_pages;
    as_atree_t gaps;                      /* free gaps of [BRK_BASE, MMAP_BASE) */
    mid_t *top[1u << TOP_BITS];
    /* The leaf of the latest one-page touch and its number (page >>
     * LEAF_BITS; UINT64_MAX: none). Nearly every touch falls in the same
     * 128 MiB (the heap), so the two-level lookup is usually skipped.
     * leaf_drop forgets it when it frees that leaf. */
    uint64_t hot_key;
    leaf_t *hot;
};

static inline uint64_t pg_up(const as_space_t *s, uint64_t x)
{
    return (x + s->page_size - 1) & ~(uint64_t)(s->page_size - 1);
}

static inline uint64_t pg_down(const as_space_t *s, uint64_t x)
{
    return x & ~(uint64_t)(s->page_size - 1);
}

as_space_t *as_space_create(uint32_t page_size)
{
    if (page_size < AS_SPACE_PAGE_MIN || page_size > AS_SPACE_PAGE_MAX ||
        (page_size & (page_size - 1)))
        return NULL;
    as_space_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->page_size = page_size;
    while ((1u << s->page_shift) < page_size)
        s->page_shift++;
    s->brk_cur = BRK_BASE;
    s->hot_key = UINT64_MAX;
    if (as_at_init(&s->gaps) || as_at_insert(&s->gaps, BRK_BASE, MMAP_BASE - BRK_BASE)) {
        as_at_fini(&s->gaps);
        free(s);
        return NULL;
    }
    s->free_bytes = MMAP_BASE - BRK_BASE;
    return s;
}

void as_space_free(as_space_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < (1u << TOP_BITS); i++) {
        mid_t *m = s->top[i];
        if (!m)
            continue;
        for (size_t j = 0; j < (1u << MID_BITS); j++)
            if (m->l[j] != FULL)
                free(m->l[j]);
        free(m);
    }
    as_at_fini(&s->gaps);
    free(s);
}

uint64_t as_space_brk_base(const as_space_t *s) { (void)s; return BRK_BASE; }
uint64_t as_space_brk_cur(const as_space_t *s) { return s->brk_cur; }
uint32_t as_space_page_size(const as_space_t *s) { return s->page_size; }
uint64_t as_space_resident(const as_space_t *s) { return s->resident_pages << s->page_shift; }
uint64_t as_space_mapped(const as_space_t *s) { return (MMAP_BASE - BRK_BASE) - s->free_bytes; }

/* ---- Resident bitmap ------------------------------------------------------ */

/* The leaf of a page (NULL: none; FULL: all resident) may be read, and
 * written only if it is not FULL. */
static leaf_t *leaf_get(as_space_t *s, uint64_t page, int create)
{
    uint64_t ti = page >> (LEAF_BITS + MID_BITS);
    uint64_t mi = (page >> LEAF_BITS) & ((1u << MID_BITS) - 1);
    mid_t *m = s->top[ti];
    if (!m) {
        if (!create || !(m = s->top[ti] = calloc(1, sizeof *m)))
            return NULL;
    }
    leaf_t *l = m->l[mi];
    if (!l && create) {
        /* Out of memory here would lose accounting; there is no error path in
         * the API, so the page is simply not counted (the engine checks
         * allocation failures up front). */
        if ((l = m->l[mi] = calloc(1, sizeof *l)))
            m->nleaves++;
    }
    return l;
}

static void leaf_drop(as_space_t *s, uint64_t page)
{
    uint64_t ti = page >> (LEAF_BITS + MID_BITS);
    uint64_t mi = (page >> LEAF_BITS) & ((1u << MID_BITS) - 1);
    mid_t *m = s->top[ti];
    if (m->l[mi] == s->hot) {
        s->hot = NULL;
        s->hot_key = UINT64_MAX;
    }
    if (m->l[mi] != FULL)
        free(m->l[mi]);
    m->l[mi] = NULL;
    if (--m->nleaves == 0) {
        free(m);
        s->top[ti] = NULL;
    }
}

static inline uint64_t range_mask(unsigned lo, unsigned hi) /* bits [lo, hi), hi <= 64 */
{
    uint64_t m = hi >= 64 ? ~0ull : ((1ull << hi) - 1);
    return m & ~((1ull << lo) - 1);
}

/* Puts n (FULL, or a copy of FULL) in place of the page's leaf l (which
 * exists), freeing l unless it is FULL. */
static void leaf_replace(as_space_t *s, uint64_t page, leaf_t *l, leaf_t *n)
{
    mid_t *m = s->top[page >> (LEAF_BITS + MID_BITS)];
    m->l[(page >> LEAF_BITS) & ((1u << MID_BITS) - 1)] = n;
    if (l == s->hot) {
        s->hot = NULL;
        s->hot_key = UINT64_MAX;
    }
    if (l != FULL)
        free(l);
}

/* Sets (set=1) or clears pages [p0, p1). */
static void pages_update(as_space_t *s, uint64_t p0, uint64_t p1, int set)
{
    if (p1 > MAX_PAGES)
        p1 = MAX_PAGES;
    while (p0 < p1) {
        uint64_t leaf_end = (p0 | ((1ull << LEAF_BITS) - 1)) + 1;
        uint64_t end = p1 < leaf_end ? p1 : leaf_end;
        int whole = end - p0 == LEAF_PAGES;
        leaf_t *l = leaf_get(s, p0, set && !whole);
        if (!l && set && whole) {
            mid_t **m = &s->top[p0 >> (LEAF_BITS + MID_BITS)];
            if (*m || (*m = calloc(1, sizeof **m))) {
                (*m)->l[(p0 >> LEAF_BITS) & ((1u << MID_BITS) - 1)] = FULL;
                (*m)->nleaves++;
                s->resident_pages += LEAF_PAGES;
            }
        } else if (l == FULL && set) {
            l = NULL;                      /* resident already */
        } else if (l == FULL && whole) {
            s->resident_pages -= LEAF_PAGES;
            leaf_drop(s, p0);
            l = NULL;
        } else if (l == FULL) {
            /* part of a full leaf released: it gets a copy of its own */
            leaf_t *c = malloc(sizeof *c);
            if (c)
                *c = full_leaf;
            leaf_replace(s, p0, l, c ? c : FULL);
            l = c;                         /* out of memory: left resident */
        } else if (l && set && whole) {
            s->resident_pages += LEAF_PAGES - l->count;
            leaf_replace(s, p0, l, FULL);
            l = NULL;
        }
        if (l) {
            unsigned b0 = (unsigned)(p0 & ((1ull << LEAF_BITS) - 1));
            unsigned b1 = b0 + (unsigned)(end - p0);
            int64_t delta = 0;
            for (unsigned w = b0 >> 6; w <= (b1 - 1) >> 6; w++) {
                unsigned lo = w == (b0 >> 6) ? (b0 & 63) : 0;
                unsigned hi = w == ((b1 - 1) >> 6) ? ((b1 - 1) & 63) + 1 : 64;
                uint64_t mask = range_mask(lo, hi), old = l->w[w], had = old & mask;
                /* mask is hi - lo contiguous bits, so a word wholly fresh (set)
                 * or wholly resident (clear), the usual cases, needs no
                 * popcount (a libgcc call without -mpopcnt) */
                unsigned nbits = hi - lo;
                if (set) {
                    l->w[w] = old | mask;
                    delta += nbits - (had ? (unsigned)__builtin_popcountll(had) : 0);
                } else {
                    l->w[w] = old & ~mask;
                    delta -= had == mask ? nbits : (unsigned)__builtin_popcountll(had);
                }
            }
            l->count = (uint32_t)((int64_t)l->count + delta);
            s->resident_pages = (uint64_t)((int64_t)s->resident_pages + delta);
            if (!l->count)
                leaf_drop(s, p0);
            else if (l->count == LEAF_PAGES)   /* filled in parts (pages_copy) */
                leaf_replace(s, p0, l, FULL);
        }
        p0 = end;
    }
}

void as_space_touch(as_space_t *s, uint64_t addr, uint64_t len)
{
    if (!len)
        return;
    uint64_t p0 = addr >> s->page_shift, p1 = ((addr + len - 1) >> s->page_shift) + 1;
    if (p1 == p0 + 1 && p0 < MAX_PAGES) {
        /* The common case, a block within one page: one bit. */
        leaf_t *l = s->hot;
        if (p0 >> LEAF_BITS != s->hot_key) {
            if (!(l = leaf_get(s, p0, 1)))
                return;
            s->hot = l;
            s->hot_key = p0 >> LEAF_BITS;
        }
        unsigned b = (unsigned)(p0 & ((1ull << LEAF_BITS) - 1));
        uint64_t bit = 1ull << (b & 63);
        if (!(l->w[b >> 6] & bit)) {
            l->w[b >> 6] |= bit;
            l->count++;
            s->resident_pages++;
        }
        return;
    }
    pages_update(s, p0, p1, 1);
}

void as_space_dontneed(as_space_t *s, uint64_t addr, uint64_t len)
{
    uint64_t a = pg_up(s, addr), b = pg_down(s, addr + len);
    if (a < b)
        pages_update(s, a >> s->page_shift, b >> s->page_shift, 0);
}

/* Copies the resident bits of pages [p0, p0+n) to [q0, q0+n) (disjoint). */
static void pages_copy(as_space_t *s, uint64_t p0, uint64_t q0, uint64_t n)
{
    uint64_t i = 0;
    while (i < n) {
        uint64_t p = p0 + i;
        leaf_t *l = p < MAX_PAGES ? leaf_get(s, p, 0) : NULL;
        uint64_t leaf_end = (p | ((1ull << LEAF_BITS) - 1)) + 1;
        uint64_t stop = leaf_end - p0 < n ? leaf_end - p0 : n;
        if (!l || l == FULL) {
            if (l)
                pages_update(s, q0 + i, q0 + stop, 1);
            i = stop;
            continue;
        }
        while (i < stop) {
            p = p0 + i;
            unsigned b = (unsigned)(p & ((1ull << LEAF_BITS) - 1));
            uint64_t word = l->w[b >> 6] >> (b & 63);
            if (!word) {                       /* skip the rest of this word */
                i += 64 - (b & 63);
                continue;
            }
            unsigned z = (unsigned)__builtin_ctzll(word);
            i += z;
            if (i >= stop)
                break;
            /* the run of resident pages from i, set in one update: a copy
             * costs a word operation per 64 pages, and a full leaf (a
             * 128 MiB run) stays one pointer in the copy too */
            uint64_t j = i;
            while (j < stop) {
                unsigned c = (unsigned)((p0 + j) & (LEAF_PAGES - 1)), left = 64 - (c & 63);
                uint64_t gaps = ~(l->w[c >> 6] >> (c & 63));
                unsigned run = gaps ? (unsigned)__builtin_ctzll(gaps) : 64;
                j += run < left ? run : left;
                if (run < left)
                    break;
            }
            j = j < stop ? j : stop;
            pages_update(s, q0 + i, q0 + j, 1);
            i = j;
            /* the copy may share l's leaf and fill it: l is then FULL */
            l = leaf_get(s, p, 0);
        }
        i = i < stop ? i : stop;
    }
}

/* ---- Gaps ------------------------------------------------------------------ */

/* Marks [a, b) free (page aligned); the parts already free are left alone.
 * Clears resident pages and merges with neighbouring gaps. */
static void range_release(as_space_t *s, uint64_t a, uint64_t b)
{
    if (a < BRK_BASE)
        a = BRK_BASE;
    if (b > MMAP_BASE)
        b = MMAP_BASE;
    if (a >= b)
        return;
    pages_update(s, a >> s->page_shift, b >> s->page_shift, 0);
    uint64_t lo = a, hi = b, covered = 0;
    /* A gap that starts at or before a and reaches a (or beyond). */
    uint32_t g = as_at_find_le(&s->gaps, a);
    if (g) {
        uint64_t gk = s->gaps.n[g].key, ge = gk + s->gaps.n[g].len;
        if (ge >= a) {
            lo = gk;
            if (ge > hi) {
                covered = b - a;   /* entirely free already */
                hi = ge;
            } else {
                covered = ge - a;
            }
            as_at_remove(&s->gaps, gk);
        }
    }
    /* Gaps starting inside (a, b], merged in. */
    for (;;) {
        uint32_t x = as_at_find_ge(&s->gaps, a);
        if (!x || s->gaps.n[x].key > b)
            break;
        uint64_t xk = s->gaps.n[x].key, xe = xk + s->gaps.n[x].len;
        covered += (xe < b ? xe : b) - xk;
        if (xe > hi)
            hi = xe;
        as_at_remove(&s->gaps, xk);
    }
    s->free_bytes += (b - a) - covered;
    as_at_insert(&s->gaps, lo, hi - lo);
}

/* Takes [a, b) out of the gap g that contains it. */
static void gap_carve(as_space_t *s, uint32_t g, uint64_t a, uint64_t b)
{
    uint64_t gk = s->gaps.n[g].key, ge = gk + s->gaps.n[g].len;
    if (gk == a) {
        if (ge == b)
            as_at_remove(&s->gaps, gk);
        else
            as_at_modify(&s->gaps, gk, b, ge - b);
    } else {
        as_at_modify(&s->gaps, gk, gk, a - gk);
        if (ge > b)
            as_at_insert(&s->gaps, b, ge - b);
    }
    s->free_bytes -= b - a;
}

/* The gap containing all of [a, b), or 0. */
static uint32_t gap_containing(const as_space_t *s, uint64_t a, uint64_t b)
{
    uint32_t g = as_at_find_le(&s->gaps, a);
    if (!g || s->gaps.n[g].key + s->gaps.n[g].len < b)
        return 0;
    return g;
}

uint64_t as_space_mmap(as_space_t *s, uint64_t len, uint64_t align)
{
    if (!len || len > MMAP_BASE)
        return 0;
    len = pg_up(s, len);
    if (align < s->page_size)
        align = s->page_size;
    if (align & (align - 1))
        return 0;
    uint64_t need = len + (align - s->page_size);
    uint32_t g = as_at_last_fit(&s->gaps, need);
    if (!g)
        return 0;
    uint64_t gk = s->gaps.n[g].key, ge = gk + s->gaps.n[g].len;
    uint64_t addr = (ge - len) & ~(align - 1);
    if (addr < gk)
        return 0;
    gap_carve(s, g, addr, addr + len);
    return addr;
}

uint64_t as_space_mmap_at(as_space_t *s, uint64_t addr, uint64_t len)
{
    if (!len || (addr & (s->page_size - 1)) || addr < BRK_BASE)
        return 0;
    len = pg_up(s, len);
    if (addr + len > MMAP_BASE || addr + len < addr)
        return 0;
    /* The break region is not free space even between brk_cur and its page. */
    if (addr < pg_up(s, s->brk_cur))
        return 0;
    uint32_t g = gap_containing(s, addr, addr + len);
    if (!g)
        return 0;
    gap_carve(s, g, addr, addr + len);
    return addr;
}

void as_space_munmap(as_space_t *s, uint64_t addr, uint64_t len)
{
    if (!len)
        return;
    uint64_t a = pg_down(s, addr), b = pg_up(s, addr + len);
    /* Never unmap the break region through munmap: a model would be wrong. */
    uint64_t brk_top = pg_up(s, s->brk_cur);
    if (a < brk_top)
        a = brk_top;
    range_release(s, a, b);
}

uint64_t as_space_mremap(as_space_t *s, uint64_t addr, uint64_t old_len, uint64_t new_len)
{
    if (!new_len || (addr & (s->page_size - 1)))
        return 0;
    old_len = pg_up(s, old_len);
    new_len = pg_up(s, new_len);
    if (new_len <= old_len) {
        if (new_len < old_len)
            range_release(s, addr + new_len, addr + old_len);
        return addr;
    }
    /* Grow in place if the gap right after the mapping allows it. */
    uint64_t end = addr + old_len;
    uint32_t g = gap_containing(s, end, addr + new_len);
    if (g && s->gaps.n[g].key <= end) {
        gap_carve(s, g, end, addr + new_len);
        return addr;
    }
    uint64_t na = as_space_mmap(s, new_len, 0);
    if (!na)
        return 0;
    pages_copy(s, addr >> s->page_shift, na >> s->page_shift, old_len >> s->page_shift);
    range_release(s, addr, addr + old_len);
    return na;
}

uint64_t as_space_sbrk(as_space_t *s, int64_t incr)
{
    uint64_t old = s->brk_cur;
    if (incr == 0)
        return old;
    uint64_t oldtop = pg_up(s, old);
    if (incr > 0) {
        uint64_t nb = old + (uint64_t)incr;
        if (nb < old || nb > MMAP_BASE)
            return 0;
        uint64_t newtop = pg_up(s, nb);
        if (newtop > oldtop) {
            uint32_t g = gap_containing(s, oldtop, newtop);
            if (!g || s->gaps.n[g].key != oldtop)
                return 0;                  /* collides with a mapping */
            gap_carve(s, g, oldtop, newtop);
        }
        s->brk_cur = nb;
        return old;
    }
    uint64_t dec = (uint64_t)(-(incr + 1)) + 1;
    if (dec > old - BRK_BASE)
        return 0;
    uint64_t nb = old - dec, newtop = pg_up(s, nb);
    if (newtop < oldtop) {
        /* The break region is never a gap, so the released pages can only
         * join a gap starting right at oldtop: when there is one, it is
         * extended down in place (range_release would search, remove and
         * insert). */
        uint32_t g = as_at_find_ge(&s->gaps, oldtop);
        if (g && s->gaps.n[g].key == oldtop) {
            pages_update(s, newtop >> s->page_shift, oldtop >> s->page_shift, 0);
            as_at_modify(&s->gaps, oldtop, newtop, s->gaps.n[g].len + (oldtop - newtop));
            s->free_bytes += oldtop - newtop;
        } else {
            range_release(s, newtop, oldtop);
        }
    }
    s->brk_cur = nb;
    return old;
}
