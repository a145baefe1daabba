/*
 * tests/tracer/tr_mainexit.c — main starts a worker and ends with
 * pthread_exit; the worker makes 100000 malloc/free pairs, prints "worker
 * done" and returns. glibc then ends the process (exit status 0) when the
 * last thread exits; the tracer's writer thread must not keep it alive.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        void *volatile p = malloc(32 + (unsigned)i % 200);
        free(p);
    }
    printf("worker done\n");
    return NULL;
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        return 1;
    pthread_exit(NULL);
}
