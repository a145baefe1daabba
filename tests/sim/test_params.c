/* tests/sim/test_params.c — model specs: sizes with suffixes, bounds, unknown
 * keys and models refused with the list of valid ones (sim/params.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim/model.h"

static void sizes_and_defaults(void **state)
{
    (void)state;
    const as_model_t *m;
    as_params_t p;
    char err[512];
    assert_int_equal(as_model_parse_spec("mmap-threshold", &m, &p, err, sizeof err), 0);
    assert_string_equal(m->name, "mmap-threshold");
    int i = as_model_param_index(m, "mmap_threshold");
    int t = as_model_param_index(m, "trim_threshold");
    assert_true(i >= 0 && t >= 0);
    assert_int_equal(p.v[i], 128 << 10);
    assert_int_equal(p.set, 0);
    assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_threshold=64K,trim_threshold=1M",
                                         &m, &p, err, sizeof err), 0);
    assert_int_equal(p.v[i], 64 << 10);
    assert_int_equal(p.v[t], 1 << 20);
    assert_int_equal(p.set, (1ull << i) | (1ull << t));
    assert_int_equal(as_model_parse_spec("mmap-threshold:trim_threshold=2G", &m, &p, err, sizeof err), 0);
    assert_int_equal(p.v[t], 2ll << 30);
    assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_threshold=4096", &m, &p, err, sizeof err), 0);
    assert_int_equal(p.v[i], 4096);
    assert_int_equal(as_model_parse_spec("ideal", &m, &p, err, sizeof err), 0);
    assert_int_equal(as_model_param_index(m, "mmap_threshold"), -1);
}

static void errors_list_valid_choices(void **state)
{
    (void)state;
    const as_model_t *m;
    as_params_t p;
    char err[512];
    assert_int_equal(as_model_parse_spec("jemallok", &m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown model 'jemallok'"));
    assert_non_null(strstr(err, "ideal"));
    assert_non_null(strstr(err, "mmap-threshold"));
    assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_treshold=1M", &m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown parameter 'mmap_treshold'"));
    assert_non_null(strstr(err, "mmap_threshold=0..")); /* the valid key with bounds */
    assert_non_null(strstr(err, "top_pad="));
    assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_max=-1", &m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_threshold=12Q", &m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a valid value"));
    assert_int_equal(as_model_parse_spec("mmap-threshold:mmap_threshold", &m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(as_model_parse_spec("ideal:x=1", &m, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "takes no parameters"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_and_defaults),
        cmocka_unit_test(errors_list_valid_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
