/* tests/sim/test_flist.c — sim/flist_internal.h against a plain sorted array:
 * random inserts and removes of free and in-use entries, in-place changes,
 * moves into other regions, first-fit, find, prev and next queries, with the
 * covered range growing on the way; small regions, so the max tree has
 * several levels and regions fill up to their 64 entries. Every answer is
 * compared with the array's; the structure's own check runs throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/flist_internal.h"
#include "tests/common/testutil.h"

#define N 6000
#define SHIFT 9                 /* 512-byte regions: keys multiples of 4 */
#define STEP 8                  /* key spacing: at most 64 per region */
#define BASE 0x10000ull

static uint64_t rk[N], rl[N];   /* reference: sorted by key; rl has AS_FL_USED */
static size_t rn;

static size_t ref_pos(uint64_t k)
{
    size_t i = 0;
    while (i < rn && rk[i] < k)
        i++;
    return i;
}

static void ref_insert(size_t p, uint64_t key, uint64_t len)
{
    memmove(rk + p + 1, rk + p, (rn - p) * sizeof rk[0]);
    memmove(rl + p + 1, rl + p, (rn - p) * sizeof rl[0]);
    rk[p] = key;
    rl[p] = len;
    rn++;
}

static void ref_remove(size_t p)
{
    memmove(rk + p, rk + p + 1, (rn - p - 1) * sizeof rk[0]);
    memmove(rl + p, rl + p + 1, (rn - p - 1) * sizeof rl[0]);
    rn--;
}

/* The structure's place of the reference entry p. */
static void place_of(const as_flist_t *f, size_t p, uint64_t *r, uint32_t *i)
{
    assert_int_equal(as_fl_find(f, rk[p], r, i), 1);
    assert_int_equal(as_fl_at(f, *r, *i)->key, rk[p]);
    assert_int_equal(as_fl_at(f, *r, *i)->len, rl[p]);
}

