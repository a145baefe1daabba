/*
 * tracer/rec_fd.c — the tracer's own file descriptors, out of the program's way.
 *
 * Since session 15 the writer thread keeps them in a descriptor table of its
 * own ("The writer's private table" below): the program's table holds none
 * of them once the first event after the writer's start has been recorded.
 * Everything that follows is how they were kept out of the way while they
 * lived in the program's table, which is still the case for those first
 * moments and wherever unshare fails.
 *
 * The trace file and the /proc files the writer samples are descriptors in
 * the program's own table. Programs close descriptors they never opened:
 * daemons, Python's os.closerange and subprocess's close_fds close
 * "everything from 3 up"; shells dup2 onto 3-9 for `exec 3>file`. Then a
 * file the program opens gets the number, and before this file existed the
 * writer's next chunk went into it (a Python program's output file, found
 * with `allocsim record -- python3` and os.closerange). So:
 *
 * - Every tracer descriptor is moved high when opened: above the soft
 *   RLIMIT_NOFILE where it can be (as_fd_solo), out of the program's range,
 *   else F_DUPFD_CLOEXEC from just below min(RLIMIT_NOFILE, 1024), away from
 *   the numbers programs pick by hand; and kept in a registry of the
 *   variables that hold them.
 * - close, close_range and closefrom leave the tracer's descriptors open; a
 *   close of one fails with EBADF, as it would without the tracer (the
 *   program never opened it). dup2/dup3 from one fail with EBADF too.
 * - dup2/dup3 onto one first moves the tracer's descriptor to another number
 *   (in the writer thread, between two of its writes: as_writer_fd_vacate),
 *   then does what the program asked.
 * - A descriptor closed behind the library's back (a raw close syscall) is
 *   caught by the writer, which checks before each write that its
 *   descriptor still names the trace file (as_writer_t, AS_ERR_FDLOST): the
 *   trace stops with one line on stderr instead of writing into another file.
 *
 * Tracer code (the writer thread, and hooks with the recursion guard held:
 * dlsym, libunwind) passes straight through the hooks. A vfork child shares
 * our memory but has its own copy of the table: its dup2 is passed through
 * (moving the parent's descriptor would be wrong), and its close of ours
 * still fails with EBADF (the copy closes at exec: every tracer descriptor is
 * close-on-exec). Known gap: between the open() of a tracer descriptor and
 * its registration (nanoseconds, once per file) a program thread closing
 * descriptors it does not own is not stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/rec_internal.h"

#define AS_EXPORT __attribute__((visibility("default")))
#define AS_OWN_MAX 8

/* The variables holding the tracer's descriptors (var NULL: a free entry),
 * with the file each was opened on. Read by any thread's hooks; changed by
 * tracer code only, one thread at a time (init, a fork child before its
 * writer starts, then the writer thread). */
static struct own {
    int *_Atomic var;
    uint64_t dev, ino;
} g_own[AS_OWN_MAX];

static int (*real_close)(int);
static int (*real_close_range)(unsigned, unsigned, int);
static void (*real_closefrom)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);

#define REAL AS_REAL

AS_HIDDEN void as_fd_init(void)
{
    (void)REAL(real_close, "close");
    (void)REAL(real_close_range, "close_range");
    (void)REAL(real_closefrom, "closefrom");
    (void)REAL(real_dup, "dup");
    (void)REAL(real_dup2, "dup2");
    (void)REAL(real_fcntl, "fcntl");
    (void)REAL(real_fcntl64, "fcntl64");
    (void)REAL(real_dup3, "dup3");
}

static inline int load(int *v) { return __atomic_load_n(v, __ATOMIC_ACQUIRE); }

AS_HIDDEN int as_fd_ours(int fd)
{
    if (fd < 0)
        return 0;
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *v = atomic_load_explicit(&g_own[i].var, memory_order_acquire);
        if (v && load(v) == fd)
            return 1;
    }
    return 0;
}

/* ---- The writer's private table --------------------------------------------
 * A program that lists its descriptors (/proc/self/fd, fstat on every number
 * below its limit) saw the tracer's: CPython's test_subprocess failed two
 * tests under record. So once the writer thread runs, it takes a table of its
 * own (unshare(CLONE_FILES): a copy of the program's), closes its copies of
 * the program's descriptors at once, and keeps only the tracer's; the next
 * event a program thread records closes the program's copies of the
 * tracer's (AS_SLOW_LEAVE: no thread waits for another). From then on
 * the program's table holds none of ours: nothing to see, to close or to
 * dup2 over, and no number or RLIMIT_NOFILE room taken. Closing those copies
 * releases none of the program's POSIX record locks: Linux keeps such a lock
 * per table (fl_owner is the files_struct), not per process. The registry and
 * the hooks above stay for when unshare fails (seccomp, an old kernel). */
