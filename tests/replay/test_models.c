/* tests/replay/test_models.c — the mmap-threshold and ideal models driven
 * directly (no engine): glibc's dynamic threshold rule exactly as
 * reference/allocators.md §2 states it, the 32 MiB edge, freezing,
 * mmap_max, top_pad growth and trimming with exact byte counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim/model.h"

typedef struct fx {
    const as_model_t *M;
    void *m;
    as_space_t *sp;
} fx_t;

static void fx_open(fx_t *f, const char *spec)
{
    as_params_t p;
    char err[512];
    assert_int_equal(as_model_parse_spec(spec, &f->M, &p, err, sizeof err), 0);
    f->sp = as_space_create(4096);
    as_model_ctx_t ctx = {.page_size = 4096, .ncpus = 1};
    f->m = f->M->create(&p, f->sp, &ctx, err, sizeof err);
    assert_non_null(f->m);
}

static void fx_check(fx_t *f)
{
    char err[256];
    if (f->M->check && f->M->check(f->m, err, sizeof err))
        fail_msg("%s", err);
}

static void fx_close(fx_t *f)
{
    f->M->destroy(f->m);
    as_space_free(f->sp);
}

static uint64_t threshold(fx_t *f)
{
    as_model_stats_t st;
    f->M->stats(f->m, &st);
    return st.mmap_threshold;
}

static uint64_t heap(fx_t *f) { return as_space_brk_cur(f->sp) - as_space_brk_base(f->sp); }

/* reference/allocators.md §2: malloc(200000) -> 200704 B mapping; after free,
 * threshold 200704 and trim 401408; the next malloc(200000) comes from brk. */
static void dynamic_threshold_example(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f, "mmap-threshold");
    assert_int_equal(threshold(&f), 131072);
    uint64_t a = f.M->malloc(f.m, 0, 200000);
    assert_true(a != 0);
    assert_int_equal(as_space_mapped(f.sp), 200704);
    assert_int_equal(heap(&f), 0);
    f.M->free(f.m, 0, a);
    fx_check(&f);
    assert_int_equal(as_space_mapped(f.sp), 0);
    assert_int_equal(threshold(&f), 200704);
    uint64_t b = f.M->malloc(f.m, 0, 200000);
    assert_true(b >= as_space_brk_base(f.sp) && b < as_space_brk_cur(f.sp));
    /* sbrk(ALIGN_UP(200016 + top_pad 131072 + 32, 4096)) */
    assert_int_equal(heap(&f), 331776);
    f.M->free(f.m, 0, b);
    fx_check(&f);
    /* top 331776 < trim 401408: nothing given back (128 KiB would have). */
    assert_int_equal(heap(&f), 331776);
    /* Grow top past 401408 and free: systrim(top_pad) keeps
     * 512000 - ALIGN_DOWN(512000 - 33 - 131072, 4096) = 512000 - 376832. */
    uint64_t c = f.M->malloc(f.m, 0, 190000);
    uint64_t d = f.M->malloc(f.m, 0, 190000);
    assert_int_equal(heap(&f), 512000);
    f.M->free(f.m, 0, c);
    assert_int_equal(heap(&f), 512000);        /* c is below d: not top */
    f.M->free(f.m, 0, d);
    fx_check(&f);
    assert_int_equal(heap(&f), 135168);
    fx_close(&f);
}

static void threshold_edges(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f, "mmap-threshold");
    /* A mapping of exactly 32 MiB: nomask 32 MiB + 2 never qualifies. */
    uint64_t a = f.M->malloc(f.m, 0, (32u << 20) - 24);
    assert_int_equal(as_space_mapped(f.sp), 32u << 20);
    f.M->free(f.m, 0, a);
    assert_int_equal(threshold(&f), 131072);
    /* One page less qualifies. */
    a = f.M->malloc(f.m, 0, (32u << 20) - 4096 - 24);
    assert_int_equal(as_space_mapped(f.sp), (32u << 20) - 4096);
    f.M->free(f.m, 0, a);
    assert_int_equal(threshold(&f), (32u << 20) - 4096);
    /* The threshold only rises: a smaller mapped chunk does not lower it. */
    fx_close(&f);

    /* Frozen once set explicitly. */
    fx_open(&f, "mmap-threshold:mmap_threshold=128K");
    a = f.M->malloc(f.m, 0, 200000);
    f.M->free(f.m, 0, a);
    assert_int_equal(threshold(&f), 131072);
    a = f.M->malloc(f.m, 0, 200000);
    assert_int_equal(heap(&f), 0);             /* still mapped */
    assert_int_equal(as_space_mapped(f.sp), 200704);
    f.M->free(f.m, 0, a);
    fx_close(&f);

    /* Frozen by mallopt in the trace too. */
    fx_open(&f, "mmap-threshold");
    as_event_t ev = {.op = AS_OP_MALLOPT, .arg = (uint64_t)(int64_t)-1, .arg2 = 1 << 20};
    f.M->control(f.m, &ev);
    a = f.M->malloc(f.m, 0, 200000);
    f.M->free(f.m, 0, a);
    assert_int_equal(threshold(&f), 131072);
    fx_close(&f);

    /* mmap_max=0: nothing is mapped. */
    fx_open(&f, "mmap-threshold:mmap_max=0");
    a = f.M->malloc(f.m, 0, 1 << 20);
    assert_true(a >= as_space_brk_base(f.sp) && a < as_space_brk_cur(f.sp));
    f.M->free(f.m, 0, a);
    fx_check(&f);
    fx_close(&f);
}

