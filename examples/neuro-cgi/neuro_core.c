/* neuro_core.c -- the analysis kernels (see neuro_core.h): smoothing,
 * sorting, k-means statistics, labelling, regions; and the wire codecs.
 * Freestanding: built into bare-metal slave images. */
#include "neuro_core.h"

#include <string.h>

/* The tap loops are the hot path. Hosted (process shards): vectorise
 * them, which -O2's cost model does not. Bare metal under QEMU TCG: keep
 * them scalar -- TCG 7.2 runs SSE integer ops through helpers, and the
 * vectorised kernel measured 1443 ms against 886 ms scalar on ch2bet. */
#ifndef MLOS_BAREMETAL
#pragma GCC optimize("O3")
#endif

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- smoothing, fixed point ---- */

/* o[i] = round((w0*c[i] + sum_k wk*(a_k[i] + b_k[i])) >> shift) over n
 * values; rows[k] for k = -r..r are given as pointers (rows[r] the center).
 * Outer loop over taps, inner over voxels: long unit-stride loops that
 * vectorise natively and translate to few host instructions under TCG. */
static void taps_u32(uint32_t *o, const uint32_t *const *rows, const uint16_t *w, int r, size_t n, int shift)
{
    const uint32_t *c = rows[r];
    uint32_t w0 = w[0], half = 1u << (shift - 1);
    for (size_t i = 0; i < n; i++)
        o[i] = w0 * c[i] + half;
    for (int k = 1; k <= r; k++) {
        const uint32_t *a = rows[r - k], *b = rows[r + k];
        uint32_t wk = w[k];
        for (size_t i = 0; i < n; i++)
            o[i] += wk * (a[i] + b[i]);
    }
    for (size_t i = 0; i < n; i++)
        o[i] >>= shift;
}

static void taps_u16(uint32_t *o, const uint16_t *const *rows, const uint16_t *w, int r, size_t n, int shift)
{
    const uint16_t *c = rows[r];
    uint32_t w0 = w[0], half = 1u << (shift - 1);
    for (size_t i = 0; i < n; i++)
        o[i] = w0 * c[i] + half;
    for (int k = 1; k <= r; k++) {
        const uint16_t *a = rows[r - k], *b = rows[r + k];
        uint32_t wk = w[k];
        for (size_t i = 0; i < n; i++)
            o[i] += wk * ((uint32_t)a[i] + b[i]);
    }
    for (size_t i = 0; i < n; i++)
        o[i] >>= shift;
}

void neuro_smooth_fixed(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out, const uint16_t *w,
                        int r, uint32_t *out, uint32_t *tmp)
{
    size_t nxy = (size_t)nx * ny;
    const uint16_t *zrows[2 * NEURO_MAX_RADIUS + 1];
    const uint32_t *rows[2 * NEURO_MAX_RADIUS + 1];

    for (int zo = 0; zo < nz_out; zo++) {
        uint32_t *o = out + nxy * zo;
        int zc = z_off + zo;
        /* z: slices of the input (halo included, clamped at its ends) */
        for (int k = -r; k <= r; k++)
            zrows[k + r] = in + nxy * clampi(zc + k, 0, nz_in - 1);
        taps_u16(o, zrows, w, r, nxy, 8);
        /* y: rows of a copy of this slice */
        memcpy(tmp, o, nxy * sizeof(uint32_t));
        for (int y = 0; y < ny; y++) {
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + (size_t)nx * clampi(y + k, 0, ny - 1);
            taps_u32(o + (size_t)nx * y, rows, w, r, nx, 8);
        }
        /* x: each row padded with r replicated voxels on both sides */
        for (int y = 0; y < ny; y++) {
            uint32_t *row = o + (size_t)nx * y;
            for (int i = 0; i < r; i++) {
                tmp[i] = row[0];
                tmp[r + nx + i] = row[nx - 1];
            }
            memcpy(tmp + r, row, nx * sizeof(uint32_t));
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + r + k;
            taps_u32(row, rows, w, r, nx, NEURO_W_BITS);
        }
    }
}

/* ---- smoothing, float (for comparison) ---- */