static __thread int t_private;   /* this thread's table holds only the tracer's */
static int g_private;            /* the tracer's descriptors are in the writer's table */

AS_HIDDEN int as_fd_private_thread(void) { return t_private; }

static unsigned own_in(unsigned lo, unsigned hi, unsigned out[AS_OWN_MAX]);

/* Closes [lo, hi] in this thread's table. */
static void close_span(unsigned lo, unsigned hi)
{
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    /* no close_range (Linux < 5.9): one by one, up to the hard limit */
    struct rlimit rl;
    unsigned end = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < (1u << 20)
                       ? (unsigned)rl.rlim_max : 1u << 20;
    for (unsigned fd = lo; fd <= hi && fd < end; fd++)
        syscall(SYS_close, fd);
}

/* In the writer thread, at its start: 0 and a private table, or -1 (shared,
 * as before). */
AS_HIDDEN int as_fd_take_private(void)
{
    if (syscall(SYS_unshare, CLONE_FILES) != 0)
        return -1;
    unsigned own[AS_OWN_MAX], n = own_in(0, ~0u, own);
    unsigned a = 0;   /* the first number not yet closed */
    for (unsigned i = 0; i < n; i++) {
        if (own[i] > a)
            close_span(a, own[i] - 1);
        if (own[i] + 1 > a)
            a = own[i] + 1;
    }
    close_span(a, ~0u);
    t_private = 1;
    __atomic_or_fetch(&as_g_slow, AS_SLOW_LEAVE, __ATOMIC_RELEASE);   /* as_fd_leave_shared */
    return 0;
}

/* In a program thread (as_emit, AS_SLOW_LEAVE): the program's copies of the
 * tracer's descriptors are closed and forgotten by the registry (the
 * variables keep the numbers: the writer's). Once. g_private goes first: a
 * fork in between leaves the child stale copies (close-on-exec), never a
 * close of the child's own numbers (as_fd_close). */
AS_HIDDEN void as_fd_leave_shared(void)
{
    if (!(__atomic_fetch_and(&as_g_slow, ~AS_SLOW_LEAVE, __ATOMIC_ACQ_REL) & AS_SLOW_LEAVE))
        return;   /* another thread did it */
    g_private = 1;
    int e = errno;
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *v = atomic_load_explicit(&g_own[i].var, memory_order_acquire);
        int fd = v ? load(v) : -1;
        uint64_t dev = g_own[i].dev, ino = g_own[i].ino;
        atomic_store_explicit(&g_own[i].var, NULL, memory_order_release);
        /* only while it still names our file: a raw close_range of the
         * program's (unseen by the hooks) may have freed the number, and the
         * program reused it */
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == dev &&
            (uint64_t)st.st_ino == ino)
            syscall(SYS_close, fd);
    }
    errno = e;
}

/* A fork child: the parent's descriptors were in the writer's table, which
 * the child does not have; the next writer starts shared again. */
AS_HIDDEN void as_fd_after_fork(void)
{
    __atomic_and_fetch(&as_g_slow, ~AS_SLOW_LEAVE, __ATOMIC_RELEASE);
    t_private = 0;
    g_private = 0;
}

/* The lowest number a tracer descriptor is moved to: below the soft limit,
 * with room for every entry, and at most 1024 - 2 * AS_OWN_MAX (a huge limit
 * would make the kernel's table that large). 0 if the limit leaves no room. */
static int high_base(void)
{
    struct rlimit rl;
    rlim_t top = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
        top = rl.rlim_cur;
    return top > 3 + 2 * AS_OWN_MAX ? (int)(top - 2 * AS_OWN_MAX) : 0;
}

/* While the process is single-threaded (init, a fork child before its
 * writer starts: as_fd_solo), a tracer descriptor goes above the soft
 * RLIMIT_NOFILE: the soft limit is raised for the one F_DUPFD (towards the
 * hard limit) and put back. A descriptor keeps working above a lowered
 * limit, and the program, which cannot open a number at or above it, has
 * every number below it to itself: a program that opens files until EMFILE
 * gets as many as without the tracer (tracer.fdlimit). Not past a soft
 * limit of AS_FD_LIFT_MAX (the kernel's table grows to the highest open
 * number, and every fork copies it), nor where soft = hard: there, just
 * below min(soft, 1024) as in other phases. Only while single-threaded: a
 * program thread's setrlimit between the two calls would be undone. */
