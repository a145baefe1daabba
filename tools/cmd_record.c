/*
 * tools/cmd_record.c — `allocsim record`: run a program under
 * liballocsim-record.so (LD_PRELOAD) and summarize the trace files it wrote.
 *
 * Issue 2 §4. The preload library is found next to the allocsim binary (build
 * tree) or in ../lib/allocsim/ (installed). Statically linked and set-uid/
 * set-gid programs cannot be traced by LD_PRELOAD: that is checked up front
 * (PT_INTERP and the mode bits, following #! interpreters) and said plainly.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "replay/trace.h"
#include "tools/cli.h"
#include "tracer/rec_elf.h"

static const char usage_text[] =
    "usage: allocsim record [-o PREFIX] [-f] [-q] [--callsite] [--no-follow] -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD with liballocsim-record.so preloaded and records every heap call it\n"
    "makes, in order, with exact allocation/free pairing.\n"
    "\n"
    "options:\n"
    "  -o PREFIX      trace files are PREFIX.<pid>.ast (default: allocsim.<prog>\n"
    "                 in the current directory)\n"
    "  -f             remove existing PREFIX.*.ast first (without it, record\n"
    "                 refuses to run when any exist)\n"
    "  -q, --quiet    no summary lines at the end (the summary's counts come from\n"
    "                 the chunk headers, at once; `allocsim info` checks every chunk)\n"
    "  --callsite     one frame per event: the first return address outside the\n"
    "                 tracer and known wrappers (operator new, PyMem_*, g_malloc,\n"
    "                 xmalloc...), found with libunwind, plus the module map; slower\n"
    "  --no-follow    trace CMD only: forked children are not traced and\n"
    "                 exec'd programs do not inherit the preload\n"
    "  -h, --help     this text\n"
    "\n"
    "Files: one per process. PREFIX.<pid>.ast for each process; a forked child\n"
    "writes its own file with its parent's pid in the header. exec flushes and\n"
    "closes the file; the new image of the same pid writes PREFIX.<pid>.1.ast\n"
    "(then .2, ...). A program exec'd with an environment that drops the\n"
    "tracer (env -i, Python's subprocess with env=) gets it back: LD_PRELOAD,\n"
    "ALLOCSIM_PREFIX and ALLOCSIM_OPTS are added where missing, so it is traced\n"
    "too; one built with a sanitizer's allocator runs untraced, with the tracer\n"
    "taken out of its LD_PRELOAD, as it would without record. Files are\n"
    "created O_EXCL|O_NOFOLLOW, mode 0600. When CMD\n"
    "exits, record waits up to 2 s for the processes it left running (they are\n"
    "traced too, and come to record as their subreaper), so that their files\n"
    "are finished when it returns; one still running then is named in the\n"
    "summary as still being written, and runs on (not with --no-follow).\n"
    "\n"
    "Recorded: malloc, calloc, realloc, free, memalign, posix_memalign,\n"
    "aligned_alloc, valloc, pvalloc, reallocarray (failed calls flagged),\n"
    "application mmap/munmap/mremap/brk/sbrk, malloc_trim, mallopt, thread\n"
    "start/exit, fork, exec, allocsim_mark(\"phase\") markers, time (~1 ms) and\n"
    "every ~10 ms a sample: RSS, mallinfo2 and the tracer's own resident bytes.\n"
    "A process killed by SIGKILL loses at most its last ~100 ms, and nothing\n"
    "if it had made no heap call for its last ~25 ms (waiting, as killed\n"
    "processes mostly are: the open chunk is written out then too). One ended\n"
    "by a signal it leaves at the default action (SIGTERM, SIGINT, SIGHUP,\n"
    "SIGPIPE, SIGSEGV, SIGABRT, ...) loses nothing: the trace is finished\n"
    "first, then the process dies of that signal as it would have. If the disk\n"
    "fills up or the directory is not writable, the program runs on unchanged,\n"
    "one line on stderr says tracing stopped, and the file is marked incomplete.\n"
    "\n"
    "Signals sent to record (kill, timeout(1)) while CMD runs: HUP, INT, QUIT,\n"
    "TERM, USR1, USR2 and ALRM are passed on to CMD, and record waits for it as\n"
    "usual. The terminal's ^C and ^\\ reach CMD directly and are not passed a\n"
    "second time.\n"
    "\n"
    "Environment passed to CMD (set by this command; the library also reads\n"
    "them when preloaded by hand): LD_PRELOAD (the library is prepended),\n"
    "ALLOCSIM_PREFIX (the prefix, absolute), ALLOCSIM_OPTS (comma list:\n"
    "callsite, nofollow, level=N for the zstd level, default 3; chunks\n"
    "written while the program waits for the writer use level 1; sync=MS,\n"
    "how often the open chunk is written out, default 100; signals=0 leaves\n"
    "the program's signal dispositions alone, without the above). An\n"
    "ALLOCSIM_OPTS already set is kept; --callsite and --no-follow add theirs.\n"
    "\n"
    "Exit status: CMD's own (128+N if it died of signal N); 2 if CMD cannot be\n"
    "traced (static; set-uid/set-gid to another user or group; with file\n"
    "capabilities, unless run by root; 32-bit or built for another machine;\n"
    "built with a sanitizer's allocator: ASan, TSan, MSan, HWASan, LSan; not\n"
    "found) or on a usage error. Root may trace su and sudo: a set-uid program\n"
    "owned by the user who runs it is no secure exec.\n";

/* Finds CMD on PATH like execvp. */
static int resolve_cmd(const char *cmd, char *out, size_t len)
{
    if (strchr(cmd, '/')) {
        snprintf(out, len, "%s", cmd);
        return access(out, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        snprintf(out, len, "%.*s%s%s", (int)n, path, n ? "/" : "", cmd);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        if (!e)
            break;
        path = e + 1;
    }
    errno = ENOENT;
    return -1;
}

/* 0 if the program can be traced by LD_PRELOAD; else prints why, returns -1. */
static int check_traceable(const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        as_cli_error(path, "%s", strerror(errno));
        return -1;
    }
    /* The loader ignores LD_PRELOAD in a secure exec: one that changes the
     * user or group (AT_SECURE). A set-uid program owned by the user who runs
     * it (root running su or sudo) changes neither and is traced. */
    if (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
        ((st.st_mode & S_ISGID) && st.st_gid != getgid())) {
        as_cli_error(path, "is set-uid/set-gid to another user or group: the loader ignores "
                     "LD_PRELOAD for it, so it cannot be traced");
        return -1;
    }
    /* File capabilities make the exec secure too, except for root (the
     * kernel: a real uid 0 gains nothing from them). */
    if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0) {
        as_cli_error(path, "has file capabilities (setcap): its exec is a secure one, the "
                     "loader ignores LD_PRELOAD for it, so it cannot be traced");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        as_cli_error(path, "%s", strerror(errno));
        return -1;
    }
    unsigned char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0)
        n = 0;
    buf[n] = 0;
    if (n >= 2 && buf[0] == '#' && buf[1] == '!' && depth < 4) {
        close(fd);
        char *p = (char *)buf + 2;
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n')
            e++;
        *e = 0;
        return *p ? check_traceable(p, depth + 1) : 0;
    }
    const char *san;
    unsigned machine;
    int kind = as_elf_kind(fd, &san, &machine);
    close(fd);
    switch (kind) {
    case AS_ELF_FOREIGN:
        /* the loader would print "wrong ELF class ... ignored" into its
         * stderr and run it untraced */
        if (buf[EI_CLASS] == ELFCLASS32 && AS_ELF_CLASS == ELFCLASS64)
            as_cli_error(path, "is a 32-bit program: the loader cannot preload the 64-bit "
                         "tracer into it, so it cannot be traced");
        else
            as_cli_error(path, "is built for another machine (ELF class %u, e_machine %u; the "
                         "tracer is built for %s): the loader cannot preload the tracer into "
                         "it, so it cannot be traced", (unsigned)buf[EI_CLASS], machine,
                         AS_ELF_MACHINE_NAME);
        return -1;
    case AS_ELF_STATIC:
        as_cli_error(path, "is statically linked: LD_PRELOAD cannot interpose its "
                     "allocator, so it cannot be traced");
        return -1;
    case AS_ELF_SANITIZER:
        as_cli_error(path, "is built with %s: its allocator is the sanitizer's, whose runtime "
                     "must come first in the process, so it cannot be traced (record a "
                     "build without -fsanitize)", san);
        return -1;
    }
    return 0;
}

