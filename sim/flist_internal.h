/*
 * sim/flist_internal.h — every chunk of one brk heap, in use or free, in
 * address order, for address-ordered first fit with coalescing (Wilson et
 * al. 1995 §3.4) without boundary tags or a separate map of in-use blocks.
 *
 * The heap is one range growing up from a base address, so an address says
 * by itself where its chunk is kept: region r = (key - base) >> shift holds,
 * sorted, the (at most 64) chunks that start in [base + (r << shift),
 * base + ((r + 1) << shift)). Finding a chunk (a free's size), its place, or
 * its neighbours in address order (coalescing) is an index computation plus
 * one cache line of offset bytes, counted eight at a time; an insert or
 * remove shifts only that region's entries. A comparison search over all
 * chunks (sorted blocks, or a tree: sim/atree_internal.h) is a chain of about
 * log2(count) dependent loads, and a separate hash map of in-use blocks is
 * one more cache miss per malloc and per free; both dominated the replay
 * time of churn traces.
 *
 * First fit: a max tree of fan-out 8 over the regions (level 0: each
 * region's largest free length; level k + 1: the largest of 8 consecutive
 * entries of level k). The leftmost child whose maximum fits is the only
 * subtree that can hold the lowest-addressed fit, so one descent from the
 * root reaches the region to scan, and a bitmap of the region's free entries
 * skips the ones in use. A bitmap of non-empty regions finds the chunk before
 * or after a region's ends (which may lie many regions away, past a large
 * chunk).
 *
 * An entry is a key and its length with AS_FL_USED or'ed in (lengths are
 * even). Memory: about 32 bytes of directory per region (of the largest heap
 * seen), 64 offset bytes per region that ever held a chunk, 16 bytes per
 * chunk. Header-only (static functions), like sim/atree_internal.h.
 */
#ifndef AS_FLIST_INTERNAL_H
#define AS_FLIST_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AS_FL_USED 1ull             /* in len: the chunk is in use (not a fit) */
#define FL_FAN_BITS 3u
#define FL_FAN (1u << FL_FAN_BITS)  /* children per node of the max tree */
#define FL_MAXLVL 22                /* 8^22 regions: more than 64-bit addresses need */

typedef struct as_fl_ent {
    uint64_t key, len;              /* chunk [key, key + (len & ~AS_FL_USED)) */
} as_fl_ent_t;

/* A region's block: 64 offset bytes (as_fl_offs), then cap entries, e. */
typedef struct as_fl_reg {
    uint32_t n, cap;                /* n <= 64 */
    uint64_t free;                  /* bit i: e[i] is free (first fit skips the rest) */
    as_fl_ent_t *e;                 /* sorted by key; NULL while cap is 0 */
} as_fl_reg_t;

#define FL_OFFB 64u                 /* offset bytes before a region's entries */
#define FL_NOOFF 127u               /* offset byte of an empty slot: above any key's */

typedef struct as_flist {
    uint64_t base;                  /* address where region 0 starts */
    unsigned shift;                 /* log2 of a region's bytes */
    unsigned nlvl;                  /* levels of the max tree (0: nothing covered) */
    uint64_t cap;                   /* regions covered: a power of two >= 64, or 0 */
    as_fl_reg_t *reg;
    uint64_t *nonempty;             /* bit r: region r holds a chunk */
    uint64_t *lvl[FL_MAXLVL];       /* lvl[k] has as_fl_lvl_size(cap, k) maxima */
    uint64_t count;                 /* chunks */
} as_flist_t;

/* Empty map over regions of 2^shift bytes from base (shift >= 7); covers
 * nothing until as_fl_cover. Keys are multiples of 2^shift / 128 from base
 * (their offset bytes then order them), and a region holds at most 64
 * entries (its bitmap of free ones is one word): e.g. 16-aligned chunks of
 * at least 32 bytes in 2 KiB regions. */
static inline void as_fl_init(as_flist_t *f, uint64_t base, unsigned shift)
{
    memset(f, 0, sizeof *f);
    f->base = base;
    f->shift = shift;
}

