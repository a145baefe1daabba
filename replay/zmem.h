/*
 * replay/zmem.h — per-id tables that grow into the kernel's zero pages.
 *
 * Trace ids are dense in a real trace, but a crafted one may name a single id
 * near the reader's limit (2^28). A table grown with realloc and memset to
 * that id costs its whole size (4 GiB at 16 bytes an id) in resident memory
 * and time; anonymous memory grown with mremap costs the pages written: the
 * kernel hands out the rest as zero pages on first use. MAP_NORESERVE: nor
 * is what is never written charged against overcommit. Used by the engine's
 * block table, the reader's id table and native replay's builder.
 */
#ifndef AS_ZMEM_H
#define AS_ZMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

/* Grows *p (*cap elements of elem bytes, 0 = none yet) to at least need + 1
 * elements, doubling from `first`; the new ones read as zero. 0, or -1 (no
 * memory, or a size that does not fit) with *p unchanged. */
static inline int as_zgrow(void **p, uint64_t *cap, uint64_t need, size_t elem, uint64_t first)
{
    uint64_t n = *cap ? *cap : first;
    while (n <= need) {
        if (n > (SIZE_MAX / 2) / elem)
            return -1;
        n *= 2;
    }
    size_t bytes = (size_t)n * elem;
    void *a = *cap ? mremap(*p, (size_t)*cap * elem, bytes, MREMAP_MAYMOVE)
                   : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED)
        return -1;
    /* Read at random, an entry an event: huge pages where the kernel gives
     * them for the asking (THP "madvise"). Only a hint. */
    size_t huge = (size_t)2 << 20;
    if (bytes >= 4 * huge) {
        uintptr_t lo = ((uintptr_t)a + huge - 1) & ~(uintptr_t)(huge - 1);
        uintptr_t hi = ((uintptr_t)a + bytes) & ~(uintptr_t)(huge - 1);
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
    *p = a;
    *cap = n;
    return 0;
}

static inline void as_zfree(void *p, uint64_t cap, size_t elem)
{
    if (cap)
        munmap(p, (size_t)cap * elem);
}

#endif /* AS_ZMEM_H */
