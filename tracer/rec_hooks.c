/*
 * tracer/rec_hooks.c — the interposed heap API: malloc, calloc, realloc, free,
 * memalign, posix_memalign, aligned_alloc, valloc, pvalloc, reallocarray,
 * malloc_trim, mallopt, and allocsim_mark().
 *
 * The real allocator is called through glibc's exported __libc_* entry points
 * (as bytehound and glibc's own libc_malloc_debug.so do), so there is no dlsym
 * bootstrap. Frees are recorded before the real free, allocations after the
 * real call returns (DESIGN.md "Ordering"). glibc 2.36 has no free_sized /
 * free_aligned_sized, so they are not defined here (a program that needs them
 * cannot run on this libc anyway). malloc_usable_size is deliberately not
 * interposed: blocks are exactly what the real allocator returned.
 *
 * Argument checks that glibc does in the entry point we bypass are reproduced
 * from glibc 2.36 malloc/malloc.c (__posix_memalign) and malloc/reallocarray.c.
 *
 * A program may bring its own allocator: it links libjemalloc, libtcmalloc
 * or libmimalloc, or preloads one after the tracer. Its malloc then comes
 * after ours in the lookup order and glibc's __libc_* are not the program's
 * allocator: calling them gave the program glibc's blocks, which its
 * allocator's own malloc_usable_size (not interposed) or sdallocx then took
 * for its own (a program linked with -ljemalloc crashed in
 * malloc_usable_size). So the first heap call asks dlsym(RTLD_NEXT) for the
 * next malloc: glibc's (nearly always) keeps the direct __libc_* calls; any
 * other makes every hook call the next definitions instead (foreign mode:
 * one predictable branch on the hot path either way), and the trace's header
 * says so (AS_OPT_FOREIGN_MALLOC: its samples' mallinfo2 fields describe
 * glibc's unused heap). dlsym may allocate while it answers: those few blocks
 * are glibc's, kept in a small table, and given back to glibc when freed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracer/rec_internal.h"

#define AS_EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern int __libc_mallopt(int, int);


static inline unsigned failed(const void *p) { return p ? 0 : AS_RECF_FAILED; }

/* ---- The allocator behind the hooks -------------------------------------- */
enum { NEXT_GLIBC = 0, NEXT_FOREIGN = 1, NEXT_UNKNOWN = 2, NEXT_ASKING = 3 };
AS_HIDDEN int as_g_next = NEXT_UNKNOWN;

/* The entry points the slow paths call, in glibc and in the next allocator */
typedef struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
} core_fns_t;

static struct {
    core_fns_t c;
    void *(*aligned_alloc)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    int (*mallopt)(int, int);
} g_next;

/* glibc's entry points for the slow paths: the __libc_* ones, until a
 * foreign allocator turns up; then glibc's own, looked up in libc.so.6
 * itself, as the allocator may define __libc_malloc and friends too
 * (gperftools' libtcmalloc does). */
static core_fns_t g_libc = {__libc_malloc, __libc_free, __libc_calloc, __libc_realloc,
                            __libc_memalign};

/* glibc blocks handed out while dlsym was asked (NEXT_ASKING), or resized
 * by glibc after: given back to glibc when freed. */
#define BOOT_MAX 64
static void *_Atomic g_boot[BOOT_MAX];
static _Atomic unsigned g_nboot;

static void *boot_keep(void *p)
{
    for (unsigned i = 0; p && i < BOOT_MAX; i++) {
        void *none = NULL;
        if (atomic_compare_exchange_strong(&g_boot[i], &none, p)) {
            atomic_fetch_add(&g_nboot, 1);
            break;
        }
    }
    return p;
}

/* 1 (and its entry cleared) if p is one of the boot blocks. */
static int boot_take(void *p)
{
    if (!p || !atomic_load_explicit(&g_nboot, memory_order_acquire))
        return 0;
    for (unsigned i = 0; i < BOOT_MAX; i++) {
        void *q = p;
        if (atomic_compare_exchange_strong(&g_boot[i], &q, NULL)) {
            atomic_fetch_sub(&g_nboot, 1);
            return 1;
        }
    }
    return 0;
}

