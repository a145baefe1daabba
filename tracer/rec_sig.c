/*
 * tracer/rec_sig.c — a program ended by a signal keeps its last events.
 *
 * The writer syncs the open chunk every ~100 ms and once the program is
 * quiet (rec_writer.c), so a killed process loses at most the events since.
 * That was everything a short-lived process made: `with Pool() as p:` ends
 * with terminate(), which SIGTERMs every worker right after the last task,
 * and under `allocsim record -- python3` a pool's workers' traces came back
 * empty. SIGKILL cannot be caught, but the signals whose default action ends
 * the process can, where the program leaves them at SIG_DFL:
 *
 * - at start (single-threaded), each signal of g_sigs whose disposition is
 *   SIG_DFL gets on_signal, with every signal of g_sigs blocked while it
 *   runs;
 * - on_signal finishes the trace as exit does (the writer drains every ring
 *   and closes the file as complete; at most 2 s, in case the writer is
 *   stuck behind a lock the interrupted thread holds), puts SIG_DFL back,
 *   unblocks the signal and raises it again: the process ends as it would
 *   have, by the same signal (a core where the default dumps one);
 * - the program never sees on_signal: sigaction, signal, bsd_signal,
 *   sysv_signal and sigset report SIG_DFL where the disposition is ours.
 *   A handler the program sets replaces ours; SIG_DFL it sets (back) gets
 *   ours again; a one-shot handler (SA_RESETHAND, sysv_signal, `signal` in
 *   strict C) is wrapped so that its reset gets ours too (below). Python's
 *   faulthandler (pytest turns it on) keeps the handler it found, ours shown
 *   as SIG_DFL, and on a crash puts it back and raises again: that SIG_DFL
 *   would have ended the process with the trace unfinished.
 *
 * Handlers run on program threads only (the writer blocks every signal).
 * A signal taken inside a hook is fine: the drain stops at each ring's
 * published records, and the writer takes no lock a hook holds (the arena
 * lock of a sample's mallinfo2 is the exception the 2 s bound is for).
 * A vfork child, or a process whose tracing is off, re-raises at once.
 * ALLOCSIM_OPTS `signals=0` leaves every disposition alone.
 * Raw rt_sigaction syscalls (Go's runtime, static code) see on_signal.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/rec_internal.h"

#define AS_EXPORT __attribute__((visibility("default")))
#define AS_SIG_WAIT_MS 2000

/* Default action: end the process (some with a core). Not SIGXFSZ (the
 * writer's own writes past RLIMIT_FSIZE raise it) nor SIGTRAP/SIGSYS
 * (debuggers, seccomp); never SIGKILL/SIGSTOP. */
static const int g_sigs[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGBUS, SIGFPE,
                             SIGSEGV, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2};

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static int (*real___sigaction)(int, const struct sigaction *, struct sigaction *);
static sighandler_t (*real_signal)(int, sighandler_t);
static sighandler_t (*real_bsd_signal)(int, sighandler_t);
static sighandler_t (*real_sysv_signal)(int, sighandler_t);
static sighandler_t (*real___sysv_signal)(int, sighandler_t);
static sighandler_t (*real_sigset)(int, sighandler_t);

#define REAL AS_REAL

/* glibc's sigaction, past the hook below */
static int sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return REAL(real_sigaction, "sigaction")(sig, act, old);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int e = errno;
    as_fini_within(AS_SIG_WAIT_MS);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sys_sigaction(sig, &dfl, NULL);
    /* a fault (not a kill): returning runs the faulting instruction again,
     * which now ends the process, its core showing the fault itself */
    if (si && si->si_code > 0 &&
        (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL)) {
        errno = e;
        return;
    }
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
    /* still here: the signal is blocked or ignored now (another thread
     * changed it); go on as a handled signal would */
    errno = e;
}

static int is_ours(const struct sigaction *a)
{
    return (a->sa_flags & SA_SIGINFO) && a->sa_sigaction == on_signal;
}