static void first_fit_and_coalescing(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f, "mmap-threshold");
    uint64_t p[8];
    for (int i = 0; i < 8; i++)
        p[i] = f.M->malloc(f.m, 0, 1000);      /* 1008-byte chunks */
    for (int i = 1; i < 8; i++)
        assert_int_equal(p[i] - p[i - 1], 1008); /* request2size(1000) */
    f.M->free(f.m, 0, p[1]);
    f.M->free(f.m, 0, p[5]);
    f.M->free(f.m, 0, p[2]);                   /* coalesces with p[1] */
    fx_check(&f);
    /* First fit: a 1500-byte request lands in the lowest hole big enough
     * (p[1]+p[2], 2048 bytes), not in p[5]. */
    uint64_t q = f.M->malloc(f.m, 0, 1500);
    assert_true(q == p[1]);
    /* The 512-byte remainder serves the next small request. */
    uint64_t r = f.M->malloc(f.m, 0, 400);
    assert_true(r == p[1] + 1520);
    fx_check(&f);
    /* realloc grows into the free chunk after it (p[5] after p[4]). */
    uint64_t s = f.M->realloc(f.m, 0, p[4], 2000);
    assert_true(s == p[4]);
    fx_check(&f);
    /* memalign: 4096-aligned block inside the heap, pieces given back. */
    uint64_t al = f.M->memalign(f.m, 0, 4096, 100);
    assert_int_equal(al % 4096, 0);
    fx_check(&f);
    /* Alignments nothing can meet fail (past 2^63, not a power of 2, the
     * rounding once doubled to 0 and never ended). */
    assert_int_equal(f.M->memalign(f.m, 0, (1ull << 63) + 1, 100), 0);
    assert_int_equal(f.M->memalign(f.m, 0, UINT64_MAX, 100), 0);
    assert_int_equal(f.M->memalign(f.m, 0, 1ull << 41, 100), 0);
    fx_check(&f);
    /* A heap past 256 GiB fails (a 21 TiB calloc with mmap_max=0 once
     * asked for a heap map of 384 GiB: out of memory under ASan). */
    as_event_t mo = {.op = AS_OP_MALLOPT, .arg = (uint64_t)-4, .arg2 = 0};
    f.M->control(f.m, &mo);
    assert_int_equal(f.M->calloc(f.m, 0, 21ull << 40), 0);
    assert_int_equal(f.M->malloc(f.m, 0, (1ull << 38) + 1), 0);
    fx_check(&f);
    f.M->free(f.m, 0, al);
    f.M->free(f.m, 0, q);
    f.M->free(f.m, 0, r);
    f.M->free(f.m, 0, s);
    for (int i = 0; i < 8; i++)
        if (i != 1 && i != 2 && i != 4 && i != 5)
            f.M->free(f.m, 0, p[i]);
    fx_check(&f);
    as_model_stats_t st;
    f.M->stats(f.m, &st);
    assert_int_equal(st.free_bytes, heap(&f)); /* everything merged back into top */
    fx_close(&f);
}