#define NEXT(var, name) (*(void **)&g_next.var = dlsym(RTLD_NEXT, name))

/* Decides the allocator at the first heap call: NEXT_GLIBC, NEXT_FOREIGN,
 * or NEXT_ASKING while dlsym is being asked (by this or another thread). */
static __attribute__((noinline)) int next_kind(void)
{
    int k = __atomic_load_n(&as_g_next, __ATOMIC_ACQUIRE);
    if (k != NEXT_UNKNOWN)
        return k;
    int unknown = NEXT_UNKNOWN;
    if (!__atomic_compare_exchange_n(&as_g_next, &unknown, NEXT_ASKING, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return __atomic_load_n(&as_g_next, __ATOMIC_ACQUIRE);
    as_thr_t *t = &as_t_thr;
    t->guard++;
    /* The next malloc is glibc's if it lies in the object that holds
     * gnu_get_libc_version (dladdr allocates nothing: the heap the program
     * sees stays as it would be untraced, tracer.golden). */
    void *m = dlsym(RTLD_NEXT, "malloc");
    Dl_info mi, li;
    int foreign = m && dladdr(m, &mi) && dladdr((void *)gnu_get_libc_version, &li) &&
                  mi.dli_fbase != li.dli_fbase;
    if (foreign) {
        void *lc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        void *f[5] = {NULL};
        if (lc) {
            f[0] = dlsym(lc, "malloc");
            f[1] = dlsym(lc, "free");
            f[2] = dlsym(lc, "calloc");
            f[3] = dlsym(lc, "realloc");
            f[4] = dlsym(lc, "memalign");
            dlclose(lc);
        }
        if (f[0] && f[1] && f[2] && f[3] && f[4]) {
            *(void **)&g_libc.free = f[1];
            *(void **)&g_libc.calloc = f[2];
            *(void **)&g_libc.realloc = f[3];
            *(void **)&g_libc.memalign = f[4];
            *(void **)&g_libc.malloc = f[0];
        }
        g_next.c.malloc = (void *(*)(size_t))m;
        NEXT(c.free, "free");
        NEXT(c.calloc, "calloc");
        NEXT(c.realloc, "realloc");
        NEXT(c.memalign, "memalign");
        NEXT(aligned_alloc, "aligned_alloc");
        NEXT(posix_memalign, "posix_memalign");
        NEXT(valloc, "valloc");
        NEXT(pvalloc, "pvalloc");
        NEXT(mallopt, "mallopt");
        /* each name has a next definition, if only glibc's */
        foreign = g_next.c.free && g_next.c.calloc && g_next.c.realloc && g_next.c.memalign &&
                  g_next.aligned_alloc && g_next.posix_memalign && g_next.valloc &&
                  g_next.pvalloc && g_next.mallopt;
    }
    t->guard--;
    __atomic_store_n(&as_g_next, foreign ? NEXT_FOREIGN : NEXT_GLIBC, __ATOMIC_RELEASE);
    return foreign ? NEXT_FOREIGN : NEXT_GLIBC;
}

AS_HIDDEN int as_foreign_malloc(void)
{
    return next_kind() == NEXT_FOREIGN;
}

/* The hooks' one branch: glibc's entry point, or the slow way (the first
 * call, a foreign allocator). */
#define GLIBC() AS_LIKELY(__atomic_load_n(&as_g_next, __ATOMIC_RELAXED) == NEXT_GLIBC)

/* Whether this call goes to the foreign allocator. Not while the tracer's own
 * code runs on this thread (the guard: its init, the writer thread, dlsym,
 * libunwind): the allocator may be what called the tracer (jemalloc's first
 * mmap, made under its init lock, started our writer thread, whose TLS
 * calloc then waited for that lock), so tracer code allocates from glibc,
 * and such blocks are kept in the boot table in case the program frees
 * them (dlsym's error string). */
static inline int to_foreign(int k) { return k == NEXT_FOREIGN && !as_t_thr.guard; }

/* A block glibc just gave: kept in the boot table while another allocator
 * is the program's (the program may free it through that one's free). */
static inline void *from_glibc(int k, void *p) { return k == NEXT_GLIBC ? p : boot_keep(p); }

static __attribute__((noinline)) void *next_malloc(size_t n)
{
    int k = next_kind();
    return to_foreign(k) ? g_next.c.malloc(n) : from_glibc(k, g_libc.malloc(n));
}

static __attribute__((noinline)) void next_free(void *p)
{
    int k = next_kind();
    int boot = k != NEXT_GLIBC && boot_take(p);
    if (to_foreign(k) && !boot)
        g_next.c.free(p);
    else
        g_libc.free(p);
}

static __attribute__((noinline)) void *next_calloc(size_t a, size_t b)
{
    int k = next_kind();
    return to_foreign(k) ? g_next.c.calloc(a, b) : from_glibc(k, g_libc.calloc(a, b));
}

static __attribute__((noinline)) void *next_realloc(void *old, size_t n)
{
    int k = next_kind();
    int boot = k != NEXT_GLIBC && boot_take(old);
    if (to_foreign(k) && !boot)
        return g_next.c.realloc(old, n);
    /* glibc's block, or glibc's turn: glibc resizes it */
    void *p = g_libc.realloc(old, n);
    if (k != NEXT_GLIBC && (boot || !to_foreign(k)))
        boot_keep(p ? p : (n ? old : NULL));   /* a failed realloc keeps old */
    return p;
}

static __attribute__((noinline)) void *next_memalign(size_t align, size_t n)
{
    int k = next_kind();
    return to_foreign(k) ? g_next.c.memalign(align, n) : from_glibc(k, g_libc.memalign(align, n));
}

/* The rarely used entry points: the tracer never calls them. */
static inline int foreign_call(void) { return !GLIBC() && to_foreign(next_kind()); }

AS_EXPORT void *malloc(size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = GLIBC() ? __libc_malloc(n) : next_malloc(n);
    if (as_tracing(t))
        as_emit(t, AS_OP_MALLOC, failed(p), (uintptr_t)p, 0, n);
    return p;
}

AS_EXPORT void free(void *p)
{
    as_thr_t *t = &as_t_thr;
    if (as_tracing(t))
        as_emit(t, AS_OP_FREE, 0, 0, (uintptr_t)p, 0);
    if (GLIBC())
        __libc_free(p);
    else
        next_free(p);
}

AS_EXPORT void *calloc(size_t nmemb, size_t size)
{
    as_thr_t *t = &as_t_thr;
    void *p = GLIBC() ? __libc_calloc(nmemb, size) : next_calloc(nmemb, size);
    if (as_tracing(t)) {
        size_t total;
        if (__builtin_mul_overflow(nmemb, size, &total))
            total = SIZE_MAX;
        as_emit(t, AS_OP_CALLOC, failed(p), (uintptr_t)p, nmemb, total);
    }
    return p;
}

static inline void *realloc_common(as_thr_t *t, unsigned op, void *old, size_t n)
{
    void *p = GLIBC() ? __libc_realloc(old, n) : next_realloc(old, n);
    if (as_tracing(t)) {
        unsigned fl = 0;
        if (!p)
            fl = (n == 0 && old) ? AS_RECF_FREED : AS_RECF_FAILED;
        as_emit(t, op, fl, (uintptr_t)p, (uintptr_t)old, n);
    }
    return p;
}

AS_EXPORT void *realloc(void *old, size_t n)
{
    return realloc_common(&as_t_thr, AS_OP_REALLOC, old, n);
}

/* glibc 2.36 reallocarray.c: overflow -> ENOMEM, else realloc. */
AS_EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
    as_thr_t *t = &as_t_thr;
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        if (as_tracing(t))
            as_emit(t, AS_OP_REALLOCARRAY, AS_RECF_FAILED, 0, (uintptr_t)old, SIZE_MAX);
        return NULL;
    }
    return realloc_common(t, AS_OP_REALLOCARRAY, old, n);
}