static struct sigaction g_mine;   /* on_signal's disposition, once as_sig_init ran */
static int g_mine_ok;

static int handled(int sig)
{
    for (unsigned i = 0; i < sizeof g_sigs / sizeof *g_sigs; i++)
        if (g_sigs[i] == sig)
            return 1;
    return 0;
}

AS_HIDDEN void as_sig_init(void)
{
    memset(&g_mine, 0, sizeof g_mine);
    g_mine.sa_sigaction = on_signal;
    g_mine.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&g_mine.sa_mask);
    for (unsigned i = 0; i < sizeof g_sigs / sizeof *g_sigs; i++)
        sigaddset(&g_mine.sa_mask, g_sigs[i]);
    for (unsigned i = 0; i < sizeof g_sigs / sizeof *g_sigs; i++) {
        struct sigaction old;
        if (sys_sigaction(g_sigs[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            sys_sigaction(g_sigs[i], &g_mine, NULL);
    }
    g_mine_ok = 1;
}

/* ---- One-shot handlers (SA_RESETHAND, sysv_signal) --------------------------
 * The kernel resets such a disposition to the real SIG_DFL when it delivers
 * the signal, not to ours, so the usual crash handler (print a backtrace,
 * raise the signal again, die by the default) ended the process with the
 * trace unfinished. For the signals of g_sigs, the program's one-shot action
 * is installed as `oneshot` with the same mask and flags but SA_RESETHAND;
 * oneshot does the reset itself, to ours, and then calls the program's
 * handler. sigaction reports the program's action as it set it. When several
 * threads take the signal at once, only the first gets the handler (the
 * kernel's reset is atomic too); the others take the default. */
static struct sigaction g_prog[65];   /* the program's one-shot action, by signal */
static int g_armed[65];               /* 1: g_prog[sig] is installed as oneshot */

static void oneshot(int sig, siginfo_t *si, void *uc)
{
    if (sig <= 0 || sig > 64 || !__atomic_exchange_n(&g_armed[sig], 0, __ATOMIC_ACQ_REL)) {
        on_signal(sig, si, uc);
        return;
    }
    struct sigaction p = g_prog[sig];
    int e = errno;
    sys_sigaction(sig, &g_mine, NULL);
    errno = e;
    if (p.sa_flags & SA_SIGINFO)
        p.sa_sigaction(sig, si, uc);
    else
        p.sa_handler(sig);
}

static int is_oneshot(const struct sigaction *a)
{
    return (a->sa_flags & SA_SIGINFO) && a->sa_sigaction == oneshot;
}

/* sigaction(sig, act, old) through real (glibc's sigaction or
 * __sigaction), with one-shot handlers of g_sigs wrapped. */
static int set_action(int (*real)(int, const struct sigaction *, struct sigaction *), int sig,
                      const struct sigaction *act, struct sigaction *old)
{
    int wrap = act && g_mine_ok && handled(sig) && (act->sa_flags & SA_RESETHAND) &&
               ((act->sa_flags & SA_SIGINFO) ||
                (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN));
    int k = sig > 0 && sig <= 64 ? sig : 0;
    struct sigaction prev = g_prog[k], w;
    int prev_armed = __atomic_load_n(&g_armed[k], __ATOMIC_ACQUIRE);
    if (wrap) {
        w = *act;
        w.sa_flags = (act->sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
        w.sa_sigaction = oneshot;
        g_prog[sig] = *act;
        __atomic_store_n(&g_armed[sig], 1, __ATOMIC_RELEASE);
    }
    int rc = real(sig, wrap ? &w : act, old);
    if (rc != 0) {   /* nothing changed: nor does our record of it */
        if (wrap) {
            g_prog[sig] = prev;
            __atomic_store_n(&g_armed[sig], prev_armed, __ATOMIC_RELEASE);
        }
        return rc;
    }
    if (old && is_oneshot(old))
        *old = prev;
    if (act && !wrap && sig > 0 && sig <= 64)
        __atomic_store_n(&g_armed[sig], 0, __ATOMIC_RELEASE);
    return rc;
}

/* The program just set sig to SIG_DFL (the real call did): ours again. */
static void redefault(int sig, sighandler_t set)
{
    if (set == SIG_DFL && g_mine_ok && handled(sig))
        sys_sigaction(sig, &g_mine, NULL);
}

/* ---- Hooks: the program sees SIG_DFL where the disposition is ours ---------- */

static void as_default(struct sigaction *old)
{
    if (old && is_ours(old)) {
        memset(old, 0, sizeof *old);
        old->sa_handler = SIG_DFL;
    }
}

/* After sigaction(sig, act, old) returned rc. */
static int after_action(int sig, const struct sigaction *act, struct sigaction *old, int rc)
{
    if (rc == 0) {
        as_default(old);
        if (act && !(act->sa_flags & SA_SIGINFO))
            redefault(sig, act->sa_handler);
    }
    return rc;
}

AS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!REAL(real_sigaction, "sigaction")) {
        errno = ENOSYS;
        return -1;
    }
    return after_action(sig, act, old, set_action(real_sigaction, sig, act, old));
}

AS_EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!REAL(real___sigaction, "__sigaction")) {
        errno = ENOSYS;
        return -1;
    }
    return after_action(sig, act, old, set_action(real___sigaction, sig, act, old));
}

