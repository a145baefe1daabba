/*
 * sim/flist_internal.h — free chunks in address order, for address-ordered
 * first fit (Wilson et al. 1995 §3.4) with few cache misses: a sorted array
 * cut into blocks of at most FL_B entries, each block summarised by its
 * smallest key and largest length, blocks grouped by 64 with the group's
 * largest length. First fit scans group maxima, then block maxima, then one
 * block, all sequential memory; a lookup by address is two binary searches
 * over contiguous arrays. A binary tree with the same answers (atree) costs a
 * cache miss per level, which dominated replay time on churn traces.
 * Header-only (static functions), like sim/atree_internal.h.
 */
#ifndef AS_FLIST_INTERNAL_H
#define AS_FLIST_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FL_B 64u                 /* entries per block at most; split in halves */
#define FL_G 64u                  /* blocks per group */

typedef struct as_fl_blk {
    uint32_t n;
    uint64_t key[FL_B], len[FL_B];
} as_fl_blk_t;

typedef struct as_flist {
    as_fl_blk_t **blk;
    uint64_t *bmin, *bmax;        /* per block: first key, largest len */
    uint64_t *gmax;               /* per group of FL_G blocks: largest len */
    uint32_t nblk, cap;
    uint64_t count;
} as_flist_t;

static inline int as_fl_init(as_flist_t *f)
{
    memset(f, 0, sizeof *f);
    return 0;
}

static inline void as_fl_fini(as_flist_t *f)
{
    for (uint32_t i = 0; i < f->nblk; i++)
        free(f->blk[i]);
    free(f->blk);
    free(f->bmin);
    free(f->bmax);
    free(f->gmax);
    memset(f, 0, sizeof *f);
}

static inline uint64_t as_fl_blk_max(const as_fl_blk_t *b)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < b->n; i++)
        m = b->len[i] > m ? b->len[i] : m;
    return m;
}

static inline void as_fl_group_fix(as_flist_t *f, uint32_t g)
{
    uint32_t lo = g * FL_G, hi = lo + FL_G < f->nblk ? lo + FL_G : f->nblk;
    uint64_t m = 0;
    for (uint32_t i = lo; i < hi; i++)
        m = f->bmax[i] > m ? f->bmax[i] : m;
    f->gmax[g] = m;
}

static inline void as_fl_groups_from(as_flist_t *f, uint32_t b)
{
    for (uint32_t g = b / FL_G; g * FL_G < f->nblk; g++)
        as_fl_group_fix(f, g);
}

static int as_fl_grow(as_flist_t *f)
{
    uint32_t cap = f->cap ? f->cap * 2 : 16;
    as_fl_blk_t **nb = (as_fl_blk_t **)realloc(f->blk, cap * sizeof *nb);
    if (!nb)
        return -1;
    f->blk = nb;
    uint64_t *a = (uint64_t *)realloc(f->bmin, cap * sizeof *a);
    if (!a)
        return -1;
    f->bmin = a;
    if (!(a = (uint64_t *)realloc(f->bmax, cap * sizeof *a)))
        return -1;
    f->bmax = a;
    if (!(a = (uint64_t *)realloc(f->gmax, (cap / FL_G + 1) * sizeof *a)))
        return -1;
    f->gmax = a;
    f->cap = cap;
    return 0;
}

/* Block that holds (or would hold) key: the last with bmin <= key, else 0. */
static inline uint32_t as_fl_block_of(const as_flist_t *f, uint64_t key)
{
    /* Branchless: the comparisons are unpredictable, the array is small. */
    const uint64_t *a = f->bmin;
    uint32_t n = f->nblk, base = 0;
    while (n > 1) {
        uint32_t half = n / 2;
        base = a[base + half] <= key ? base + half : base;
        n -= half;
    }
    return base;
}

/* First index in block with key >= k. */
static inline uint32_t as_fl_pos(const as_fl_blk_t *b, uint64_t k)
{
    uint32_t n = b->n, base = 0;
    if (!n)
        return 0;
    while (n > 1) {
        uint32_t half = n / 2;
        base = b->key[base + half - 1] < k ? base + half : base;
        n -= half;
    }
    return base + (b->key[base] < k);
}

/* Where key is or would go: block *bi, position *pos of the first key >= key
 * in it (may equal the block's n: the next entry is then (bi+1, 0)). */
