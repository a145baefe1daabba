/*
 * tools/report.c — the one emitter for replay results (tools/report.h):
 * text, JSON and CSV all walk AS_RESULT_FIELDS and AS_MODEL_STATS, so a new
 * metric is one line in replay/engine.h. Schema: doc/REPLAY.md.
 */
#include "tools/report.h"

#include <inttypes.h>
#include <string.h>

size_t as_report_params(const as_model_t *m, const as_params_t *p, as_report_kv_t *kv)
{
    size_t n = 0;
    for (int i = 0; m->params && m->params[i].name && i < AS_MAX_PARAMS; i++, n++) {
        kv[n].key = m->params[i].name;
        kv[n].value = p->v[i];
        kv[n].flags = m->params[i].flags;
        kv[n].dflt = !((p->set >> i) & 1);
    }
    return n;
}

/* "64K" style for sizes that are exact multiples, else plain. */
static void fmt_param(char *buf, size_t len, const as_report_kv_t *kv)
{
    static const char suf[] = "KMGT";
    int64_t v = kv->value;
    int u = -1;
    if (kv->flags & AS_PARAM_SIZE)
        while (v > 0 && u < 3 && (v & 1023) == 0) {
            v >>= 10;
            u++;
        }
    if (u >= 0)
        snprintf(buf, len, "%" PRId64 "%c", v, suf[u]);
    else
        snprintf(buf, len, "%" PRId64, kv->value);
}

