/* tests/sim/test_space.c — as_space_*: exact resident and mapped page counts
 * for touch, munmap (whole and partial), mremap (in place and moving, with
 * resident pages carried), brk grow/shrink and MADV_DONTNEED
 * (reference/allocators.md §0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/model.h"

#define PG 4096ull

static void touch_counts_pages_once(void **state)
{
    (void)state;
    as_space_t *s = as_space_create(4096);
    assert_non_null(s);
    uint64_t a = as_space_mmap(s, 10 * PG, 0);
    assert_true(a != 0);
    assert_int_equal(a % PG, 0);
    assert_int_equal(as_space_mapped(s), 10 * PG);
    assert_int_equal(as_space_resident(s), 0);          /* fresh: not resident */
    as_space_touch(s, a + 100, 1);
    assert_int_equal(as_space_resident(s), PG);
    as_space_touch(s, a + 200, 10);                      /* same page again */
    assert_int_equal(as_space_resident(s), PG);
    as_space_touch(s, a + PG - 1, 2);                    /* straddles pages 0 and 1 */
    assert_int_equal(as_space_resident(s), 2 * PG);
    as_space_touch(s, a, 10 * PG);
    assert_int_equal(as_space_resident(s), 10 * PG);
    as_space_touch(s, a, 0);
    assert_int_equal(as_space_resident(s), 10 * PG);
    as_space_munmap(s, a, 10 * PG);
    assert_int_equal(as_space_resident(s), 0);
    assert_int_equal(as_space_mapped(s), 0);
    as_space_free(s);
    as_space_free(NULL);
}

static void mmap_is_top_down_and_reuses_holes(void **state)
{
    (void)state;
    as_space_t *s = as_space_create(4096);
    uint64_t a = as_space_mmap(s, PG, 0);
    uint64_t b = as_space_mmap(s, 2 * PG, 0);
    uint64_t c = as_space_mmap(s, PG, 0);
    assert_true(b + 2 * PG == a);                        /* placed just below */
    assert_true(c + PG == b);
    as_space_munmap(s, b, 2 * PG);
    assert_int_equal(as_space_mapped(s), 2 * PG);
    uint64_t d = as_space_mmap(s, PG, 0);                /* the highest hole that fits */
    assert_true(d == b + PG);
    /* Alignment: a 64 MiB-aligned reservation, as glibc's heaps need. */
    uint64_t h = as_space_mmap(s, 64ull << 20, 64ull << 20);
    assert_int_equal(h % (64ull << 20), 0);
    assert_int_equal(as_space_mapped(s), 3 * PG + (64ull << 20));
    /* mmap_at over mapped space fails, over free space succeeds. */
    assert_int_equal(as_space_mmap_at(s, a, PG), 0);
    assert_true(as_space_mmap_at(s, b, PG) == b);
    assert_int_equal(as_space_mmap_at(s, b, PG), 0);
    as_space_free(s);
}

static void partial_munmap(void **state)
{
    (void)state;
    as_space_t *s = as_space_create(4096);
    uint64_t a = as_space_mmap(s, 8 * PG, 0);
    as_space_touch(s, a, 8 * PG);
    as_space_munmap(s, a + 2 * PG, 3 * PG);              /* hole in the middle */
    assert_int_equal(as_space_resident(s), 5 * PG);
    assert_int_equal(as_space_mapped(s), 5 * PG);
    as_space_munmap(s, a + PG, 5 * PG);                  /* covers part of the hole */
    assert_int_equal(as_space_resident(s), 3 * PG);
    assert_int_equal(as_space_mapped(s), 3 * PG);
    as_space_munmap(s, a + 100, 1);                      /* rounds to page 0 */
    assert_int_equal(as_space_mapped(s), 2 * PG);
    assert_int_equal(as_space_resident(s), 2 * PG);
    as_space_munmap(s, a, 8 * PG);                       /* the rest, partly unmapped */
    assert_int_equal(as_space_mapped(s), 0);
    assert_int_equal(as_space_resident(s), 0);
    /* The space merged the holes back: a big mapping fits at the top again. */
    uint64_t b = as_space_mmap(s, 8 * PG, 0);
    assert_true(b == a);
    as_space_free(s);
}