static inline void as_fl_locate(const as_flist_t *f, uint64_t key, uint32_t *bi, uint32_t *pos)
{
    *bi = as_fl_block_of(f, key);
    *pos = as_fl_pos(f->blk[*bi], key);
}

/* Inserts [key, key+len) at (bi, pos), which as_fl_locate(key) returned
 * (anything on an empty list); keys distinct. Saves the two searches when the
 * caller has just located key. 0, or -1 on no memory. */
static int as_fl_insert_at(as_flist_t *f, uint32_t bi, uint32_t p, uint64_t key, uint64_t len)
{
    if (!f->nblk) {
        if (f->cap == 0 && as_fl_grow(f))
            return -1;
        as_fl_blk_t *b = (as_fl_blk_t *)malloc(sizeof *b);
        if (!b)
            return -1;
        b->n = 1;
        b->key[0] = key;
        b->len[0] = len;
        f->blk[0] = b;
        f->bmin[0] = key;
        f->bmax[0] = len;
        f->gmax[0] = len;
        f->nblk = 1;
        f->count = 1;
        return 0;
    }
    as_fl_blk_t *b = f->blk[bi];
    if (b->n == FL_B) {
        /* Split in halves; the new block goes right after bi. */
        if (f->nblk == f->cap && as_fl_grow(f))
            return -1;
        as_fl_blk_t *nb = (as_fl_blk_t *)malloc(sizeof *nb);
        if (!nb)
            return -1;
        uint32_t half = FL_B / 2;
        nb->n = FL_B - half;
        memcpy(nb->key, b->key + half, nb->n * sizeof nb->key[0]);
        memcpy(nb->len, b->len + half, nb->n * sizeof nb->len[0]);
        b->n = half;
        memmove(f->blk + bi + 2, f->blk + bi + 1, (f->nblk - bi - 1) * sizeof f->blk[0]);
        memmove(f->bmin + bi + 2, f->bmin + bi + 1, (f->nblk - bi - 1) * sizeof f->bmin[0]);
        memmove(f->bmax + bi + 2, f->bmax + bi + 1, (f->nblk - bi - 1) * sizeof f->bmax[0]);
        f->blk[bi + 1] = nb;
        f->bmin[bi + 1] = nb->key[0];
        f->bmax[bi + 1] = as_fl_blk_max(nb);
        f->bmax[bi] = as_fl_blk_max(b);
        f->nblk++;
        as_fl_groups_from(f, bi);
        if (p > half) {           /* key > the old key[half], nb's first */
            bi++;
            b = nb;
            p -= half;
        }
    }
    memmove(b->key + p + 1, b->key + p, (b->n - p) * sizeof b->key[0]);
    memmove(b->len + p + 1, b->len + p, (b->n - p) * sizeof b->len[0]);
    b->key[p] = key;
    b->len[p] = len;
    b->n++;
    if (p == 0)
        f->bmin[bi] = key;
    if (len > f->bmax[bi]) {
        f->bmax[bi] = len;
        if (len > f->gmax[bi / FL_G])
            f->gmax[bi / FL_G] = len;
    }
    f->count++;
    return 0;
}

/* Inserts [key, key+len) (keys distinct). 0, or -1 on no memory. */
static inline int as_fl_insert(as_flist_t *f, uint64_t key, uint64_t len)
{
    uint32_t bi = 0, pos = 0;
    if (f->nblk)
        as_fl_locate(f, key, &bi, &pos);
    return as_fl_insert_at(f, bi, pos, key, len);
}

/* Finds key exactly: 1 and (*bi, *pos), else 0. */
static inline int as_fl_find(const as_flist_t *f, uint64_t key, uint32_t *bi, uint32_t *pos)
{
    if (!f->nblk)
        return 0;
    uint32_t b = as_fl_block_of(f, key);
    uint32_t p = as_fl_pos(f->blk[b], key);
    if (p >= f->blk[b]->n || f->blk[b]->key[p] != key)
        return 0;
    *bi = b;
    *pos = p;
    return 1;
}

