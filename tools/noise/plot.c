/* plot.c -- tiny raster plots for mlos-noise (see plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#define ML 64 /* margins: left, right, top, bottom */
#define MR 16
#define MT 14
#define MB 36
#define NOISE_MAX_PEAKS_DRAWN 64
#define FS 2  /* font scale: 3x5 glyphs drawn 6x10 */

struct canvas {
    int w, h;
    uint8_t *px;
};

struct rgb {
    uint8_t r, g, b;
};

static const struct rgb BLACK = {0, 0, 0}, GRID = {225, 225, 225},
                        BAND = {150, 185, 230}, LINE = {20, 60, 150}, RED = {200, 30, 30}, ORANGE = {230, 140, 20};

static void pset(struct canvas *c, int x, int y, struct rgb col)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->px + 3 * ((size_t)y * c->w + x);
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

static void hline(struct canvas *c, int x0, int x1, int y, struct rgb col, int dash)
{
    for (int x = x0; x <= x1; x++)
        if (!dash || (x / dash) % 2 == 0)
            pset(c, x, y, col);
}

static void vline(struct canvas *c, int x, int y0, int y1, struct rgb col)
{
    if (y0 > y1) {
        int t = y0;
        y0 = y1;
        y1 = t;
    }
    for (int y = y0; y <= y1; y++)
        pset(c, x, y, col);
}

/* 3x5 glyphs, 3 bits per row (MSB = left), top row first. */
struct glyph {
    char ch;
    uint8_t rows[5];
};
static const struct glyph FONT[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 2, 2}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {0, 7, 7, 4, 3}}, {'k', {4, 5, 6, 5, 5}}, {'H', {5, 5, 7, 5, 5}},
    {'z', {0, 7, 1, 2, 7}}, {'m', {0, 6, 7, 5, 5}}, {'s', {3, 4, 2, 1, 6}}, {'u', {0, 5, 5, 5, 7}},
    {'%', {5, 1, 2, 4, 5}}, {'x', {0, 5, 2, 5, 0}}, {'n', {0, 6, 5, 5, 5}}, {'t', {2, 7, 2, 2, 3}},
    {'c', {0, 3, 4, 4, 3}}, {'o', {0, 7, 5, 5, 7}}, {'/', {1, 1, 2, 4, 4}}, {'a', {0, 6, 3, 5, 7}},
};

static int text_width(const char *s) { return (int)strlen(s) * 4 * FS; }