static void mremap_grow_shrink_move(void **state)
{
    (void)state;
    as_space_t *s = as_space_create(4096);
    uint64_t x = as_space_mmap(s, 4 * PG, 0);             /* room above a, once unmapped */
    uint64_t a = as_space_mmap(s, 4 * PG, 0);
    as_space_munmap(s, x, 4 * PG);
    as_space_touch(s, a, PG);
    as_space_touch(s, a + 3 * PG, 1);
    /* Shrink in place: the last page goes. */
    assert_true(as_space_mremap(s, a, 4 * PG, 3 * PG) == a);
    assert_int_equal(as_space_resident(s), PG);
    assert_int_equal(as_space_mapped(s), 3 * PG);
    /* Grow in place: the space above a+3PG is free. */
    assert_true(as_space_mremap(s, a, 3 * PG, 5 * PG) == a);
    assert_int_equal(as_space_mapped(s), 5 * PG);
    assert_int_equal(as_space_resident(s), PG);
    /* b goes in the highest hole (x's last 2 pages above a+5PG), at the top
     * of the space: it cannot grow in place, so it moves and carries pages. */
    uint64_t b = as_space_mmap(s, PG, 0);
    assert_true(b == a + 7 * PG);
    as_space_touch(s, b, 1);
    assert_int_equal(as_space_resident(s), 2 * PG);
    uint64_t nb = as_space_mremap(s, b, PG, 100 * PG);
    assert_true(nb != 0 && nb != b);
    assert_int_equal(as_space_resident(s), 2 * PG);       /* the page moved */
    assert_int_equal(as_space_mapped(s), 105 * PG);
    as_space_munmap(s, nb + PG, 99 * PG);                 /* untouched tail */
    assert_int_equal(as_space_resident(s), 2 * PG);
    as_space_munmap(s, nb, PG);
    assert_int_equal(as_space_resident(s), PG);
    as_space_free(s);
}

static void brk_grow_shrink(void **state)
{
    (void)state;
    as_space_t *s = as_space_create(4096);
    uint64_t base = as_space_brk_base(s);
    assert_true(as_space_brk_cur(s) == base);
    assert_true(as_space_sbrk(s, 135168) == base);
    assert_int_equal(as_space_mapped(s), 135168);
    as_space_touch(s, base, 135168);
    assert_int_equal(as_space_resident(s), 135168);
    assert_true(as_space_sbrk(s, -100) == base + 135168);
    /* The break is not page aligned: the last page stays. */
    assert_int_equal(as_space_resident(s), 135168);
    assert_int_equal(as_space_mapped(s), 135168);
    assert_true(as_space_sbrk(s, -(int64_t)(PG + 1)) == base + 135068);
    /* 135068 - 4097 = 130971: pages from PAGE_ALIGN(130971) = 131072 go. */
    assert_int_equal(as_space_resident(s), 135168 - PG);
    /* Grow again: the released page comes back unresident. */
    assert_true(as_space_sbrk(s, 2 * PG + 101) != 0);
    assert_int_equal(as_space_brk_cur(s), base + 135168 + PG);
    assert_int_equal(as_space_mapped(s), 135168 + PG);
    assert_int_equal(as_space_resident(s), 135168 - PG);
    /* Below the base fails. */
    assert_int_equal(as_space_sbrk(s, -(int64_t)(1ull << 30)), 0);
    /* A mapping right above the break stops it. */
    uint64_t top = as_space_brk_cur(s);
    assert_true(as_space_mmap_at(s, top + PG, PG) == top + PG);
    assert_int_equal(as_space_sbrk(s, 2 * PG), 0);
    assert_true(as_space_sbrk(s, PG) == top);
    as_space_free(s);
}

static void dontneed_whole_pages_only(void **state)
{
    (void)state;
    as_space_t *s = as_space_create(4096);
    uint64_t a = as_space_mmap(s, 4 * PG, 0);
    as_space_touch(s, a, 4 * PG);
    as_space_dontneed(s, a + 1, 2 * PG);                 /* only page 1 is whole */
    assert_int_equal(as_space_resident(s), 3 * PG);
    assert_int_equal(as_space_mapped(s), 4 * PG);
    as_space_dontneed(s, a, 4 * PG);
    assert_int_equal(as_space_resident(s), 0);
    as_space_touch(s, a + PG, 1);                         /* refaults */
    assert_int_equal(as_space_resident(s), PG);
    as_space_free(s);
}

