/*
 * tests/native/test_native_cli.c — `allocsim native` end to end: traces
 * written with the writer API of replay/trace.h (synthetic addresses: native
 * replay ignores them), replayed by the real allocsim binary, output checked.
 *
 * Expected glibc 2.36 figures are worked out per test (reference/
 * allocators.md §1-2); they hold on any x86-64 Debian 12 machine because the
 * replayer measures its own resident set exactly (replay/runner.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay/trace.h"

#define PAGE 4096ull

static char dir[] = "/tmp/allocsim-native-test.XXXXXX";
static char out[1 << 16], err[1 << 16];

typedef struct rec { uint32_t thread; unsigned op, flags; uint64_t a, b, size; } rec_t;

static void write_trace(const char *path, const rec_t *r, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    as_header_t h = {0};
    h.version = AS_TRACE_VERSION;
    h.page_size = 4096;
    h.ncpus = 2;
    h.pid = 4242;
    h.exe = "/usr/bin/synthetic";
    h.argv = "synthetic";
    h.argv_len = 10;
    h.libc_version = "2.36";
    as_err_t e = AS_OK;
    as_writer_t *w = as_writer_create(fd, &h, NULL, 3, &e);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++) {
        as_rec_t x = {as_rec_pack(i + 1, r[i].op, r[i].flags), r[i].a, r[i].b, r[i].size};
        assert_int_equal(as_writer_time(w, i + 1, (i + 1) * 1000000ull), AS_OK);
        assert_int_equal(as_writer_add(w, r[i].thread, &x), AS_OK);
    }
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    close(fd);
}

/* Runs allocsim with the given arguments; returns its exit status. */
static int run(const char *fmt, ...)
{
    char args[2048], cmd[4096], o[512], e[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", ALLOCSIM, args, o, e);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    FILE *f = fopen(o, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    f = fopen(e, "r");
    n = f ? fread(err, 1, sizeof err - 1, f) : 0;
    err[n] = 0;
    if (f)
        fclose(f);
    return WEXITSTATUS(st);
}

static unsigned long long json_u64(const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(out, pat);
    assert_non_null(p);
    return strtoull(p + strlen(pat), NULL, 10);
}

static const char *path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* malloc(1 MiB): 257 mmapped pages written + glibc's tcache page on the brk heap. */
static void test_one_block(void **state)
{
    (void)state;
    rec_t r[] = {{0, AS_OP_MALLOC, 0, 0x7f0000001010, 0, 1 << 20}};
    write_trace(path("one.ast"), r, 1);
    assert_int_equal(run("native %s --format json", path("one.ast")), 0);
    assert_int_equal(json_u64("peak_rss"), 258 * PAGE);
    assert_int_equal(json_u64("peak_live"), 1 << 20);
    assert_non_null(strstr(out, "\"model\": \"native:glibc\""));
    /* touch=none: only the tcache page and the mapping's header page */
    assert_int_equal(run("native %s --format json --touch none", path("one.ast")), 0);
    assert_int_equal(json_u64("peak_rss"), 2 * PAGE);
}

/* The dynamic threshold (allocators.md §2): see test_native_unit.c. */
static void test_threshold_bump(void **state)
{
    (void)state;
    rec_t r[] = {
        {0, AS_OP_MALLOC, 0, 0x7f0000001010, 0, 200000},
        {0, AS_OP_FREE, 0, 0, 0x7f0000001010, 0},
        {0, AS_OP_MALLOC, 0, 0x555500001010, 0, 200000},
        {0, AS_OP_FREE, 0, 0, 0x555500001010, 0},
        {0, AS_OP_MALLOC, 0, 0x7f0000101010, 0, 1 << 20},
    };
    write_trace(path("bump.ast"), r, 5);
    assert_int_equal(run("native %s --format json", path("bump.ast")), 0);
    assert_int_equal(json_u64("peak_rss"), (49 + 257) * PAGE);
    assert_int_equal(run("native %s --format json --tunable mmap_threshold=128K",
                         path("bump.ast")), 0);
    assert_int_equal(json_u64("peak_rss"), (1 + 257) * PAGE);
    assert_non_null(strstr(out, "\"mmap_threshold\": 131072"));
}

/* Thread 1 frees main's 1 MiB block before main's 2 MiB malloc: in order,
 * they never coexist. */
static void test_two_threads(void **state)
{
    (void)state;
    rec_t r[] = {
        {1, AS_OP_THREAD_START, 0, 0, 0, 0},
        {0, AS_OP_MALLOC, 0, 0x7f0000001010, 0, 1 << 20},
        {1, AS_OP_FREE, 0, 0, 0x7f0000001010, 0},
        {0, AS_OP_MALLOC, 0, 0x7f0000201010, 0, 2 << 20},
        {1, AS_OP_THREAD_EXIT, 0, 0, 0, 0},
    };
    write_trace(path("two.ast"), r, 5);
    assert_int_equal(run("native %s --format json", path("two.ast")), 0);
    assert_non_null(strstr(err, "native: 2 threads"));   /* json: notes on stderr */
    unsigned long long peak = json_u64("peak_rss");
    assert_true(peak >= 514 * PAGE);
    assert_true(peak <= 521 * PAGE);
    assert_int_equal(run("native %s", path("two.ast")), 0);   /* text */
    assert_non_null(strstr(out, "native:glibc"));
    assert_non_null(strstr(out, "native: 2 threads"));
}

static void test_json_schema(void **state)
{
    (void)state;
    assert_int_equal(run("native %s --format json", path("one.ast")), 0);
    static const char *const keys[] = {"\"trace\": ", "\"events\": ", "\"results\": [",
                                       "\"model\": ", "\"params\": {", "\"peak_rss\": ",
                                       "\"peak_live\": ", "\"peak_mapped\": ",
                                       "\"peak_process_rss\": null", "\"fragmentation\": ",
                                       "\"jw\": [", "\"peak_event\": ", "\"peak_time\": "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_non_null(strstr(out, keys[i]));
    assert_int_equal(json_u64("events"), 1);
    assert_non_null(strstr(out, "\"model_stats\": {"));
    assert_int_equal(run("native %s --format csv", path("one.ast")), 0);
    assert_non_null(strstr(out, "trace,events,model,params,peak_rss"));
    assert_non_null(strstr(out, ",native:glibc,"));
}

static void test_other_allocators(void **state)
{
    (void)state;
    static const char *const libs[][2] = {
        {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
        {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
        {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"},
    };
    for (size_t i = 0; i < 3; i++) {
        if (access(libs[i][1], R_OK))
            continue;   /* tools/deps.sh installs them; skip if absent */
        assert_int_equal(run("native %s --format json --allocator %s", path("bump.ast"),
                             libs[i][0]), 0);
        assert_true(json_u64("peak_rss") >= (1 << 20));
        char model[64];
        snprintf(model, sizeof model, "\"model\": \"native:%s\"", libs[i][0]);
        assert_non_null(strstr(out, model));
    }
}

static void test_bad_allocator(void **state)
{
    (void)state;
    assert_int_equal(run("native %s --allocator /nonexistent/libbogus.so", path("one.ast")), 2);
    assert_non_null(strstr(err, "allocsim: /nonexistent/libbogus.so: no such allocator library"));
    /* a file that exists but is no shared library: ld.so only warns, the
     * replayer notices the library is not mapped */
    const char *junk = path("junk.so");
    FILE *f = fopen(junk, "w");
    fputs("not an ELF file\n", f);
    fclose(f);
    assert_int_equal(run("native %s --allocator %s", path("one.ast"), junk), 2);
    assert_non_null(strstr(err, "was not loaded"));
    assert_int_equal(run("native %s --allocator nosuch", path("one.ast")), 2);
    assert_non_null(strstr(err, "unknown allocator 'nosuch'"));
    assert_int_equal(run("native %s --tunable bogus=1", path("one.ast")), 2);
    assert_non_null(strstr(err, "unknown glibc tunable 'bogus'"));
    assert_int_equal(run("native %s --allocator jemalloc --tunable arena_max=1",
                         path("one.ast")), 2);
}

static void test_damaged_input(void **state)
{
    (void)state;
    const char *junk = path("junk.ast");
    FILE *f = fopen(junk, "w");
    fputs("this is not a trace at all, just text that goes on for a while\n", f);
    fclose(f);
    assert_int_equal(run("native %s", junk), 2);
    char want[600];
    snprintf(want, sizeof want, "allocsim: %s: ", junk);
    assert_non_null(strstr(err, want));
    assert_int_equal(run("native %s", path("missing.ast")), 2);
    assert_non_null(strstr(err, "allocsim: "));
    /* cut a valid trace in the middle of its first chunk */
    struct stat st;
    assert_int_equal(stat(path("bump.ast"), &st), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "head -c %lld %s > %s", (long long)st.st_size - 9,
             path("bump.ast"), path("cut.ast"));
    assert_int_equal(system(cmd), 0);
    int rc = run("native %s", path("cut.ast"));
    assert_int_equal(rc, 2);
    snprintf(want, sizeof want, "allocsim: %s: ", path("cut.ast"));
    assert_non_null(strstr(err, want));
    assert_null(strstr(err, "signal"));   /* the replayer never crashed */
}

/* A torn tail (a process killed mid-chunk): what was read is replayed and
 * printed, then the loss is reported and the exit status is 2. */
static void test_torn_tail(void **state)
{
    (void)state;
    const char *p = path("torn.ast");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    as_header_t h = {.version = AS_TRACE_VERSION, .page_size = 4096, .ncpus = 2,
                     .exe = "x", .argv = "x", .argv_len = 2, .libc_version = "2.36"};
    as_err_t e;
    as_writer_t *w = as_writer_create(fd, &h, NULL, 3, &e);
    assert_non_null(w);
    as_rec_t a = {as_rec_pack(1, AS_OP_MALLOC, 0), 0x7f0000001010, 0, 1 << 20};
    assert_int_equal(as_writer_add(w, 0, &a), AS_OK);
    assert_int_equal(as_writer_flush(w), AS_OK);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    off_t first_chunk_end = st.st_size;
    for (uint64_t i = 0; i < 200; i++) {
        as_rec_t b = {as_rec_pack(2 + 2 * i, AS_OP_MALLOC, 0), 0x7f1000001010 + i * 4096, 0, 100};
        as_rec_t c = {as_rec_pack(3 + 2 * i, AS_OP_FREE, 0), 0, 0x7f1000001010 + i * 4096, 0};
        assert_int_equal(as_writer_add(w, 0, &b), AS_OK);
        assert_int_equal(as_writer_add(w, 0, &c), AS_OK);
    }
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size > first_chunk_end + 20);
    assert_int_equal(ftruncate(fd, first_chunk_end + 20), 0);   /* inside chunk 2 */
    close(fd);
    assert_int_equal(run("native %s --format json", p), 2);
    assert_int_equal(json_u64("peak_rss"), 258 * PAGE);   /* chunk 1 was replayed */
    char want[600];
    snprintf(want, sizeof want, "allocsim: %s: ", p);
    assert_non_null(strstr(err, want));
    assert_null(strstr(err, "signal"));
}

/* A damaged chunk in the middle: the reader skips it, so a later free names
 * a block the replay never saw; native replay skips such frees (as replay
 * does), prints its figures, then reports the damage with exit status 2. */
static void test_damaged_middle_chunk(void **state)
{
    (void)state;
    const char *p = path("middle.ast");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    as_header_t h = {.version = AS_TRACE_VERSION, .page_size = 4096, .ncpus = 2,
                     .exe = "x", .argv = "x", .argv_len = 2, .libc_version = "2.36"};
    as_err_t e;
    as_writer_t *w = as_writer_create(fd, &h, NULL, 3, &e);
    assert_non_null(w);
    uint64_t seq = 1;
    as_rec_t a = {as_rec_pack(seq++, AS_OP_MALLOC, 0), 0x7f0000001010, 0, 1 << 20};
    assert_int_equal(as_writer_add(w, 0, &a), AS_OK);
    assert_int_equal(as_writer_flush(w), AS_OK);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    off_t c2 = st.st_size;
    for (uint64_t i = 0; i < 50; i++) {   /* chunk 2: blocks freed in chunk 3 */
        as_rec_t b = {as_rec_pack(seq++, AS_OP_MALLOC, 0), 0x7f2000001010 + i * 4096, 0, 3000};
        assert_int_equal(as_writer_add(w, 0, &b), AS_OK);
    }
    assert_int_equal(as_writer_flush(w), AS_OK);
    assert_int_equal(fstat(fd, &st), 0);
    off_t c3 = st.st_size;
    for (uint64_t i = 0; i < 50; i++) {
        as_rec_t b = {as_rec_pack(seq++, AS_OP_FREE, 0), 0, 0x7f2000001010 + i * 4096, 0};
        assert_int_equal(as_writer_add(w, 0, &b), AS_OK);
    }
    as_rec_t c = {as_rec_pack(seq++, AS_OP_MALLOC, 0), 0x7f3000001010, 0, 2 << 20};
    assert_int_equal(as_writer_add(w, 0, &c), AS_OK);
    assert_int_equal(as_writer_close(w, AS_OK), AS_OK);
    /* flip bytes in the middle of chunk 2 */
    char junk[8] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
    assert_int_equal(pwrite(fd, junk, sizeof junk, (c2 + c3) / 2), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(run("native %s --format json", p), 2);
    /* the 1 MiB and 2 MiB blocks coexist: 257 + 513 pages + the tcache page */
    assert_int_equal(json_u64("peak_rss"), (257 + 513 + 1) * PAGE);
    char want[600];
    snprintf(want, sizeof want, "allocsim: %s: ", p);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "native: "));
}

/* Installed layout: bin/allocsim finds ../lib/allocsim/allocsim-replayer. */
static void test_installed_layout(void **state)
{
    (void)state;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/inst/bin %s/inst/lib/allocsim && cp %s %s/inst/bin/allocsim && "
             "cp %s %s/inst/lib/allocsim/allocsim-replayer && "
             "env -u ALLOCSIM_REPLAYER %s/inst/bin/allocsim native %s --format json >%s/out",
             dir, dir, ALLOCSIM, dir, REPLAYER, dir, dir, path("one.ast"), dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q '\"peak_rss\": %llu' %s/out", 258 * PAGE, dir);
    assert_int_equal(system(cmd), 0);
    /* and without any replayer: a clear message */
    snprintf(cmd, sizeof cmd,
             "rm %s/inst/lib/allocsim/allocsim-replayer && "
             "env -u ALLOCSIM_REPLAYER %s/inst/bin/allocsim native %s 2>%s/err; test $? = 2 && "
             "grep -q 'cannot find allocsim-replayer' %s/err",
             dir, dir, path("one.ast"), dir, dir);
    assert_int_equal(system(cmd), 0);
}

static void test_help_and_usage(void **state)
{
    (void)state;
    assert_int_equal(run("native --help"), 0);
    assert_non_null(strstr(out, "usage: allocsim native TRACE"));
    assert_non_null(strstr(out, "--tunable"));
    assert_non_null(strstr(out, "--touch"));
    assert_int_equal(run("native"), 2);
    assert_int_equal(run("native %s --touch sometimes", path("one.ast")), 2);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_block),
        cmocka_unit_test(test_threshold_bump),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_other_allocators),
        cmocka_unit_test(test_bad_allocator),
        cmocka_unit_test(test_damaged_input),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_damaged_middle_chunk),
        cmocka_unit_test(test_installed_layout),
        cmocka_unit_test(test_help_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