static inline void as_fl_fini(as_flist_t *f)
{
    for (uint64_t r = 0; r < f->cap; r++)
        if (f->reg[r].e)
            free((uint8_t *)f->reg[r].e - FL_OFFB);
    free(f->reg);
    free(f->nonempty);
    for (unsigned k = 0; k < FL_MAXLVL; k++)
        free(f->lvl[k]);
    memset(f, 0, sizeof *f);
}

/* What an entry offers to first fit: its length if free, else 0. */
static inline uint64_t as_fl_fit_len(const as_fl_ent_t *e)
{
    return e->len & AS_FL_USED ? 0 : e->len;
}

static inline uint64_t as_fl_lvl_size(uint64_t cap, unsigned k)
{
    uint64_t s = cap >> (FL_FAN_BITS * k);
    return s ? s : 1;
}

static inline uint64_t as_fl_region(const as_flist_t *f, uint64_t key)
{
    return (key - f->base) >> f->shift;
}

/* Largest entry among the children of node idx of level k (k >= 1). Reads
 * all FL_FAN of them: a level shorter than that is padded with zeros. */
static inline uint64_t as_fl_children_max(const as_flist_t *f, unsigned k, uint64_t idx)
{
    const uint64_t *a = f->lvl[k - 1] + (idx << FL_FAN_BITS);
    uint64_t m = 0;
#pragma GCC unroll 8
    for (unsigned c = 0; c < FL_FAN; c++)
        m = a[c] > m ? a[c] : m;
    return m;
}

/* Makes the regions cover [base, end). Existing entries keep their places;
 * the tree's upper levels are rebuilt (the region count at least doubles
 * each time, so this is amortised O(1) per region). 0, or -1 on no memory. */
static int as_fl_cover(as_flist_t *f, uint64_t end)
{
    if (end <= f->base)
        return 0;
    uint64_t need = ((end - f->base - 1) >> f->shift) + 1;
    if (need <= f->cap)
        return 0;
    uint64_t cap = f->cap ? f->cap : 64;  /* a whole word of the bitmap */
    while (cap < need)
        cap *= 2;
    as_fl_reg_t *reg = (as_fl_reg_t *)realloc(f->reg, cap * sizeof *reg);
    if (!reg)
        return -1;
    memset(reg + f->cap, 0, (cap - f->cap) * sizeof *reg);
    f->reg = reg;
    uint64_t *ne = (uint64_t *)realloc(f->nonempty, (cap / 64) * sizeof *ne);
    if (!ne)
        return -1;
    memset(ne + f->cap / 64, 0, (cap - f->cap) / 64 * sizeof *ne);
    f->nonempty = ne;
    unsigned nlvl = 1;
    while (as_fl_lvl_size(cap, nlvl - 1) > 1)
        nlvl++;
    for (unsigned k = 0; k < nlvl; k++) {
        /* At least FL_FAN entries, zeros past the size: first fit reads
         * whole groups of children. */
        uint64_t sz = as_fl_lvl_size(cap, k), n = sz < FL_FAN ? FL_FAN : sz;
        uint64_t *a = (uint64_t *)realloc(f->lvl[k], n * sizeof *a);
        if (!a)
            return -1;
        if (k)
            memset(a, 0, n * sizeof *a);
        f->lvl[k] = a;
    }
    memset(f->lvl[0] + f->cap, 0, (cap - f->cap) * sizeof f->lvl[0][0]);
    f->cap = cap;
    f->nlvl = nlvl;
    for (unsigned k = 1; k < nlvl; k++)
        for (uint64_t i = 0; i < as_fl_lvl_size(cap, k); i++)
            f->lvl[k][i] = as_fl_children_max(f, k, i);
    return 0;
}

/* After region r's largest free length may have grown to at least v. */
static inline void as_fl_raise(as_flist_t *f, uint64_t r, uint64_t v)
{
    for (unsigned k = 0; k < f->nlvl && f->lvl[k][r] < v; k++, r >>= FL_FAN_BITS)
        f->lvl[k][r] = v;
}

/* After region r's largest free length may have shrunk: recompute up the
 * tree while the maximum changes. A node's maximum can only have shrunk, so
 * a parent above the child's old value took it from another child and stays:
 * one read stops the climb there, where recomputing the parent from all its
 * children (most of the climb's instructions) would find it unchanged. */
