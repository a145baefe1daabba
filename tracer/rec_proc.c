/*
 * tracer/rec_proc.c — everything around the heap calls: application memory
 * (mmap, munmap, mremap, brk, sbrk), threads (pthread_create trampoline; exit
 * via the pthread key destructor in rec_ring.c), processes (fork, the exec
 * family including fexecve and execveat, posix_spawn, _exit/_Exit, the
 * library destructor for exit) and dlopen (the module map is captured again for --callsite).
 *
 * glibc's malloc reaches mmap/munmap/brk through internal aliases, not the
 * PLT, so the mmap events seen here are the application's own (tested).
 * The real functions are found with dlsym(RTLD_NEXT) at init; a hook that runs
 * before that resolves on the spot (never from inside a heap hook).
 *
 * Process rules (issue 2 §3): a forked child starts its own file with its
 * parent's pid in the header (pthread_atfork child handler: the child has only
 * the forking thread, so the rings are reset and a fresh writer thread starts);
 * exec first flushes and closes the file (a failed exec opens the next name);
 * posix_spawn flushes; exit, _exit and _Exit flush and close. A vfork child
 * shares our memory, so it is recognised (getpid() differs from ours) and left
 * alone: closing the parent's file from there would be wrong.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/rec_elf.h"
#include "tracer/rec_internal.h"

#define AS_EXPORT __attribute__((visibility("default")))

extern char **environ;

AS_HIDDEN int (*as_real_pthread_create)(pthread_t *, const pthread_attr_t *,
                                        void *(*)(void *), void *);
AS_HIDDEN extern int (*as_real_malloc_trim)(size_t);
static pid_t (*real_fork)(void);
static void *(*real_dlopen)(const char *, int);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static int (*real_execveat)(int, const char *, char *const[], char *const[], int);
static int (*real_posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                               const posix_spawnattr_t *, char *const[], char *const[]);
static int (*real_posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const[], char *const[]);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);
static int (*real_brk)(void *);
static void *(*real_sbrk)(intptr_t);

void *as_resolve(const char *name)
{
    as_thr_t *t = &as_t_thr;
    t->guard++;
    void *p = dlsym(RTLD_NEXT, name);
    t->guard--;
    return p;
}

#define REAL AS_REAL

static void child_after_fork(void);
static void keep_env_init(void);
static void as_fini(void);

AS_HIDDEN void as_proc_init(void)
{
    (void)REAL(as_real_pthread_create, "pthread_create");
    (void)REAL(as_real_malloc_trim, "malloc_trim");
    (void)REAL(real_fork, "fork");
    (void)REAL(real_dlopen, "dlopen");
    (void)REAL(real_execve, "execve");
    (void)REAL(real_execvp, "execvp");
    (void)REAL(real_execvpe, "execvpe");
    (void)REAL(real_fexecve, "fexecve");
    (void)REAL(real_execveat, "execveat");
    (void)REAL(real_posix_spawn, "posix_spawn");
    (void)REAL(real_posix_spawnp, "posix_spawnp");
    (void)REAL(real_mmap, "mmap");
    (void)REAL(real_munmap, "munmap");
    (void)REAL(real_mremap, "mremap");
    (void)REAL(real_brk, "brk");
    (void)REAL(real_sbrk, "sbrk");
    pthread_atfork(NULL, NULL, child_after_fork);
    /* quick_exit runs no destructor and ends through glibc's internal _exit,
     * not ours: at_quick_exit handlers run last-registered first, so this
     * one, registered before main, finishes the trace after the program's. */
    at_quick_exit(as_fini);
    keep_env_init();
}


/* ---- Application memory ------------------------------------------------------ */
static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (real_mmap)
        return real_mmap(addr, len, prot, flags, fd, off);
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return (void *)r;
}

static int do_munmap(void *addr, size_t len)
{
    return real_munmap ? real_munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
}