static void taps_f32(float *o, const float *const *rows, const float *w, int r, size_t n)
{
    const float *c = rows[r];
    for (size_t i = 0; i < n; i++)
        o[i] = w[0] * c[i];
    for (int k = 1; k <= r; k++) {
        const float *a = rows[r - k], *b = rows[r + k];
        float wk = w[k];
        for (size_t i = 0; i < n; i++)
            o[i] += wk * (a[i] + b[i]);
    }
}

void neuro_smooth_float(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out, const float *w,
                        int r, uint32_t *out, float *tmp, float *slab)
{
    size_t nxy = (size_t)nx * ny;
    const float *rows[2 * NEURO_MAX_RADIUS + 1];

    for (int zo = 0; zo < nz_out; zo++) {
        float *o = slab;
        int zc = z_off + zo;
        for (size_t i = 0; i < nxy; i++)
            o[i] = w[0] * (float)in[nxy * zc + i];
        for (int k = 1; k <= r; k++) {
            const uint16_t *a = in + nxy * clampi(zc - k, 0, nz_in - 1), *b = in + nxy * clampi(zc + k, 0, nz_in - 1);
            float wk = w[k];
            for (size_t i = 0; i < nxy; i++)
                o[i] += wk * (float)((uint32_t)a[i] + b[i]);
        }
        memcpy(tmp, o, nxy * sizeof(float));
        for (int y = 0; y < ny; y++) {
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + (size_t)nx * clampi(y + k, 0, ny - 1);
            taps_f32(o + (size_t)nx * y, rows, w, r, nx);
        }
        for (int y = 0; y < ny; y++) {
            float *row = o + (size_t)nx * y;
            for (int i = 0; i < r; i++) {
                tmp[i] = row[0];
                tmp[r + nx + i] = row[nx - 1];
            }
            memcpy(tmp + r, row, nx * sizeof(float));
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + r + k;
            taps_f32(row, rows, w, r, nx);
        }
        uint32_t *fo = out + nxy * zo;
        for (size_t i = 0; i < nxy; i++)
            fo[i] = (uint32_t)(o[i] * (float)(1u << NEURO_F_SHIFT) + 0.5f);
    }
}

/* ---- k-means support ---- */

size_t neuro_gather_masked(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t *vals)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (mask[i])
            vals[m++] = f[i];
    return m;
}

