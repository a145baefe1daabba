/* tests/sim/test_flist.c — sim/flist_internal.h against a plain sorted array:
 * random inserts, removes, in-place changes and first-fit queries, enough
 * entries to split and free many blocks; summaries checked throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/flist_internal.h"

#define N 5000

static uint64_t rk[N], rl[N];   /* reference: sorted by key */
static size_t rn;

static size_t ref_pos(uint64_t k)
{
    size_t i = 0;
    while (i < rn && rk[i] < k)
        i++;
    return i;
}

static void against_reference(void **state)
{
    (void)state;
    as_flist_t f;
    as_fl_init(&f);
    uint32_t x = 12345;
    for (int step = 0; step < 60000; step++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned op = x % 10;
        uint64_t key = ((x >> 4) % 20000) * 16;
        if (op < 4 && rn < N) {                      /* insert */
            size_t p = ref_pos(key);
            if (p < rn && rk[p] == key)
                continue;
            uint64_t len = 16 + (x >> 20) % 4096;
            memmove(rk + p + 1, rk + p, (rn - p) * sizeof rk[0]);
            memmove(rl + p + 1, rl + p, (rn - p) * sizeof rl[0]);
            rk[p] = key;
            rl[p] = len;
            rn++;
            assert_int_equal(as_fl_insert(&f, key, len), 0);
        } else if (op < 7 && rn) {                   /* remove an existing key */
            size_t p = (x >> 3) % rn;
            assert_int_equal(as_fl_remove(&f, rk[p]), 1);
            memmove(rk + p, rk + p + 1, (rn - p - 1) * sizeof rk[0]);
            memmove(rl + p, rl + p + 1, (rn - p - 1) * sizeof rl[0]);
            rn--;
        } else if (op < 8 && rn) {                   /* change length in place */
            size_t p = (x >> 3) % rn;
            uint64_t len = 16 + (x >> 11) % 8192;
            assert_int_equal(as_fl_modify(&f, rk[p], rk[p], len), 1);
            rl[p] = len;
        } else {                                     /* first fit */
            uint64_t need = 16 + (x >> 9) % 6000;
            size_t p = 0;
            while (p < rn && rl[p] < need)
                p++;
            uint32_t bi, pos;
            int got = as_fl_first_fit(&f, need, &bi, &pos);
            assert_int_equal(got, p < rn);
            if (got) {
                assert_int_equal(f.blk[bi]->key[pos], rk[p]);
                assert_int_equal(f.blk[bi]->len[pos], rl[p]);
            }
        }
        assert_int_equal(f.count, rn);
        if (step % 97 == 0)
            assert_int_equal(as_fl_check(&f), 0);
    }
    assert_true(f.nblk > 20);                        /* blocks were split */
    while (rn) {
        assert_int_equal(as_fl_remove(&f, rk[rn - 1]), 1);
        rn--;
    }
    assert_int_equal(f.nblk, 0);
    assert_int_equal(as_fl_check(&f), 0);
    as_fl_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