static inline void as_fl_refix(as_flist_t *f, uint64_t r)
{
    const as_fl_reg_t *g = &f->reg[r];
    uint64_t m = 0;
    for (uint64_t b = g->free; b; b &= b - 1) {
        uint64_t l = g->e[__builtin_ctzll(b)].len;
        m = l > m ? l : m;
    }
    for (unsigned k = 0;;) {
        uint64_t old = f->lvl[k][r];
        if (old == m)
            return;
        f->lvl[k][r] = m;
        if (++k == f->nlvl)
            return;
        r >>= FL_FAN_BITS;
        if (f->lvl[k][r] != old)
            return;
        m = as_fl_children_max(f, k, r);
    }
}

/* Offset bytes of region g's entries: offset of e[i].key in its region, in
 * units of 2^shift / 128; FL_NOOFF past n. One cache line, so finding a key's
 * place reads it and one entry instead of a binary search's chain of loads
 * through the entries. */
static inline uint8_t *as_fl_offs(const as_fl_reg_t *g)
{
    return (uint8_t *)g->e - FL_OFFB;
}

static inline unsigned as_fl_off(const as_flist_t *f, uint64_t key)
{
    return (unsigned)(((key - f->base) & ((1ull << f->shift) - 1)) >> (f->shift - 7));
}

/* First index in region g with key >= the key of offset t: how many offsets
 * are below t. Eight bytes at a time: with b, t < 128, the byte (t + 127 - b)
 * never borrows and has its top bit set exactly when b < t. */
static inline uint32_t as_fl_pos(const as_fl_reg_t *g, unsigned t)
{
    if (!g->n)
        return 0;
    const uint8_t *o = as_fl_offs(g);
    uint64_t tt = 0x0101010101010101ull * (t + 127), sum = 0;
    for (unsigned w = 0; w < FL_OFFB / 8; w++) {
        uint64_t x;
        memcpy(&x, o + 8 * w, 8);
        sum += ((tt - x) & 0x8080808080808080ull) >> 7;
    }
    return (uint32_t)((sum * 0x0101010101010101ull) >> 56);
}

/* Where key is or would go: region *r, index *i of the first key >= key in
 * it. key must lie in the covered range. */
static inline void as_fl_locate(const as_flist_t *f, uint64_t key, uint64_t *r, uint32_t *i)
{
    *r = as_fl_region(f, key);
    *i = as_fl_pos(&f->reg[*r], as_fl_off(f, key));
}

static inline as_fl_ent_t *as_fl_at(const as_flist_t *f, uint64_t r, uint32_t i)
{
    return &f->reg[r].e[i];
}

/* Finds key exactly: 1 and (*r, *i), else 0 (also when key is outside the
 * covered range). */
static inline int as_fl_find(const as_flist_t *f, uint64_t key, uint64_t *r, uint32_t *i)
{
    if (key < f->base || as_fl_region(f, key) >= f->cap)
        return 0;
    as_fl_locate(f, key, r, i);
    const as_fl_reg_t *g = &f->reg[*r];
    return *i < g->n && g->e[*i].key == key;
}

/* The entry just before position (r, i) in address order: 1 and (*pr, *pi),
 * else 0. */
static inline int as_fl_prev(const as_flist_t *f, uint64_t r, uint32_t i, uint64_t *pr,
                             uint32_t *pi)
{
    if (i > 0) {
        *pr = r;
        *pi = i - 1;
        return 1;
    }
    if (!r)
        return 0;
    uint64_t w = (r - 1) / 64;
    uint64_t bits = f->nonempty[w] & (~0ull >> (63 - (r - 1) % 64));
    while (!bits) {
        if (!w)
            return 0;
        bits = f->nonempty[--w];
    }
    *pr = w * 64 + 63 - (uint64_t)__builtin_clzll(bits);
    *pi = f->reg[*pr].n - 1;
    return 1;
}

/* The entry just after the one at (r, i): 1 and (*nr, *ni), else 0. */
static inline int as_fl_next(const as_flist_t *f, uint64_t r, uint32_t i, uint64_t *nr,
                             uint32_t *ni)
{
    if (i + 1 < f->reg[r].n) {
        *nr = r;
        *ni = i + 1;
        return 1;
    }
    if (++r >= f->cap)
        return 0;
    uint64_t w = r / 64;
    uint64_t bits = f->nonempty[w] & (~0ull << (r % 64));
    while (!bits) {
        if (++w >= f->cap / 64)
            return 0;
        bits = f->nonempty[w];
    }
    *nr = w * 64 + (uint64_t)__builtin_ctzll(bits);
    *ni = 0;
    return 1;
}