static int find_preload(char *out, size_t len)
{
    const char *env = getenv("ALLOCSIM_RECORD_LIB");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return access(out, R_OK);
    }
    char dir[PATH_MAX - 64];
    if (as_cli_self_dir(dir, sizeof dir) != 0)
        return -1;
    snprintf(out, len, "%s/liballocsim-record.so", dir);
    if (access(out, R_OK) == 0)
        return 0;
    snprintf(out, len, "%s/../lib/allocsim/liballocsim-record.so", dir);
    return access(out, R_OK);
}

/* Is `name` PREFIXBASE.<digits>[.<digits>].ast ? */
static int is_trace_of(const char *name, const char *base)
{
    size_t bl = strlen(base), nl = strlen(name);
    if (nl < bl + 6 || strncmp(name, base, bl) != 0 || name[bl] != '.' ||
        strcmp(name + nl - 4, AS_TRACE_EXT) != 0)
        return 0;
    int digits = 0;
    for (const char *p = name + bl + 1; p < name + nl - 4; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p != '.' || !digits)
            return 0;
    }
    return digits > 0 && name[nl - 5] != '.';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the PREFIX.*.ast files (sorted); returns the count, -1 on error. */
static int list_traces(const char *prefix, char ***out)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", prefix);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    char dpath[PATH_MAX];
    if (slash) {
        *slash = 0;
        snprintf(dpath, sizeof dpath, "%s", dir[0] ? dir : "/");
    } else {
        snprintf(dpath, sizeof dpath, ".");
    }
    char basebuf[PATH_MAX];
    snprintf(basebuf, sizeof basebuf, "%s", slash ? slash + 1 : prefix);
    base = basebuf;
    DIR *d = opendir(dpath);
    if (!d)
        return -1;
    size_t n = 0, cap = 16;
    char **v = malloc(cap * sizeof *v);
    struct dirent *de;
    while (v && (de = readdir(d))) {
        if (!is_trace_of(de->d_name, base))
            continue;
        if (n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        size_t l = strlen(dpath) + strlen(de->d_name) + 2;
        v[n] = malloc(l);
        if (!v[n])
            break;
        snprintf(v[n], l, "%s/%s", dpath, de->d_name);
        n++;
    }
    closedir(d);
    if (!v)
        return -1;
    qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    return (int)n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Processes that outlive CMD (multiprocessing's resource tracker, which ends
 * when CMD's end closes its pipe; a forkserver; a shell's `cmd &`) are still
 * writing when CMD has exited, or have not even opened their file yet: an
 * `allocsim info` run at once found their files unfinished or missing.
 * record is their subreaper (PR_SET_CHILD_SUBREAPER: orphans come to it, not
 * to init), so once it has no child left, no descendant is writing. It waits
 * for that at most SETTLE_MS; a daemon that runs on is named in the summary
 * and keeps running. */
#define SETTLE_MS 2000

/* Signals that would end record while CMD runs: record passes each on to CMD
 * and waits, so CMD ends (or not) as it would have without us, its files get
 * finished and summarized, and record exits with CMD's status. Without this,
 * `kill` or `timeout` ended record alone and CMD ran on, orphaned, with no
 * summary. A signal the kernel sent to the whole foreground process group
 * (the terminal's ^C, ^\, a hangup: si_code SI_KERNEL) has reached CMD
 * already, as time(1) assumes for SIGINT and SIGQUIT; one from CMD itself
 * is dropped (passing it back would loop). */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])
