/*
 * tracer/rec_callsite.c — --callsite: one frame per event and the module map.
 *
 * The frame is the first return address outside this library and outside the
 * known allocation wrappers (operator new/delete, PyMem_* / PyObject_*,
 * g_malloc & co, xmalloc & co, strdup), found with libunwind's unw_backtrace.
 * Wrapper address ranges are resolved once (init, and again after dlopen) with
 * dlsym + the symbol's st_size, never by symbolizing per event. Static
 * functions behind a wrapper (CPython's _PyObject_Malloc) cannot be resolved
 * that way and show up as the callsite.
 *
 * The module map (path, load bias, extent, GNU build-id from PT_NOTE) goes to
 * the trace from the writer thread via dl_iterate_phdr; callsites are stored
 * as raw addresses and symbolized offline, never in the traced process.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tracer/rec_internal.h"

#define AS_WRAP_MAX 96
static struct { uintptr_t lo, hi; } g_wrap[AS_WRAP_MAX];
static unsigned g_nwrap;
static uintptr_t g_self_lo, g_self_hi;

static const char *const g_wrapper_names[] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvSt11align_val_t",
    "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_Free",
    "PyMem_RawMalloc", "PyMem_RawCalloc", "PyMem_RawRealloc", "PyMem_RawFree",
    "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc", "PyObject_Free",
    "g_malloc", "g_malloc0", "g_realloc", "g_free", "g_try_malloc", "g_try_malloc0",
    "g_try_realloc", "g_malloc_n", "g_malloc0_n", "g_realloc_n", "g_strdup",
    "xmalloc", "xcalloc", "xrealloc", "xzalloc", "xstrdup",
    "strdup", "strndup",
};

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (me >= lo && me < hi) {
        g_self_lo = lo;
        g_self_hi = hi;
        return 1;
    }
    return 0;
}

void as_callsite_init(void)
{
    if (!g_self_hi)
        dl_iterate_phdr(find_self, (void *)(uintptr_t)&as_callsite_init);
    for (size_t i = 0; i < sizeof g_wrapper_names / sizeof *g_wrapper_names; i++) {
        void *p = dlsym(RTLD_DEFAULT, g_wrapper_names[i]);
        if (!p)
            continue;
        uintptr_t a = (uintptr_t)p;
        if (a >= g_self_lo && a < g_self_hi)
            continue;   /* our own interposer */
        Dl_info di;
        const ElfW(Sym) *sym = NULL;
        size_t len = 64;   /* no symbol size: a conservative guess */
        if (dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size)
            len = sym->st_size;
        unsigned k;
        for (k = 0; k < g_nwrap; k++)
            if (g_wrap[k].lo == a)
                break;
        if (k < g_nwrap || g_nwrap == AS_WRAP_MAX)
            continue;
        g_wrap[g_nwrap].lo = a;
        g_wrap[g_nwrap].hi = a + len;
        __atomic_store_n(&g_nwrap, g_nwrap + 1, __ATOMIC_RELEASE);
    }
}

static int skipped(uintptr_t ip)
{
    if (ip >= g_self_lo && ip < g_self_hi)
        return 1;
    unsigned n = __atomic_load_n(&g_nwrap, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (ip > g_wrap[i].lo && ip <= g_wrap[i].hi)   /* return addresses */
            return 1;
    return 0;
}

uint64_t as_callsite_find(void)
{
    void *buf[24];
    int n = unw_backtrace(buf, 24);
    for (int i = 0; i < n; i++)
        if (!skipped((uintptr_t)buf[i]))
            return (uintptr_t)buf[i];
    return 0;
}

static char g_exe_path[4096];

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    as_writer_t *w = arg;
    uintptr_t hi = 0;
    const uint8_t *id = NULL;
    size_t idlen = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && ph->p_vaddr + ph->p_memsz > hi)
            hi = ph->p_vaddr + ph->p_memsz;
        if (ph->p_type == PT_NOTE && !id) {
            const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
            const uint8_t *end = p + ph->p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
                const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
                const uint8_t *name = p + sizeof *nh;
                const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
                if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                    !memcmp(name, "GNU", 4)) {
                    id = desc;
                    idlen = nh->n_descsz;
                    break;
                }
                p = desc + ((nh->n_descsz + 3) & ~3u);
            }
        }
    }
    const char *path = info->dlpi_name;
    if (!path || !*path) {
        if (!g_exe_path[0]) {
            ssize_t n = readlink("/proc/self/exe", g_exe_path, sizeof g_exe_path - 1);
            g_exe_path[n > 0 ? n : 0] = '\0';
        }
        path = g_exe_path;
    }
    as_writer_module(w, path, info->dlpi_addr, hi, id, idlen);
    return 0;
}

void as_callsite_emit_modules(as_writer_t *w)
{
    dl_iterate_phdr(module_cb, w);
}
