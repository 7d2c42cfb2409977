/*
 * --plot OUT.svg: events per second per producer over collector time, as
 * a plain SVG written here (no library): one line per producer (the 8
 * busiest; the rest summed as "other"), drops, sequence gaps and skipped
 * corrupt data marked along the top, the producers named in a legend.
 *
 * Memory is bounded whatever the capture's length: time is cut into at
 * most PLOT_BINS bins per series, starting at 1 ms; when a record falls
 * past the last bin, neighbouring bins are merged in pairs and the bin
 * width doubles. So the picture always spans the whole capture with
 * between PLOT_BINS / 2 and PLOT_BINS bins (fewer for a capture shorter
 * than PLOT_BINS / 2 ms).
 *
 * Colours: a transparent background, mid-grey text and axes, and line
 * colours from the Okabe-Ito palette that keep their contrast on white and
 * on black, so the file reads on a light page and on a dark one alike.
 * Producer names are producer-controlled bytes: they are XML-escaped and
 * anything that is not printable UTF-8 becomes '?', so no name can break
 * the document or smuggle markup into it.
 */
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "escape.h"

#define PLOT_BINS 320u
#define PLOT_FIRST_WIDTH 1000000ull /* 1 ms */
#define PLOT_SHOWN 8u
/* Producers with a series of their own; later ones share one (drawn in
 * "other"), so memory stays bounded (2.5 KiB a series) for captures of
 * any number of connections. */
#define PLOT_MAX_SERIES 4096u
#define PLOT_POINTS 100u /* drawn: bins are merged down to this many */

#define SVG_W 900
#define SVG_H 440
#define PL_LEFT 72
#define PL_TOP 56
#define PL_W 610
#define PL_H 300

static const char *const palette[PLOT_SHOWN + 1] = {
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
    "#D55E00", "#8E7CC3", "#7A9A01", "#999999", /* the last: "other" */
};

struct dump_plot {
    int started;
    uint64_t t0;        /* collector time of bin 0's start */
    uint64_t width;     /* bin width, ns */
    uint32_t used;      /* bins holding anything: highest index + 1 */
    uint64_t last_ns;
    /* series s has its bins at bins[s * PLOT_BINS] */
    uint64_t *bins;
    uint32_t *ids;      /* producer id of each series */
    uint64_t *totals;
    size_t n;
    size_t cap;
    long overflow;         /* the shared series + 1, 0: none yet */
    uint64_t n_overflow;   /* producers counted in it */
    uint64_t drops[PLOT_BINS];
    uint64_t gaps[PLOT_BINS];
    uint64_t corrupt[PLOT_BINS];
};

int
dump_plot_open(dump_plot **out)
{
    dump_plot *pl = calloc(1, sizeof(*pl));

    if (pl == NULL)
        return SLUICE_ENOMEM;
    pl->width = PLOT_FIRST_WIDTH;
    *out = pl;
    return 0;
}

void
dump_plot_close(dump_plot *pl)
{
    if (pl == NULL)
        return;
    free(pl->bins);
    free(pl->ids);
    free(pl->totals);
    free(pl);
}

static void
merge(uint64_t *b)
{
    uint32_t i;

    for (i = 0; i < PLOT_BINS / 2; i++)
        b[i] = b[2 * i] + b[2 * i + 1];
    memset(b + PLOT_BINS / 2, 0, PLOT_BINS / 2 * sizeof(*b));
}

/* The bin of time @p ns, widening the bins until it fits. */
static uint32_t
bin_of(dump_plot *pl, uint64_t ns)
{
    uint64_t off;
    size_t s;

    if (!pl->started) {
        pl->started = 1;
        pl->t0 = ns;
    }
    if (ns > pl->last_ns)
        pl->last_ns = ns;
    /* Collector times of different workers may be a little out of
     * order: an earlier one counts in the first bin. */
    off = ns > pl->t0 ? ns - pl->t0 : 0;
    while (off / pl->width >= PLOT_BINS) {
        for (s = 0; s < pl->n; s++)
            merge(pl->bins + s * PLOT_BINS);
        merge(pl->drops);
        merge(pl->gaps);
        merge(pl->corrupt);
        pl->width *= 2;
        pl->used = (pl->used + 1) / 2;
    }
    if ((uint32_t)(off / pl->width) + 1 > pl->used)
        pl->used = (uint32_t)(off / pl->width) + 1;
    return (uint32_t)(off / pl->width);
}

