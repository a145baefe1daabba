/*
 * tests/tracer/tr_sigend.c — a program ended by a signal (tracer/rec_sig.c).
 * Usage: tr_sigend term|segv|abort|pipe|usr1|restore|quick|oneshot|sysv|nullfree N  |  tr_sigend spin|query
 *
 * Makes N malloc/free pairs and at once ends by the signal: raise(SIGTERM),
 * a write through a null pointer, abort(), a write to a pipe with no reader,
 * raise(SIGUSR1). No pause in between, so the tracer's quiet-time sync cannot
 * have written the last events: only finishing the trace in the signal's
 * path keeps them. Prints "mallocs N" first.
 *
 * oneshot, sysv: as term, after setting a one-shot SIGTERM handler
 * (sigaction with SA_RESETHAND; sysv_signal) that prints "handler" and
 * whether SIGTERM reads as SIG_DFL inside it, then raises SIGTERM again: the
 * common crash handler. The kernel's reset must not bypass the tracer's
 * default. oneshot first prints what sigaction reports of the handler.
 *
 * nullfree: N malloc/free pairs and N free(NULL) calls, then exit 0 (not a
 * signal: `allocsim info` counts the free(NULL) calls apart).
 *
 * quick: as term, but ends with quick_exit(3): no destructor runs, glibc
 * calls its internal _exit (not ours) after the at_quick_exit handlers.
 *
 * restore: as term, after setting its own SIGTERM handler and then SIG_DFL
 * back (as Python's faulthandler does on a crash): the default it set must
 * still finish the trace.
 *
 * spin: six threads allocate flat out; main prints "go" and waits for
 * a signal from outside (the trace must be finished while they go on).
 *
 * query: prints the disposition of SIGTERM as the program sees it, by
 * sigaction, signal() and sigset() (each "dfl" or "other"), then sets its own
 * SIGTERM handler, raises SIGTERM and exits 0 from it; with SIGHUP ignored
 * by the caller, prints whether it is still ignored.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void mine(int sig)
{
    (void)sig;
    static const char m[] = "own handler\n";
    if (write(1, m, sizeof m - 1) < 0)
        _exit(4);
    _exit(0);
}

static void say(const char *m)
{
    if (write(1, m, strlen(m)) < 0)
        _exit(4);
}

static void once(int sig)
{
    struct sigaction now;
    sigaction(sig, NULL, &now);
    say(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL ? "handler, now dfl\n"
                                                                  : "handler, now other\n");
    raise(sig);
}

static void *churn(void *arg)
{
    for (size_t i = (size_t)arg;; i++) {
        char *volatile p = malloc(16 + i % 500);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "spin")) {
        pthread_t t;
        for (size_t i = 0; i < 6; i++)
            if (pthread_create(&t, NULL, churn, (void *)i) != 0)
                return 2;
        printf("go\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    if (argc == 2 && !strcmp(argv[1], "query")) {
        struct sigaction old;
        sigaction(SIGTERM, NULL, &old);
        printf("sigaction %s\n", !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL ? "dfl" : "other");
        sighandler_t h = signal(SIGTERM, SIG_DFL);
        printf("signal %s\n", h == SIG_DFL ? "dfl" : "other");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        h = sigset(SIGTERM, SIG_DFL);
#pragma GCC diagnostic pop
        printf("sigset %s\n", h == SIG_DFL ? "dfl" : "other");
        sigaction(SIGHUP, NULL, &old);
        printf("sighup %s\n", old.sa_handler == SIG_IGN ? "ignored" : "not ignored");
        fflush(stdout);
        signal(SIGTERM, mine);
        raise(SIGTERM);
        return 3;
    }
    if (argc != 3)
        return 2;
    long n = atol(argv[2]);
    int fds[2];
    if (!strcmp(argv[1], "pipe") && (pipe(fds) != 0 || close(fds[0]) != 0))
        return 2;
    if (!strcmp(argv[1], "oneshot")) {
        struct sigaction a, q;
        memset(&a, 0, sizeof a);
        a.sa_handler = once;
        a.sa_flags = SA_RESETHAND;
        sigemptyset(&a.sa_mask);
        sigaction(SIGTERM, &a, NULL);
        sigaction(SIGTERM, NULL, &q);
        printf("query %s\n", q.sa_handler == once && (q.sa_flags & SA_RESETHAND) &&
                                      !(q.sa_flags & SA_SIGINFO) ? "once, resethand" : "other");
    } else if (!strcmp(argv[1], "sysv")) {
        sysv_signal(SIGTERM, once);
    }
    printf("mallocs %ld\n", n);
    fflush(stdout);
    for (long i = 0; i < n; i++) {
        char *volatile p = malloc(16 + (size_t)i % 500);
        p[0] = 1;
        free(p);
    }
    if (!strcmp(argv[1], "nullfree")) {
        for (long i = 0; i < n; i++) {
            void *volatile z = NULL;
            free(z);
        }
        return 0;
    }
    if (!strcmp(argv[1], "restore")) {
        struct sigaction d;
        memset(&d, 0, sizeof d);
        d.sa_handler = SIG_DFL;
        signal(SIGTERM, mine);
        sigaction(SIGTERM, &d, NULL);
    }
    if (!strcmp(argv[1], "term") || !strcmp(argv[1], "restore") || !strcmp(argv[1], "oneshot") ||
        !strcmp(argv[1], "sysv"))
        raise(SIGTERM);
    else if (!strcmp(argv[1], "usr1"))
        raise(SIGUSR1);
    else if (!strcmp(argv[1], "segv")) {
        volatile int *volatile z = NULL;   /* a real store, not one the compiler drops */
        *z = 1;
    }
    else if (!strcmp(argv[1], "quick"))
        quick_exit(3);
    else if (!strcmp(argv[1], "abort"))
        abort();
    else if (!strcmp(argv[1], "pipe"))
        (void)!write(fds[1], "x", 1);
    return 3;
}
