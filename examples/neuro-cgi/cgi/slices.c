/* slices.c -- mid-slice rendering with a segmentation overlay (see slices.h). */
#include "slices.h"

#include <math.h>
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

void slice_orient_of(const struct neuro_volume *v, struct slice_orient *o)
{
    double col[3][3], worst = 1;
    int used_w[3] = {0}, used_j[3] = {0};

    /* unit direction of each voxel axis j in the world, and its length */
    for (int j = 0; j < 3; j++) {
        double n = 0;

        for (int w = 0; w < 3; w++)
            n += v->affine[w][j] * v->affine[w][j];
        n = sqrt(n);
        o->mm[j] = n > 0 ? n : 1;
        for (int w = 0; w < 3; w++)
            col[w][j] = n > 0 ? v->affine[w][j] / n : (w == j);
    }
    /* Pair world and voxel axes, the best-aligned pair first, so that an
     * oblique scan still gets a permutation (every world axis one voxel
     * axis), not two world axes claiming the same voxel axis. */
    for (int round = 0; round < 3; round++) {
        int bw = -1, bj = -1;
        double best = -1;

        for (int w = 0; w < 3; w++)
            for (int j = 0; j < 3; j++)
                if (!used_w[w] && !used_j[j] && fabs(col[w][j]) > best)
                    best = fabs(col[w][j]), bw = w, bj = j;
        used_w[bw] = used_j[bj] = 1;
        o->axis[bw] = bj;
        o->toward_plus[bw] = col[bw][bj] > 0;
        if (best < worst)
            worst = best;
    }
    o->known = v->xform != NEURO_XFORM_NONE;
    o->oblique_deg = acos(worst > 1 ? 1 : worst) * 180 / M_PI;
}

const char *slice_marker(enum slice_view view, int side)
{
    /* [view][left, right, top, bottom] in the radiological convention */
    static const char *const m[3][4] = {{"R", "L", "A", "P"}, {"R", "L", "S", "I"}, {"A", "P", "S", "I"}};

    return m[view][side];
}

int slice_render(const struct neuro_volume *v, const struct neuro_labels *seg, const struct slice_window *win,
                 const struct slice_orient *o, enum slice_view view, uint8_t **rgb, int *w, int *h)
{
    /* World axis across the picture (left to right) and down it; in every
     * view both run toward the world's minus side: axial R->L and A->P,
     * coronal R->L and S->I, sagittal A->P and S->I. The slice is the
     * middle of the remaining axis. */
    static const int across_w[3] = {0, 0, 1}, down_w[3] = {1, 2, 2}, through_w[3] = {2, 1, 0};
    const int n[3] = {v->nx, v->ny, v->nz};
    const size_t stride[3] = {1, (size_t)v->nx, (size_t)v->nx * v->ny};
    int ja = o->axis[across_w[view]], jd = o->axis[down_w[view]], jt = o->axis[through_w[view]];
    int flip_a = o->toward_plus[across_w[view]], flip_d = o->toward_plus[down_w[view]];
    int cols = n[ja], rows = n[jd], longer, k;
    double pix, mm_a = o->mm[ja], mm_d = o->mm[jd];
    float span = win->hi > win->lo ? win->hi - win->lo : 1;
    /* the middle slice counted from the world's minus side, so that the
     * same anatomy is shown however the axis is stored (for an even count
     * the two middles differ) */
    int mid = o->toward_plus[through_w[view]] ? n[jt] / 2 : n[jt] - 1 - n[jt] / 2;
    size_t base = stride[jt] * (size_t)mid;
    uint8_t *img;
    int *src_c, *src_r;

    /* Square picture pixels of the finer voxel spacing, so a 1 x 1 x 3 mm
     * voxel is three pixels tall; then an integer zoom (1..4) for a longer
     * side of at least 256 pixels, or a coarser pixel if it would pass
     * SLICE_MAX_SIDE. */
    pix = mm_a < mm_d ? mm_a : mm_d;
    *w = (int)lround(cols * mm_a / pix), *h = (int)lround(rows * mm_d / pix);
    *w = *w < 1 ? 1 : *w, *h = *h < 1 ? 1 : *h;
    longer = *w > *h ? *w : *h;
    k = longer >= 256 ? 1 : (256 + longer - 1) / longer;
    k = k > 4 ? 4 : k;
    if ((double)longer * k > SLICE_MAX_SIDE)
        pix *= (double)longer * k / SLICE_MAX_SIDE;
    else
        pix /= k;
    *w = (int)lround(cols * mm_a / pix), *h = (int)lround(rows * mm_d / pix);
    *w = *w < 1 ? 1 : *w > SLICE_MAX_SIDE ? SLICE_MAX_SIDE : *w;
    *h = *h < 1 ? 1 : *h > SLICE_MAX_SIDE ? SLICE_MAX_SIDE : *h;
    src_c = malloc(sizeof(int) * (size_t)*w);
    src_r = malloc(sizeof(int) * (size_t)*h);
    img = malloc((size_t)*w * *h * 3);
    if (!src_c || !src_r || !img) {
        free(src_c), free(src_r), free(img);
        return -1;
    }
    /* nearest voxel to each pixel centre, and its index along the axis
     * (reversed where the voxel index grows toward the world's plus side) */
    for (int x = 0; x < *w; x++) {
        int c = (int)((x + 0.5) * cols / *w);

        c = c >= cols ? cols - 1 : c;
        src_c[x] = flip_a ? cols - 1 - c : c;
    }
    for (int y = 0; y < *h; y++) {
        int r = (int)((y + 0.5) * rows / *h);

        r = r >= rows ? rows - 1 : r;
        src_r[y] = flip_d ? rows - 1 - r : r;
    }
    for (int y = 0; y < *h; y++) {
        size_t rowbase = base + stride[jd] * (size_t)src_r[y];
        uint8_t *dst = img + (size_t)y * *w * 3;

        if (y && src_r[y] == src_r[y - 1]) { /* a zoomed row: the same as the one above */
            memcpy(dst, dst - (size_t)*w * 3, (size_t)*w * 3);
            continue;
        }
        for (int x = 0; x < *w; x++) {
            size_t i = rowbase + stride[ja] * (size_t)src_c[x];

            if (x && src_c[x] == src_c[x - 1]) {
                memcpy(dst + 3 * x, dst + 3 * x - 3, 3);
                continue;
            }
            float t = (v->data[i] - win->lo) / span;
            int g = t <= 0 ? 0 : t >= 1 ? 255 : (int)(t * 255 + 0.5f);
            int lab = seg ? seg->data[i] : 0;

            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)g;
            if (lab >= 1 && lab <= 3)
                for (int q = 0; q < 3; q++)
                    dst[3 * x + q] = (uint8_t)((g * 55 + slice_class_rgb[lab][q] * 45 + 50) / 100);
        }
    }
    free(src_c);
    free(src_r);
    *rgb = img;
    return 0;
}
