/*
 * sim/hmap_internal.h — address -> (word, word) map for a model's in-use
 * blocks: open addressing with linear probing and backward-shift deletion
 * (Knuth 6.4 Algorithm R), so no tombstones build up under churn. Keys are
 * nonzero simulated addresses; load factor kept at or under 1/2.
 * Header-only (static functions) like sim/atree_internal.h.
 */
#ifndef AS_HMAP_INTERNAL_H
#define AS_HMAP_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>

typedef struct as_hm_slot {
    uint64_t key, a, b;       /* key 0 = empty */
} as_hm_slot_t;

typedef struct as_hmap {
    as_hm_slot_t *s;
    uint64_t mask, count;
    unsigned shift;
} as_hmap_t;

static inline uint64_t as_hm_pos(const as_hmap_t *h, uint64_t key)
{
    return (key * 0x9E3779B97F4A7C15ull) >> h->shift;
}

static inline int as_hm_init(as_hmap_t *h, unsigned log2cap)
{
    h->s = (as_hm_slot_t *)calloc(1ull << log2cap, sizeof *h->s);
    h->mask = (1ull << log2cap) - 1;
    h->shift = 64 - log2cap;
    h->count = 0;
    return h->s ? 0 : -1;
}

static inline void as_hm_fini(as_hmap_t *h)
{
    free(h->s);
    h->s = NULL;
}

static inline as_hm_slot_t *as_hm_get(const as_hmap_t *h, uint64_t key)
{
    for (uint64_t i = as_hm_pos(h, key);; i = (i + 1) & h->mask) {
        as_hm_slot_t *x = &h->s[i];
        if (x->key == key)
            return x;
        if (!x->key)
            return NULL;
    }
}

static int as_hm_grow(as_hmap_t *h)
{
    as_hmap_t n;
    if (as_hm_init(&n, 64 - h->shift + 1))
        return -1;
    for (uint64_t i = 0; i <= h->mask; i++) {
        if (!h->s[i].key)
            continue;
        uint64_t j = as_hm_pos(&n, h->s[i].key);
        while (n.s[j].key)
            j = (j + 1) & n.mask;
        n.s[j] = h->s[i];
    }
    n.count = h->count;
    free(h->s);
    *h = n;
    return 0;
}

/* Inserts or overwrites. Returns 0, -1 on no memory. */
static inline int as_hm_put(as_hmap_t *h, uint64_t key, uint64_t a, uint64_t b)
{
    if ((h->count + 1) * 2 > h->mask + 1 && as_hm_grow(h))
        return -1;
    uint64_t i = as_hm_pos(h, key);
    while (h->s[i].key && h->s[i].key != key)
        i = (i + 1) & h->mask;
    if (!h->s[i].key)
        h->count++;
    h->s[i].key = key;
    h->s[i].a = a;
    h->s[i].b = b;
    return 0;
}

/* Removes the slot x (from as_hm_get). */
static inline void as_hm_del(as_hmap_t *h, as_hm_slot_t *x)
{
    uint64_t i = (uint64_t)(x - h->s), j = i;
    for (;;) {
        j = (j + 1) & h->mask;
        if (!h->s[j].key)
            break;
        uint64_t k = as_hm_pos(h, h->s[j].key);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        h->s[i] = h->s[j];
        i = j;
    }
    h->s[i].key = 0;
    h->count--;
}

#endif /* AS_HMAP_INTERNAL_H */
