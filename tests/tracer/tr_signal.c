/*
 * tests/tracer/tr_signal.c — allocating signal handlers: SIGALRM from an
 * interval timer every 200 us interrupts a malloc/free loop, and the handler
 * itself mallocs and frees. malloc is not async-signal-safe, so the loop
 * blocks the signal around its own calls and lets it in between them (as a
 * careful program must); the handler's events land in the same thread's
 * ring between the loop's. Prints whether the handler ran enough.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

static volatile long hits;

static void on_alarm(int sig)
{
    (void)sig;
    void *volatile p = malloc(40);
    free(p);
    hits++;
}

int main(void)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    long n = 0;
    sigset_t al;
    sigemptyset(&al);
    sigaddset(&al, SIGALRM);
    while (hits < 200 && n < 5000000) {
        sigprocmask(SIG_BLOCK, &al, NULL);
        void *volatile p = malloc(24);
        free(p);
        sigprocmask(SIG_UNBLOCK, &al, NULL);
        n++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("handler ran %s\n", hits >= 200 ? "enough" : "too few");
    return 0;
}
