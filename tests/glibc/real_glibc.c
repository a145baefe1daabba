/*
 * tests/glibc/real_glibc.c — runs a scripted call sequence on the REAL glibc
 * allocator and prints what happened, in the same words test_glibc.c prints
 * for the model (sim/glibc.c), so the two can be compared line by line.
 *
 * Script (stdin), one call per line, THREAD first:
 *   T m ID SIZE        malloc          T c ID SIZE       calloc
 *   T a ID ALIGN SIZE  memalign        T r ID SIZE       realloc(ID) -> ID
 *   T f ID             free            T x               thread T exits
 *   0 t PAD            malloc_trim     0 o PARAM VALUE   mallopt
 *   0 q                query: brk offset, resident bytes, arena+hblkhd
 *   0 H                from here on, hide main-arena blocks and queries
 *   0 S INCR           a foreign sbrk(INCR) (the program moving the break)
 * Output: "ID KIND OFF USABLE" per block, KIND b (brk heap, OFF from the
 * initial break), hN (N-th non-main heap seen, OFF from its 64 MiB-aligned
 * base) or m (own mapping, OFF 0); "q BRK RES HEAP" per query.
 *
 * Nothing here may allocate behind the script's back: no stdio (its buffers
 * come from malloc), output with write(2). Each traced thread is a real
 * pthread that runs its calls when the dispatcher hands them over, so arenas
 * and tcaches see exactly the script's threads. Never built with sanitizers
 * (ASan would replace the allocator under test).
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAXID 4096
#define MAXTH 64
#define HEAP_MAX (64ul << 20)

static char *blk[MAXID];
static uintptr_t brk0;
static uintptr_t heaps[256];
static int nheaps;
static int hide_b;  /* 'H': main-arena offsets and queries not compared */
static char out[1 << 20];
static size_t outlen;

typedef struct {
    char op;
    long id, a, b;
} call_t;

static struct worker {
    pthread_t th;
    sem_t go, done;
    call_t call;
    int started, exit;
} workers[MAXTH];

static void emit(const char *s)
{
    size_t n = strlen(s);
    if (outlen + n < sizeof out) {
        memcpy(out + outlen, s, n);
        outlen += n;
    }
}

static void report(long id)
{
    char line[128];
    char *p = blk[id];
    if (!p) {
        snprintf(line, sizeof line, "%ld null\n", id);
        emit(line);
        return;
    }
    size_t head = ((size_t *)p)[-1];
    uintptr_t u = (uintptr_t)p;
    if (head & 2) {
        snprintf(line, sizeof line, "%ld m 0 %zu\n", id, malloc_usable_size(p));
    } else if (head & 4) {
        uintptr_t base = u & ~(HEAP_MAX - 1);
        int k = 0;
        while (k < nheaps && heaps[k] != base)
            k++;
        if (k == nheaps)
            heaps[nheaps++] = base;
        snprintf(line, sizeof line, "%ld h%d %lu %zu\n", id, k, (unsigned long)(u - base),
                 malloc_usable_size(p));
    } else if (hide_b) {
        snprintf(line, sizeof line, "%ld b ? ?\n", id);
    } else {
        snprintf(line, sizeof line, "%ld b %lu %zu\n", id, (unsigned long)(u - brk0),
                 malloc_usable_size(p));
    }
    emit(line);
}

static void run(const call_t *c)
{
    switch (c->op) {
    case 'm': blk[c->id] = malloc((size_t)c->a); report(c->id); break;
    case 'c': blk[c->id] = calloc(1, (size_t)c->a); report(c->id); break;
    case 'a': blk[c->id] = memalign((size_t)c->a, (size_t)c->b); report(c->id); break;
    case 'r': blk[c->id] = realloc(blk[c->id], (size_t)c->a); report(c->id); break;
    case 'f': free(blk[c->id]); blk[c->id] = NULL; break;
    case 't': malloc_trim((size_t)c->a); break;
    case 'o': mallopt((int)c->a, (int)c->b); break;
    case 'S': sbrk((intptr_t)c->a); break;
    default: break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        sem_wait(&w->go);
        if (w->exit)
            return NULL;  /* thread exit: glibc returns the tcache, detaches */
        run(&w->call);
        sem_post(&w->done);
    }
}

