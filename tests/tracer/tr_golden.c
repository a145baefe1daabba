/*
 * tests/tracer/tr_golden.c — the golden program: every heap entry point once,
 * including the edge cases (realloc(p,0), realloc(NULL,n), a failed malloc,
 * free(NULL), odd memalign alignments, posix_memalign EINVAL, reallocarray
 * overflow), an application mmap/munmap, mallopt/malloc_trim, and a 1 MiB
 * malloc that glibc serves by its internal mmap (which must NOT show up as an
 * mmap event). Prints results, errno values and malloc_usable_size so the
 * test can compare a traced and an untraced run; exits 3.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__GNUC__) && !defined(__clang__)
/* the huge and overflowing sizes are the point of this program */
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#ifdef __clang__
#pragma clang diagnostic ignored "-Wnon-power-of-two-alignment"
#endif

void allocsim_mark(const char *name) __attribute__((weak));
static void mark(const char *n) { if (allocsim_mark) allocsim_mark(n); }

#define SHOW(name, p) printf("%-22s %s usable=%zu al64=%d errno=%d\n", name, (p) ? "ok" : "NULL", \
                             (p) ? malloc_usable_size(p) : 0, (p) ? (int)((uintptr_t)(p) % 64 == 0) : -1, errno)

int main(void)
{
    mark("begin");
    errno = 0;
    void *a = malloc(100);                       SHOW("malloc(100)", a);
    void *b = calloc(10, 20);                    SHOW("calloc(10,20)", b);
    a = realloc(a, 200);                         SHOW("realloc(a,200)", a);
    void *volatile nulp = NULL;                  /* gcc would turn realloc(NULL,n) into malloc */
    void *c = realloc(nulp, 50);                 SHOW("realloc(NULL,50)", c);
    void *d = realloc(c, 0);                     SHOW("realloc(c,0)", d);
    errno = 0;
    void *e = malloc(SIZE_MAX / 2);              SHOW("malloc(huge)", e);
    errno = 0;
    void *e2 = calloc(SIZE_MAX / 2, 4);          SHOW("calloc(overflow)", e2);
    free(nulp);                                  /* volatile: free(NULL) is not elided */
    errno = 0;
    void *f = memalign(48, 100);                 SHOW("memalign(48,100)", f);
    void *g = memalign(3, 10);                   SHOW("memalign(3,10)", g);
    void *h = NULL;
    int rc = posix_memalign(&h, 24, 10);
    printf("posix_memalign(24) rc=%d h=%p errno=%d\n", rc, h, errno);
    rc = posix_memalign(&h, 0, 10);
    printf("posix_memalign(0) rc=%d errno=%d\n", rc, errno);
    rc = posix_memalign(&h, 64, 100);            SHOW("posix_memalign(64)", h);
    printf("rc=%d\n", rc);
    void *i = aligned_alloc(64, 128);            SHOW("aligned_alloc(64,128)", i);
    void *i2 = aligned_alloc(3, 10);             SHOW("aligned_alloc(3,10)", i2);
    void *j = valloc(10);                        SHOW("valloc(10)", j);
    void *k = pvalloc(10);                       SHOW("pvalloc(10)", k);
    void *l = reallocarray(NULL, 10, 10);        SHOW("reallocarray(NULL,10,10)", l);
    errno = 0;
    void *m = reallocarray(l, SIZE_MAX, 2);      SHOW("reallocarray(overflow)", m);
    void *big = malloc(1 << 20);                 SHOW("malloc(1M)", big);
    void *mm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap %s\n", mm == MAP_FAILED ? "failed" : "ok");
    munmap(mm, 8192);
    printf("mallopt=%d\n", mallopt(M_TRIM_THRESHOLD, 1 << 20));
    free(big);
    printf("malloc_trim=%d\n", malloc_trim(0) >= 0);
    free(a); free(b); free(f); free(g); free(h); free(i); free(i2); free(j); free(k); free(l);
    mark("end");
    fflush(stdout);
    return 3;
}
