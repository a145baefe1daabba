/*
 * tests/native/test_native_vs_model.c — the glibc model against the real
 * glibc, through the two commands users run (issue 4 "Tests"): for each
 * small trace (one glibc behaviour each, plus random mixes), `allocsim replay
 * --model glibc --format json` and `allocsim native --format json` with the
 * same settings and touch rule; their peak RSS must agree within BOUND.
 * tests/glibc/test_glibc_native.c checks the same pairing page by page
 * through the libraries; this one checks the command lines, the JSON and
 * the tunable plumbing (model parameters vs GLIBC_TUNABLES) end to end.
 *
 * Every comparison prints one line (trace, setting, both peaks, error), so a
 * failing CI log says by how much.
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
#include <sys/wait.h>
#include <unistd.h>

#include "replay/trace.h"
#include "tests/common/testutil.h"

/* Largest |model - native| / native accepted. Issue 4's target is 2% per
 * cell; measured here the worst is 0.59% (threads-200k, touch=first) and
 * 0.41% on the scripted traces (ninth: one page, pthread_create's own DTV
 * calloc in native replay), so the bound is 1%. */
#define BOUND 0.01

static char dir[] = "/tmp/allocsim-native-model.XXXXXX";
static double worst;

/* ---- Trace building: a script of calls with synthetic addresses ----------- */
typedef struct tb {
    as_writer_t *w;
    int fd;
    uint64_t seq;
    uint64_t addr[4096];      /* per script id: its fake address (0 = free) */
    uint64_t next_addr;
} tb_t;

static void tb_open(tb_t *t, const char *path)
{
    memset(t, 0, sizeof *t);
    t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(t->fd >= 0);
    as_header_t h = {0};
    h.version = AS_TRACE_VERSION;
    h.page_size = 4096;
    h.ncpus = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    h.pid = 1;
    h.exe = "/synthetic";
    h.argv = "synthetic";
    h.argv_len = 10;
    h.libc_version = "2.36";
    as_err_t e;
    t->w = as_writer_create(t->fd, &h, NULL, 1, &e);
    assert_non_null(t->w);
    t->next_addr = 0x100000000000ull;
}

static void tb_rec(tb_t *t, uint32_t thread, unsigned op, uint64_t a, uint64_t b, uint64_t size)
{
    t->seq++;
    as_rec_t r = {as_rec_pack(t->seq, op, 0), a, b, size};
    assert_int_equal(as_writer_time(t->w, t->seq, t->seq * 1000), AS_OK);
    assert_int_equal(as_writer_add(t->w, thread, &r), AS_OK);
}

static uint64_t fresh(tb_t *t)
{
    t->next_addr += 0x100000;   /* unique per block: the writer pairs by address */
    return t->next_addr;
}

static void m(tb_t *t, uint32_t th, int id, uint64_t n)
{
    t->addr[id] = fresh(t);
    tb_rec(t, th, AS_OP_MALLOC, t->addr[id], 0, n);
}
static void c(tb_t *t, uint32_t th, int id, uint64_t n)
{
    t->addr[id] = fresh(t);
    tb_rec(t, th, AS_OP_CALLOC, t->addr[id], n, n);
}
static void a(tb_t *t, uint32_t th, int id, uint64_t align, uint64_t n)
{
    t->addr[id] = fresh(t);
    tb_rec(t, th, AS_OP_MEMALIGN, t->addr[id], align, n);
}
static void r(tb_t *t, uint32_t th, int id, uint64_t n)
{
    uint64_t old = t->addr[id];
    t->addr[id] = fresh(t);
    tb_rec(t, th, AS_OP_REALLOC, t->addr[id], old, n);
}
static void f(tb_t *t, uint32_t th, int id)
{
    tb_rec(t, th, AS_OP_FREE, 0, t->addr[id], 0);
    t->addr[id] = 0;
}
static void start(tb_t *t, uint32_t th) { tb_rec(t, th, AS_OP_THREAD_START, 0, 0, 0); }
static void stop(tb_t *t, uint32_t th) { tb_rec(t, th, AS_OP_THREAD_EXIT, 0, 0, 0); }

static void tb_close(tb_t *t)
{
    assert_int_equal(as_writer_close(t->w, AS_OK), AS_OK);
    close(t->fd);
}

/* ---- Running both commands --------------------------------------------------- */
static unsigned long long peak_of(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("command failed (%d): %s", st, cmd);
    const char *k = strstr(buf, "\"peak_rss\": ");
    if (!k)
        fail_msg("no peak_rss from: %s", cmd);
    return strtoull(k + 12, NULL, 10);
}