AS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    as_thr_t *t = &as_t_thr;
    int on = as_tracing(t);
    void *p = do_mmap(addr, len, prot, flags, fd, off);
    if (on)
        as_emit(t, AS_OP_MMAP, p == MAP_FAILED ? AS_RECF_FAILED : 0,
                p == MAP_FAILED ? 0 : (uintptr_t)p, len,
                (uint64_t)(uint32_t)prot | (uint64_t)(uint32_t)flags << 32);
    return p;
}

AS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
}

/* Logged before the real call, like free: the range may be mapped again by
 * another thread as soon as it is gone. */
AS_EXPORT int munmap(void *addr, size_t len)
{
    as_thr_t *t = &as_t_thr;
    if (as_tracing(t))
        as_emit(t, AS_OP_MUNMAP, 0, 0, (uintptr_t)addr, len);
    if (real_munmap)
        return real_munmap(addr, len);
    return (int)syscall(SYS_munmap, addr, len);
}

AS_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    as_thr_t *t = &as_t_thr;
    int on = as_tracing(t);
    void *naddr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        naddr = va_arg(ap, void *);
        va_end(ap);
    }
    void *p;
    if (REAL(real_mremap, "mremap"))
        p = real_mremap(old, old_len, new_len, flags, naddr);
    else
        p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, naddr);
    if (on)
        as_emit2(t, AS_OP_MREMAP, p == MAP_FAILED ? AS_RECF_FAILED : 0,
                 p == MAP_FAILED ? 0 : (uintptr_t)p, (uintptr_t)old, new_len,
                 old_len, 0, 0);
    return p;
}

AS_EXPORT int brk(void *addr)
{
    as_thr_t *t = &as_t_thr;
    int on = as_tracing(t);
    (void)REAL(real_sbrk, "sbrk");
    void *old = real_sbrk ? real_sbrk(0) : NULL;
    int rc = REAL(real_brk, "brk") ? real_brk(addr) : -1;
    if (on)
        as_emit(t, AS_OP_BRK, rc ? AS_RECF_FAILED : 0, rc ? 0 : (uintptr_t)addr,
                (uintptr_t)old, 0);
    return rc;
}

AS_EXPORT void *sbrk(intptr_t incr)
{
    as_thr_t *t = &as_t_thr;
    int on = as_tracing(t);
    void *old = REAL(real_sbrk, "sbrk") ? real_sbrk(incr) : (void *)-1;
    if (on) {
        int bad = old == (void *)-1;
        as_emit(t, AS_OP_SBRK, bad ? AS_RECF_FAILED : 0,
                bad ? 0 : (uintptr_t)old + (uintptr_t)incr, (uint64_t)(int64_t)incr, 0);
    }
    return old;
}

/* ---- Threads ------------------------------------------------------------------- */
AS_HIDDEN void as_ring_bind_thread(as_ring_t *r);

static void *thread_trampoline(void *arg)
{
    as_ring_t *r = arg;
    void *(*fn)(void *) = r->start_fn;
    void *fa = r->start_arg;
    as_ring_bind_thread(r);
    as_thr_t *t = &as_t_thr;
    if (as_g_state == AS_ST_ON)
        as_emit(t, AS_OP_THREAD_START, 0, 0, 0, 0);
    return fn(fa);
}

AS_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                             void *(*fn)(void *), void *arg)
{
    as_thr_t *t = &as_t_thr;
    if (!REAL(as_real_pthread_create, "pthread_create"))
        return EAGAIN;
    if (!as_tracing(t))
        return as_real_pthread_create(th, attr, fn, arg);
    t->guard++;
    as_ring_t *r = as_ring_new();
    t->guard--;
    if (!r)
        return as_real_pthread_create(th, attr, fn, arg);
    r->start_fn = fn;
    r->start_arg = arg;
    /* From now on seqs come from a locked xadd: set before the thread exists. */
    __atomic_store_n(&as_g_multi, 1, __ATOMIC_SEQ_CST);
    int rc = as_real_pthread_create(th, attr, thread_trampoline, r);
    if (rc != 0)
        atomic_store(&r->state, AS_RING_FREE);
    return rc;
}