void neuro_sort_u32(uint32_t *a, uint32_t *tmp, size_t n, uint32_t *counts)
{
    uint32_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 11) {
        memset(counts, 0, 2048 * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++)
            counts[(src[i] >> shift) & 2047]++;
        /* a digit shared by every value orders nothing: skip the pass */
        if (n == 0 || counts[(src[0] >> shift) & 2047] == n)
            continue;
        uint32_t pos = 0;
        for (int d = 0; d < 2048; d++) {
            uint32_t c = counts[d];
            counts[d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[counts[(src[i] >> shift) & 2047]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(uint32_t));
}

void neuro_prefix_u64(const uint32_t *a, size_t n, uint64_t *pre)
{
    uint64_t s = 0;
    pre[0] = 0;
    for (size_t i = 0; i < n; i++)
        pre[i + 1] = s += a[i];
}

size_t neuro_count_le(const uint32_t *a, size_t n, uint32_t t)
{
    size_t lo = 0, hi = n; /* answer in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void neuro_label(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t t1, uint32_t t2, uint8_t *seg)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x = f[i];
        uint8_t c = (uint8_t)(x <= t1 ? 1 : x <= t2 ? 2 : 3);
        seg[i] = mask[i] ? c : 0;
    }
}

void neuro_region_stats(const uint32_t *f, const uint8_t *seg, const uint16_t *idx, size_t n, uint32_t nreg,
                        uint64_t *cnt, uint64_t *sum, uint64_t *gm)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t j = idx[i];
        if (j == 0 || j > nreg)
            continue;
        cnt[j]++;
        sum[j] += f[i];
        gm[j] += seg[i] == 2;
    }
}

/* ---- little-endian codecs ---- */

void neuro_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
void neuro_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
void neuro_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
uint16_t neuro_get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t neuro_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
uint64_t neuro_get_le64(const uint8_t *p) { return neuro_get_le32(p) | (uint64_t)neuro_get_le32(p + 4) << 32; }

/* Field-by-field codecs: a cursor walks the wire bytes in struct order. */
#define ENC32(x) (neuro_put_le32(p, (x)), p += 4)
#define ENC64(x) (neuro_put_le64(p, (x)), p += 8)
#define DEC32(x) ((x) = neuro_get_le32(p), p += 4)
#define DEC64(x) ((x) = neuro_get_le64(p), p += 8)

void neuro_smooth_arg_enc(const struct neuro_smooth_arg *a, uint8_t *p)
{
    ENC32(a->nx), ENC32(a->ny), ENC32(a->nz_in), ENC32(a->z_off), ENC32(a->nz_out), ENC32(a->radius);
    ENC32(a->flags), ENC32(a->m);
    ENC64(a->in_off), ENC64(a->mask_off), ENC64(a->f_off), ENC64(a->sorted_off), ENC64(a->prefix_off);
    ENC64(a->scratch_off), ENC64(a->scratch_len);
    for (int i = 0; i <= NEURO_MAX_RADIUS; i++)
        ENC32(a->w[i]);
}
void neuro_smooth_arg_dec(const uint8_t *p, struct neuro_smooth_arg *a)
{
    DEC32(a->nx), DEC32(a->ny), DEC32(a->nz_in), DEC32(a->z_off), DEC32(a->nz_out), DEC32(a->radius);
    DEC32(a->flags), DEC32(a->m);
    DEC64(a->in_off), DEC64(a->mask_off), DEC64(a->f_off), DEC64(a->sorted_off), DEC64(a->prefix_off);
    DEC64(a->scratch_off), DEC64(a->scratch_len);
    for (int i = 0; i <= NEURO_MAX_RADIUS; i++)
        DEC32(a->w[i]);
}
void neuro_smooth_res_enc(const struct neuro_smooth_res *r, uint8_t *p)
{
    ENC64(r->m), ENC64(r->fmin), ENC64(r->fmax), ENC64(r->sum), ENC64(r->smooth_ns), ENC64(r->sort_ns);
}
void neuro_smooth_res_dec(const uint8_t *p, struct neuro_smooth_res *r)
{
    DEC64(r->m), DEC64(r->fmin), DEC64(r->fmax), DEC64(r->sum), DEC64(r->smooth_ns), DEC64(r->sort_ns);
}
void neuro_kstep_arg_enc(const struct neuro_kstep_arg *a, uint8_t *p)
{
    ENC64(a->sorted_off), ENC64(a->prefix_off), ENC64(a->m), ENC32(a->t1), ENC32(a->t2);
}
void neuro_kstep_arg_dec(const uint8_t *p, struct neuro_kstep_arg *a)
{
    DEC64(a->sorted_off), DEC64(a->prefix_off), DEC64(a->m), DEC32(a->t1), DEC32(a->t2);
}
void neuro_kstep_res_enc(const struct neuro_kstep_res *r, uint8_t *p) { ENC64(r->n1), ENC64(r->s1), ENC64(r->n2), ENC64(r->s2); }
void neuro_kstep_res_dec(const uint8_t *p, struct neuro_kstep_res *r) { DEC64(r->n1), DEC64(r->s1), DEC64(r->n2), DEC64(r->s2); }
void neuro_finish_arg_enc(const struct neuro_finish_arg *a, uint8_t *p)
{
    ENC64(a->n), ENC64(a->f_off), ENC64(a->mask_off), ENC64(a->seg_off), ENC64(a->idx_off), ENC64(a->stats_off);
    ENC32(a->t1), ENC32(a->t2), ENC32(a->nreg), ENC32(a->pad);
}
void neuro_finish_arg_dec(const uint8_t *p, struct neuro_finish_arg *a)
{
    DEC64(a->n), DEC64(a->f_off), DEC64(a->mask_off), DEC64(a->seg_off), DEC64(a->idx_off), DEC64(a->stats_off);
    DEC32(a->t1), DEC32(a->t2), DEC32(a->nreg), DEC32(a->pad);
}
