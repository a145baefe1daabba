/*
 * sim/atree_internal.h — an address-ordered interval tree with the largest
 * length in each subtree (the "augmented" tree of Linux's vm_area rbtree,
 * mm/mmap.c unmapped_area_topdown, and of address-ordered first fit in
 * Wilson et al. 1995 §3.4). Used for the free gaps of the simulated address
 * space (sim/space.c) and the free blocks of simple heaps (sim/mmap_threshold.c).
 *
 * A treap over an index pool (node 0 is nil): O(log n) expected per insert,
 * remove, neighbour lookup and "lowest/highest interval with len >= n" query.
 * Header-only (static functions) so each model gets its own inlined copy.
 */
#ifndef AS_ATREE_INTERNAL_H
#define AS_ATREE_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>

typedef struct as_at_node {
    uint64_t key, len, max;   /* interval [key, key+len); max = max len in subtree */
    uint32_t l, r;            /* priority: as_at_prio(index), no storage (32-byte nodes) */
} as_at_node_t;

/* Treap priorities: a hash of the node index (murmur3's finalizer),
 * independent of the keys, which is all a treap needs for expected O(log n)
 * depth. */
static inline uint32_t as_at_prio(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

typedef struct as_atree {
    as_at_node_t *n;          /* n[0] is nil (max 0) */
    uint32_t cap, used, free_head, root;
    uint64_t count;           /* live nodes */
} as_atree_t;

static inline int as_at_init(as_atree_t *t)
{
    t->cap = 64;
    t->n = (as_at_node_t *)calloc(t->cap, sizeof *t->n);
    t->used = 1;
    t->free_head = 0;
    t->root = 0;
    t->count = 0;
    return t->n ? 0 : -1;
}

static inline void as_at_fini(as_atree_t *t)
{
    free(t->n);
    t->n = NULL;
}

static inline uint64_t as_at_max3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t m = a > b ? a : b;
    return m > c ? m : c;
}

static inline void as_at_pull(as_atree_t *t, uint32_t x)
{
    as_at_node_t *n = t->n;
    n[x].max = as_at_max3(n[x].len, n[n[x].l].max, n[n[x].r].max);
}

static inline uint32_t as_at_alloc(as_atree_t *t, uint64_t key, uint64_t len)
{
    uint32_t x;
    if (t->free_head) {
        x = t->free_head;
        t->free_head = t->n[x].l;
    } else {
        if (t->used == t->cap) {
            uint32_t ncap = t->cap * 2;
            as_at_node_t *nn = (as_at_node_t *)realloc(t->n, (size_t)ncap * sizeof *nn);
            if (!nn)
                return 0;
            t->n = nn;
            t->cap = ncap;
        }
        x = t->used++;
    }
    as_at_node_t *p = &t->n[x];
    p->key = key;
    p->len = p->max = len;
    p->l = p->r = 0;
    t->count++;
    return x;
}

/* Splits subtree x into keys < key (*a) and keys >= key (*b). */
static void as_at_split(as_atree_t *t, uint32_t x, uint64_t key, uint32_t *a, uint32_t *b)
{
    if (!x) {
        *a = *b = 0;
        return;
    }
    if (t->n[x].key < key) {
        as_at_split(t, t->n[x].r, key, &t->n[x].r, b);
        *a = x;
    } else {
        as_at_split(t, t->n[x].l, key, a, &t->n[x].l);
        *b = x;
    }
    as_at_pull(t, x);
}

static uint32_t as_at_merge(as_atree_t *t, uint32_t a, uint32_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (as_at_prio(a) > as_at_prio(b)) {
        t->n[a].r = as_at_merge(t, t->n[a].r, b);
        as_at_pull(t, a);
        return a;
    }
    t->n[b].l = as_at_merge(t, a, t->n[b].l);
    as_at_pull(t, b);
    return b;
}