static void text(struct canvas *c, int x, int y, const char *s, struct rgb col)
{
    for (; *s; s++, x += 4 * FS) {
        const struct glyph *g = NULL;
        for (size_t i = 0; i < sizeof(FONT) / sizeof(FONT[0]); i++)
            if (FONT[i].ch == *s)
                g = &FONT[i];
        if (!g)
            continue; /* blank */
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++)
                if (g->rows[r] >> (2 - b) & 1)
                    for (int dy = 0; dy < FS; dy++)
                        for (int dx = 0; dx < FS; dx++)
                            pset(c, x + b * FS + dx, y + r * FS + dy, col);
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks. */
static double nice_step(double range, int n)
{
    if (!(range > 0))
        return 1;
    double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/* Tick labels in plain decimals, never exponent notation ("1e+03"): the
 * ticks are nice_step multiples, so a few decimals say them exactly. */
void noise_format_tick(char *buf, size_t cap, double v)
{
    if (fabs(v) < 1e-12)
        v = 0;
    int dec = 0;
    while (dec < 6 && fabs(v * pow(10, dec) - round(v * pow(10, dec))) > 1e-6 * pow(10, dec))
        dec++;
    snprintf(buf, cap, "%.*f", dec, v);
}

/* A peak's frequency with its own unit and three significant digits, in
 * fixed notation: "7.25Hz", "84.5Hz", "999Hz", "1.00kHz", "12.5kHz". */
void noise_format_hz(char *buf, size_t cap, double hz)
{
    double v = hz >= 999.5 ? hz / 1000 : hz;
    const char *unit = hz >= 999.5 ? "kHz" : "Hz";
    int dec = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;
    snprintf(buf, cap, "%.*f%s", dec, v, unit);
}

static int canvas_init(struct canvas *c)
{
    c->w = NOISE_PLOT_W;
    c->h = NOISE_PLOT_H;
    c->px = malloc((size_t)c->w * c->h * 3);
    if (!c->px)
        return -1;
    memset(c->px, 255, (size_t)c->w * c->h * 3);
    return 0;
}

/* Axes with ticks: x in [0, xmax] (labels scaled by xscale, unit after the
 * last label), y in [0, ymax]. */
static void axes(struct canvas *c, double xmax, double xscale, const char *xunit, double ymax)
{
    int x0 = ML, x1 = c->w - MR, y0 = c->h - MB, y1 = MT;
    char buf[32];
    double st = nice_step(xmax * xscale, 8);
    for (double v = 0; v <= xmax * xscale * (1 + 1e-9); v += st) {
        int x = x0 + (int)lround(v / (xmax * xscale) * (x1 - x0));
        vline(c, x, y1, y0, GRID);
        vline(c, x, y0, y0 + 4, BLACK);
        noise_format_tick(buf, sizeof(buf), v);
        text(c, x - text_width(buf) / 2, y0 + 7, buf, BLACK);
    }
    text(c, x1 - text_width(xunit), y0 + 7 + 6 * FS + 2, xunit, BLACK);
    st = nice_step(ymax, 5);
    for (double v = 0; v <= ymax * (1 + 1e-9); v += st) {
        int y = y0 - (int)lround(v / ymax * (y0 - y1));
        hline(c, x0, x1, y, GRID, 0);
        hline(c, x0 - 4, x0, y, BLACK, 0);
        noise_format_tick(buf, sizeof(buf), v);
        text(c, x0 - 6 - text_width(buf), y - 5 * FS / 2, buf, BLACK);
    }
    vline(c, x0, y1, y0, BLACK);
    hline(c, x0, x1, y0, BLACK, 0);
}

static int canvas_save(struct canvas *c, const char *path)
{
    png_image img;
    int rc = 0;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)c->w;
    img.height = (png_uint_32)c->h;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, path, 0, c->px, 0, NULL)) {
        if (!errno)
            errno = EIO;
        rc = -1;
    }
    png_image_free(&img);
    free(c->px);
    c->px = NULL;
    return rc;
}

int noise_plot_series(const char *path, const uint32_t *counts, uint32_t n, double q_s, const struct noise_stats *st)
{
    struct canvas c;
    if (canvas_init(&c) != 0)
        return -1;
    int x0 = ML, x1 = c.w - MR, y0 = c.h - MB, y1 = MT, pw = x1 - x0;
    double dur = n * q_s, xscale = dur >= 2 ? 1 : dur >= 2e-3 ? 1e3 : 1e6;
    double ymax = st->max ? st->max * 1.08 : 1;
    const char *unit = xscale == 1 ? "s" : xscale == 1e3 ? "ms" : "us";
    axes(&c, dur, xscale, unit, ymax);
#define YPIX(v) (y0 - (int)lround((double)(v) / ymax * (y0 - y1)))
    for (int px = 0; px < pw; px++) {
        uint32_t a = (uint32_t)((uint64_t)px * n / pw), b = (uint32_t)((uint64_t)(px + 1) * n / pw);
        if (b <= a)
            b = a + 1;
        if (a >= n)
            break;
        if (b > n)
            b = n;
        uint32_t lo = UINT32_MAX, hi = 0;
        double sum = 0;
        for (uint32_t i = a; i < b; i++) {
            lo = counts[i] < lo ? counts[i] : lo;
            hi = counts[i] > hi ? counts[i] : hi;
            sum += counts[i];
        }
        vline(&c, x0 + 1 + px, YPIX(lo), YPIX(hi), lo < 0.9 * st->max ? ORANGE : BAND);
        pset(&c, x0 + 1 + px, YPIX(sum / (b - a)), LINE);
    }
    hline(&c, x0 + 1, x1, YPIX(st->max), RED, 6);
    hline(&c, x0 + 1, x1, YPIX(0.9 * st->max), ORANGE, 3);
#undef YPIX
    return canvas_save(&c, path);
}

