/*
 * tests/tracer/tr_cancel.c — malloc is not a cancellation point. A thread
 * with a cancel pending (deferred, the default) makes N malloc/free pairs
 * flat out, then reaches pthread_testcancel. Prints "cancelled after N"
 * when the cancel acted there, after every pair; under a tracer whose hook
 * sleeps in glibc's nanosleep while its ring is full, the cancel acted
 * inside malloc, pairs early. K more threads churn meanwhile (uncancelled)
 * so that the writer falls behind. Usage: tr_cancel N K
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static volatile long done;
static volatile int go, stop;
static long n;

static void *worker(void *arg)
{
    (void)arg;
    while (!go)
        ;
    for (long i = 0; i < n; i++) {
        char *volatile p = malloc(1 + (size_t)i % 300);
        free(p);
        done = i + 1;
    }
    pthread_testcancel();
    return NULL;
}

static void *helper(void *arg)
{
    for (size_t i = (size_t)arg; !stop; i++) {
        char *volatile p = malloc(1 + i % 300);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atol(argv[1]) : 1000000;
    int k = argc > 2 ? atoi(argv[2]) : 0;
    pthread_t t, h[16];
    void *r;
    if (k > 16)
        k = 16;
    for (int i = 0; i < k; i++)
        if (pthread_create(&h[i], NULL, helper, (void *)(size_t)i) != 0)
            return 2;
    if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_cancel(t) != 0)
        return 2;
    go = 1;
    pthread_join(t, &r);
    stop = 1;
    for (int i = 0; i < k; i++)
        pthread_join(h[i], NULL);
    printf("%s after %ld\n", r == PTHREAD_CANCELED ? "cancelled" : "returned", done);
    return 0;
}