/* ---- Processes -------------------------------------------------------------------- */
static void child_after_fork(void)
{
    if (as_g_state != AS_ST_ON)
        return;
    as_thr_t *t = &as_t_thr;
    t->guard++;
    pid_t parent = as_g_pid;
    as_g_pid = getpid();
    as_writer_abandon();
    as_rings_reset_after_fork(t->ring);
    if (!t->ring)
        atomic_store(&as_g_nthreads, 0);
    if (as_g_nofollow || as_writer_start(parent) != 0)
        __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
    t->guard--;
}

AS_EXPORT pid_t fork(void)
{
    as_thr_t *t = &as_t_thr;
    int on = as_tracing(t);
    pid_t parent = getpid();
    if (!REAL(real_fork, "fork")) {
        errno = ENOSYS;
        return -1;
    }
    pid_t r = real_fork();
    if (r > 0 && on)
        as_emit(t, AS_OP_FORK, 0, (uint64_t)r, 0, 0);
    else if (r == 0 && as_g_state == AS_ST_ON && !t->guard)
        as_emit(t, AS_OP_FORK, 0, 0, (uint64_t)parent, 0);
    else if (r < 0 && on)
        as_emit(t, AS_OP_FORK, AS_RECF_FAILED, 0, 0, 0);
    return r;
}

/* ---- The environment an exec'd program gets ------------------------------------
 * Following children means the programs they exec load us too. Programs that
 * build a child's environment themselves drop us: `env -i`, Python's
 * `subprocess.run(..., env={...})`, a shell's `env -u`, sudo. Like Bear, which
 * faces the same with build tools, the exec and posix_spawn hooks put back
 * what the child needs (not with --no-follow): our library first in
 * LD_PRELOAD, and ALLOCSIM_PREFIX and ALLOCSIM_OPTS as this process got
 * them, where the environment passed lacks them. An environment that has them
 * is passed as it is. The copy lives in its own mapping (no malloc in a
 * vfork child, which shares our heap), unmapped if the exec fails. */
#define ENV_MAX 4096
static char g_self[ENV_MAX];          /* our library's path, "" if unknown */
static char g_env_pfx[ENV_MAX + 20];  /* "ALLOCSIM_PREFIX=...", "" if unset */
static char g_env_opts[ENV_MAX + 20]; /* "ALLOCSIM_OPTS=...", "" if unset */

static int copy_var(char *out, size_t cap, const char *name)
{
    const char *v = getenv(name);
    size_t n = strlen(name), l = v ? strlen(v) : 0;
    if (!v || n + 1 + l + 1 > cap)
        return v == NULL;   /* too long to keep: no injection (below) */
    memcpy(out, name, n);
    out[n] = '=';
    memcpy(out + n + 1, v, l + 1);
    return 1;
}

static void keep_env_init(void)
{
    Dl_info di;
    if (as_g_nofollow || !dladdr((void *)keep_env_init, &di) || !di.dli_fname
        || strlen(di.dli_fname) >= sizeof g_self || !strstr(di.dli_fname, "liballocsim-record"))
        return;
    if (!copy_var(g_env_pfx, sizeof g_env_pfx, "ALLOCSIM_PREFIX")
        || !copy_var(g_env_opts, sizeof g_env_opts, "ALLOCSIM_OPTS"))
        return;
    /* a relative LD_PRELOAD entry (by hand) is relative to the directory we
     * started in: a child put back elsewhere needs it whole */
    size_t k = 0;
    if (di.dli_fname[0] != '/') {
        if (!getcwd(g_self, sizeof g_self))
            return;
        k = strlen(g_self);
        g_self[k++] = '/';
    }
    if (k + strlen(di.dli_fname) >= sizeof g_self) {
        g_self[0] = '\0';
        return;
    }
    strcpy(g_self + k, di.dli_fname);
}