AS_EXPORT void *memalign(size_t align, size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = GLIBC() ? __libc_memalign(align, n) : next_memalign(align, n);
    if (as_tracing(t))
        as_emit(t, AS_OP_MEMALIGN, failed(p), (uintptr_t)p, align, n);
    return p;
}

/* glibc 2.36 exports aligned_alloc as an alias of memalign (the C17 checks
 * came in 2.38), so the same entry point gives the same results and errno. */
AS_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = foreign_call() ? g_next.aligned_alloc(align, n) : __libc_memalign(align, n);
    if (as_tracing(t))
        as_emit(t, AS_OP_ALIGNED_ALLOC, failed(p), (uintptr_t)p, align, n);
    return p;
}

/* glibc 2.36 __posix_memalign: EINVAL unless alignment is a power-of-two
 * multiple of sizeof(void *); ENOMEM when the allocation fails. */
AS_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = NULL;
    int rc;
    if (foreign_call()) {
        rc = g_next.posix_memalign(&p, align, n);
        if (rc == 0)
            *out = p;
        else
            p = NULL;
    } else if (align % sizeof(void *) != 0 || align == 0 ||
        ((align / sizeof(void *)) & (align / sizeof(void *) - 1)) != 0) {
        rc = EINVAL;
    } else {
        p = __libc_memalign(align, n);
        rc = p ? 0 : ENOMEM;
        if (p)
            *out = p;
    }
    if (as_tracing(t))
        as_emit(t, AS_OP_POSIX_MEMALIGN, failed(p), (uintptr_t)p, align, n);
    return rc;
}