/* After signal(sig, h) and its kin returned r (the previous handler). */
static sighandler_t after_set(int sig, sighandler_t h, sighandler_t r)
{
    if (r == SIG_ERR)
        return r;
    redefault(sig, h);
    if (r == (sighandler_t)(void (*)(void))oneshot && sig > 0 && sig <= 64) {
        /* replaced the program's one-shot action: it is what was there */
        __atomic_store_n(&g_armed[sig], 0, __ATOMIC_RELEASE);
        const struct sigaction *p = &g_prog[sig];
        return (p->sa_flags & SA_SIGINFO) ? (sighandler_t)(void (*)(void))p->sa_sigaction
                                          : p->sa_handler;
    }
    return r == (sighandler_t)(void (*)(void))on_signal ? SIG_DFL : r;
}

AS_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
    return after_set(sig, h, REAL(real_signal, "signal")(sig, h));
}

AS_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
    return after_set(sig, h, REAL(real_bsd_signal, "bsd_signal")(sig, h));
}

/* sysv_signal: a one-shot handler (SA_RESETHAND | SA_NODEFER, glibc's
 * definition), the same as `signal` in a program built with strict C (-std=c99
 * without _DEFAULT_SOURCE). A handler for a signal of g_sigs is set through
 * set_action; the rest as glibc does it. */
static sighandler_t sysv_set(sighandler_t (*real)(int, sighandler_t), int sig, sighandler_t h)
{
    if (!(g_mine_ok && handled(sig) && h != SIG_DFL && h != SIG_IGN && h != SIG_ERR))
        return after_set(sig, h, real(sig, h));
    struct sigaction a, old;
    memset(&a, 0, sizeof a);
    a.sa_handler = h;
    a.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&a.sa_mask);
    if (set_action(sys_sigaction, sig, &a, &old) != 0)
        return SIG_ERR;
    as_default(&old);
    return (old.sa_flags & SA_SIGINFO) ? (sighandler_t)(void (*)(void))old.sa_sigaction
                                       : old.sa_handler;
}

AS_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
    if (!REAL(real_sysv_signal, "sysv_signal")) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    return sysv_set(real_sysv_signal, sig, h);
}

AS_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
    if (!REAL(real___sysv_signal, "__sysv_signal")) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    return sysv_set(real___sysv_signal, sig, h);
}

AS_EXPORT sighandler_t sigset(int sig, sighandler_t h)
{
    return after_set(sig, h, REAL(real_sigset, "sigset")(sig, h));
}