/* "k=v,k=v" with sep between pairs; "-" when there are none (text). */
static void fmt_params(char *buf, size_t len, const as_report_row_t *row, const char *sep,
                       int human)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < row->nparams && off < len; i++) {
        char v[40];
        if (human && row->params[i].dflt)   /* text: only what the user chose */
            continue;
        if (human)
            fmt_param(v, sizeof v, &row->params[i]);
        else
            snprintf(v, sizeof v, "%" PRId64, row->params[i].value);
        int n = snprintf(buf + off, len - off, "%s%s=%s", off ? sep : "", row->params[i].key, v);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

/* ---- JSON ------------------------------------------------------------------- */

static void json_u(FILE *f, uint64_t v) { fprintf(f, "%" PRIu64, v); }
static void json_n(FILE *f, uint64_t v)
{
    if (v == AS_RESULT_NULL)
        fputs("null", f);
    else
        json_u(f, v);
}
static void json_d(FILE *f, double v) { fprintf(f, "%.6g", v); }

static void json_params(FILE *f, const as_report_row_t *row)
{
    fputs("{", f);
    for (size_t i = 0; i < row->nparams; i++) {
        if (i)
            fputs(", ", f);
        as_cli_json_str(f, row->params[i].key);
        fprintf(f, ": %" PRId64, row->params[i].value);
    }
    fputs("}", f);
}

static void json_row(FILE *f, const as_report_row_t *row)
{
    const as_result_t *r = row->r;
    fputs("    {\"model\": ", f);
    as_cli_json_str(f, row->model);
    fputs(", \"params\": ", f);
    json_params(f, row);
#define J_U(n) json_u(f, r->n)
#define J_N(n) json_n(f, r->n)
#define J_D(n) json_d(f, r->n)
#define J_S(n) json_d(f, r->n)
#define J(n, kind, doc) fputs(", \"" #n "\": ", f); J_##kind(n);
    AS_RESULT_FIELDS(J)
#undef J
    fprintf(f, ", \"jw\": [%.6g, %.6g, %.6g, %.6g]", r->jw[0], r->jw[1], r->jw[2], r->jw[3]);
    fputs(", \"model_stats\": {", f);
    int first = 1;
#define JS(n, doc) fprintf(f, "%s\"" #n "\": %" PRIu64, first ? "" : ", ", r->model.n); first = 0;
    AS_MODEL_STATS(JS)
#undef JS
    fputs("}}", f);
}

static void json_trace(FILE *f, const as_report_trace_t *t)
{
    fputs("{\"trace\": ", f);
    as_cli_json_str(f, t->trace);
    fprintf(f, ", \"events\": %" PRIu64 ", \"results\": [", t->events);
    for (size_t i = 0; i < t->nrows; i++) {
        fputs(i ? ",\n" : "\n", f);
        json_row(f, &t->rows[i]);
    }
    fputs(t->nrows ? "\n]}" : "]}", f);
}

/* ---- CSV -------------------------------------------------------------------- */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_header(FILE *f)
{
    fputs("trace,events,model,params", f);
#define H(n, kind, doc) fputs("," #n, f);
    AS_RESULT_FIELDS(H)
#undef H
    fputs(",jw1,jw2,jw3,jw4", f);
#define HS(n, doc) fputs(",model_" #n, f);
    AS_MODEL_STATS(HS)
#undef HS
    fputc('\n', f);
}

static void csv_row(FILE *f, const as_report_trace_t *t, const as_report_row_t *row)
{
    const as_result_t *r = row->r;
    char params[1024];
    fmt_params(params, sizeof params, row, ";", 0);
    csv_field(f, t->trace);
    fprintf(f, ",%" PRIu64 ",", t->events);
    csv_field(f, row->model);
    fputc(',', f);
    csv_field(f, params);
#define C_U(n) fprintf(f, ",%" PRIu64, r->n)
#define C_N(n) (r->n == AS_RESULT_NULL ? (void)fputc(',', f) : (void)fprintf(f, ",%" PRIu64, r->n))
#define C_D(n) fprintf(f, ",%.6g", r->n)
#define C_S(n) fprintf(f, ",%.6g", r->n)
#define C(n, kind, doc) C_##kind(n);
    AS_RESULT_FIELDS(C)
#undef C
    fprintf(f, ",%.6g,%.6g,%.6g,%.6g", r->jw[0], r->jw[1], r->jw[2], r->jw[3]);
#define CS(n, doc) fprintf(f, ",%" PRIu64, r->model.n);
    AS_MODEL_STATS(CS)
#undef CS
    fputc('\n', f);
}

/* ---- Text ------------------------------------------------------------------- */

enum { T_MODEL, T_PARAMS, T_RSS, T_LIVE, T_MAPPED, T_PROC, T_FRAG, T_JW4, T_PEAK, T_NCOL };
static const char *const t_head[T_NCOL] = {"MODEL", "PARAMS", "PEAK RSS", "PEAK LIVE",
                                           "PEAK MAPPED", "PROCESS RSS", "FRAG", "J&W#4",
                                           "PEAK AT"};

static void text_cells(const as_report_row_t *row, char cell[T_NCOL][160])
{
    const as_result_t *r = row->r;
    snprintf(cell[T_MODEL], 160, "%s", row->model);
    fmt_params(cell[T_PARAMS], 160, row, ",", 1);
    if (!cell[T_PARAMS][0])
        strcpy(cell[T_PARAMS], "defaults");
    as_cli_human(cell[T_RSS], 160, r->peak_rss);
    as_cli_human(cell[T_LIVE], 160, r->peak_live);
    as_cli_human(cell[T_MAPPED], 160, r->peak_mapped);
    if (r->peak_process_rss == AS_RESULT_NULL)
        strcpy(cell[T_PROC], "-");
    else
        as_cli_human(cell[T_PROC], 160, r->peak_process_rss);
    snprintf(cell[T_FRAG], 160, "%.1f%%", 100.0 * r->fragmentation);
    snprintf(cell[T_JW4], 160, "%.1f%%", 100.0 * r->jw[3]);
    snprintf(cell[T_PEAK], 160, "#%" PRIu64 " %.3fs", r->peak_event, r->peak_time);
}

static void text_trace(FILE *f, const as_report_trace_t *t)
{
    fprintf(f, "%s: %" PRIu64 " events\n", t->trace, t->events);
    size_t w[T_NCOL];
    for (int c = 0; c < T_NCOL; c++)
        w[c] = strlen(t_head[c]);
    char cell[T_NCOL][160];
    for (size_t i = 0; i < t->nrows; i++) {
        text_cells(&t->rows[i], cell);
        for (int c = 0; c < T_NCOL; c++)
            if (strlen(cell[c]) > w[c])
                w[c] = strlen(cell[c]);
    }
    /* Names and parameters left-aligned, numbers right-aligned. */
    for (int c = 0; c < T_NCOL; c++)
        fprintf(f, c < T_RSS ? "%-*s%s" : "%*s%s", (int)w[c], t_head[c], c + 1 < T_NCOL ? "  " : "\n");
    for (size_t i = 0; i < t->nrows; i++) {
        text_cells(&t->rows[i], cell);
        for (int c = 0; c < T_NCOL; c++)
            fprintf(f, c < T_RSS ? "%-*s%s" : "%*s%s", (int)w[c], cell[c], c + 1 < T_NCOL ? "  " : "\n");
    }
}


void as_report_print_sum(FILE *f, as_format_t fmt, const as_report_trace_t *t, size_t ntraces,
                         const as_report_sum_t *sum)
{
    char params[1024];
    switch (fmt) {
    case AS_FMT_JSON:
        if (ntraces != 1 || sum)
            fputs("[", f);
        for (size_t i = 0; i < ntraces; i++) {
            if (i)
                fputs(",\n", f);
            json_trace(f, &t[i]);
        }
        if (sum) {
            fputs(",\n{\"sum_of\": [", f);
            for (size_t i = 0; i < ntraces; i++) {
                if (i)
                    fputs(", ", f);
                as_cli_json_str(f, t[i].trace);
            }
            fprintf(f, "], \"tick\": %.6g, \"events\": %" PRIu64 ", \"results\": [",
                    (double)sum->tick_ns / 1e9, sum->events);
            for (size_t i = 0; i < sum->n; i++) {
                fputs(i ? ",\n    {\"model\": " : "\n    {\"model\": ", f);
                as_cli_json_str(f, sum->rows[i].model);
                fputs(", \"params\": ", f);
                json_params(f, &sum->rows[i]);
                fprintf(f, ", \"peak_rss\": %" PRIu64 ", \"peak_time\": %.6g}", sum->peak_rss[i],
                        sum->peak_time[i]);
            }
            fputs("\n]}", f);
        }
        fputs(ntraces != 1 || sum ? "]\n" : "\n", f);
        break;
    case AS_FMT_CSV:
        csv_header(f);
        for (size_t i = 0; i < ntraces; i++)
            for (size_t j = 0; j < t[i].nrows; j++)
                csv_row(f, &t[i], &t[i].rows[j]);
        for (size_t i = 0; sum && i < sum->n; i++) {
            /* Only peak_rss and peak_time mean something for a sum. */
            fmt_params(params, sizeof params, &sum->rows[i], ";", 0);
            fprintf(f, "(sum),%" PRIu64 ",", sum->events);
            csv_field(f, sum->rows[i].model);
            fputc(',', f);
            csv_field(f, params);
#define CSUM(n, kind, doc)                                                     \
            if (!strcmp(#n, "peak_rss"))                                       \
                fprintf(f, ",%" PRIu64, sum->peak_rss[i]);                     \
            else if (!strcmp(#n, "peak_time"))                                 \
                fprintf(f, ",%.6g", sum->peak_time[i]);                        \
            else                                                               \
                fputc(',', f);
            AS_RESULT_FIELDS(CSUM)
#undef CSUM
            fputs(",,,,", f);
#define CS0(n, doc) fputc(',', f);
            AS_MODEL_STATS(CS0)
#undef CS0
            fputc('\n', f);
        }
        break;
    default:
        for (size_t i = 0; i < ntraces; i++) {
            if (i)
                fputc('\n', f);
            text_trace(f, &t[i]);
        }
        if (sum) {
            fprintf(f, "\nsum of %zu processes on the shared time axis (%.0f ms ticks):\n", ntraces,
                    (double)sum->tick_ns / 1e6);
            size_t wm = 5, wp = 6;
            for (size_t i = 0; i < sum->n; i++) {
                fmt_params(params, sizeof params, &sum->rows[i], ",", 1);
                if (strlen(sum->rows[i].model) > wm)
                    wm = strlen(sum->rows[i].model);
                if (strlen(params) > wp)
                    wp = strlen(params);
            }
            fprintf(f, "%-*s  %-*s  %10s  %10s\n", (int)wm, "MODEL", (int)wp, "PARAMS", "PEAK RSS",
                    "PEAK AT");
            for (size_t i = 0; i < sum->n; i++) {
                char h[32];
                fmt_params(params, sizeof params, &sum->rows[i], ",", 1);
                fprintf(f, "%-*s  %-*s  %10s  %9.3fs\n", (int)wm, sum->rows[i].model, (int)wp,
                        params[0] ? params : "defaults", as_cli_human(h, sizeof h, sum->peak_rss[i]),
                        sum->peak_time[i]);
            }
        }
        break;
    }
}

void as_report_print(FILE *f, as_format_t fmt, const as_report_trace_t *t, size_t ntraces)
{
    as_report_print_sum(f, fmt, t, ntraces, NULL);
}

void as_report_series_header(FILE *f)
{
    fputs("trace,model,params,event,time,rss,mapped,live,process_rss\n", f);
}

void as_report_series(FILE *f, const char *trace, const as_report_row_t *row,
                      const as_series_point_t *pts, size_t n)
{
    char params[1024];
    fmt_params(params, sizeof params, row, ";", 0);
    for (size_t i = 0; i < n; i++) {
        csv_field(f, trace);
        fputc(',', f);
        csv_field(f, row->model);
        fputc(',', f);
        csv_field(f, params);
        fprintf(f, ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", pts[i].event,
                pts[i].time, pts[i].rss, pts[i].mapped, pts[i].live);
        if (pts[i].process_rss != AS_RESULT_NULL)
            fprintf(f, "%" PRIu64, pts[i].process_rss);
        fputc('\n', f);
    }
}
