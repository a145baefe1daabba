/*
 * tracer/rec_rss.c — resident bytes of the shared libraries that only the
 * tracer brought into the process (itself, libzstd, libunwind, liblzma), for
 * the ground-truth samples' tracer_rss (FORMAT.md §4.4, REPLAY.md "predicted
 * process RSS").
 *
 * Why: the predicted process RSS is the recorded RSS minus the tracer minus
 * the real heap, plus the model's heap. The tracer's anonymous memory is
 * counted exactly (mincore of its own mappings, rec_writer.c), but the pages
 * of its libraries that the process has faulted in are in /proc/self/statm
 * too: ~0.5 MiB on a small C program, which made every prediction of
 * doc/ACCURACY.md about that much too high.
 *
 * How: file-backed pages are in RSS when this process has them mapped, which
 * mincore cannot tell (it answers for the page cache). /proc/self/pagemap
 * can: bit 63 of a page's entry is "present in our page tables", readable
 * without privileges for our own process. The ranges are the PT_LOAD
 * segments of those libraries, found once with dl_iterate_phdr on the writer
 * thread (never in a hook: it takes the loader's lock); pagemap is opened per
 * call, so a forked child reads its own.
 *
 * Not attributed: pages of libc that only the tracer touches (~0.3 MiB on a
 * small program), and any use the program makes of the same libraries itself
 * (a program that also links libzstd would have some of these pages anyway).
 */
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "tracer/rec_internal.h"

#define RSS_MAX_RANGES 32

static struct { uintptr_t lo, hi; } g_range[RSS_MAX_RANGES];
static unsigned g_nrange;
static int g_scanned;

/* Libraries the tracer links (tracer/CMakeLists.txt) and theirs. Matched on
 * the file name's start, so sonames and versions do not matter. */
static const char *const g_ours[] = {"libzstd.so", "libunwind.so", "libunwind-", "liblzma.so"};

static int is_ours(const struct dl_phdr_info *info)
{
    const char *name = info->dlpi_name;
    if (!name || !*name)
        return 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!strncmp(base, "liballocsim-record", 18))
        return 1;
    for (size_t i = 0; i < sizeof g_ours / sizeof *g_ours; i++)
        if (!strncmp(base, g_ours[i], strlen(g_ours[i])))
            return 1;
    return 0;
}

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (!is_ours(info))
        return 0;
    uintptr_t pg = (uintptr_t)getpagesize(), prev_hi = 0;
    for (int i = 0; i < info->dlpi_phnum && g_nrange < RSS_MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !ph->p_memsz)
            continue;
        uintptr_t lo = (info->dlpi_addr + ph->p_vaddr) & ~(pg - 1);
        uintptr_t hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + pg - 1) & ~(pg - 1);
        if (lo < prev_hi)   /* segments share a page at their seam: count it once */
            lo = prev_hi;
        if (lo >= hi)
            continue;
        prev_hi = hi;
        g_range[g_nrange].lo = lo;
        g_range[g_nrange].hi = hi;
        g_nrange++;
    }
    return 0;
}

/* Pages of [lo, hi) present in this process's page tables. */
static uint64_t present_pages(int fd, uintptr_t lo, uintptr_t hi)
{
    static uint64_t ent[512];
    uintptr_t pg = (uintptr_t)getpagesize();
    uint64_t n = 0;
    for (uintptr_t a = lo; a < hi;) {
        size_t want = (hi - a) / pg;
        if (want > sizeof ent / sizeof *ent)
            want = sizeof ent / sizeof *ent;
        ssize_t got = pread(fd, ent, want * sizeof *ent, (off_t)(a / pg * sizeof *ent));
        if (got <= 0)
            break;
        size_t k = (size_t)got / sizeof *ent;
        for (size_t i = 0; i < k; i++)
            n += ent[i] >> 63;
        a += k * pg;
    }
    return n;
}

static int g_pagemap = -1;         /* /proc/self/pagemap */

uint64_t as_tracer_lib_resident(void)
{
    if (!g_scanned) {
        g_scanned = 1;
        dl_iterate_phdr(collect, NULL);
    }
    if (!g_nrange)
        return 0;
    /* kept open, a tracer descriptor (rec_fd.c) */
    if (g_pagemap >= 0 && !as_fd_check(&g_pagemap))
        as_fd_forget(&g_pagemap);   /* closed behind our back: the number is not ours */
    if (g_pagemap < 0 && as_fd_open(&g_pagemap, "/proc/self/pagemap", O_RDONLY, 0) < 0)
        return 0;
    uint64_t n = 0;
    for (unsigned i = 0; i < g_nrange; i++)
        n += present_pages(g_pagemap, g_range[i].lo, g_range[i].hi);
    return n * (uint64_t)getpagesize();
}

void as_rss_open(void)
{
    if (g_pagemap < 0)
        as_fd_open(&g_pagemap, "/proc/self/pagemap", O_RDONLY, 0);
}

void as_rss_after_fork(void)
{
    as_fd_close(&g_pagemap);
}