/* The series of producer @p p, added on its first event. */
static long
series_of(dump_plot *pl, dump_producer *p)
{
    if (p->plot_series > 0)
        return p->plot_series - 1;
    if (pl->n == PLOT_MAX_SERIES && pl->overflow > 0) {
        pl->n_overflow++;
        p->plot_series = pl->overflow;
        return p->plot_series - 1;
    }
    if (pl->n == pl->cap) {
        size_t ncap = pl->cap ? pl->cap * 2 : 16;
        uint64_t *nb = realloc(pl->bins, ncap * PLOT_BINS * sizeof(*nb));
        uint32_t *ni;
        uint64_t *nt;

        if (nb == NULL)
            return -1;
        pl->bins = nb;
        ni = realloc(pl->ids, ncap * sizeof(*ni));
        if (ni == NULL)
            return -1;
        pl->ids = ni;
        nt = realloc(pl->totals, ncap * sizeof(*nt));
        if (nt == NULL)
            return -1;
        pl->totals = nt;
        pl->cap = ncap;
    }
    memset(pl->bins + pl->n * PLOT_BINS, 0, PLOT_BINS * sizeof(uint64_t));
    pl->ids[pl->n] = p->id;
    pl->totals[pl->n] = 0;
    p->plot_series = (long)++pl->n;
    if (pl->n == PLOT_MAX_SERIES) {
        /* This one is the shared series. */
        pl->overflow = p->plot_series;
        pl->n_overflow = 1;
    }
    return p->plot_series - 1;
}

int
dump_plot_event(dump_plot *pl, dump_producer *p, uint64_t ns)
{
    uint32_t b = bin_of(pl, ns);
    long s = series_of(pl, p);

    if (s < 0)
        return SLUICE_ENOMEM;
    pl->bins[(size_t)s * PLOT_BINS + b]++;
    pl->totals[s]++;
    return 0;
}

void
dump_plot_mark(dump_plot *pl, int kind, uint64_t ns, uint64_t count)
{
    uint32_t b = bin_of(pl, ns);

    if (kind == DUMP_PLOT_DROP)
        pl->drops[b] += count;
    else if (kind == DUMP_PLOT_GAP)
        pl->gaps[b] += count;
    else
        pl->corrupt[b] += count;
}

/* ---- writing ------------------------------------------------------------- */

/* XML text of producer-controlled bytes: escaped, '?' for anything not
 * printable UTF-8, at most @p max characters (then "..."). */
static void
svg_text(FILE *f, const uint8_t *p, size_t n, size_t max)
{
    size_t i = 0, chars = 0, l;

    while (i < n) {
        if (chars == max) {
            fputs("...", f);
            return;
        }
        chars++;
        if (p[i] == '&') {
            fputs("&amp;", f);
        } else if (p[i] == '<') {
            fputs("&lt;", f);
        } else if (p[i] == '>') {
            fputs("&gt;", f);
        } else if (p[i] == '"') {
            fputs("&quot;", f);
        } else if (p[i] >= 0x20 && p[i] < 0x7F) {
            fputc(p[i], f);
        } else {
            l = sl_utf8_len(p + i, n - i);
            if (l > 1 && dump_all_printable(p + i, l)) {
                fwrite(p + i, 1, l, f);
                i += l;
                continue;
            }
            fputc('?', f);
        }
        i++;
    }
}

static void
series_name(FILE *f, const dump_producers *t, uint32_t id, size_t max)
{
    dump_producer *p = dump_producer_find(t, id);

    if (p != NULL && p->named && p->name_len > 0)
        svg_text(f, (const uint8_t *)p->name, p->name_len, max);
    else
        fprintf(f, "producer %lu", (unsigned long)id);
}

/* 1, 2 or 5 times a power of ten, at least @p v. */
static double
nice_up(double v)
{
    double m = 1;

    if (v <= 0)
        return 1;
    while (m * 10 <= v)
        m *= 10;
    while (m > v)
        m /= 10;
    if (v <= m)
        return m;
    if (v <= 2 * m)
        return 2 * m;
    if (v <= 5 * m)
        return 5 * m;
    return 10 * m;
}