#define AS_FD_LIFT_MAX 4096

static int g_solo;

AS_HIDDEN void as_fd_solo(int on) { g_solo = on; }

/* F_DUPFD_CLOEXEC by syscall: the tracer's own calls must not meet its
 * hooks (fcntl of one of ours is EBADF to the program). */
static int sys_dupfd(int fd, int min)
{
    return (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min);
}

/* fd duplicated to a free number >= min (close-on-exec) and closed; fd itself
 * if that fails (no free number there). */
static int move_to(int fd, int min)
{
    if (min <= 0 || fd >= min)
        return fd;
    int nfd = sys_dupfd(fd, min);
    if (nfd < 0)
        return fd;
    syscall(SYS_close, fd);
    return nfd;
}

/* fd moved to at least the soft limit (close-on-exec) and closed; -1 if the
 * limit cannot be lifted or has no room. */
static int lift(int fd)
{
    struct rlimit rl, up;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > AS_FD_LIFT_MAX || rl.rlim_cur < 3 || rl.rlim_max <= rl.rlim_cur)
        return -1;
    up = rl;
    up.rlim_cur = rl.rlim_cur + 2 * AS_OWN_MAX < rl.rlim_max ? rl.rlim_cur + 2 * AS_OWN_MAX
                                                              : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &up) != 0)
        return -1;
    int nfd = sys_dupfd(fd, (int)rl.rlim_cur);
    setrlimit(RLIMIT_NOFILE, &rl);
    if (nfd < 0)
        return -1;
    syscall(SYS_close, fd);
    return nfd;
}

AS_HIDDEN int as_fd_open(int *var, const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        *var = -1;
        return -1;
    }
    if (t_private) {   /* the writer's own table: nobody else's numbers */
        __atomic_store_n(var, fd, __ATOMIC_RELEASE);
        return fd;
    }
    int e = errno, lifted = g_solo ? lift(fd) : -1;
    errno = e;
    fd = lifted >= 0 ? lifted : move_to(fd, high_base());
    __atomic_store_n(var, fd, __ATOMIC_RELEASE);
    struct stat st;
    int have = fstat(fd, &st) == 0;
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *none = NULL;
        if (atomic_load(&g_own[i].var))
            continue;
        g_own[i].dev = have ? (uint64_t)st.st_dev : 0;
        g_own[i].ino = have ? (uint64_t)st.st_ino : 0;
        if (atomic_compare_exchange_strong(&g_own[i].var, &none, var))
            return fd;
    }
    return fd;   /* registry full (a tracer bug): the descriptor works, unguarded */
}

AS_HIDDEN void as_fd_forget(int *var)
{
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *v = var;
        atomic_compare_exchange_strong(&g_own[i].var, &v, NULL);
    }
    __atomic_store_n(var, -1, __ATOMIC_RELEASE);
}

AS_HIDDEN void as_fd_close(int *var)
{
    int fd = load(var);
    as_fd_forget(var);
    /* while private, only the writer's table holds it (a fork child's
     * thread, abandoning the parent's, must not close its own number) */
    if (fd >= 0 && (!g_private || t_private))
        syscall(SYS_close, fd);
}

AS_HIDDEN int as_fd_check(int *var)
{
    int fd = load(var);
    if (t_private)   /* no one else can close or replace it */
        return fd >= 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return 0;
    for (unsigned i = 0; i < AS_OWN_MAX; i++)
        if (atomic_load_explicit(&g_own[i].var, memory_order_acquire) == var)
            return (uint64_t)st.st_dev == g_own[i].dev && (uint64_t)st.st_ino == g_own[i].ino;
    return 0;
}

AS_HIDDEN void as_fd_close_number(int fd)
{
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *v = atomic_load_explicit(&g_own[i].var, memory_order_acquire);
        if (v && load(v) == fd) {
            as_fd_close(v);
            return;
        }
    }
}

AS_HIDDEN int as_fd_move(int fd)
{
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *v = atomic_load_explicit(&g_own[i].var, memory_order_acquire);
        if (!v || load(v) != fd)
            continue;
        int base = high_base();
        int nfd = sys_dupfd(fd, base > fd ? base : fd + 1);
        if (nfd < 0)
            nfd = sys_dupfd(fd, 3);
        if (nfd < 0)
            return -1;
        __atomic_store_n(v, nfd, __ATOMIC_RELEASE);
        syscall(SYS_close, fd);
        return nfd;
    }
    return -1;
}

/* ---- Hooks ------------------------------------------------------------------ */

