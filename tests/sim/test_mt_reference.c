/* tests/sim/test_mt_reference.c — the mmap-threshold model's heap against a
 * plain reference: every chunk of the heap in one array in address order,
 * first fit by a linear scan, coalescing by looking at the array neighbours.
 * Random malloc, free, realloc and memalign sequences (mmap_max=0, so every
 * request is a heap request; small trim_threshold and top_pad, so the top is
 * trimmed often); after every call the returned address, the heap size and
 * the free bytes must match, and the model's own check must pass.
 * The rules are the ones the model's header comment states (glibc 2.36
 * _int_malloc/_int_free/_int_realloc/_int_memalign on a plain first-fit heap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim/model.h"
#include "tests/common/testutil.h"

#define PG 4096ull
#define MINSZ 32ull
#define MAXCH 20000

typedef struct {
    uint64_t at, size;
    int used;
} ch_t;

typedef struct {
    ch_t c[MAXCH];            /* tiles [lo, top) in address order */
    size_t n;
    uint64_t lo, top, top_size, top_pad, trim;
} ref_t;

static uint64_t req(uint64_t n)
{
    uint64_t s = (n + 8 + 15) & ~15ull;
    return s < MINSZ ? MINSZ : s;
}

static size_t ref_index(const ref_t *h, uint64_t at)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->c[i].at == at)
            return i;
    fail_msg("reference: no chunk at %#llx", (unsigned long long)at);
    return 0;
}

static void ref_put(ref_t *h, size_t i, uint64_t at, uint64_t size, int used)
{
    assert_true(h->n < MAXCH);
    memmove(h->c + i + 1, h->c + i, (h->n - i) * sizeof h->c[0]);
    h->c[i] = (ch_t){at, size, used};
    h->n++;
}

static void ref_drop(ref_t *h, size_t i)
{
    memmove(h->c + i, h->c + i + 1, (h->n - i - 1) * sizeof h->c[0]);
    h->n--;
}

/* Chunk i becomes free: merge with free neighbours or the top, then trim. */
static void ref_release(ref_t *h, size_t i)
{
    h->c[i].used = 0;
    if (i + 1 < h->n && !h->c[i + 1].used) {
        h->c[i].size += h->c[i + 1].size;
        ref_drop(h, i + 1);
    }
    if (i > 0 && !h->c[i - 1].used) {
        h->c[i - 1].size += h->c[i].size;
        ref_drop(h, i--);
    }
    uint64_t merged = h->c[i].size;
    if (i + 1 == h->n) {                     /* last chunk: joins the top */
        h->top = h->c[i].at;
        h->top_size += h->c[i].size;
        merged = h->top_size;
        ref_drop(h, i);
    }
    if (merged >= 65536 && h->top_size >= h->trim && h->top_size > MINSZ + 1 + h->top_pad)
        h->top_size -= (h->top_size - MINSZ - 1 - h->top_pad) & ~(PG - 1);
}

/* Splits chunk i at `keep` bytes; the rest is a chunk of its own (in use). */
static void ref_split(ref_t *h, size_t i, uint64_t keep)
{
    ref_put(h, i + 1, h->c[i].at + keep, h->c[i].size - keep, 1);
    h->c[i].size = keep;
}

/* A chunk of nb bytes or more, in use; returns its index. */
static size_t ref_take(ref_t *h, uint64_t nb)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->c[i].used || h->c[i].size < nb)
            continue;
        h->c[i].used = 1;
        if (h->c[i].size - nb >= MINSZ) {
            ref_split(h, i, nb);
            h->c[i + 1].used = 0;
        }
        return i;
    }
    if (!h->top) {
        h->top = h->lo;
        h->top_size = 0;
    }
    if (h->top_size < nb + MINSZ)
        h->top_size += (nb + h->top_pad + MINSZ - h->top_size + PG - 1) & ~(PG - 1);
    ref_put(h, h->n, h->top, nb, 1);
    h->top += nb;
    h->top_size -= nb;
    return h->n - 1;
}

static uint64_t ref_malloc(ref_t *h, uint64_t n)
{
    return h->c[ref_take(h, req(n))].at + 16;
}

static void ref_free(ref_t *h, uint64_t mem)
{
    ref_release(h, ref_index(h, mem - 16));
}