static void mapped_realloc_moves_pages(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f, "mmap-threshold");
    uint64_t a = f.M->malloc(f.m, 0, 300000);  /* 303104-byte mapping */
    assert_int_equal(as_space_mapped(f.sp), 303104);
    as_space_touch(f.sp, a, 300000);
    assert_int_equal(as_space_resident(f.sp), 303104);
    uint64_t b = f.M->realloc(f.m, 0, a, 100000); /* shrinks in place, stays mapped */
    assert_true(b == a);
    assert_int_equal(as_space_mapped(f.sp), 102400);
    assert_int_equal(as_space_resident(f.sp), 102400);
    uint64_t c = f.M->realloc(f.m, 0, b, 1 << 20);
    assert_int_equal(as_space_mapped(f.sp), (1 << 20) + 4096);
    assert_int_equal(as_space_resident(f.sp), 102400); /* moved or grown, same pages */
    f.M->free(f.m, 0, c);
    assert_int_equal(as_space_mapped(f.sp), 0);
    assert_int_equal(as_space_resident(f.sp), 0);
    fx_close(&f);
}

static void ideal_is_live_page_rounded(void **state)
{
    (void)state;
    fx_t f;
    fx_open(&f, "ideal");
    uint64_t a = f.M->malloc(f.m, 0, 100);
    assert_int_equal(as_space_resident(f.sp), 4096);
    uint64_t b = f.M->malloc(f.m, 0, 5000);
    assert_int_equal(as_space_resident(f.sp), 8192);
    b = f.M->realloc(f.m, 0, b, 9000);
    assert_int_equal(as_space_resident(f.sp), 12288);
    f.M->free(f.m, 0, a);
    assert_int_equal(as_space_resident(f.sp), 12288); /* 9000 -> 3 pages */
    f.M->free(f.m, 0, b);
    assert_int_equal(as_space_resident(f.sp), 0);
    fx_check(&f);
    /* What the break cannot hold fails, as sbrk makes a real malloc fail,
     * and changes nothing: the lower bound stays the live bytes' pages. */
    a = f.M->malloc(f.m, 0, 100);
    assert_int_equal(f.M->malloc(f.m, 0, 1ull << 59), 0);   /* no handle for it */
    assert_int_equal(f.M->malloc(f.m, 0, 1ull << 50), 0);   /* past the span */
    assert_int_equal(f.M->realloc(f.m, 0, a, 1ull << 50), 0);
    assert_int_equal(as_space_resident(f.sp), 4096);
    fx_check(&f);
    b = f.M->malloc(f.m, 0, 1ull << 40);                    /* 1 TiB fits */
    assert_true(b != 0);
    assert_int_equal(as_space_resident(f.sp), (1ull << 40) + 4096);
    f.M->free(f.m, 0, b);
    f.M->free(f.m, 0, a);                                   /* the old block stayed */
    assert_int_equal(as_space_resident(f.sp), 0);
    fx_check(&f);
    fx_close(&f);
}

/* Random malloc/calloc/memalign/realloc/free with every invariant checked
 * after every call (free-list order and summaries, coalescing, accounting). */
static void random_ops_keep_invariants(void **state)
{
    (void)state;
    const char *specs[] = {"mmap-threshold", "mmap-threshold:mmap_threshold=4K,top_pad=0",
                           "mmap-threshold:trim_threshold=0"};
    for (int sp = 0; sp < 3; sp++) {
        fx_t f;
        fx_open(&f, specs[sp]);
        uint64_t a[60] = {0};
        uint32_t x = 2463534242u + (uint32_t)sp;
        for (int i = 0; i < 20000; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            int k = (int)(x % 60);
            uint64_t n = (x >> 8) % ((x & 7) == 0 ? 300000 : 2000);
            if (a[k] && (x & 0x300) == 0x300) {
                a[k] = f.M->realloc(f.m, 0, a[k], n ? n : 1);
            } else if (a[k]) {
                f.M->free(f.m, 0, a[k]);
                a[k] = 0;
            } else if ((x & 0x30) == 0x30) {
                a[k] = f.M->memalign(f.m, 0, 64u << ((x >> 20) % 8), n);
            } else if ((x & 0x30) == 0x20) {
                a[k] = f.M->calloc(f.m, 0, n);
            } else {
                a[k] = f.M->malloc(f.m, 0, n);
            }
            fx_check(&f);
        }
        for (int k = 0; k < 60; k++)
            if (a[k])
                f.M->free(f.m, 0, a[k]);
        fx_check(&f);
        assert_int_equal(as_space_mapped(f.sp), heap(&f));   /* no mapping left */
        fx_close(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dynamic_threshold_example),
        cmocka_unit_test(threshold_edges),
        cmocka_unit_test(first_fit_and_coalescing),
        cmocka_unit_test(mapped_realloc_moves_pages),
        cmocka_unit_test(ideal_is_live_page_rounded),
        cmocka_unit_test(random_ops_keep_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