static volatile sig_atomic_t g_cmd;   /* CMD's pid while it runs, else 0 */

static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    pid_t cmd = (pid_t)g_cmd;
    if (cmd > 0 && si->si_code != SI_KERNEL && si->si_pid != cmd) {
        int e = errno;
        kill(cmd, sig);
        errno = e;
    }
}

static void settle(void)
{
    for (int waited = 0; waited < SETTLE_MS; waited += 10) {
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            ;
        if (p < 0 && errno == ECHILD)
            return;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static void summarize(const char *path)
{
    as_err_t err;
    struct stat st;
    uint64_t bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    as_reader_t *r = as_reader_open(path, &err);
    if (!r) {
        fprintf(stderr, "allocsim: %s: %s\n", path, as_strerror(err));
        return;
    }
    const as_header_t *h = as_reader_header(r);
    /* The counts come from the chunk headers (instant on an hour-long trace);
     * a file that is not intact (killed, damaged) is decoded in full so the
     * damage reported is exactly what the reader finds. */
    as_scan_t sc;
    as_read_stats_t s = {0};
    int rc = 0;
    if (as_trace_scan(path, &sc) == AS_OK) {
        s.events = sc.events;
        s.complete = (h->flags & AS_HDRF_COMPLETE) != 0;
    } else {
        as_event_t ev;
        while ((rc = as_reader_next(r, &ev)) > 0)
            ;
        as_reader_stats(r, &s);
    }
    char hb[32];
    int live = !s.complete && !h->stop_reason && as_cli_writing(path, h->pid);
    fprintf(stderr, "allocsim: %s: pid %lld, %llu events, %s (%.2f B/event)%s%s%s%s\n", path,
            (long long)h->pid, (unsigned long long)s.events, as_cli_human(hb, sizeof hb, bytes),
            s.events ? (double)bytes / (double)s.events : 0.0,
            s.complete ? "" : live ? ", still being written (the process is running)"
                                   : ", incomplete",
            h->stop_reason ? " (tracing stopped: " : "",
            h->stop_reason ? as_strerror((as_err_t)h->stop_reason) : "",
            h->stop_reason ? ")" : "");
    if (live)
        ;   /* read up to now: its damage report would only say so */
    else if (s.truncated || s.chunks_damaged || rc < 0)
        fprintf(stderr, "allocsim: %s: %llu chunks damaged, %llu bytes lost%s\n", path,
                (unsigned long long)s.chunks_damaged, (unsigned long long)s.bytes_lost,
                s.truncated ? ", the file ends inside a chunk" : "");
    as_reader_close(r);
}

int cmd_record(int argc, char **argv)
{
    const char *prefix = NULL;
    int force = 0, quiet = 0, callsite = 0, nofollow = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return AS_EXIT_OK;
        } else if (!strcmp(a, "-o")) {
            if (++i >= argc)
                return as_cli_error(NULL, "record: -o needs a PREFIX");
            prefix = argv[i];
        } else if (!strncmp(a, "-o", 2)) {
            prefix = a + 2;
        } else if (!strcmp(a, "-f")) {
            force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--callsite")) {
            callsite = 1;
        } else if (!strcmp(a, "--no-follow")) {
            nofollow = 1;
        } else if (a[0] == '-') {
            fputs(usage_text, stderr);
            return as_cli_error(NULL, "record: unknown option '%s'", a);
        } else {
            break;
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return as_cli_error(NULL, "record: no command to run");
    }
    char **cmd = argv + i;
    char exe[PATH_MAX];
    if (resolve_cmd(cmd[0], exe, sizeof exe) != 0)
        return strchr(cmd[0], '/') ? as_cli_error(cmd[0], "cannot run it: %s", strerror(errno))
                                   : as_cli_error(cmd[0], "command not found");
    if (check_traceable(exe, 0) != 0)
        return AS_EXIT_USAGE;
    char lib[PATH_MAX];
    if (find_preload(lib, sizeof lib) != 0)
        return as_cli_error(NULL, "cannot find liballocsim-record.so next to allocsim "
                            "or in ../lib/allocsim/");
    if (lib[0] != '/') {
        char abs[PATH_MAX];
        if (realpath(lib, abs))
            snprintf(lib, sizeof lib, "%s", abs);
    }

    /* The prefix, absolute: the program may chdir. */
    char pfx[PATH_MAX];
    if (prefix) {
        snprintf(pfx, sizeof pfx, "%s", prefix);
    } else {
        const char *b = strrchr(cmd[0], '/');
        snprintf(pfx, sizeof pfx, "allocsim.%s", b ? b + 1 : cmd[0]);
    }
    if (!pfx[0] || pfx[strlen(pfx) - 1] == '/')
        return as_cli_error(pfx, "the prefix must name files, not a directory");
    if (pfx[0] != '/') {
        char cwd[PATH_MAX], tmp[2 * PATH_MAX + 2];
        if (!getcwd(cwd, sizeof cwd))
            return as_cli_error(NULL, "getcwd: %s", strerror(errno));
        snprintf(tmp, sizeof tmp, "%s/%s", cwd, pfx);
        if (strlen(tmp) >= sizeof pfx)
            return as_cli_error(pfx, "prefix too long");
        memcpy(pfx, tmp, strlen(tmp) + 1);
    }

    char **old = NULL;
    int nold = list_traces(pfx, &old);
    if (nold > 0) {
        if (!force) {
            as_cli_error(old[0], "exists (%d trace file%s with this prefix; -f removes them)",
                         nold, nold > 1 ? "s" : "");
            free_list(old, nold);
            return AS_EXIT_USAGE;
        }
        for (int k = 0; k < nold; k++)
            if (unlink(old[k]) != 0) {
                as_cli_error(old[k], "cannot remove: %s", strerror(errno));
                free_list(old, nold);
                return AS_EXIT_USAGE;
            }
    }
    if (nold >= 0)
        free_list(old, nold);

    /* LD_PRELOAD: ours first, the user's after it. */
    const char *prev = getenv("LD_PRELOAD");
    size_t pl = strlen(lib) + (prev ? strlen(prev) + 2 : 1);
    char *pre = malloc(pl);
    if (!pre)
        return as_cli_error(NULL, "out of memory");
    snprintf(pre, pl, "%s%s%s", lib, prev && *prev ? ":" : "", prev ? prev : "");
    /* ALLOCSIM_OPTS: the user's (level=, sync=, signals=0...), then ours */
    const char *uopts = getenv("ALLOCSIM_OPTS");
    size_t ol = (uopts ? strlen(uopts) : 0) + sizeof ",callsite,nofollow";
    char *opts = malloc(ol);
    if (!opts) {
        free(pre);
        return as_cli_error(NULL, "out of memory");
    }
    snprintf(opts, ol, "%s%s%s", uopts ? uopts : "", callsite ? ",callsite" : "",
             nofollow ? ",nofollow" : "");
    if (opts[0] == ',')
        memmove(opts, opts + 1, strlen(opts));

    fflush(NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);   /* CMD's orphans come to us: settle() */
    /* Held from before the fork until the handlers are in place, so a
     * signal meant for a run that has just begun is passed on, not lost
     * with record. */
    sigset_t fwd, omask;
    sigemptyset(&fwd);
    for (size_t k = 0; k < NFORWARDED; k++)
        sigaddset(&fwd, forwarded[k]);
    sigprocmask(SIG_BLOCK, &fwd, &omask);
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &omask, NULL);
        free(pre);
        free(opts);
        return as_cli_error(NULL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &omask, NULL);
        setenv("LD_PRELOAD", pre, 1);
        setenv("ALLOCSIM_PREFIX", pfx, 1);
        if (opts[0])
            setenv("ALLOCSIM_OPTS", opts, 1);
        else
            unsetenv("ALLOCSIM_OPTS");
        execv(exe, cmd);
        fprintf(stderr, "allocsim: %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    free(pre);
    free(opts);
    g_cmd = pid;
    struct sigaction fa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART},
                     ofa[NFORWARDED];
    sigfillset(&fa.sa_mask);
    for (size_t k = 0; k < NFORWARDED; k++)
        sigaction(forwarded[k], &fa, &ofa[k]);
    sigprocmask(SIG_SETMASK, &omask, NULL);
    /* CMD's orphans come to us meanwhile (subreaper): reap them as they
     * end, or a long run that leaves many (double forks) would pile up
     * zombies under us */
    int status = 0;
    for (;;) {
        /* WNOWAIT: CMD stays a zombie, its pid not free for reuse, until
         * g_cmd no longer names it (a signal forwarded in between must not
         * reach a stranger) */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) != 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (si.si_pid == pid)
            g_cmd = 0;
        int st;
        pid_t p = waitpid(si.si_pid, &st, 0);
        if (p == pid) {
            status = st;
            break;
        }
    }
    g_cmd = 0;
    for (size_t k = 0; k < NFORWARDED; k++)
        sigaction(forwarded[k], &ofa[k], NULL);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status)
           : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : AS_EXIT_USAGE;
    if (!nofollow)   /* with --no-follow, nothing else writes a trace */
        settle();

    if (!quiet) {
        char **files = NULL;
        int n = list_traces(pfx, &files);
        if (n <= 0)
            fprintf(stderr, "allocsim: no trace file was written for %s\n", pfx);
        for (int k = 0; k < n; k++)
            summarize(files[k]);
        if (n >= 0)
            free_list(files, n);
    }
    return rc;
}