int noise_plot_spectrum(const char *path, const uint32_t *counts, uint32_t n, double q_s,
                        const struct noise_stats *st)
{
    size_t nb;
    double bin_hz, amax = 0;
    double *amp = noise_spectrum(counts, n, q_s, &nb, &bin_hz);
    if (!amp) {
        errno = ENOMEM;
        return -1;
    }
    struct canvas c;
    if (canvas_init(&c) != 0) {
        free(amp);
        return -1;
    }
    int x0 = ML, x1 = c.w - MR, y0 = c.h - MB, y1 = MT, pw = x1 - x0;
    double nyq = (nb - 1) * bin_hz, xscale = nyq >= 2000 ? 1e-3 : 1;
    for (size_t k = 1; k < nb; k++) /* skip DC */
        amax = amp[k] > amax ? amp[k] : amax;
    double ymax = amax > 0 ? amax * 1.1 : 1;
    axes(&c, nyq, xscale, xscale == 1 ? "Hz" : "kHz", ymax);
#define YPIX(v) (y0 - (int)lround((double)(v) / ymax * (y0 - y1)))
    for (int px = 0; px < pw; px++) {
        size_t a = (size_t)((double)px / pw * (nb - 1)) + 1, b = (size_t)((double)(px + 1) / pw * (nb - 1)) + 1;
        if (b <= a)
            b = a + 1;
        if (b > nb)
            b = nb;
        double hi = 0;
        for (size_t k = a; k < b; k++)
            hi = amp[k] > hi ? amp[k] : hi;
        vline(&c, x0 + 1 + px, y0 - 1, YPIX(hi), LINE);
    }
    int boxes[NOISE_MAX_PEAKS_DRAWN][4], nbox = 0; /* labels placed so far: x0, y0, x1, y1 */
    for (int p = 0; p < st->npeaks; p++) {
        int x = x0 + (int)lround(st->peaks[p].hz / nyq * pw), y = YPIX(st->peaks[p].amp);
        char buf[32];
        for (int d = -3; d <= 3; d++) {
            pset(&c, x + d, y - 4 + (d < 0 ? -d : d) / 2, RED);
            pset(&c, x, y - 4 - (d + 3), RED);
        }
        noise_format_hz(buf, sizeof(buf), st->peaks[p].hz);
        int tw = text_width(buf), th = 5 * FS, tx = x + 4, ty = y - 14;
        if (tx + tw > c.w - 2)
            tx = c.w - 2 - tw;
        /* Move up (then, past the top, down from there) until the label
         * overlaps none placed before it. */
        int tries = 0, moved_down = 0;
        for (;;) {
            if (ty < 1) {
                ty = y + 6;
                moved_down = 1;
            }
            int clash = 0;
            for (int b = 0; b < nbox && !clash; b++)
                clash = tx < boxes[b][2] + 3 && boxes[b][0] < tx + tw + 3 && ty < boxes[b][3] + 2 &&
                        boxes[b][1] < ty + th + 2;
            if (!clash || ++tries > 64)
                break;
            ty += moved_down ? th + 3 : -(th + 3);
        }
        if (nbox < NOISE_MAX_PEAKS_DRAWN) {
            boxes[nbox][0] = tx, boxes[nbox][1] = ty, boxes[nbox][2] = tx + tw, boxes[nbox][3] = ty + th;
            nbox++;
        }
        text(&c, tx, ty, buf, RED);
    }
#undef YPIX
    free(amp);
    return canvas_save(&c, path);
}