static void against_reference(void **state)
{
    (void)state;
    as_flist_t f;
    as_fl_init(&f, BASE, SHIFT);
    uint64_t end = BASE + (1u << 14), seed = 12345;
    assert_int_equal(as_fl_cover(&f, end), 0);
    uint64_t deepest = 0;
    for (int step = 0; step < 200000; step++) {
        uint64_t x = as_test_xorshift(&seed);
        unsigned op = x % 16;
        uint64_t key = BASE + ((x >> 8) % ((end - BASE) / STEP)) * STEP;
        uint64_t len = (2 + (x >> 40) % 3000) * 2;          /* even */
        uint64_t used = (x >> 52) & 1 ? AS_FL_USED : 0;
        uint64_t r, r2;
        uint32_t i, i2;
        if (op < 5 && rn < N) {                              /* insert */
            size_t p = ref_pos(key);
            if (p < rn && rk[p] == key)
                continue;
            assert_int_equal(as_fl_find(&f, key, &r, &i), 0);
            as_fl_locate(&f, key, &r, &i);
            assert_int_equal(as_fl_insert_at(&f, r, i, key, len | used), 0);
            ref_insert(p, key, len | used);
        } else if (op < 8 && rn) {                           /* remove */
            size_t p = (x >> 3) % rn;
            if (x & 4) {
                assert_int_equal(as_fl_remove(&f, rk[p]), 1);
            } else {
                place_of(&f, p, &r, &i);
                as_fl_remove_at(&f, r, i);
            }
            ref_remove(p);
        } else if (op < 10 && rn) {                          /* change length, flag */
            size_t p = (x >> 3) % rn;
            place_of(&f, p, &r, &i);
            if ((x >> 62) & 1) {   /* the key kept: both ways of saying it */
                as_fl_set_len_at(&f, r, i, len | used);
                uint64_t m = 0;     /* the region's bound, checked at once */
                for (uint32_t j = 0; j < f.reg[r].n; j++)
                    m = as_fl_fit_len(&f.reg[r].e[j]) > m ? as_fl_fit_len(&f.reg[r].e[j]) : m;
                assert_int_equal(f.lvl[0][r], m);
            } else
                assert_int_equal(as_fl_set_at(&f, r, i, rk[p], len | used), 0);
            rl[p] = len | used;
        } else if (op < 11 && rn) {                          /* move between neighbours */
            size_t p = (x >> 3) % rn;
            uint64_t lo = p ? rk[p - 1] + STEP : BASE, hi = p + 1 < rn ? rk[p + 1] : end;
            uint64_t nk = lo + ((x >> 20) % ((hi - lo) / STEP)) * STEP;
            place_of(&f, p, &r, &i);
            assert_int_equal(as_fl_set_at(&f, r, i, nk, len | used), 0);
            rk[p] = nk;
            rl[p] = len | used;
        } else if (op < 13) {                                /* first fit */
            uint64_t need = 1 + (x >> 9) % 6500;
            size_t p = 0;
            while (p < rn && ((rl[p] & AS_FL_USED) || rl[p] < need))
                p++;
            int got = as_fl_first_fit(&f, need, &r, &i);
            assert_int_equal(got, p < rn);
            if (got) {
                assert_int_equal(as_fl_at(&f, r, i)->key, rk[p]);
                assert_int_equal(as_fl_at(&f, r, i)->len, rl[p]);
            }
        } else if (op < 15) {                                /* neighbours of a place */
            size_t p = ref_pos(key);
            as_fl_locate(&f, key, &r, &i);
            int has_prev = as_fl_prev(&f, r, i, &r2, &i2);
            assert_int_equal(has_prev, p > 0);
            if (has_prev)
                assert_int_equal(as_fl_at(&f, r2, i2)->key, rk[p - 1]);
            if (p < rn) {
                place_of(&f, p, &r, &i);
                int has_next = as_fl_next(&f, r, i, &r2, &i2);
                assert_int_equal(has_next, p + 1 < rn);
                if (has_next)
                    assert_int_equal(as_fl_at(&f, r2, i2)->key, rk[p + 1]);
            }
        } else if (end < BASE + (1u << 22)) {                /* the heap grows */
            end += (x >> 12) % (1u << 16);
            assert_int_equal(as_fl_cover(&f, end), 0);
        }
        assert_int_equal(f.count, rn);
        if (f.nlvl > deepest)
            deepest = f.nlvl;
        if (step % 211 == 0)
            assert_int_equal(as_fl_check(&f), 0);
    }
    assert_true(deepest >= 4);                               /* the tree grew levels */
    assert_int_equal(as_fl_check(&f), 0);
    while (rn) {
        assert_int_equal(as_fl_remove(&f, rk[rn - 1]), 1);
        rn--;
    }
    assert_int_equal(as_fl_check(&f), 0);
    assert_int_equal(as_fl_first_fit(&f, 1, &(uint64_t){0}, &(uint32_t){0}), 0);
    as_fl_fini(&f);
}

/* A full region (64 entries) and the check catching a broken structure:
 * the test above can only pass if the check can fail. */
static void full_region_and_check(void **state)
{
    (void)state;
    as_flist_t f;
    as_fl_init(&f, BASE, SHIFT);
    assert_int_equal(as_fl_cover(&f, BASE + 4 * (1u << SHIFT)), 0);
    for (unsigned k = 0; k < 64; k++)
        assert_int_equal(as_fl_insert(&f, BASE + (1u << SHIFT) + k * STEP, 2 + 2 * k), 0);
    assert_int_equal(f.reg[1].n, 64);
    uint64_t r = 0;
    uint32_t i = 0;
    assert_int_equal(as_fl_first_fit(&f, 127, &r, &i), 1);
    assert_int_equal(as_fl_at(&f, r, i)->key, BASE + (1u << SHIFT) + 63 * STEP);
    assert_int_equal(as_fl_check(&f), 0);
    as_fl_at(&f, 1, 5)->len = 1000;                          /* behind the tree's back */
    assert_int_equal(as_fl_check(&f), -1);
    as_fl_at(&f, 1, 5)->len = 12;
    assert_int_equal(as_fl_check(&f), 0);
    as_fl_at(&f, 1, 5)->key += STEP / 2;                     /* out of order with its offset */
    assert_int_equal(as_fl_check(&f), -1);
    as_fl_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(against_reference),
        cmocka_unit_test(full_region_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
