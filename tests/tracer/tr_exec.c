/*
 * tests/tracer/tr_exec.c — the exec entry points a shell never uses:
 * `tr_exec execveat|fexecve PROGRAM` allocates, tries that call on a file
 * that is not executable, /dev/null (it fails: tracing must go on, in the
 * next file), then execs PROGRAM through it. The tracer must close each image's trace before
 * the exec replaces it (issue 2 §3: "before exec the buffers are flushed").
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int run(const char *how, const char *path, char *const argv[])
{
    if (!strcmp(how, "execveat"))
        return execveat(AT_FDCWD, path, argv, environ, 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fexecve(fd, argv, environ);
    close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fputs("usage: tr_exec execveat|fexecve PROGRAM\n", stderr);
        return 2;
    }
    void *volatile p = malloc(100);   /* volatile: the pair is not elided */
    free(p);
    char *args[] = {argv[2], NULL};
    if (run(argv[1], "/dev/null", args) == 0)
        return 1;
    p = malloc(200);     /* traced in the file the failed exec opened */
    free(p);
    run(argv[1], argv[2], args);
    perror("tr_exec");
    return 1;
}