static void large_ranges_cost_pages_not_space(void **state)
{
    (void)state;
    /* 1 GiB mapping, touched across leaf boundaries; 3000 mappings. */
    as_space_t *s = as_space_create(4096);
    uint64_t a = as_space_mmap(s, 1ull << 30, 0);
    as_space_touch(s, a + (1ull << 27) - PG, 2 * PG);    /* crosses a leaf */
    assert_int_equal(as_space_resident(s), 2 * PG);
    uint64_t m[3000];
    for (int i = 0; i < 3000; i++) {
        m[i] = as_space_mmap(s, (uint64_t)(i % 7 + 1) * PG, 0);
        as_space_touch(s, m[i], 1);
    }
    for (int i = 0; i < 3000; i += 2)
        as_space_munmap(s, m[i], (uint64_t)(i % 7 + 1) * PG);
    assert_int_equal(as_space_resident(s), (2 + 1500) * PG);
    for (int i = 1; i < 3000; i += 2)
        as_space_munmap(s, m[i], (uint64_t)(i % 7 + 1) * PG);
    as_space_munmap(s, a, 1ull << 30);
    assert_int_equal(as_space_resident(s), 0);
    assert_int_equal(as_space_mapped(s), 0);
    as_space_free(s);
}

/* Page sizes as a trace header may give them: powers of two from
 * AS_SPACE_PAGE_MIN to AS_SPACE_PAGE_MAX. A 1 GiB page once broke the
 * glibc model's heaps; at 1 KiB a touch of the break counted no page. */
static void page_sizes(void **state)
{
    (void)state;
    static const uint32_t bad[] = {0, 512, 1024, 2048, 3000, 4097, AS_SPACE_PAGE_MAX * 2,
                                   1u << 30, 1u << 31};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(as_space_create(bad[i]));
    for (uint32_t p = AS_SPACE_PAGE_MIN; p <= AS_SPACE_PAGE_MAX; p *= 2) {
        as_space_t *s = as_space_create(p);
        assert_non_null(s);
        assert_int_equal(as_space_page_size(s), p);
        uint64_t b = as_space_brk_cur(s), top = as_space_mmap(s, p, 0);
        assert_int_equal(as_space_sbrk(s, p), b);
        as_space_touch(s, b, 1);               /* the break's first page */
        as_space_touch(s, top + p - 1, 1);     /* the topmost mapping's page */
        assert_int_equal(as_space_resident(s), 2ull * p);
        as_space_free(s);
    }
}

/* A crafted trace's successful 1 TiB malloc, written all over: a full leaf
 * is a shared pointer (a leaf apiece was 32 MiB; fuzz_replay's 41 TiB block
 * went past its 2 GiB RSS limit), released in part, moved by mremap across
 * leaf alignments, unmapped; every count exact. */
static void huge_resident_ranges(void **state)
{
    (void)state;
    const uint64_t T = 1ull << 40, L = 1ull << 27;   /* L: a leaf's 128 MiB */
    as_space_t *s = as_space_create(4096);
    uint64_t a = as_space_mmap(s, T, 0);
    assert_true(a != 0);
    as_space_touch(s, a + PG, T - PG);
    assert_int_equal(as_space_resident(s), T - PG);
    as_space_touch(s, a, T);
    assert_int_equal(as_space_resident(s), T);
    /* released across leaf edges, and a page inside a full leaf */
    as_space_dontneed(s, a + L - PG, 2 * L);
    as_space_dontneed(s, a + 10 * L + 5 * PG, PG);
    uint64_t res = T - 2 * L - PG;
    assert_int_equal(as_space_resident(s), res);
    as_space_touch(s, a + 10 * L + 5 * PG, 1);         /* that leaf is full again */
    res += PG;
    assert_int_equal(as_space_resident(s), res);
    /* the mapping is the topmost, so growing moves it, below the page
     * mapped next: the resident runs are copied two pages off the leaves'
     * alignment */
    uint64_t b = as_space_mmap(s, PG, 0);
    uint64_t c = as_space_mremap(s, a, T, T + PG);
    assert_true(c != 0 && c != a);
    assert_int_equal(as_space_resident(s), res);
    as_space_touch(s, c + T, PG);
    assert_int_equal(as_space_resident(s), res + PG);
    as_space_munmap(s, c + T / 2, T / 2 + PG);
    as_space_munmap(s, c, T / 2);
    as_space_munmap(s, b, PG);
    assert_int_equal(as_space_resident(s), 0);
    assert_int_equal(as_space_mapped(s), 0);
    as_space_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(touch_counts_pages_once),
        cmocka_unit_test(mmap_is_top_down_and_reuses_holes),
        cmocka_unit_test(partial_munmap),
        cmocka_unit_test(mremap_grow_shrink_move),
        cmocka_unit_test(brk_grow_shrink),
        cmocka_unit_test(dontneed_whole_pages_only),
        cmocka_unit_test(large_ranges_cost_pages_not_space),
        cmocka_unit_test(huge_resident_ranges),
        cmocka_unit_test(page_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