static uint32_t as_at_insert_rec(as_atree_t *t, uint32_t x, uint32_t nx)
{
    if (!x)
        return nx;
    if (as_at_prio(nx) > as_at_prio(x)) {
        as_at_split(t, x, t->n[nx].key, &t->n[nx].l, &t->n[nx].r);
        as_at_pull(t, nx);
        return nx;
    }
    if (t->n[nx].key < t->n[x].key)
        t->n[x].l = as_at_insert_rec(t, t->n[x].l, nx);
    else
        t->n[x].r = as_at_insert_rec(t, t->n[x].r, nx);
    as_at_pull(t, x);
    return x;
}

/* Inserts [key, key+len); keys must be distinct. Returns 0, or -1 (no memory). */
static inline int as_at_insert(as_atree_t *t, uint64_t key, uint64_t len)
{
    uint32_t nx = as_at_alloc(t, key, len);
    if (!nx)
        return -1;
    t->root = as_at_insert_rec(t, t->root, nx);
    return 0;
}

static uint32_t as_at_remove_rec(as_atree_t *t, uint32_t x, uint64_t key, uint32_t *gone)
{
    if (!x)
        return 0;
    if (t->n[x].key == key) {
        *gone = x;
        return as_at_merge(t, t->n[x].l, t->n[x].r);
    }
    if (key < t->n[x].key)
        t->n[x].l = as_at_remove_rec(t, t->n[x].l, key, gone);
    else
        t->n[x].r = as_at_remove_rec(t, t->n[x].r, key, gone);
    as_at_pull(t, x);
    return x;
}

/* Removes the interval starting at key; returns 1 if it existed. */
static inline int as_at_remove(as_atree_t *t, uint64_t key)
{
    uint32_t gone = 0;
    t->root = as_at_remove_rec(t, t->root, key, &gone);
    if (!gone)
        return 0;
    t->n[gone].l = t->free_head;
    t->free_head = gone;
    t->count--;
    return 1;
}

static int as_at_modify_rec(as_atree_t *t, uint32_t x, uint64_t key, uint64_t nkey, uint64_t nlen)
{
    if (!x)
        return 0;
    int found;
    if (t->n[x].key == key) {
        t->n[x].key = nkey;
        t->n[x].len = nlen;
        found = 1;
    } else if (key < t->n[x].key) {
        found = as_at_modify_rec(t, t->n[x].l, key, nkey, nlen);
    } else {
        found = as_at_modify_rec(t, t->n[x].r, key, nkey, nlen);
    }
    if (found)
        as_at_pull(t, x);
    return found;
}

/* Changes the interval at key to [nkey, nkey+nlen) in place. The caller
 * guarantees nkey keeps the same order among the other keys (it stays within
 * the gap between its neighbours). Returns 1 if key existed. */
static inline int as_at_modify(as_atree_t *t, uint64_t key, uint64_t nkey, uint64_t nlen)
{
    return as_at_modify_rec(t, t->root, key, nkey, nlen);
}

/* Node with the largest key <= k, or 0. */
static inline uint32_t as_at_find_le(const as_atree_t *t, uint64_t k)
{
    uint32_t x = t->root, best = 0;
    while (x) {
        if (t->n[x].key <= k) {
            best = x;
            x = t->n[x].r;
        } else {
            x = t->n[x].l;
        }
    }
    return best;
}

/* Node with the smallest key >= k, or 0. */
static inline uint32_t as_at_find_ge(const as_atree_t *t, uint64_t k)
{
    uint32_t x = t->root, best = 0;
    while (x) {
        if (t->n[x].key >= k) {
            best = x;
            x = t->n[x].l;
        } else {
            x = t->n[x].r;
        }
    }
    return best;
}

/* Lowest-addressed interval with len >= need (address-ordered first fit). */
static inline uint32_t as_at_first_fit(const as_atree_t *t, uint64_t need)
{
    uint32_t x = t->root;
    if (!x || t->n[x].max < need)
        return 0;
    for (;;) {
        uint32_t l = t->n[x].l;
        if (l && t->n[l].max >= need)
            x = l;
        else if (t->n[x].len >= need)
            return x;
        else
            x = t->n[x].r;
    }
}

