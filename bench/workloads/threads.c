/*
 * bench/workloads/threads.c — churn on 2 threads with cross-thread frees: each
 * thread runs the churn loop on its own 50k slots, and every 16th allocation
 * is handed to the other thread through a lock-free single-slot mailbox pair,
 * to be freed there. Deterministic per-thread seeds (the interleaving is not).
 * Usage: bench-threads [N_OPS_TOTAL] (default 10M)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 50000
#define MBOX 4096

struct worker {
    uint64_t rng;
    long n;
    void *slot[SLOTS];
    _Atomic(void *) out[MBOX];   /* blocks this worker hands to the other */
    struct worker *peer;
    long cross;
};

static inline uint64_t rng(struct worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static size_t pick_size(struct worker *w)
{
    uint64_t r = rng(w);
    unsigned c = (unsigned)(r % 100);
    r >>= 8;
    if (c < 90)
        return 8 + r % 249;
    if (c < 99)
        return 256 + r % 7937;
    return 65536 + r % 983041;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    unsigned mb = 0;
    for (long i = 0; i < w->n; i++) {
        /* free what the peer handed over */
        void *q = atomic_exchange_explicit(&w->peer->out[i % MBOX], NULL, memory_order_acquire);
        if (q) {
            free(q);
            w->cross++;
        }
        unsigned k = (unsigned)(rng(w) % SLOTS);
        if (w->slot[k]) {
            if ((i & 15) == 0) {
                void *old = atomic_exchange_explicit(&w->out[mb++ % MBOX], w->slot[k],
                                                     memory_order_release);
                free(old);   /* the peer did not take it yet: free it here */
            } else {
                free(w->slot[k]);
            }
            w->slot[k] = NULL;
        } else {
            char *p = malloc(pick_size(w));
            p[0] = (char)i;
            w->slot[k] = p;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000000L;
    static struct worker w[2];
    for (int i = 0; i < 2; i++) {
        w[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        w[i].n = n / 2;
        w[i].peer = &w[1 - i];
    }
    pthread_t th;
    pthread_create(&th, NULL, run, &w[1]);
    run(&w[0]);
    pthread_join(th, NULL);
    for (int i = 0; i < 2; i++) {
        for (unsigned k = 0; k < SLOTS; k++)
            free(w[i].slot[k]);
        for (unsigned k = 0; k < MBOX; k++)
            free(atomic_load(&w[i].out[k]));
    }
    printf("threads: %ld ops, %ld cross-thread frees\n", n, w[0].cross + w[1].cross);
    return 0;
}