static uint64_t ref_realloc(ref_t *h, uint64_t mem, uint64_t n)
{
    uint64_t nb = req(n);
    size_t i = ref_index(h, mem - 16);
    if (h->c[i].size < nb && i + 1 == h->n && h->c[i].size + h->top_size >= nb + MINSZ) {
        h->top += nb - h->c[i].size;         /* grows into the top */
        h->top_size -= nb - h->c[i].size;
        h->c[i].size = nb;
        return mem;
    }
    if (h->c[i].size < nb && i + 1 < h->n && !h->c[i + 1].used
        && h->c[i].size + h->c[i + 1].size >= nb) {
        h->c[i].size += h->c[i + 1].size;    /* absorbs the free chunk after it */
        ref_drop(h, i + 1);
    }
    if (h->c[i].size >= nb) {
        if (h->c[i].size - nb >= MINSZ) {
            ref_split(h, i, nb);
            ref_release(h, i + 1);
        }
        return mem;
    }
    uint64_t nm = ref_malloc(h, n);
    ref_free(h, mem);
    return nm;
}

static uint64_t ref_memalign(ref_t *h, uint64_t align, uint64_t n)
{
    uint64_t nb = req(n);
    size_t i = ref_take(h, nb + align + MINSZ);
    uint64_t c = h->c[i].at;
    if ((c + 16) & (align - 1)) {
        uint64_t nc = ((c + 16 + align - 1) & ~(align - 1)) - 16;
        if (nc - c < MINSZ)
            nc += align;
        ref_split(h, i, nc - c);
        ref_release(h, i);
        i = ref_index(h, nc);
    }
    if (h->c[i].size - nb >= MINSZ) {
        ref_split(h, i, nb);
        ref_release(h, i + 1);
    }
    return h->c[i].at + 16;
}

static uint64_t ref_free_bytes(const ref_t *h)
{
    uint64_t s = h->top_size;
    for (size_t i = 0; i < h->n; i++)
        s += h->c[i].used ? 0 : h->c[i].size;
    return s;
}

static ref_t ref;

static void run(const char *spec, uint64_t seed, uint64_t top_pad, uint64_t trim)
{
    const as_model_t *mod;
    as_params_t p;
    char err[256];
    assert_int_equal(as_model_parse_spec(spec, &mod, &p, err, sizeof err), 0);
    as_space_t *sp = as_space_create(PG);
    assert_non_null(sp);
    void *m = mod->create(&p, sp, NULL, err, sizeof err);
    assert_non_null(m);
    memset(&ref, 0, sizeof ref);
    ref.lo = as_space_brk_base(sp);
    ref.top_pad = top_pad;
    ref.trim = trim;
    static uint64_t live[600];
    size_t nlive = 0;
    for (int step = 0; step < 40000; step++) {
        uint64_t x = as_test_xorshift(&seed), n, got, want;
        unsigned kind = (x >> 8) % 100;
        n = kind < 70 ? 1 + (x >> 16) % 300 : kind < 95 ? 1 + (x >> 16) % 8192
                                                        : 1 + (x >> 16) % 200000;
        unsigned op = x % 10;
        if (nlive && (op < 4 || nlive == 600)) {             /* free */
            size_t k = (x >> 40) % nlive;
            mod->free(m, 0, live[k]);
            ref_free(&ref, live[k]);
            live[k] = live[--nlive];
            continue;
        } else if (nlive && op < 6) {                        /* realloc */
            size_t k = (x >> 40) % nlive;
            got = mod->realloc(m, 0, live[k], n);
            want = ref_realloc(&ref, live[k], n);
            live[k] = want;
        } else if (op < 7) {                                 /* memalign */
            uint64_t align = 32ull << ((x >> 40) % 8);
            got = mod->memalign(m, 0, align, n);
            want = ref_memalign(&ref, align, n);
            assert_int_equal(want & (align - 1), 0);
            live[nlive++] = want;
        } else {                                             /* malloc */
            got = mod->malloc(m, 0, n);
            want = ref_malloc(&ref, n);
            live[nlive++] = want;
        }
        assert_int_equal(got, want);
        as_model_stats_t st;
        mod->stats(m, &st);
        assert_int_equal(st.heap_bytes, as_space_brk_cur(sp) - ref.lo);
        assert_int_equal(as_space_brk_cur(sp), ref.top + ref.top_size);
        assert_int_equal(st.free_bytes, ref_free_bytes(&ref));
        if (mod->check)
            assert_int_equal(mod->check(m, err, sizeof err), 0);
    }
    assert_true(ref.n > 100);                                /* a fragmented heap */
    mod->destroy(m);
    as_space_free(sp);
}

static void default_pads(void **state)
{
    (void)state;
    run("mmap-threshold:mmap_max=0", 0x1234567, 128 << 10, 128 << 10);
}

static void small_pads(void **state)
{
    (void)state;
    run("mmap-threshold:mmap_max=0,top_pad=0,trim_threshold=64K", 0xabcdef, 0, 64 << 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_pads),
        cmocka_unit_test(small_pads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
