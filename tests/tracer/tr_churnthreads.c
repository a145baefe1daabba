/*
 * tests/tracer/tr_churnthreads.c — threads started and ended by the
 * thousand: ROUNDS rounds of AT_ONCE threads, each making 200 malloc/free
 * pairs and exiting. The tracer must recycle each dead thread's ring soon
 * (tracer/README.md "Threads by the thousand"), or it keeps thousands of
 * rings resident and merges across all of them. Prints "threads N".
 * Usage: tr_churnthreads [ROUNDS] [AT_ONCE] (default 100 x 100)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *work(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        void *volatile p = malloc(100 + (unsigned)i % 400);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 100, at_once = argc > 2 ? atoi(argv[2]) : 100;
    pthread_t *t = calloc((size_t)at_once, sizeof *t);
    int made = 0;
    for (int r = 0; r < rounds; r++) {
        int n = 0;
        for (; n < at_once; n++)
            if (pthread_create(&t[n], NULL, work, NULL) != 0)
                break;
        made += n;
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
    }
    free(t);
    printf("threads %d\n", made);
    return 0;
}