/* A rate with an SI suffix: 950, 1.2k, 3M. */
static void
rate_label(char *buf, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%gM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%gk", v / 1e3);
    else
        snprintf(buf, cap, "%g", v);
}

static void
seconds_label(char *buf, size_t cap, double s)
{
    if (s >= 3600 && s == (double)(uint64_t)(s / 3600) * 3600)
        snprintf(buf, cap, "+%gh", s / 3600);
    else if (s >= 60 && s == (double)(uint64_t)(s / 60) * 60)
        snprintf(buf, cap, "+%gmin", s / 60);
    else if (s >= 1 || s == 0)
        snprintf(buf, cap, "+%gs", s);
    else
        snprintf(buf, cap, "+%gms", s * 1e3);
}

/* qsort has no context argument: the totals being sorted by. */
static const uint64_t *sort_totals;

/* Busiest first; equal totals in order of appearance. */
static int
cmp_series(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    uint64_t x = sort_totals[i], y = sort_totals[j];

    if (x != y)
        return x < y ? 1 : -1;
    return i < j ? -1 : i > j;
}

/* What is drawn: the stored bins merged by a power of two, so that at
 * most PLOT_POINTS remain (finer would show the producers' bursts, not
 * their rates). */
typedef struct view {
    uint32_t merge; /* stored bins per drawn point */
    uint32_t used;  /* drawn points */
    uint64_t width; /* ns per drawn point */
} view;

static uint64_t
sum_at(const view *v, const uint64_t *b, uint32_t j)
{
    uint64_t t = 0;
    uint32_t i;

    for (i = j * v->merge; i < (j + 1) * v->merge && i < PLOT_BINS; i++)
        t += b[i];
    return t;
}

/* Events per second at drawn point @p j. The last point usually covers
 * only part of its width (the capture ends inside it): its rate is over
 * the part covered, and it is not drawn (@return -1) when that is under
 * half the width, where a handful of events would read as a cliff or a
 * spike. */
static double
rate_at(const dump_plot *pl, const view *v, const uint64_t *b, uint32_t j)
{
    double ns = (double)v->width;

    if (j + 1 == v->used && v->used > 1) {
        uint64_t start = pl->t0 + (uint64_t)j * v->width;
        uint64_t covered = pl->last_ns >= start ? pl->last_ns - start + 1 : 0;

        if (covered * 2 < v->width)
            return -1;
        if (covered < v->width)
            ns = (double)covered;
    }
    return (double)sum_at(v, b, j) / ns * 1e9;
}

static double
x_at(const view *v, double point)
{
    return PL_LEFT + point * PL_W / (v->used ? v->used : 1);
}

static void
markers(FILE *f, const view *vw, const uint64_t *bins, const char *cls,
        const char *what, const char *color, int row)
{
    uint32_t i;
    uint64_t count;
    double x, y = PL_TOP + 9 + 10 * row;

    for (i = 0; i < vw->used; i++) {
        count = sum_at(vw, bins, i);
        if (count == 0)
            continue;
        x = x_at(vw, i + 0.5);
        fprintf(f,
                "<g class=\"%s\" data-point=\"%u\" data-count=\"%llu\">"
                "<title>%llu %s at +%.3fs</title>",
                cls, i, (unsigned long long)count, (unsigned long long)count,
                what, (double)i * (double)vw->width / 1e9);
        fprintf(f,
                "<path d=\"M%.1f %.1fl-4 -7h8z\" fill=\"%s\"/>"
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"%s\" stroke-opacity=\"0.45\" "
                "stroke-dasharray=\"3 3\"/></g>\n",
                x, y, color, x, PL_TOP, x, PL_TOP + PL_H, color);
    }
}

