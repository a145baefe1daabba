/*
 * tests/tracer/tr_fork.c — fork storm: a helper thread allocates and frees
 * continuously and takes a mutex, while the main thread forks 20 children
 * (some while the helper holds the lock). Each child allocates, frees and
 * exits with _exit or exit; the parent waits for all. Every process must end
 * with a complete trace file of its own.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;

static void *helper(void *arg)
{
    (void)arg;
    while (!stop) {
        pthread_mutex_lock(&mu);
        void *p = malloc(100);
        void *volatile q = malloc(3000);
        free(q);
        free(p);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int main(void)
{
    pthread_t th;
    pthread_create(&th, NULL, helper, NULL);
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        void *keep = malloc(64);
        pid_t pid = fork();
        if (pid == 0) {
            /* only this thread exists here; the helper's lock state is a copy */
            for (int k = 0; k < 100; k++)
            {
                void *volatile q = malloc((size_t)k * 8 + 1);
                free(q);
            }
            free(keep);
            if (i & 1)
                _exit(0);
            exit(0);
        }
        free(keep);
        int st;
        if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
    }
    stop = 1;
    pthread_join(th, NULL);
    printf("children ok %d\n", ok);
    return ok == 20 ? 0 : 1;
}