static int env_is(const char *e, const char *name, size_t n)
{
    return !strncmp(e, name, n) && e[n] == '=';
}

typedef struct env_copy {
    void *map;
    size_t len;
} env_copy_t;

/* What the program at path (relative to dirfd) is, tracer/rec_elf.h's
 * AS_ELF_*; AS_ELF_OTHER when unknown. */
static int elf_kind_at(int dirfd, const char *path)
{
    if (!path)
        return AS_ELF_OTHER;
    int fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return AS_ELF_OTHER;
    const char *san;
    unsigned machine;
    int kind = as_elf_kind(fd, &san, &machine);
    syscall(SYS_close, fd);
    return kind;
}

/* envp as the exec'd program gets it (see above); c->map is set when it is
 * a copy. path (relative to dirfd): the program, when known. Two kinds of
 * program get no preload put back: an ELF of another class or machine (the
 * loader would print "wrong ELF class" into its stderr; where the
 * environment kept the preload, it does so without us too), and one built
 * with a sanitizer, whose runtime must come first: our entry is taken out
 * of its LD_PRELOAD, so it runs as it would untraced (ASan exited, TSan and
 * LSan crashed, under any preload). */
static char *const *keep_env_for(int dirfd, const char *path, char *const envp[], env_copy_t *c)
{
    c->map = NULL;
    if (!g_self[0])
        return envp;
    size_t n = 0;
    long pre = -1;
    int has_pfx = !g_env_pfx[0], has_opts = !g_env_opts[0];
    for (; envp && envp[n]; n++) {
        if (env_is(envp[n], "LD_PRELOAD", 10))
            pre = (long)n;
        else if (env_is(envp[n], "ALLOCSIM_PREFIX", 15))
            has_pfx = 1;
        else if (env_is(envp[n], "ALLOCSIM_OPTS", 13))
            has_opts = 1;
    }
    int has_self = pre >= 0 && strstr(envp[pre], "liballocsim-record");
    int kind = elf_kind_at(dirfd, path), strip = kind == AS_ELF_SANITIZER && has_self;
    if (!strip && ((has_self && has_pfx && has_opts) || kind == AS_ELF_FOREIGN ||
                   kind == AS_ELF_SANITIZER))
        return envp;
    const char *theirs = pre >= 0 ? envp[pre] + 11 : "";
    size_t slen = 11 + strlen(g_self) + 1 + strlen(theirs) + 1;
    c->len = (n + 4) * sizeof(char *) + slen;
    c->map = do_mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        return envp;
    }
    char **v = c->map, *str = (char *)(v + n + 4);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((long)i != pre || (has_self && !strip))
            v[k++] = envp[i];
    if (strip) {
        memcpy(str, "LD_PRELOAD=", 11);
        if (as_preload_strip(str + 11, slen - 11, theirs))
            v[k++] = str;
        v[k] = NULL;
        return v;
    }
    if (!has_self) {
        /* ours first, as record sets it; theirs after */
        char *w = str;
        memcpy(w, "LD_PRELOAD=", 11);
        w += 11;
        w = stpcpy(w, g_self);
        if (*theirs) {
            *w++ = ':';
            strcpy(w, theirs);
        }
        v[k++] = str;
    }
    if (!has_pfx)
        v[k++] = g_env_pfx;
    if (!has_opts)
        v[k++] = g_env_opts;
    v[k] = NULL;
    return v;
}

/* keep_env_for a program named as execvp names it: the first executable
 * `file` on PATH (the caller's PATH, as glibc's execvp searches it). */
