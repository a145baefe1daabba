/*
 * tests/tracer/tr_threads.c — producer/consumer: 3 producers allocate blocks
 * and pass them through a mutex-protected queue to 2 consumers that free them
 * (every block freed on another thread than the one that allocated it), plus
 * some thread-local churn. Prints the totals.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PER 20000
#define QN 256

static void *q[QN];
static int qh, qt, done;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg)
{
    unsigned s = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < PER; i++) {
        s = s * 1103515245 + 12345;
        void *p = malloc(16 + s % 500);
        void *volatile tmp = malloc(8);   /* volatile: not elided */
        free(tmp);
        pthread_mutex_lock(&mu);
        while ((qt + 1) % QN == qh)
            pthread_cond_wait(&cv, &mu);
        q[qt] = p;
        qt = (qt + 1) % QN;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long *n = arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (qh == qt && !done)
            pthread_cond_wait(&cv, &mu);
        if (qh == qt && done) {
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        void *p = q[qh];
        qh = (qh + 1) % QN;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        free(p);
        (*n)++;
    }
}

int main(void)
{
    pthread_t pr[3], co[2];
    long n[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        pthread_create(&co[i], NULL, consumer, &n[i]);
    for (int i = 0; i < 3; i++)
        pthread_create(&pr[i], NULL, producer, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 3; i++)
        pthread_join(pr[i], NULL);
    pthread_mutex_lock(&mu);
    done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 2; i++)
        pthread_join(co[i], NULL);
    printf("consumed %ld\n", n[0] + n[1]);
    return 0;
}
