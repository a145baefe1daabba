/*
 * tests/tracer/tr_fds.c — a program that closes and reuses descriptors it
 * never opened, as daemons, shells and Python's os.closerange and
 * subprocess do (tracer/rec_fd.c). Usage: tr_fds libc|raw DIR
 *
 *   libc  sweeps every descriptor from 3 up through libc, five ways in turn
 *         (a close() loop, close_range, closefrom, dup2 and dup3 onto each
 *         number); after each, writes a file of known text into DIR and
 *         makes PAIRS malloc/free pairs. Prints "mallocs N" (its own).
 *   raw   closes every descriptor from 3 up with the raw syscall (no hook
 *         sees it), opens files in DIR until one takes every number the
 *         tracer held, writes a known text into each, allocates so that the
 *         writer has records to write, and waits for its 100 ms sync.
 *   raw2  raw, after closing descriptor 2 so that the first file lands on
 *         it: the tracer's "tracing stopped" line must not go into it.
 *
 * Either way it then reads every file back and exits 1 if any does not hold
 * exactly its text: the tracer must never write into the program's files.
 * Both first raise the soft RLIMIT_NOFILE to TOP_MAX if the hard limit lets
 * them and sweep every number below it: the tracer's descriptors sit above
 * the soft limit it started with, or just below min(limit, 1024).
 *
 *   count opens /dev/null until it fails and prints "opened N": under the
 *         tracer, N must be what it is without (DIR is not used).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TOP_MAX 2048   /* sweep 3 .. top - 1, top = the soft limit, at most this */
#define PAIRS 1000

static const char *dir;
static int top;
static long mallocs;

static void text_of(unsigned n, char *buf, size_t len)
{
    snprintf(buf, len, "file %u: the program's own bytes, nothing else\n", n);
}

static void path_of(unsigned n, char *buf, size_t len)
{
    snprintf(buf, len, "%s/f%u.txt", dir, n);
}

static int make_file(unsigned n)
{
    char path[4200], text[128];
    path_of(n, path, sizeof path);
    text_of(n, text, sizeof text);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(3);
    }
    return fd;
}

static int check_file(unsigned n)
{
    char path[4200], text[128], got[4096];
    path_of(n, path, sizeof path);
    text_of(n, text, sizeof text);
    int fd = open(path, O_RDONLY);
    ssize_t k = fd < 0 ? -1 : read(fd, got, sizeof got);
    if (fd >= 0)
        close(fd);
    if (k != (ssize_t)strlen(text) || memcmp(got, text, (size_t)k) != 0) {
        fprintf(stderr, "tr_fds: %s: %zd bytes, not the %zu the program wrote\n", path, k,
                strlen(text));
        return 1;
    }
    return 0;
}

static void churn(int pairs)
{
    for (int i = 0; i < pairs; i++) {
        volatile char *p = malloc(16 + (unsigned)i % 200);
        p[0] = 1;
        free((void *)p);
        mallocs++;
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "libc") && strcmp(argv[1], "raw") &&
                      strcmp(argv[1], "raw2") && strcmp(argv[1], "count"))) {
        fprintf(stderr, "usage: tr_fds libc|raw|raw2|count DIR\n");
        return 2;
    }
    dir = argv[2];
    unsigned nfiles = 0;
    churn(PAIRS);
    if (!strcmp(argv[1], "count")) {
        int n = 0;
        while (open("/dev/null", O_RDONLY) >= 0)
            n++;
        printf("opened %d\n", n);
        return 0;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 4;
    if (rl.rlim_cur < TOP_MAX && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < TOP_MAX ? rl.rlim_max : TOP_MAX;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 4;
    }
    top = rl.rlim_cur < TOP_MAX ? (int)rl.rlim_cur : TOP_MAX;
    sleep_ms(30);   /* a sample or two: the writer's /proc descriptors are open */
    if (!strcmp(argv[1], "libc")) {
        for (int way = 0; way < 5; way++) {
            int null = way >= 3 ? open("/dev/null", O_RDWR) : -1;
            for (int fd = 3; fd < top; fd++) {
                if (way == 0)
                    close(fd);
                else if (way == 3 && fd != null && dup2(null, fd) == fd)
                    close(fd);
                else if (way == 4 && fd != null && dup3(null, fd, O_CLOEXEC) == fd)
                    close(fd);
            }
            if (way == 1)
                close_range(3, ~0u, 0);
            if (way == 2)
                closefrom(3);
            if (null >= 0)
                close(null);
            close(make_file(nfiles++));
            churn(PAIRS);
            sleep_ms(30);
        }
    } else {
        int fds[TOP_MAX];
        if (!strcmp(argv[1], "raw2")) {   /* before the tracer can notice anything */
            close(2);
            fds[nfiles++] = make_file(0);   /* on 2 */
        }
        for (int fd = 3; fd < top; fd++)
            syscall(SYS_close, fd);
        for (;;) {
            int fd = make_file(nfiles);
            fds[nfiles++] = fd;
            if (fd >= top - 1 || nfiles == (unsigned)top)
                break;
        }
        churn(100000);
        sleep_ms(300);
        churn(PAIRS);
        for (unsigned i = 0; i < nfiles; i++)
            close(fds[i]);
    }
    int bad = 0;
    for (unsigned i = 0; i < nfiles; i++)
        bad |= check_file(i);
    printf("mallocs %ld files %u\n", mallocs, nfiles);
    return bad;
}
