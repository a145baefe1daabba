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
 */
#include <errno.h>
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

AS_EXPORT void *malloc(size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = __libc_malloc(n);
    if (as_tracing(t))
        as_emit(t, AS_OP_MALLOC, failed(p), (uintptr_t)p, 0, n);
    return p;
}

AS_EXPORT void free(void *p)
{
    as_thr_t *t = &as_t_thr;
    if (as_tracing(t))
        as_emit(t, AS_OP_FREE, 0, 0, (uintptr_t)p, 0);
    __libc_free(p);
}

AS_EXPORT void *calloc(size_t nmemb, size_t size)
{
    as_thr_t *t = &as_t_thr;
    void *p = __libc_calloc(nmemb, size);
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
    void *p = __libc_realloc(old, n);
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
    void *p = __libc_memalign(align, n);
    if (as_tracing(t))
        as_emit(t, AS_OP_MEMALIGN, failed(p), (uintptr_t)p, align, n);
    return p;
}

/* glibc 2.36 exports aligned_alloc as an alias of memalign (the C17 checks
 * came in 2.38), so the same entry point gives the same results and errno. */
AS_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = __libc_memalign(align, n);
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
    if (align % sizeof(void *) != 0 || align == 0 ||
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
    void *p = __libc_valloc(n);
    if (as_tracing(t))
        as_emit(t, AS_OP_VALLOC, failed(p), (uintptr_t)p, 0, n);
    return p;
}

AS_EXPORT void *pvalloc(size_t n)
{
    as_thr_t *t = &as_t_thr;
    void *p = __libc_pvalloc(n);
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
    int rc = __libc_mallopt(param, value);
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