static inline int program_call(void) { return !as_t_thr.guard; }

AS_EXPORT int close(int fd)
{
    if (AS_UNLIKELY(as_fd_ours(fd)) && program_call()) {
        errno = EBADF;
        return -1;
    }
    return REAL(real_close, "close")(fd);
}

/* The tracer's descriptors in [lo, hi], sorted; their count. */
static unsigned own_in(unsigned lo, unsigned hi, unsigned out[AS_OWN_MAX])
{
    unsigned n = 0;
    for (unsigned i = 0; i < AS_OWN_MAX; i++) {
        int *v = atomic_load_explicit(&g_own[i].var, memory_order_acquire);
        int fd = v ? load(v) : -1;
        if (fd < 0 || (unsigned)fd < lo || (unsigned)fd > hi)
            continue;
        unsigned k = n++;
        for (; k && out[k - 1] > (unsigned)fd; k--)
            out[k] = out[k - 1];
        out[k] = (unsigned)fd;
    }
    return n;
}

static int range(unsigned lo, unsigned hi, int flags)
{
    if (REAL(real_close_range, "close_range"))
        return real_close_range(lo, hi, flags);
    return (int)syscall(SYS_close_range, lo, hi, flags);
}

AS_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    unsigned own[AS_OWN_MAX], n;
    if (!program_call() || lo > hi || !(n = own_in(lo, hi, own)))
        return range(lo, hi, flags);
    /* the gaps between ours; the first error is the call's */
    unsigned a = lo;
    for (unsigned i = 0; i < n; a = own[i++] + 1)
        if (own[i] > a && range(a, own[i] - 1, flags) != 0)
            return -1;
    if (a && a <= hi)   /* a == 0: ours was UINT_MAX */
        return range(a, hi, flags);
    return 0;
}

AS_EXPORT void closefrom(int lo)
{
    unsigned own[AS_OWN_MAX], n, from = lo < 0 ? 0 : (unsigned)lo;
    if (!program_call() || !(n = own_in(from, ~0u, own))) {
        REAL(real_closefrom, "closefrom")(lo);
        return;
    }
    for (unsigned i = 0; i < n; from = own[i++] + 1)
        if (own[i] > from && range(from, own[i] - 1, 0) != 0)
            for (unsigned fd = from; fd < own[i]; fd++)   /* no close_range: one by one */
                REAL(real_close, "close")((int)fd);
    REAL(real_closefrom, "closefrom")((int)from);
}

/* old is the tracer's (unknown to the program: EBADF); new is: move ours. */
static int before_dup(int old, int new)
{
    if (!program_call())
        return 0;
    if (as_fd_ours(old)) {
        errno = EBADF;
        return -1;
    }
    if (old != new && as_fd_ours(new) && getpid() == as_g_pid) {
        int e = errno;
        as_writer_fd_vacate(new);
        errno = e;
    }
    return 0;
}

AS_EXPORT int dup2(int old, int new)
{
    if (AS_UNLIKELY(before_dup(old, new)))
        return -1;
    return REAL(real_dup2, "dup2")(old, new);
}

AS_EXPORT int dup3(int old, int new, int flags)
{
    if (AS_UNLIKELY(before_dup(old, new)))
        return -1;
    return REAL(real_dup3, "dup3")(old, new, flags);
}

AS_EXPORT int dup(int fd)
{
    if (AS_UNLIKELY(as_fd_ours(fd)) && program_call()) {
        errno = EBADF;
        return -1;
    }
    return REAL(real_dup, "dup")(fd);
}

/* Programs probe descriptors they do not own with fcntl: bash's redirections
 * ask F_GETFD whether the target number is open and, if so, save a copy
 * (F_DUPFD) to restore after the command: a copy of the trace file, which
 * shares its offset and was written on. The tracer's are not open, to the
 * program. The third argument is passed on as glibc's fcntl takes it (one
 * pointer-sized word). */
static int fcntl_common(int (**real)(int, int, ...), const char *name, int fd, int cmd,
                        va_list ap)
{
    void *arg = va_arg(ap, void *);
    if (AS_UNLIKELY(as_fd_ours(fd)) && program_call()) {
        errno = EBADF;
        return -1;
    }
    return REAL(*real, name)(fd, cmd, arg);
}

AS_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int rc = fcntl_common(&real_fcntl, "fcntl", fd, cmd, ap);
    va_end(ap);
    return rc;
}

AS_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int rc = fcntl_common(&real_fcntl64, "fcntl64", fd, cmd, ap);
    va_end(ap);
    return rc;
}
