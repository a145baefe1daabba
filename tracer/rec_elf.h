/*
 * tracer/rec_elf.h — what an executable is, from its ELF headers: whether the
 * loader can preload the tracer into it and whether that would break it.
 * Used by `allocsim record` on CMD (tools/cmd_record.c) and by the exec hooks
 * on every program CMD runs (tracer/rec_proc.c), so it allocates nothing and
 * prints nothing: preads into stack buffers. Header-only (static functions).
 *
 * - another ELF class or machine: the loader cannot preload our library and
 *   prints "wrong ELF class ... ignored" into the program's stderr;
 * - no PT_INTERP (static): LD_PRELOAD does nothing;
 * - built with a sanitizer's allocator (from .dynstr: gcc's programs name
 *   libasan.so & co. and reference __asan_init, clang's export __asan_init
 *   from a runtime linked in): the runtime replaces malloc and, for ASan,
 *   exits when a preloaded library comes before it ("ASan runtime does not
 *   come first in initial library list"); TSan and LSan crash.
 */
#ifndef AS_REC_ELF_H
#define AS_REC_ELF_H

#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

enum {
    AS_ELF_OTHER,       /* not ELF, or unreadable: exec will say */
    AS_ELF_DYNAMIC,     /* ours to trace */
    AS_ELF_STATIC,
    AS_ELF_FOREIGN,     /* another class or machine */
    AS_ELF_SANITIZER,
};

#if defined(__x86_64__)
#define AS_ELF_MACHINE EM_X86_64
#define AS_ELF_MACHINE_NAME "x86-64"
#elif defined(__aarch64__)
#define AS_ELF_MACHINE EM_AARCH64
#define AS_ELF_MACHINE_NAME "aarch64"
#else
#define AS_ELF_MACHINE 0                /* not checked */
#define AS_ELF_MACHINE_NAME "this machine"
#endif
#define AS_ELF_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)

/* The sanitizer whose runtime the .dynsym strings of fd name, or NULL. Reads
 * the string table in windows that overlap by the longest name, so every
 * occurrence lies whole in one; a name counts where a string starts. */
static inline const char *as_elf_sanitizer(int fd, const ElfW(Ehdr) *eh)
{
    static const struct {
        const char *sym, *name;
    } san[] = {{"__asan_init", "AddressSanitizer"}, {"__hwasan_init", "HWAddressSanitizer"},
               {"__tsan_init", "ThreadSanitizer"},  {"__msan_init", "MemorySanitizer"},
               {"liblsan.so", "LeakSanitizer"}};
    enum { WIN = 4096, OVERLAP = 16 };
    if (eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shnum == 0 || eh->e_shnum > 4096)
        return NULL;
    ElfW(Shdr) tab[32];                 /* section headers, read 32 at a time */
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        ElfW(Shdr) sh, str;
        if (i % 32 == 0) {
            unsigned k = eh->e_shnum - i < 32 ? eh->e_shnum - i : 32;
            if (pread(fd, tab, k * sizeof sh, (off_t)(eh->e_shoff + (uint64_t)i * sizeof sh)) !=
                (ssize_t)(k * sizeof sh))
                return NULL;
        }
        sh = tab[i % 32];
        if (sh.sh_type != SHT_DYNSYM || sh.sh_link >= eh->e_shnum ||
            pread(fd, &str, sizeof str, (off_t)(eh->e_shoff + (uint64_t)sh.sh_link * sizeof sh)) !=
                (ssize_t)sizeof str ||
            str.sh_size == 0 || str.sh_size > (64u << 20))
            continue;
        char buf[WIN];
        for (uint64_t o = 0; o < str.sh_size; o += WIN - OVERLAP) {
            uint64_t want = str.sh_size - o < WIN ? str.sh_size - o : WIN;
            ssize_t n = pread(fd, buf, want, (off_t)(str.sh_offset + o));
            if (n <= 0)
                break;
            for (unsigned k = 0; k < sizeof san / sizeof *san; k++) {
                size_t l = strlen(san[k].sym);
                for (const char *p = buf, *end = buf + n;
                     (p = memmem(p, (size_t)(end - p), san[k].sym, l)) != NULL; p++)
                    if ((p == buf && o == 0) || (p > buf && p[-1] == '\0'))
                        return san[k].name;
            }
            if ((uint64_t)n < want || o + (uint64_t)n >= str.sh_size)
                break;
        }
    }
    return NULL;
}

/* What the file open on fd is (AS_ELF_*); *san gets the sanitizer's name
 * for AS_ELF_SANITIZER, *machine the header's e_machine. */
static inline int as_elf_kind(int fd, const char **san, unsigned *machine)
{
    unsigned char id[sizeof(ElfW(Ehdr))];
    *san = NULL;
    *machine = 0;
    ssize_t n = pread(fd, id, sizeof id, 0);
    if (n < EI_NIDENT + 4 || memcmp(id, ELFMAG, SELFMAG) != 0)
        return AS_ELF_OTHER;
    uint16_t m;
    memcpy(&m, id + EI_NIDENT + 2, sizeof m);   /* e_machine: the same place in both classes */
    *machine = m;
    if (id[EI_CLASS] != AS_ELF_CLASS || (AS_ELF_MACHINE && m != AS_ELF_MACHINE))
        return AS_ELF_FOREIGN;
    ElfW(Ehdr) eh;
    if (n != (ssize_t)sizeof eh)
        return AS_ELF_OTHER;
    memcpy(&eh, id, sizeof eh);
    int dynamic = 0;
    ElfW(Phdr) ph[16];                  /* program headers, read 16 at a time */
    if (eh.e_phentsize != sizeof ph[0])
        return AS_ELF_OTHER;
    for (unsigned i = 0; i < eh.e_phnum && !dynamic; i++) {
        if (i % 16 == 0) {
            unsigned k = eh.e_phnum - i < 16 ? eh.e_phnum - i : 16;
            if (pread(fd, ph, k * sizeof ph[0], (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph[0])) !=
                (ssize_t)(k * sizeof ph[0]))
                break;
        }
        dynamic = ph[i % 16].p_type == PT_INTERP;
    }
    if (!dynamic)
        return AS_ELF_STATIC;
    *san = as_elf_sanitizer(fd, &eh);
    return *san ? AS_ELF_SANITIZER : AS_ELF_DYNAMIC;
}

#endif