/* settings: "" or "k=v,k=v" (model syntax; each becomes a --tunable) */
static void compare(const char *trace, const char *settings, const char *touch)
{
    char path[512], cmd[2048], tun[1024] = "";
    snprintf(path, sizeof path, "%s/%s.ast", dir, trace);
    size_t tl = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", settings);
    for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save))
        tl += (size_t)snprintf(tun + tl, sizeof tun - tl, " --tunable %s", kv);
    snprintf(cmd, sizeof cmd, "%s replay %s --model glibc%s%s --touch %s --format json -j 1",
             ALLOCSIM, path, *settings ? ":" : "", settings, touch);
    unsigned long long model = peak_of(cmd);
    snprintf(cmd, sizeof cmd, "%s native %s%s --touch %s --format json 2>/dev/null", ALLOCSIM,
             path, tun, touch);
    unsigned long long native = peak_of(cmd);
    double err = native ? ((double)model - (double)native) / (double)native : (model ? 1.0 : 0.0);
    printf("%-16s %-28s touch=%-5s model %10llu native %10llu err %+.3f%%\n", trace,
           *settings ? settings : "default", touch, model, native, 100.0 * err);
    if (err < 0)
        err = -err;
    if (err > worst)
        worst = err;
    assert_true(err <= BOUND);
}

static void path_for(char *p, size_t n, const char *name) { snprintf(p, n, "%s/%s.ast", dir, name); }

/* ---- One trace per glibc behaviour (reference/allocators.md §1-2) --------- */
static void test_tcache_lifo(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "tcache");
    tb_t t;
    tb_open(&t, p);
    for (int i = 0; i < 7; i++)
        m(&t, 0, i, 100);
    for (int i = 0; i < 7; i++)
        f(&t, 0, i);
    for (int i = 0; i < 7; i++)
        m(&t, 0, i, 100);
    m(&t, 0, 10, 300000);
    tb_close(&t);
    compare("tcache", "", "all");
    compare("tcache", "tcache_count=0", "all");
}

static void test_fastbins_and_consolidation(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "fastbins");
    tb_t t;
    tb_open(&t, p);
    for (int i = 0; i < 400; i++)
        m(&t, 0, i, 48 + (i % 4) * 16);
    for (int i = 0; i < 400; i += 2)
        f(&t, 0, i);            /* tcache fills, the rest go to fastbins */
    m(&t, 0, 1000, 70000);      /* large request: malloc_consolidate */
    f(&t, 0, 1000);             /* merged >= 64 KiB: consolidation + trim check */
    for (int i = 1; i < 400; i += 2)
        f(&t, 0, i);
    m(&t, 0, 1001, 200000);
    tb_close(&t);
    compare("fastbins", "", "all");
    compare("fastbins", "", "none");
}

static void test_top_trim(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "toptrim");
    tb_t t;
    tb_open(&t, p);
    for (int i = 0; i < 8; i++)
        m(&t, 0, i, 100000);
    for (int i = 7; i >= 0; i--)
        f(&t, 0, i);            /* top grows past trim_threshold: sbrk shrinks */
    for (int i = 0; i < 4; i++)
        m(&t, 0, i, 120000);
    tb_close(&t);
    compare("toptrim", "", "all");
    compare("toptrim", "trim_threshold=1M", "all");
    compare("toptrim", "top_pad=0", "first");
}

static void test_threshold_bump(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "bump");
    tb_t t;
    tb_open(&t, p);
    m(&t, 0, 0, 200000);
    f(&t, 0, 0);
    m(&t, 0, 0, 200000);
    f(&t, 0, 0);
    m(&t, 0, 1, 1 << 20);
    r(&t, 0, 1, 3 << 20);       /* mremap of an mmapped chunk */
    c(&t, 0, 2, 500000);
    f(&t, 0, 1);
    tb_close(&t);
    compare("bump", "", "all");
    compare("bump", "mmap_threshold=128K", "all");
    compare("bump", "mmap_threshold=4K", "first");
    compare("bump", "mmap_max=0", "all");
}

static void test_memalign_and_realloc(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "memalign");
    tb_t t;
    tb_open(&t, p);
    for (int i = 0; i < 20; i++)
        a(&t, 0, i, (uint64_t)64 << (i % 7), 1000 + 700 * (uint64_t)i);
    for (int i = 0; i < 20; i += 3)
        f(&t, 0, i);
    for (int i = 1; i < 20; i += 3)
        r(&t, 0, i, 5000 + 3000 * (uint64_t)i);
    a(&t, 0, 30, 65536, 300000);
    tb_close(&t);
    compare("memalign", "", "all");
    compare("memalign", "", "none");
}

/* malloc_trim returns the free pages inside the heap (MADV_DONTNEED), so
 * the next wave faults them in again; mallopt(M_MMAP_THRESHOLD) freezes the
 * threshold and sends the next large block to its own mapping. */