AS_EXPORT void *valloc(size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = foreign_call() ? g_next.valloc(n) : __libc_valloc(n);
    if (as_tracing(t))
        as_emit(t, AS_OP_VALLOC, failed(p), (uintptr_t)p, 0, n);
    return p;
}

AS_EXPORT void *pvalloc(size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = foreign_call() ? g_next.pvalloc(n) : __libc_pvalloc(n);
    if (as_tracing(t))
        as_emit(t, AS_OP_PVALLOC, failed(p), (uintptr_t)p, 0, n);
    return p;
}

/* malloc_trim has no __libc_ alias; the next definition is libc's. */
AS_HIDDEN int (*as_real_malloc_trim)(size_t);

AS_EXPORT int malloc_trim(size_t pad)
{
    as_thr_t *t = &as_t_thr;
    int on = as_tracing(t);
    int rc = as_real_malloc_trim ? as_real_malloc_trim(pad) : 0;
    if (on)
        as_emit(t, AS_OP_MALLOC_TRIM, 0, 0, pad, (uint64_t)(int64_t)rc);
    return rc;
}

AS_EXPORT int mallopt(int param, int value)
{
    as_thr_t *t = &as_t_thr;
    int rc = foreign_call() ? g_next.mallopt(param, value) : __libc_mallopt(param, value);
    if (as_tracing(t))
        as_emit(t, AS_OP_MALLOPT, rc ? 0 : AS_RECF_FAILED, (uint64_t)(int64_t)rc,
                (uint64_t)(int64_t)param, (uint64_t)(int64_t)value);
    return rc;
}

/* Phase marker: up to 24 bytes of the name travel in the record itself. */
AS_EXPORT void allocsim_mark(const char *name)
{
    as_thr_t *t = &as_t_thr;
    if (!as_tracing(t) || !name)
        return;
    uint64_t w[3] = {0, 0, 0};
    size_t n = strnlen(name, sizeof w);
    memcpy(w, name, n);
    as_emit(t, AS_OP_MARK, 0, w[0], w[1], w[2]);
}
