/*
 * sim/params.c — model specs "name:key=val,key=val" parsed against a model's
 * parameter table {name, default, min, max, flags, doc} (mimalloc options[],
 * zstd ZSTD_cParam_getBounds()). Sizes take K/M/G/T suffixes, powers of 1024,
 * as GLIBC_TUNABLES users type them. Errors are one line that lists what
 * would have been valid, so the user never needs the manual to recover.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/model.h"

int as_model_param_index(const as_model_t *m, const char *key)
{
    for (int i = 0; m->params && m->params[i].name && i < AS_MAX_PARAMS; i++)
        if (!strcmp(m->params[i].name, key))
            return i;
    return -1;
}

/* "64K" for exact multiples, else the plain number. */
static void fmt_value(char *buf, size_t len, int64_t v, unsigned flags)
{
    static const char suf[] = "KMGT";
    if ((flags & AS_PARAM_SIZE) && v > 0) {
        int u = -1;
        while (u < 3 && (v & 1023) == 0) {
            v >>= 10;
            u++;
        }
        if (u >= 0) {
            snprintf(buf, len, "%" PRId64 "%c", v, suf[u]);
            return;
        }
    }
    if (flags & AS_PARAM_BOOL) {
        snprintf(buf, len, "%s", v ? "1" : "0");
        return;
    }
    snprintf(buf, len, "%" PRId64, v);
}

/* Appends "key=min..max (default d)" for every parameter. */
static void list_params(const as_model_t *m, char *err, size_t errlen, size_t off)
{
    if (!m->params || !m->params[0].name) {
        snprintf(err + off, errlen - off, "%s takes no parameters", m->name);
        return;
    }
    for (int i = 0; m->params[i].name && off < errlen; i++) {
        const as_param_def_t *d = &m->params[i];
        char lo[32], hi[32], def[32];
        fmt_value(lo, sizeof lo, d->min, d->flags);
        fmt_value(hi, sizeof hi, d->max, d->flags);
        fmt_value(def, sizeof def, d->def, d->flags);
        int n = snprintf(err + off, errlen - off, "%s%s=%s..%s (default %s)", i ? ", " : "",
                         d->name, lo, hi, def);
        if (n < 0)
            return;
        off += (size_t)n;
    }
}

static void list_models(char *err, size_t errlen, size_t off)
{
    for (size_t i = 0; as_models[i] && off < errlen; i++) {
        int n = snprintf(err + off, errlen - off, "%s%s", i ? ", " : "", as_models[i]->name);
        if (n < 0)
            return;
        off += (size_t)n;
    }
}

static int parse_value(const char *s, size_t n, unsigned flags, int64_t *out)
{
    char buf[64];
    if (!n || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (flags & AS_PARAM_BOOL) {
        static const char *const yes[] = {"1", "true", "yes", "on"};
        static const char *const no[] = {"0", "false", "no", "off"};
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(buf, yes[i])) { *out = 1; return 0; }
            if (!strcasecmp(buf, no[i])) { *out = 0; return 0; }
        }
        return -1;
    }
    char *end;
    int neg = buf[0] == '-';
    if (!isdigit((unsigned char)buf[neg]))
        return -1;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno)
        return -1;
    if (flags & AS_PARAM_SIZE) {
        unsigned shift = 0;
        switch (toupper((unsigned char)*end)) {
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default: break;
        }
        if (shift) {
            end++;
            if (*end == 'i' || *end == 'I')
                end++;
            if (*end == 'B' || *end == 'b')
                end++;
            long long lim = INT64_MAX >> shift;
            if (v > lim || v < -lim)
                return -1;
            v *= 1ll << shift;
        }
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int as_model_parse_spec(const char *spec, const as_model_t **model, as_params_t *p,
                        char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    char name[64];
    const as_model_t *m = NULL;
    if (nlen < sizeof name) {
        memcpy(name, spec, nlen);
        name[nlen] = '\0';
        m = as_model_find(name);
    }
    if (!m) {
        int n = snprintf(err, errlen, "unknown model '%.*s' (valid: ", (int)(nlen > 60 ? 60 : nlen),
                         spec);
        if (n > 0 && (size_t)n < errlen) {
            list_models(err, errlen, (size_t)n);
            size_t l = strlen(err);
            if (l + 1 < errlen)
                strcat(err, ")");
        }
        return -1;
    }
    memset(p, 0, sizeof *p);
    for (int i = 0; m->params && m->params[i].name && i < AS_MAX_PARAMS; i++)
        p->v[i] = m->params[i].def;
    *model = m;
    if (!colon || !colon[1])
        return 0;
    const char *s = colon + 1;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        char key[64];
        size_t klen = eq ? (size_t)(eq - s) : len;
        if (klen >= sizeof key)
            klen = sizeof key - 1;
        memcpy(key, s, klen);
        key[klen] = '\0';
        int idx = as_model_param_index(m, key);
        if (idx < 0 || !eq) {
            int n = idx < 0
                        ? snprintf(err, errlen, "%s: unknown parameter '%s' (valid: ", m->name, key)
                        : snprintf(err, errlen, "%s: '%s' needs a value as %s=VALUE (valid: ",
                                   m->name, key, key);
            if (n > 0 && (size_t)n < errlen) {
                list_params(m, err, errlen, (size_t)n);
                size_t l = strlen(err);
                if (l + 1 < errlen)
                    strcat(err, ")");
            }
            return -1;
        }
        const as_param_def_t *d = &m->params[idx];
        int64_t v;
        size_t vlen = len - klen - 1;
        if (parse_value(eq + 1, vlen, d->flags, &v) || v < d->min || v > d->max) {
            char lo[32], hi[32];
            fmt_value(lo, sizeof lo, d->min, d->flags);
            fmt_value(hi, sizeof hi, d->max, d->flags);
            snprintf(err, errlen, "%s: %s=%.*s is %s (valid: %s..%s%s)", m->name, key,
                     (int)(vlen > 40 ? 40 : vlen), eq + 1,
                     parse_value(eq + 1, vlen, d->flags, &v) ? "not a valid value" : "out of range",
                     lo, hi,
                     (d->flags & AS_PARAM_SIZE) ? ", sizes take K/M/G" :
                     (d->flags & AS_PARAM_BOOL) ? ", 0 or 1" : "");
            return -1;
        }
        p->v[idx] = v;
        p->set |= 1ull << idx;
        s += len;
        if (*s == ',')
            s++;
    }
    return 0;
}