/* Resident bytes of [a, a+len) as RSS counts them: pages present and
 * exclusively mapped (/proc/self/pagemap bits 63 and 56). mincore would also
 * count the shared zero page that a read of untouched memory maps (realloc's
 * memcpy from a block nobody wrote), which RSS does not. */
static size_t page_resident(uintptr_t a, size_t len)
{
    static uint64_t ent[4096];
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    uintptr_t p0 = a / ps, p1 = (a + len + ps - 1) / ps;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return 0;
    for (uintptr_t p = p0; p < p1;) {
        size_t k = p1 - p < 4096 ? p1 - p : 4096;
        ssize_t r = pread(fd, ent, k * 8, (off_t)(p * 8));
        if (r <= 0)
            break;
        for (size_t i = 0; i < (size_t)r / 8; i++)
            n += (ent[i] >> 63 & 1) && (ent[i] >> 56 & 1);
        p += (size_t)r / 8;
    }
    close(fd);
    return n * ps;
}

static void query(void)
{
    uintptr_t cur = (uintptr_t)sbrk(0);
    size_t res = page_resident(brk0, cur - brk0);
    for (int k = 0; k < nheaps; k++) {
        unsigned char v;
        if (mincore((void *)heaps[k], 1, &v))
            continue;  /* heap_trim unmapped it */
        res += page_resident(heaps[k], ((size_t *)heaps[k])[2]);  /* heap_info.size */
    }
    for (int i = 0; i < MAXID; i++) {
        if (!blk[i])
            continue;
        size_t head = ((size_t *)blk[i])[-1];
        if (head & 2) {
            size_t off = ((size_t *)blk[i])[-2];
            res += page_resident((uintptr_t)blk[i] - 16 - off, off + (head & ~(size_t)7));
        }
    }
    struct mallinfo2 mi = mallinfo2();
    char line[128];
    snprintf(line, sizeof line, "q %lu %zu %zu\n", (unsigned long)(cur - brk0), res,
             mi.arena + mi.hblkhd);
    emit(line);
}

int main(void)
{
    static char script[1 << 20];
    brk0 = (uintptr_t)sbrk(0);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof script - 1 && (r = read(0, script + n, sizeof script - 1 - n)) > 0)
        n += (size_t)r;
    script[n] = 0;
    for (char *line = script, *nl; *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = 0;
        else
            nl = line + strlen(line);
        long th;
        char op;
        call_t c = {0};
        int k = sscanf(line, "%ld %c %ld %ld %ld", &th, &op, &c.id, &c.a, &c.b);
        if (k < 2 || th < 0 || th >= MAXTH)
            continue;
        c.op = op;
        if (op == 'r' || op == 'm' || op == 'c' || op == 'a' || op == 'f')
            if (c.id < 0 || c.id >= MAXID)
                continue;
        if (op == 't' || op == 'o' || op == 'S') {  /* "0 t PAD", "0 o PARAM VALUE" */
            c.b = c.a;
            c.a = c.id;
        }
        if (op == 'H') {
            hide_b = 1;
            continue;
        }
        if (op == 'q') {
            if (!hide_b)
                query();
            continue;
        }
        if (th == 0) {
            run(&c);
            continue;
        }
        struct worker *w = &workers[th];
        if (op == 'x') {
            if (w->started) {
                w->exit = 1;
                sem_post(&w->go);
                pthread_join(w->th, NULL);
                w->started = 0;
                w->exit = 0;
            }
            continue;
        }
        if (!w->started) {
            sem_init(&w->go, 0, 0);
            sem_init(&w->done, 0, 0);
            pthread_create(&w->th, NULL, worker_main, w);
            w->started = 1;
        }
        w->call = c;
        sem_post(&w->go);
        sem_wait(&w->done);
    }
    for (size_t off = 0; off < outlen;) {
        ssize_t w = write(1, out + off, outlen - off);
        if (w <= 0)
            return 1;
        off += (size_t)w;
    }
    return 0;
}