/* Removes the entry at (bi, pos). */
static void as_fl_remove_at(as_flist_t *f, uint32_t bi, uint32_t pos)
{
    as_fl_blk_t *b = f->blk[bi];
    uint64_t len = b->len[pos];
    memmove(b->key + pos, b->key + pos + 1, (b->n - pos - 1) * sizeof b->key[0]);
    memmove(b->len + pos, b->len + pos + 1, (b->n - pos - 1) * sizeof b->len[0]);
    b->n--;
    f->count--;
    if (!b->n) {
        free(b);
        memmove(f->blk + bi, f->blk + bi + 1, (f->nblk - bi - 1) * sizeof f->blk[0]);
        memmove(f->bmin + bi, f->bmin + bi + 1, (f->nblk - bi - 1) * sizeof f->bmin[0]);
        memmove(f->bmax + bi, f->bmax + bi + 1, (f->nblk - bi - 1) * sizeof f->bmax[0]);
        f->nblk--;
        as_fl_groups_from(f, bi);
        return;
    }
    if (pos == 0)
        f->bmin[bi] = b->key[0];
    if (len == f->bmax[bi]) {
        f->bmax[bi] = as_fl_blk_max(b);
        if (len == f->gmax[bi / FL_G])
            as_fl_group_fix(f, bi / FL_G);
    }
}

static inline int as_fl_remove(as_flist_t *f, uint64_t key)
{
    uint32_t bi, pos;
    if (!as_fl_find(f, key, &bi, &pos))
        return 0;
    as_fl_remove_at(f, bi, pos);
    return 1;
}

/* Changes the entry at (bi, pos) to [nkey, nkey+nlen); nkey must keep its
 * place in address order. */
static void as_fl_set_at(as_flist_t *f, uint32_t bi, uint32_t pos, uint64_t nkey, uint64_t nlen)
{
    as_fl_blk_t *b = f->blk[bi];
    uint64_t old = b->len[pos];
    b->key[pos] = nkey;
    b->len[pos] = nlen;
    if (pos == 0)
        f->bmin[bi] = nkey;
    if (nlen > f->bmax[bi]) {
        f->bmax[bi] = nlen;
        if (nlen > f->gmax[bi / FL_G])
            f->gmax[bi / FL_G] = nlen;
    } else if (old == f->bmax[bi] && nlen < old) {
        f->bmax[bi] = as_fl_blk_max(b);
        if (old == f->gmax[bi / FL_G])
            as_fl_group_fix(f, bi / FL_G);
    }
}

static inline int as_fl_modify(as_flist_t *f, uint64_t key, uint64_t nkey, uint64_t nlen)
{
    uint32_t bi, pos;
    if (!as_fl_find(f, key, &bi, &pos))
        return 0;
    as_fl_set_at(f, bi, pos, nkey, nlen);
    return 1;
}

/* Lowest-addressed entry with len >= need: 1 and (*bi, *pos), else 0. */
static inline int as_fl_first_fit(const as_flist_t *f, uint64_t need, uint32_t *bi, uint32_t *pos)
{
    uint32_t ng = (f->nblk + FL_G - 1) / FL_G;
    for (uint32_t g = 0; g < ng; g++) {
        if (f->gmax[g] < need)
            continue;
        uint32_t hi = (g + 1) * FL_G < f->nblk ? (g + 1) * FL_G : f->nblk;
        for (uint32_t b = g * FL_G; b < hi; b++) {
            if (f->bmax[b] < need)
                continue;
            const as_fl_blk_t *k = f->blk[b];
            for (uint32_t p = 0; p < k->n; p++) {
                if (k->len[p] >= need) {
                    *bi = b;
                    *pos = p;
                    return 1;
                }
            }
        }
    }
    return 0;
}

/* Checks order and summaries (debug). 0 if they hold. */
static int as_fl_check(const as_flist_t *f)
{
    uint64_t n = 0, prev = 0;
    int first = 1;
    for (uint32_t b = 0; b < f->nblk; b++) {
        const as_fl_blk_t *k = f->blk[b];
        if (!k->n || k->n > FL_B || f->bmin[b] != k->key[0] || f->bmax[b] != as_fl_blk_max(k))
            return -1;
        for (uint32_t p = 0; p < k->n; p++) {
            if (!first && k->key[p] <= prev)
                return -1;
            prev = k->key[p];
            first = 0;
        }
        n += k->n;
    }
    for (uint32_t g = 0; g * FL_G < f->nblk; g++) {
        uint64_t m = 0;
        for (uint32_t b = g * FL_G; b < f->nblk && b < (g + 1) * FL_G; b++)
            m = f->bmax[b] > m ? f->bmax[b] : m;
        if (m != f->gmax[g])
            return -1;
    }
    return n == f->count ? 0 : -1;
}

#endif /* AS_FLIST_INTERNAL_H */