static char *const *keep_env_p(const char *file, char *const envp[], env_copy_t *c)
{
    char buf[4096];
    const char *path = NULL;
    if (strchr(file, '/')) {
        path = file;
    } else if (g_self[0]) {
        const char *p = getenv("PATH");
        size_t fl = strlen(file);
        for (p = p ? p : "/bin:/usr/bin"; !path && *p;) {
            const char *e = strchr(p, ':');
            size_t dl = e ? (size_t)(e - p) : strlen(p);
            if (dl + 1 + fl < sizeof buf) {
                memcpy(buf, p, dl);
                buf[dl] = '/';
                memcpy(buf + dl + 1, file, fl + 1);
                if (access(dl ? buf : file, X_OK) == 0)
                    path = dl ? buf : file;
            }
            p = e ? e + 1 : p + dl;
        }
    }
    return keep_env_for(AT_FDCWD, path, envp, c);
}

static void env_done(env_copy_t *c)
{
    if (c->map) {
        int e = errno;
        do_munmap(c->map, c->len);
        errno = e;
    }
}

/* Our own process (not a vfork child sharing our memory) and traced. */
static int own_and_on(void)
{
    return as_g_state == AS_ST_ON && !as_t_thr.guard && getpid() == as_g_pid;
}

static int before_exec(void)
{
    if (as_g_state == AS_ST_UNINIT)
        as_init();
    if (!own_and_on())
        return 0;
    as_thr_t *t = &as_t_thr;
    as_emit(t, AS_OP_EXEC, 0, 0, 0, 0);
    t->guard++;
    as_writer_request(AS_REQ_CLOSE);
    as_say_flush();
    t->guard--;
    return 1;
}

/* The exec failed: this image goes on, in the next file name. */
static void after_failed_exec(int flushed)
{
    if (!flushed)
        return;
    int e = errno;
    as_thr_t *t = &as_t_thr;
    t->guard++;
    as_writer_request(AS_REQ_RESUME);
    t->guard--;
    errno = e;
}

AS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    /* A shell searching PATH calls execve on every candidate: only a file
     * that can be executed is worth closing the trace for. */
    int f = access(path, X_OK) == 0 ? before_exec() : 0;
    env_copy_t c;
    char *const *env = keep_env_for(AT_FDCWD, path, envp, &c);
    int rc = REAL(real_execve, "execve") ? real_execve(path, argv, env) : -1;
    env_done(&c);
    after_failed_exec(f);
    return rc;
}

AS_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

AS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    int f = before_exec();
    env_copy_t c;
    char *const *env = keep_env_p(file, envp, &c);
    int rc = REAL(real_execvpe, "execvpe") ? real_execvpe(file, argv, env) : -1;
    env_done(&c);
    after_failed_exec(f);
    return rc;
}

AS_EXPORT int execvp(const char *file, char *const argv[])
{
    int f = before_exec();
    env_copy_t c;
    char *const *env = keep_env_p(file, environ, &c);
    int rc = REAL(real_execvpe, "execvpe") ? real_execvpe(file, argv, env) : -1;
    env_done(&c);
    after_failed_exec(f);
    return rc;
}

AS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    int f = before_exec();
    env_copy_t c;
    char *const *env = keep_env_for(AT_FDCWD, NULL, envp, &c);
    int rc = REAL(real_fexecve, "fexecve") ? real_fexecve(fd, argv, env) : -1;
    env_done(&c);
    after_failed_exec(f);
    return rc;
}

/* glibc's fexecve makes the execveat system call itself, not through this
 * symbol, so an fexecve is never seen twice. */
AS_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                       int flags)
{
    int f = before_exec();
    env_copy_t c;
    char *const *env = keep_env_for(dirfd, (flags & AT_EMPTY_PATH) && !*path ? NULL : path, envp, &c);
    int rc = REAL(real_execveat, "execveat") ? real_execveat(dirfd, path, argv, env, flags) : -1;
    env_done(&c);
    after_failed_exec(f);
    return rc;
}

/* execl, execle, execlp: collect the arguments on the stack (no malloc). */
#define COLLECT_ARGS(arg0, envp_out)                                  \
    va_list ap;                                                       \
    size_t n = 1;                                                     \
    va_start(ap, arg0);                                               \
    while (va_arg(ap, char *))                                        \
        n++;                                                          \
    va_end(ap);                                                       \
    char *argv[n + 1];                                                \
    argv[0] = (char *)arg0;                                           \
    va_start(ap, arg0);                                               \
    for (size_t i = 1; i <= n; i++)                                   \
        argv[i] = va_arg(ap, char *);                                 \
    envp_out;                                                         \
    va_end(ap)