static void test_trim_and_mallopt(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "trim");
    tb_t t;
    tb_open(&t, p);
    for (int i = 0; i < 60; i++)
        m(&t, 0, i, 20000);
    for (int i = 0; i < 60; i += 2)
        f(&t, 0, i);
    tb_rec(&t, 0, AS_OP_MALLOC_TRIM, 1, 0, 0);          /* malloc_trim(0) -> 1 */
    for (int i = 0; i < 60; i += 2)
        m(&t, 0, i, 20000);
    tb_rec(&t, 0, AS_OP_MALLOPT, 1, (uint64_t)-3, 65536); /* M_MMAP_THRESHOLD */
    m(&t, 0, 100, 100000);
    for (int i = 1; i < 60; i += 2)
        f(&t, 0, i);
    m(&t, 0, 101, 600000);
    tb_close(&t);
    compare("trim", "", "all");
    compare("trim", "", "first");
}

/* Nine threads alive at once: with arena_max=8 the ninth shares an arena. */
static void test_ninth_thread(void **state)
{
    (void)state;
    char p[512];
    path_for(p, sizeof p, "ninth");
    tb_t t;
    tb_open(&t, p);
    for (uint32_t th = 1; th <= 9; th++)
        start(&t, th);
    for (uint32_t th = 1; th <= 9; th++)
        m(&t, th, (int)th, 20000 * th);
    for (uint32_t th = 1; th <= 9; th++)
        m(&t, th, 100 + (int)th, 5000);
    for (uint32_t th = 1; th <= 9; th++)
        f(&t, (th % 9) + 1, (int)th);   /* freed by another thread */
    for (uint32_t th = 1; th <= 9; th++)
        stop(&t, th);
    tb_close(&t);
    compare("ninth", "", "all");
    compare("ninth", "arena_max=8", "all");
    compare("ninth", "arena_max=1", "all");
}

/* Seeded random mixes: one thread, and three with cross-thread frees. */
static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { return as_test_xorshift(&rng); }

static void random_trace(const char *name, uint32_t nthreads, int ops)
{
    char p[512];
    path_for(p, sizeof p, name);
    tb_t t;
    tb_open(&t, p);
    for (uint32_t th = 1; th < nthreads; th++)
        start(&t, th);
    for (int i = 0; i < ops; i++) {
        uint32_t th = (uint32_t)(next_rand() % nthreads);
        int id = (int)(next_rand() % 2000);
        if (t.addr[id]) {
            if (next_rand() % 5 == 0)
                r(&t, th, id, 16 + next_rand() % 3000);
            else
                f(&t, th, id);
        } else {
            uint64_t k = next_rand() % 100;
            uint64_t n = k < 85 ? 8 + next_rand() % 500 : k < 98 ? 500 + next_rand() % 20000
                                                              : 100000 + next_rand() % 400000;
            if (k % 7 == 0)
                c(&t, th, id, n);
            else
                m(&t, th, id, n);
        }
    }
    for (uint32_t th = 1; th < nthreads; th++)
        stop(&t, th);
    tb_close(&t);
}

static void test_random_single(void **state)
{
    (void)state;
    random_trace("random1", 1, 20000);
    compare("random1", "", "all");
    compare("random1", "", "first");
    compare("random1", "mmap_threshold=64K", "all");
    compare("random1", "trim_threshold=0", "all");
}

static void test_random_threads(void **state)
{
    (void)state;
    random_trace("random3", 3, 20000);
    compare("random3", "", "all");
    compare("random3", "arena_max=1", "all");
    compare("random3", "mmap_threshold=32M", "first");
}

/* The real traces committed in traces/ (recorded by traces/record.sh). */
static void test_committed_traces(void **state)
{
    (void)state;
#ifdef AS_DEBUG
    /* Debug builds check the model's invariants after every event: the
     * 300k-event traces would take half a minute; the small ones suffice. */
    static const char *const names[] = {"fragdemo", "python-pymalloc"};
#else
    static const char *const names[] = {"churn-200k", "threads-200k", "fragdemo",
                                        "python-malloc", "python-pymalloc"};
#endif
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char src[1024], cmd[2200];
        snprintf(src, sizeof src, "%s/%s.ast", TRACES_DIR, names[i]);
        if (access(src, R_OK))
            continue;
        found++;
        snprintf(cmd, sizeof cmd, "cp %s %s/%s.ast", src, dir, names[i]);
        assert_int_equal(system(cmd), 0);
        compare(names[i], "", "all");
        compare(names[i], "", "first");
    }
    if (!found)
        skip();
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    printf("worst |model - native| / native: %.3f%% (bound %.1f%%)\n", 100.0 * worst,
           100.0 * BOUND);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcache_lifo),
        cmocka_unit_test(test_fastbins_and_consolidation),
        cmocka_unit_test(test_top_trim),
        cmocka_unit_test(test_threshold_bump),
        cmocka_unit_test(test_memalign_and_realloc),
        cmocka_unit_test(test_trim_and_mallopt),
        cmocka_unit_test(test_ninth_thread),
        cmocka_unit_test(test_random_single),
        cmocka_unit_test(test_random_threads),
        cmocka_unit_test(test_committed_traces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
