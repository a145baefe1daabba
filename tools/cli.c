/* tools/cli.c — shared CLI helpers (see cli.h). */
#include "tools/cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int as_cli_error(const char *file, const char *fmt, ...)
{
    va_list ap;
    fputs("allocsim: ", stderr);
    if (file)
        fprintf(stderr, "%s: ", file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return AS_EXIT_USAGE;
}

int as_cli_parse_format(const char *s, unsigned allowed, as_format_t *out)
{
    static const char *const names[] = {"text", "json", "csv"};
    for (unsigned i = 0; i < 3; i++) {
        if ((allowed & (1u << i)) && strcmp(s, names[i]) == 0) {
            *out = (as_format_t)i;
            return 0;
        }
    }
    return -1;
}

char *as_cli_human(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    unsigned u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

int as_cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (*end == 'i' || *end == 'I'))
        end++;
    if (shift && (*end == 'B' || *end == 'b'))
        end++;
    if (*end || (shift && v > (ULLONG_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

void as_cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

int as_cli_stderr_tty(void) { return isatty(STDERR_FILENO); }

int as_cli_self_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/* 1 if fn(dir/entry, arg) holds for an entry of dir ("." and ".." left out). */
static int any_entry(const char *dir, int (*fn)(const char *, const void *), const void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char p[640];
        if (e->d_name[0] == '.' ||
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        found = fn(p, arg);
    }
    closedir(d);
    return found;
}

static int names_file(const char *fd, const void *want)
{
    const struct stat *w = want;
    struct stat st;
    return stat(fd, &st) == 0 && st.st_dev == w->st_dev && st.st_ino == w->st_ino;
}

static int task_holds(const char *task, const void *want)
{
    char fds[648];
    return snprintf(fds, sizeof fds, "%s/fd", task) < (int)sizeof fds &&
           any_entry(fds, names_file, want);
}

/* Does a descriptor table of the process hold the file? The tracer's writer
 * thread keeps the trace in a table of its own (tracer/rec_fd.c), so every
 * thread's is looked at, not only /proc/PID/fd (the main thread's). */
int as_cli_writing(const char *path, int64_t pid)
{
    struct stat want;
    char dir[64];
    if (pid <= 0 || stat(path, &want) != 0)
        return 0;
    snprintf(dir, sizeof dir, "/proc/%lld/fd", (long long)pid);
    if (any_entry(dir, names_file, &want))
        return 1;
    snprintf(dir, sizeof dir, "/proc/%lld/task", (long long)pid);
    return any_entry(dir, task_holds, &want);
}