AS_EXPORT int execl(const char *path, const char *arg, ...)
{
    COLLECT_ARGS(arg, (void)0);
    return execve(path, argv, environ);
}

AS_EXPORT int execlp(const char *file, const char *arg, ...)
{
    COLLECT_ARGS(arg, (void)0);
    return execvp(file, argv);
}

AS_EXPORT int execle(const char *path, const char *arg, ...)
{
    char **envp;
    COLLECT_ARGS(arg, envp = va_arg(ap, char **));
    return execve(path, argv, envp);
}

/* posix_spawn: the child is a new process with its own file; flush ours so the
 * files read in order. */
static void before_spawn(void)
{
    if (as_g_state == AS_ST_UNINIT)
        as_init();
    if (!own_and_on())
        return;
    as_thr_t *t = &as_t_thr;
    t->guard++;
    as_writer_request(AS_REQ_FLUSH);
    t->guard--;
}

AS_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    before_spawn();
    if (!REAL(real_posix_spawn, "posix_spawn"))
        return ENOSYS;
    env_copy_t c;
    int rc = real_posix_spawn(pid, path, fa, at, argv, keep_env_for(AT_FDCWD, path, envp, &c));
    env_done(&c);
    return rc;
}

AS_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    before_spawn();
    if (!REAL(real_posix_spawnp, "posix_spawnp"))
        return ENOSYS;
    env_copy_t c;
    int rc = real_posix_spawnp(pid, file, fa, at, argv, keep_env_p(file, envp, &c));
    env_done(&c);
    return rc;
}

/* Ends tracing for good: everything published is written and the file closed
 * as complete. Later calls (other threads still running, later destructors)
 * pass straight through. */
static void as_fini(void)
{
    if (!own_and_on())
        return;
    as_thr_t *t = &as_t_thr;
    t->guard++;
    as_writer_request(AS_REQ_CLOSE);
    __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
    as_say_flush();
    t->guard--;
}

/* as_fini from a signal handler (rec_sig.c): the interrupted thread may be
 * inside a hook; the writer gets ms milliseconds and writes the records
 * made before the signal (other threads go on allocating meanwhile). */
void as_fini_within(unsigned ms)
{
    if (as_g_state != AS_ST_ON || getpid() != as_g_pid)
        return;
    as_thr_t *t = &as_t_thr;
    t->guard++;
    as_writer_close_at(__atomic_load_n(&as_g_seq, __ATOMIC_ACQUIRE), ms);
    __atomic_store_n(&as_g_state, AS_ST_OFF, __ATOMIC_RELEASE);
    as_say_flush();
    t->guard--;
}

/* exit(): our destructor runs after the program's own (it was initialised
 * before the executable, so it is finalised after it). */
__attribute__((destructor)) static void as_dtor(void) { as_fini(); }

AS_EXPORT void _exit(int status)
{
    as_fini();
    for (;;)
        syscall(SYS_exit_group, status);
}

AS_EXPORT void _Exit(int status)
{
    as_fini();
    for (;;)
        syscall(SYS_exit_group, status);
}

/* ---- dlopen --------------------------------------------------------------------- */
AS_EXPORT void *dlopen(const char *file, int mode)
{
    if (!REAL(real_dlopen, "dlopen"))
        return NULL;
    void *h = real_dlopen(file, mode);
    if (h && as_callsite_on() && as_g_state == AS_ST_ON && !as_t_thr.guard) {
        as_thr_t *t = &as_t_thr;
        t->guard++;
        as_callsite_init();          /* wrappers may live in the new object */
        t->guard--;
        as_writer_modules_changed();
    }
    return h;
}