/* First fit that also records the path from the root (path[0] = root,
 * path[*depth - 1] = the node found), so the caller can change or remove that
 * node without a second descent (as_at_path_fix, as_at_path_remove).
 * Returns 0 if nothing fits or the path would exceed cap. */
static inline uint32_t as_at_first_fit_path(const as_atree_t *t, uint64_t need, uint32_t *path,
                                            unsigned cap, unsigned *depth)
{
    uint32_t x = t->root;
    unsigned d = 0;
    if (!x || t->n[x].max < need)
        return 0;
    for (;;) {
        if (d == cap)
            return 0;
        path[d++] = x;
        uint32_t l = t->n[x].l;
        if (l && t->n[l].max >= need) {
            x = l;
        } else if (t->n[x].len >= need) {
            *depth = d;
            return x;
        } else {
            x = t->n[x].r;
        }
    }
}

/* After changing len (or an order-preserving key) of path[depth - 1]. */
static inline void as_at_path_fix(as_atree_t *t, const uint32_t *path, unsigned depth)
{
    while (depth--)
        as_at_pull(t, path[depth]);
}

/* Removes path[depth - 1]. */
static inline void as_at_path_remove(as_atree_t *t, const uint32_t *path, unsigned depth)
{
    uint32_t x = path[depth - 1];
    uint32_t rep = as_at_merge(t, t->n[x].l, t->n[x].r);
    if (depth == 1) {
        t->root = rep;
    } else {
        uint32_t p = path[depth - 2];
        if (t->n[p].l == x)
            t->n[p].l = rep;
        else
            t->n[p].r = rep;
        as_at_path_fix(t, path, depth - 1);
    }
    t->n[x].l = t->free_head;
    t->free_head = x;
    t->count--;
}

/* Highest-addressed interval with len >= need (top-down placement). */
static inline uint32_t as_at_last_fit(const as_atree_t *t, uint64_t need)
{
    uint32_t x = t->root;
    if (!x || t->n[x].max < need)
        return 0;
    for (;;) {
        uint32_t r = t->n[x].r;
        if (r && t->n[r].max >= need)
            x = r;
        else if (t->n[x].len >= need)
            return x;
        else
            x = t->n[x].l;
    }
}

/* Highest-addressed interval with len >= need and key < below (0 if none). */
static uint32_t as_at_last_fit_below_rec(const as_atree_t *t, uint32_t x, uint64_t need,
                                         uint64_t below)
{
    if (!x || t->n[x].max < need)
        return 0;
    if (t->n[x].key < below) {
        uint32_t y = as_at_last_fit_below_rec(t, t->n[x].r, need, below);
        if (y)
            return y;
        if (t->n[x].len >= need)
            return x;
    }
    return as_at_last_fit_below_rec(t, t->n[x].l, need, below);
}

static inline uint32_t as_at_last_fit_below(const as_atree_t *t, uint64_t need, uint64_t below)
{
    return as_at_last_fit_below_rec(t, t->root, need, below);
}

/* Recomputes and checks the augmentation and order (debug checks). Returns
 * the number of nodes, or -1 if an invariant fails. */
static int64_t as_at_check_rec(const as_atree_t *t, uint32_t x, uint64_t lo, uint64_t hi)
{
    if (!x)
        return 0;
    const as_at_node_t *p = &t->n[x];
    if (p->key < lo || p->key > hi)
        return -1;
    int64_t a = as_at_check_rec(t, p->l, lo, p->key);
    int64_t b = as_at_check_rec(t, p->r, p->key, hi);
    if (a < 0 || b < 0)
        return -1;
    if (p->max != as_at_max3(p->len, t->n[p->l].max, t->n[p->r].max))
        return -1;
    return a + b + 1;
}

static inline int as_at_check(const as_atree_t *t)
{
    int64_t c = as_at_check_rec(t, t->root, 0, UINT64_MAX);
    return c >= 0 && (uint64_t)c == t->count ? 0 : -1;
}

#endif /* AS_ATREE_INTERNAL_H */