/* Inserts entry (key, len) at (r, i), which as_fl_locate(key) returned;
 * keys distinct, key covered. 0, or -1 on no memory. */
static int as_fl_insert_at(as_flist_t *f, uint64_t r, uint32_t i, uint64_t key, uint64_t len)
{
    as_fl_reg_t *g = &f->reg[r];
    if (g->n == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 4;
        uint8_t *b = (uint8_t *)realloc(g->e ? as_fl_offs(g) : NULL, FL_OFFB + cap * sizeof *g->e);
        if (!b)
            return -1;
        if (!g->e)
            memset(b, FL_NOOFF, FL_OFFB);
        g->e = (as_fl_ent_t *)(b + FL_OFFB);
        g->cap = cap;
    }
    uint8_t *o = as_fl_offs(g);
    memmove(o + i + 1, o + i, g->n - i);
    o[i] = (uint8_t)as_fl_off(f, key);
    memmove(g->e + i + 1, g->e + i, (g->n - i) * sizeof g->e[0]);
    g->e[i].key = key;
    g->e[i].len = len;
    uint64_t below = (1ull << i) - 1;
    g->free = (g->free & below) | ((g->free & ~below) << 1) | (uint64_t)!(len & AS_FL_USED) << i;
    if (!g->n++)
        f->nonempty[r / 64] |= 1ull << (r % 64);
    if (!(len & AS_FL_USED))
        as_fl_raise(f, r, len);
    f->count++;
    return 0;
}

/* Inserts entry (key, len) (keys distinct, key covered). 0, or -1 on no
 * memory. */
static inline int as_fl_insert(as_flist_t *f, uint64_t key, uint64_t len)
{
    uint64_t r;
    uint32_t i;
    as_fl_locate(f, key, &r, &i);
    return as_fl_insert_at(f, r, i, key, len);
}

/* Removes the entry at (r, i). */
static void as_fl_remove_at(as_flist_t *f, uint64_t r, uint32_t i)
{
    as_fl_reg_t *g = &f->reg[r];
    uint64_t len = as_fl_fit_len(&g->e[i]);
    uint8_t *o = as_fl_offs(g);
    memmove(o + i, o + i + 1, g->n - i - 1);
    o[g->n - 1] = FL_NOOFF;
    memmove(g->e + i, g->e + i + 1, (g->n - i - 1) * sizeof g->e[0]);
    g->free = (g->free & ((1ull << i) - 1)) | ((g->free >> 1) & (~0ull << i));
    if (!--g->n)
        f->nonempty[r / 64] &= ~(1ull << (r % 64));
    f->count--;
    if (len && len == f->lvl[0][r])
        as_fl_refix(f, r);
}

static inline int as_fl_remove(as_flist_t *f, uint64_t key)
{
    uint64_t r;
    uint32_t i;
    if (!as_fl_find(f, key, &r, &i))
        return 0;
    as_fl_remove_at(f, r, i);
    return 1;
}

/* Changes the entry at (r, i) to (nkey, nlen). nkey must keep the entry's
 * place in address order (no other key between the old and the new one);
 * it may lie in another region. 0, or -1 on no memory. */
static inline int as_fl_set_at(as_flist_t *f, uint64_t r, uint32_t i, uint64_t nkey, uint64_t nlen)
{
    uint64_t nr = as_fl_region(f, nkey);
    if (nr != r) {
        as_fl_remove_at(f, r, i);
        /* Nothing lies between the old and the new key: the new key goes
         * first in a later region, last in an earlier one. */
        return as_fl_insert_at(f, nr, nr > r ? 0 : f->reg[nr].n, nkey, nlen);
    }
    as_fl_reg_t *g = &f->reg[r];
    as_fl_ent_t *e = &g->e[i];
    uint64_t old = as_fl_fit_len(e);
    e->key = nkey;
    e->len = nlen;
    uint64_t now = as_fl_fit_len(e);
    as_fl_offs(g)[i] = (uint8_t)as_fl_off(f, nkey);
    g->free = (g->free & ~(1ull << i)) | (uint64_t)!(nlen & AS_FL_USED) << i;
    if (now > old)
        as_fl_raise(f, r, now);
    else if (now < old && old == f->lvl[0][r])
        as_fl_refix(f, r);
    return 0;
}

