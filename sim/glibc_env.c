/*
 * sim/glibc_env.c — GLIBC_TUNABLES and MALLOC_*_ variables to `glibc` model
 * parameters (reference/allocators.md §2 "Tunables"; glibc 2.36 elf/
 * dl-tunables.c and malloc/arena.c).
 *
 * Precedence, checked against Debian's glibc 2.36 with a probe program (a
 * malloc(200000) is mmapped or not depending on the threshold in force):
 *   - a GLIBC_TUNABLES setting beats its MALLOC_*_ alias, whatever their order
 *     in the environment;
 *   - among aliases, and among GLIBC_TUNABLES variables and the assignments
 *     inside one, the last wins;
 *   - a value is read as strtoul with base 0 would (0x hex, 0 octal); a value
 *     with no digits is ignored; trailing junk is ignored.
 * The model's parameter names are the tunables' names, so glibc.malloc.X maps
 * to parameter X when the model has it.
 */
#include "sim/glibc_env.h"

#include <string.h>

/* The MALLOC_*_ environment aliases of glibc 2.36's malloc tunables. */
static const struct {
    const char *var, *param;
} g_alias[] = {
    {"MALLOC_TOP_PAD_", "top_pad"},
    {"MALLOC_MMAP_THRESHOLD_", "mmap_threshold"},
    {"MALLOC_TRIM_THRESHOLD_", "trim_threshold"},
    {"MALLOC_MMAP_MAX_", "mmap_max"},
    {"MALLOC_ARENA_MAX", "arena_max"},
    {"MALLOC_ARENA_TEST", "arena_test"},
};

/* Leading number of s (up to end or ':'), base 0; -1 if there is none. */
static int parse_num(const char *s, const char *end, int64_t *out)
{
    unsigned base = 10;
    if (s < end && *s == '0') {
        base = 8;
        if (s + 1 < end && (s[1] == 'x' || s[1] == 'X') && s + 2 < end) {
            base = 16;
            s += 2;
        }
    }
    uint64_t v = 0;
    int digits = 0;
    for (; s < end; s++, digits++) {
        unsigned d = *s >= '0' && *s <= '9'   ? (unsigned)(*s - '0')
                     : *s >= 'a' && *s <= 'f' ? (unsigned)(*s - 'a' + 10)
                     : *s >= 'A' && *s <= 'F' ? (unsigned)(*s - 'A' + 10)
                                              : 99;
        if (d >= base)
            break;
        if (v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    if (!digits || v > INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Sets parameter `name` (name_len bytes) from [val, end). 1 if applied. */
static int apply(const as_model_t *g, const char *name, size_t name_len, const char *val,
                 const char *end, as_params_t *p)
{
    for (int i = 0; i < AS_MAX_PARAMS && g->params[i].name; i++) {
        const as_param_def_t *d = &g->params[i];
        if (strlen(d->name) != name_len || memcmp(d->name, name, name_len))
            continue;
        int64_t v;
        if (parse_num(val, end, &v) || v < d->min || v > d->max)
            return 0;
        p->v[i] = v;
        p->set |= 1ull << i;
        return 1;
    }
    return 0;
}

/* Reports a setting that was not applied: [s, end) is "NAME=value". */
typedef void skip_fn(void *ctx, const char *s, const char *end);

static int walk(const as_model_t *glibc, const char *env, size_t len, as_params_t *p,
                skip_fn *skip, void *ctx)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < AS_MAX_PARAMS && glibc->params[i].name; i++)
        p->v[i] = glibc->params[i].def;
    int n = 0;
    /* Two passes: aliases first, so that GLIBC_TUNABLES overrides them. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t off = 0; env && off < len;) {
            const char *e = env + off;
            size_t el = strnlen(e, len - off);
            const char *end = e + el;
            off += el + 1;
            if (pass == 0) {
                int used = 0;
                for (size_t a = 0; a < sizeof g_alias / sizeof *g_alias; a++) {
                    size_t vl = strlen(g_alias[a].var);
                    if (el > vl && !memcmp(e, g_alias[a].var, vl) && e[vl] == '=')
                        used = apply(glibc, g_alias[a].param, strlen(g_alias[a].param), e + vl + 1,
                                     end, p);
                }
                n += used;
                if (!used && skip && el > 7 && !memcmp(e, "MALLOC_", 7))
                    skip(ctx, e, end);
                continue;
            }
            if (el < 15 || memcmp(e, "GLIBC_TUNABLES=", 15))
                continue;
            /* name=value:name=value... */
            for (const char *s = e + 15; s < end;) {
                const char *colon = memchr(s, ':', (size_t)(end - s));
                const char *stop = colon ? colon : end;
                const char *eq = memchr(s, '=', (size_t)(stop - s));
                if (eq && eq - s > 13 && !memcmp(s, "glibc.malloc.", 13)) {
                    int used = apply(glibc, s + 13, (size_t)(eq - s - 13), eq + 1, stop, p);
                    n += used;
                    if (!used && skip)
                        skip(ctx, s, stop);
                }
                s = stop + 1;
            }
        }
    }
    return n;
}

int as_glibc_env_params(const as_model_t *glibc, const char *env, size_t len, as_params_t *p)
{
    return walk(glibc, env, len, p, NULL, NULL);
}

typedef struct {
    char *out;
    size_t cap, used;
    int n, listed;
} skipped_t;

static void collect(void *ctx, const char *s, const char *end)
{
    skipped_t *k = ctx;
    k->n++;
    size_t len = (size_t)(end - s), sep = k->used ? 2 : 0;
    if (!k->cap || k->used + sep + len >= k->cap)
        return;                /* listed whole or not at all */
    memcpy(k->out + k->used, ", ", sep);
    memcpy(k->out + k->used + sep, s, len);
    k->used += sep + len;
    k->out[k->used] = 0;
    k->listed++;
}

int as_glibc_env_skipped(const as_model_t *glibc, const char *env, size_t len, char *out,
                         size_t cap, int *listed)
{
    skipped_t k = {out, cap, 0, 0, 0};
    as_params_t p;
    if (cap)
        out[0] = 0;
    walk(glibc, env, len, &p, collect, &k);
    if (listed)
        *listed = k.listed;
    return k.n;
}