int
dump_plot_write(const dump_plot *pl, FILE *f, const dump_producers *t,
                const sluice_capture_info *info)
{
    size_t *order = NULL, shown, s, k;
    uint64_t *other = NULL, n_other = 0, total_other = 0;
    double secs, ymax = 0, ytop, step, span, v;
    uint32_t i;
    char buf[64];
    int rc = 0;
    view vw;

    vw.merge = 1;
    while ((pl->used + vw.merge - 1) / vw.merge > PLOT_POINTS)
        vw.merge *= 2;
    vw.used = (pl->used + vw.merge - 1) / vw.merge;
    vw.width = pl->width * vw.merge;
    secs = (double)vw.width / 1e9;

    if (pl->n > 0) {
        order = malloc(pl->n * sizeof(*order));
        other = calloc(PLOT_BINS, sizeof(*other));
        if (order == NULL || other == NULL) {
            rc = SLUICE_ENOMEM;
            goto done;
        }
    }
    for (s = 0; s < pl->n; s++)
        order[s] = s;
    sort_totals = pl->totals;
    if (pl->n > 1)
        qsort(order, pl->n, sizeof(*order), cmp_series);
    if (pl->overflow > 0) {
        /* The shared series is never drawn as one producer: last. */
        for (k = 0; order[k] != (size_t)pl->overflow - 1; k++)
            ;
        memmove(order + k, order + k + 1, (pl->n - k - 1) * sizeof(*order));
        order[pl->n - 1] = (size_t)pl->overflow - 1;
    }
    shown = pl->n <= PLOT_SHOWN + 1 && pl->overflow == 0 ? pl->n
                                                          : PLOT_SHOWN;
    for (k = shown; k < pl->n; k++) {
        n_other += (long)order[k] == pl->overflow - 1 ? pl->n_overflow : 1;
        total_other += pl->totals[order[k]];
        for (i = 0; i < pl->used; i++)
            other[i] += pl->bins[order[k] * PLOT_BINS + i];
    }
    for (k = 0; k < shown + (n_other > 0); k++)
        for (i = 0; i < vw.used; i++) {
            v = rate_at(pl, &vw,
                        k < shown ? pl->bins + order[k] * PLOT_BINS : other, i);
            if (v > ymax)
                ymax = v;
        }
    ytop = nice_up(ymax > 0 ? ymax * 1.05 : 1);

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"13\">\n"
            "<title>sluice capture: events per second per producer</title>\n"
            "<g class=\"fg\" fill=\"#888888\">\n<text x=\"%d\" y=\"22\" "
            "font-size=\"15\" font-weight=\"bold\">Events per second, ",
            SVG_W, SVG_H, SVG_W, SVG_H, PL_LEFT);
    svg_text(f, (const uint8_t *)info->pipe, strlen(info->pipe), 40);
    fputs(" on ", f);
    svg_text(f, (const uint8_t *)info->host, strlen(info->host), 40);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"40\">", PL_LEFT);
    if (pl->started) {
        /* the first record's collector time, UTC */
        dump_out o;
        char tbuf[40];

        memset(&o, 0, sizeof(o));
        o.buf = tbuf;
        o.cap = sizeof(tbuf);
        dump_out_time(&o, pl->t0);
        fprintf(f, "from %.*s, %.3f s, bins of %g ms", (int)o.len, tbuf,
                (double)(pl->last_ns - pl->t0) / 1e9, secs * 1e3);
    } else {
        fputs("no events", f);
    }
    fputs("</text>\n", f);

    /* y axis: 5 ticks */
    for (k = 0; k <= 5; k++) {
        double y = PL_TOP + PL_H - (double)k * PL_H / 5;

        rate_label(buf, sizeof(buf), ytop * (double)k / 5);
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                "stroke=\"#888888\" stroke-opacity=\"%s\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s/s</text>\n",
                PL_LEFT, y, PL_LEFT + PL_W, y, k == 0 ? "0.9" : "0.25",
                PL_LEFT - 6, y + 4, buf);
    }
    /* x axis: ticks every 1, 2 or 5 units, about 6 of them */
    span = (double)vw.used * secs;
    step = nice_up(span / 6 > 0 ? span / 6 : 1e-3);
    for (v = 0; vw.used > 0 && v <= span + 1e-12; v += step) {
        double x = PL_LEFT + v / span * PL_W;

        seconds_label(buf, sizeof(buf), v);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"#888888\"/><text x=\"%.1f\" y=\"%d\" "
                "text-anchor=\"middle\">%s</text>\n",
                x, PL_TOP + PL_H, x, PL_TOP + PL_H + 5, x,
                PL_TOP + PL_H + 20, buf);
    }
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">collector time "
            "since the first record</text>\n</g>\n",
            PL_LEFT + PL_W / 2, PL_TOP + PL_H + 40);

    /* the series, busiest first, drawn last on top */
    /* The scale, for programs that read the picture back. */
    fprintf(f, "<g class=\"series-all\" data-ymax=\"%g\" data-bins=\"%u\" "
               "data-bin-ns=\"%llu\" data-area=\"%d %d %d %d\">\n",
            ytop,
            vw.used > 0 && rate_at(pl, &vw, pl->drops, vw.used - 1) < 0
                ? vw.used - 1
                : vw.used,
            (unsigned long long)vw.width, PL_LEFT, PL_TOP, PL_W, PL_H);
    for (k = shown + (n_other > 0); k-- > 0;) {
        int is_other = k == shown;

        if (is_other)
            fprintf(f, "<g class=\"series\" data-other=\"%llu\" "
                       "data-events=\"%llu\">",
                    (unsigned long long)n_other,
                    (unsigned long long)total_other);
        else
            fprintf(f, "<g class=\"series\" data-id=\"%lu\" "
                       "data-events=\"%llu\">",
                    (unsigned long)pl->ids[order[k]],
                    (unsigned long long)pl->totals[order[k]]);
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"2\" stroke-linejoin=\"round\" points=\"",
                palette[is_other ? PLOT_SHOWN : k]);
        for (i = 0; i < vw.used; i++) {
            double r = rate_at(pl, &vw,
                               is_other ? other
                                        : pl->bins + order[k] * PLOT_BINS,
                               i);

            if (r < 0)
                break;
            fprintf(f, "%s%.1f,%.1f", i ? " " : "", x_at(&vw, i + 0.5),
                    PL_TOP + PL_H - r / ytop * PL_H);
        }
        fputs("\"/></g>\n", f);
    }
    fputs("</g>\n", f);

    markers(f, &vw, pl->drops, "drop", "events dropped by the collector",
            "#D55E00", 0);
    markers(f, &vw, pl->gaps, "gap", "missing sequence numbers", "#E69F00",
            1);
    markers(f, &vw, pl->corrupt, "corrupt", "corrupt blocks skipped",
            "#999999", 2);

    /* legend */
    fputs("<g class=\"legend\" fill=\"#888888\">\n", f);
    for (k = 0; k < shown + (n_other > 0); k++) {
        int y = PL_TOP + 8 + (int)k * 22;
        int is_other = k == shown;
        uint64_t tot = is_other ? total_other : pl->totals[order[k]];

        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" "
                "fill=\"%s\"/><text x=\"%d\" y=\"%d\">",
                PL_LEFT + PL_W + 16, y - 4,
                palette[is_other ? PLOT_SHOWN : k], PL_LEFT + PL_W + 36,
                y + 1);
        if (is_other)
            fprintf(f, "other (%llu producers)", (unsigned long long)n_other);
        else {
            series_name(f, t, pl->ids[order[k]], 18);
            fprintf(f, " [%lu]", (unsigned long)pl->ids[order[k]]);
        }
        fprintf(f, "<title>%llu events</title></text>\n",
                (unsigned long long)tot);
    }
    {
        int y = PL_TOP + 16 + (int)(shown + (n_other > 0)) * 22;

        fprintf(f,
                "<path d=\"M%d %dl-4 -7h8z\" fill=\"#D55E00\"/>"
                "<text x=\"%d\" y=\"%d\">drops</text>\n"
                "<path d=\"M%d %dl-4 -7h8z\" fill=\"#E69F00\"/>"
                "<text x=\"%d\" y=\"%d\">sequence gaps</text>\n"
                "<path d=\"M%d %dl-4 -7h8z\" fill=\"#999999\"/>"
                "<text x=\"%d\" y=\"%d\">corrupt data</text>\n",
                PL_LEFT + PL_W + 23, y, PL_LEFT + PL_W + 36, y,
                PL_LEFT + PL_W + 23, y + 20, PL_LEFT + PL_W + 36, y + 20,
                PL_LEFT + PL_W + 23, y + 40, PL_LEFT + PL_W + 36, y + 40);
    }
    fputs("</g>\n</svg>\n", f);
    if (ferror(f))
        rc = SLUICE_EIO;

done:
    free(order);
    free(other);
    return rc;
}
