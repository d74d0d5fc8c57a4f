/* slices.c -- mid-slice rendering with a segmentation overlay (see slices.h). */
#include "slices.h"

#include <stdlib.h>
#include <string.h>

const uint8_t slice_class_rgb[4][3] = {{0, 0, 0}, {40, 110, 255}, {40, 200, 70}, {255, 150, 30}};

#define HIST_BINS 4096

/* min(0, values) and max(0, values) over the finite values. Branch-free
 * and tested on the bits so that it vectorises under finite-math-only
 * (min/max reductions do not otherwise) without letting NaN or inf in:
 * the volume may hold any float the upload had. */
#pragma GCC push_options
#pragma GCC optimize("O3", "finite-math-only", "no-signed-zeros")
static void finite_range0(const float *d, size_t n, float *pmn, float *pmx)
{
    float mn = 0, mx = 0;

    for (size_t i = 0; i < n; i++) {
        float x = d[i];
        uint32_t b;

        memcpy(&b, &x, 4);
        x = (b & 0x7f800000u) != 0x7f800000u ? x : 0.0f;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    *pmn = mn, *pmx = mx;
}
#pragma GCC pop_options

void slice_window_auto(const struct neuro_volume *v, struct slice_window *w)
{
    size_t n = (size_t)v->nx * v->ny * v->nz, npos = 0, acc = 0;
    float mn, mx;
    static size_t hist[HIST_BINS];

    memset(hist, 0, sizeof hist);
    finite_range0(v->data, n, &mn, &mx);
    w->lo = mn;
    w->hi = mx > mn ? mx : mn + 1;
    if (mx <= 0)
        return;
    /* A display window needs the percentile to a bin, not every voxel:
     * past 2^20 voxels a regular sample of about 2^20 of them decides it
     * (a tenth of the time on a 7-Mvoxel volume). */
    size_t step = n >> 20 ? n >> 20 : 1;
    float to_bin = (float)(HIST_BINS - 1) / mx;
    for (size_t i = 0; i < n; i += step) {
        float x = v->data[i];

        if (x > 0 && x <= mx) { /* finite only */
            size_t b = (size_t)(x * to_bin);
            hist[b < HIST_BINS ? b : HIST_BINS - 1]++;
            npos++;
        }
    }
    if (npos < 100)
        return;
    for (size_t b = 0; b < HIST_BINS; b++) {
        acc += hist[b];
        if (acc * 1000 >= npos * 995) {
            float hi = (float)((double)(b + 1) / (HIST_BINS - 1) * mx);

            if (hi > w->lo)
                w->hi = hi < mx ? hi : mx;
            break;
        }
    }
}

const char *slice_view_name(enum slice_view view)
{
    switch (view) {
    case SLICE_AXIAL: return "axial";
    case SLICE_CORONAL: return "coronal";
    default: return "sagittal";
    }
}

int slice_render(const struct neuro_volume *v, const struct neuro_labels *seg, const struct slice_window *win,
                 enum slice_view view, uint8_t **rgb, int *w, int *h)
{
    int cols, rows, scale, longer;
    size_t sx = 1, sy = (size_t)v->nx, sz = (size_t)v->nx * v->ny, base, ucol, urow;
    float span = win->hi > win->lo ? win->hi - win->lo : 1;
    uint8_t *img;

    /* ucol/urow: voxel index steps for one picture column / one row upward */
    switch (view) {
    case SLICE_AXIAL:
        cols = v->nx, rows = v->ny, base = sz * (size_t)(v->nz / 2), ucol = sx, urow = sy;
        break;
    case SLICE_CORONAL:
        cols = v->nx, rows = v->nz, base = sy * (size_t)(v->ny / 2), ucol = sx, urow = sz;
        break;
    default:
        cols = v->ny, rows = v->nz, base = sx * (size_t)(v->nx / 2), ucol = sy, urow = sz;
    }
    longer = cols > rows ? cols : rows;
    scale = longer >= 256 ? 1 : (256 + longer - 1) / longer;
    if (scale > 4)
        scale = 4;
    *w = cols * scale;
    *h = rows * scale;
    if (!(img = malloc((size_t)*w * *h * 3)))
        return -1;
    for (int r = 0; r < rows; r++) {
        /* picture row 0 is the top: the highest voxel row */
        size_t rowbase = base + urow * (size_t)(rows - 1 - r);

        for (int c = 0; c < cols; c++) {
            size_t i = rowbase + ucol * (size_t)c;
            float t = (v->data[i] - win->lo) / span;
            int g = t <= 0 ? 0 : t >= 1 ? 255 : (int)(t * 255 + 0.5f);
            int lab = seg ? seg->data[i] : 0;
            uint8_t px[3] = {(uint8_t)g, (uint8_t)g, (uint8_t)g};

            if (lab >= 1 && lab <= 3)
                for (int k = 0; k < 3; k++)
                    px[k] = (uint8_t)((g * 55 + slice_class_rgb[lab][k] * 45 + 50) / 100);
            for (int dy = 0; dy < scale; dy++) {
                uint8_t *dst = img + (((size_t)r * scale + dy) * *w + (size_t)c * scale) * 3;

                for (int dx = 0; dx < scale; dx++)
                    memcpy(dst + 3 * dx, px, 3);
            }
        }
    }
    *rgb = img;
    return 0;
}