/* Changes the length (and flag) of the entry at (r, i) to nlen, its key
 * unchanged: as_fl_set_at without the region and offset work a new key
 * needs (every change the mmap-threshold model makes keeps the key).
 * Always inlined: GCC kept it out of line (with the climbs inlined into
 * it), and the call and register saves were 2% of a churn replay's
 * instructions. */
static inline __attribute__((always_inline)) void as_fl_set_len_at(as_flist_t *f, uint64_t r, uint32_t i, uint64_t nlen)
{
    as_fl_reg_t *g = &f->reg[r];
    as_fl_ent_t *e = &g->e[i];
    uint64_t old = as_fl_fit_len(e);
    e->len = nlen;
    uint64_t now = as_fl_fit_len(e);
    g->free = (g->free & ~(1ull << i)) | (uint64_t)!(nlen & AS_FL_USED) << i;
    if (now > old)
        as_fl_raise(f, r, now);
    else if (now < old && old == f->lvl[0][r])
        as_fl_refix(f, r);
}

/* Lowest-addressed free entry with len >= need (need > 0): 1 and (*r, *i),
 * else 0. */
static inline int as_fl_first_fit(const as_flist_t *f, uint64_t need, uint64_t *r, uint32_t *i)
{
    if (!f->nlvl || f->lvl[f->nlvl - 1][0] < need)
        return 0;
    uint64_t idx = 0;
    for (unsigned k = f->nlvl - 1; k-- > 0;) {
        /* The leftmost child that fits: the parent's maximum guarantees
         * one. Near the root it is nearly always the first (the low heap
         * holds most free chunks), so the loop exits at once. */
        const uint64_t *a = f->lvl[k];
        uint64_t j = idx << FL_FAN_BITS;
        while (a[j] < need)
            j++;
        idx = j;
    }
    const as_fl_reg_t *g = &f->reg[idx];
    uint64_t b = g->free;
    while (g->e[__builtin_ctzll(b)].len < need)
        b &= b - 1;
    *r = idx;
    *i = (uint32_t)__builtin_ctzll(b);
    return 1;
}

/* Checks every invariant of the structure (debug): entries sorted, distinct
 * and in their region, the non-empty bits, every level of the max tree, the
 * count. O(regions + entries). 0 if they hold. */
static int as_fl_check(const as_flist_t *f)
{
    uint64_t n = 0;
    for (uint64_t r = 0; r < f->cap; r++) {
        const as_fl_reg_t *g = &f->reg[r];
        uint64_t m = 0;
        for (uint32_t i = 0; i < g->n; i++) {
            if (g->e[i].key < f->base || as_fl_region(f, g->e[i].key) != r
                || (i && g->e[i].key <= g->e[i - 1].key)
                || ((g->e[i].key - f->base) & ((1ull << (f->shift - 7)) - 1))
                || as_fl_offs(g)[i] != as_fl_off(f, g->e[i].key))
                return -1;
            uint64_t l = as_fl_fit_len(&g->e[i]);
            m = l > m ? l : m;
            if (!!l != !!(g->free & (1ull << i)))
                return -1;
        }
        if (g->n > 64 || (g->n < 64 && g->free >> g->n) || m != f->lvl[0][r]
            || !!g->n != !!(f->nonempty[r / 64] & (1ull << (r % 64))))
            return -1;
        for (uint32_t i = g->n; g->e && i < FL_OFFB; i++)
            if (as_fl_offs(g)[i] != FL_NOOFF)
                return -1;
        n += g->n;
    }
    for (unsigned k = 1; k < f->nlvl; k++)
        for (uint64_t i = 0; i < as_fl_lvl_size(f->cap, k); i++)
            if (f->lvl[k][i] != as_fl_children_max(f, k, i))
                return -1;
    if (f->nlvl && as_fl_lvl_size(f->cap, f->nlvl - 1) != 1)
        return -1;
    return n == f->count ? 0 : -1;
}

#endif /* AS_FLIST_INTERNAL_H */
