/*
 * tests/sim/test_glibc_env.c — the recorded malloc environment to `glibc`
 * model parameters (sim/glibc_env.c). The precedence cases are the ones
 * checked against Debian's glibc 2.36 with a probe program (a malloc(200000)
 * is mmapped or not depending on the threshold in force).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim/glibc_env.h"

/* NUL-separated entries, as the header stores them; the literal's own
 * terminator ends the last one. */
#define ENV(s) s, sizeof s

static int64_t param(const as_params_t *p, const char *name, int *set)
{
    const as_model_t *g = as_model_find("glibc");
    int i = as_model_param_index(g, name);
    assert_true(i >= 0);
    *set = (int)(p->set >> i & 1);
    return p->v[i];
}

static void defaults_without_env(void **state)
{
    (void)state;
    const as_model_t *g = as_model_find("glibc");
    as_params_t p;
    assert_int_equal(as_glibc_env_params(g, NULL, 0, &p), 0);
    assert_int_equal(p.set, 0);
    int set;
    assert_int_equal(param(&p, "mmap_threshold", &set), 128 << 10);
    assert_int_equal(as_glibc_env_params(g, ENV("PATH=/bin\0MALLOC_PERTURB_=5"), &p), 0);
    assert_int_equal(p.set, 0);
}

static void aliases_and_tunables(void **state)
{
    (void)state;
    const as_model_t *g = as_model_find("glibc");
    as_params_t p;
    int set;
    assert_int_equal(as_glibc_env_params(g, ENV("MALLOC_ARENA_MAX=2\0MALLOC_TOP_PAD_=0x1000\0"
                                                "GLIBC_TUNABLES=glibc.malloc.tcache_count=0:"
                                                "glibc.elision.enable=1:glibc.malloc.mxfast=0"),
                                         &p),
                     4);
    assert_int_equal(param(&p, "arena_max", &set), 2);
    assert_true(set);
    assert_int_equal(param(&p, "top_pad", &set), 4096);
    assert_int_equal(param(&p, "tcache_count", &set), 0);
    assert_int_equal(param(&p, "mxfast", &set), 0);
    assert_int_equal(param(&p, "mmap_threshold", &set), 128 << 10);
    assert_false(set);
}

static void precedence_as_glibc_236(void **state)
{
    (void)state;
    const as_model_t *g = as_model_find("glibc");
    as_params_t p;
    int set;
    /* the tunable beats its alias in either order */
    as_glibc_env_params(g, ENV("MALLOC_MMAP_THRESHOLD_=1048576\0"
                               "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536"), &p);
    assert_int_equal(param(&p, "mmap_threshold", &set), 65536);
    as_glibc_env_params(g, ENV("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536\0"
                               "MALLOC_MMAP_THRESHOLD_=1048576"), &p);
    assert_int_equal(param(&p, "mmap_threshold", &set), 65536);
    /* among aliases, and inside GLIBC_TUNABLES, the last wins */
    as_glibc_env_params(g, ENV("MALLOC_MMAP_THRESHOLD_=1048576\0MALLOC_MMAP_THRESHOLD_=65536"), &p);
    assert_int_equal(param(&p, "mmap_threshold", &set), 65536);
    as_glibc_env_params(g, ENV("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536:"
                               "glibc.malloc.mmap_threshold=1048576"), &p);
    assert_int_equal(param(&p, "mmap_threshold", &set), 1048576);
    /* octal, and trailing junk ignored; no digits: not applied */
    as_glibc_env_params(g, ENV("MALLOC_MMAP_THRESHOLD_=04000000"), &p);
    assert_int_equal(param(&p, "mmap_threshold", &set), 1048576);
    as_glibc_env_params(g, ENV("MALLOC_MMAP_THRESHOLD_=1048576x"), &p);
    assert_int_equal(param(&p, "mmap_threshold", &set), 1048576);
    assert_int_equal(as_glibc_env_params(g, ENV("MALLOC_MMAP_THRESHOLD_=abc"), &p), 0);
    assert_int_equal(param(&p, "mmap_threshold", &set), 128 << 10);
    assert_false(set);
}

static void out_of_range_skipped(void **state)
{
    (void)state;
    const as_model_t *g = as_model_find("glibc");
    as_params_t p;
    int set;
    /* glibc ignores tcache_max above 1032 and mxfast above 160 */
    assert_int_equal(as_glibc_env_params(g, ENV("GLIBC_TUNABLES=glibc.malloc.tcache_max=4096:"
                                                "glibc.malloc.mxfast=1000"), &p),
                     0);
    assert_int_equal(param(&p, "tcache_max", &set), 1032);
    assert_false(set);
}

/* What the model skips is listed, so a prediction can say it ignored it. */
static void skipped_settings_listed(void **state)
{
    (void)state;
    const as_model_t *g = as_model_find("glibc");
    char out[128];
    int listed;
    assert_int_equal(as_glibc_env_skipped(g, ENV("MALLOC_ARENA_MAX=2\0MALLOC_PERTURB_=165\0"
                                                 "GLIBC_TUNABLES=glibc.malloc.hugetlb=1:"
                                                 "glibc.elision.enable=1:glibc.malloc.mxfast=0:"
                                                 "glibc.malloc.mmap_threshold=0x7fffffffffff"),
                                          out, sizeof out, &listed),
                     3);
    assert_int_equal(listed, 3);
    assert_string_equal(out, "MALLOC_PERTURB_=165, glibc.malloc.hugetlb=1, "
                             "glibc.malloc.mmap_threshold=0x7fffffffffff");
    /* too small for the second: only whole settings, the count stays exact */
    assert_int_equal(as_glibc_env_skipped(g, ENV("MALLOC_PERTURB_=1\0MALLOC_CHECK_=3"), out, 20,
                                          &listed),
                     2);
    assert_int_equal(listed, 1);
    assert_string_equal(out, "MALLOC_PERTURB_=1");
    assert_int_equal(as_glibc_env_skipped(g, ENV("MALLOC_TOP_PAD_=0\0PATH=/bin"), out, sizeof out,
                                          NULL),
                     0);
    assert_string_equal(out, "");
    assert_int_equal(as_glibc_env_skipped(g, NULL, 0, NULL, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_without_env),
        cmocka_unit_test(aliases_and_tunables),
        cmocka_unit_test(precedence_as_glibc_236),
        cmocka_unit_test(out_of_range_skipped),
        cmocka_unit_test(skipped_settings_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
