/* neuro_core.c -- the analysis kernels (see neuro_core.h): smoothing,
 * sorting, k-means statistics, labelling, regions; and the wire codecs.
 * Freestanding: built into bare-metal slave images. */
#include "neuro_core.h"
#include <mlos/endian.h>

#include <string.h>

/* The tap loops are the hot path. Hosted (process shards): vectorise
 * them, which -O2's cost model does not. Bare metal under QEMU TCG: no
 * SSE (TCG 7.2 runs SSE integer ops through helpers, and the vectorised
 * kernel measured 1443 ms against 886 ms scalar on ch2bet) but the SWAR
 * kernel below (ch2bet, one shard: ~300 ms against ~730 ms for the scalar
 * tap-major loops, shard clock). */
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

/* ---- smoothing, fixed point, SWAR ----
 *
 * The same arithmetic as below (bit for bit), shaped for QEMU TCG, where
 * every guest load/store goes through the softmmu TLB and costs far more
 * than integer ALU work, and SSE integer ops are helpers: plain 64-bit
 * registers carry two 32-bit lanes (the bit budget of neuro_core.h keeps
 * every lane of every partial sum below 2^32, so no carry crosses lanes),
 * and one 64-bit load feeds two voxels (four in the z pass, whose inputs
 * are 16-bit: the sum of two taps is < 2^13 and is added in 16-bit lanes,
 * then spread to 32-bit lanes). Taps are applied in groups of up to three
 * symmetric pairs per sweep, so the accumulator row is read and written
 * once per group instead of once per tap while the row pointers, weights
 * and accumulators of a group still fit in registers. The y and x passes
 * are fused per row through a padded row buffer. */

static inline uint64_t ld64(const void *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
}
static inline void st64(void *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

#define LANES2(v) ((uint64_t)(v) * 0x100000001ull)
/* four 16-bit lanes -> two words of two 32-bit lanes: unpack_lo gives
 * elements 0 and 1 of the four in memory, as a 64-bit store of two 32-bit
 * elements wants them (lane order depends on the byte order) */
static inline uint64_t spread_low(uint64_t s) { return (s & 0xffffull) | ((s << 16) & 0xffff00000000ull); }
static inline uint64_t spread_high(uint64_t s) { return ((s >> 32) & 0xffffull) | ((s >> 16) & 0xffff00000000ull); }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define unpack_lo spread_high
#define unpack_hi spread_low
#else
#define unpack_lo spread_low
#define unpack_hi spread_high
#endif

#define AI static inline __attribute__((always_inline))

/* One group over n values of 32-bit rows: first: o = w0*c + taps, else
 * o += taps; nt (0..3) symmetric tap pairs (a_t + b_t) * w_t; last: o =
 * (o + half) >> shift. */
AI void grp_u32(uint32_t *o, size_t n, const uint32_t *c, uint32_t w0, const uint32_t *const *a,
                const uint32_t *const *b, const uint32_t *wt, const int nt, const int first, const int last, int shift)
{
    const uint32_t *a1 = a[0], *b1 = b[0], *a2 = a[1], *b2 = b[1], *a3 = a[2], *b3 = b[2];
    uint32_t w1 = wt[0], w2 = wt[1], w3 = wt[2], half = 1u << (shift - 1);
    uint64_t half2 = LANES2(half), lm = LANES2((1ull << (32 - shift)) - 1);
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint64_t acc = first ? ld64(c + i) * w0 : ld64(o + i);
        if (nt >= 1)
            acc += (ld64(a1 + i) + ld64(b1 + i)) * w1;
        if (nt >= 2)
            acc += (ld64(a2 + i) + ld64(b2 + i)) * w2;
        if (nt >= 3)
            acc += (ld64(a3 + i) + ld64(b3 + i)) * w3;
        if (last)
            acc = ((acc + half2) >> shift) & lm;
        st64(o + i, acc);
    }
    for (; i < n; i++) {
        uint32_t acc = first ? c[i] * w0 : o[i];
        if (nt >= 1)
            acc += (a1[i] + b1[i]) * w1;
        if (nt >= 2)
            acc += (a2[i] + b2[i]) * w2;
        if (nt >= 3)
            acc += (a3[i] + b3[i]) * w3;
        if (last)
            acc = (acc + half) >> shift;
        o[i] = acc;
    }
}

/* The same with 16-bit rows (z pass), four values per load. */
AI void grp_u16(uint32_t *o, size_t n, const uint16_t *c, uint32_t w0, const uint16_t *const *a,
                const uint16_t *const *b, const uint32_t *wt, const int nt, const int first, const int last, int shift)
{
    const uint16_t *a1 = a[0], *b1 = b[0], *a2 = a[1], *b2 = b[1], *a3 = a[2], *b3 = b[2];
    uint32_t w1 = wt[0], w2 = wt[1], w3 = wt[2], half = 1u << (shift - 1);
    uint64_t half2 = LANES2(half), lm = LANES2((1ull << (32 - shift)) - 1);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint64_t s, x0, x1;
        if (first) {
            s = ld64(c + i);
            x0 = unpack_lo(s) * w0, x1 = unpack_hi(s) * w0;
        } else {
            x0 = ld64(o + i), x1 = ld64(o + i + 2);
        }
        if (nt >= 1) {
            s = ld64(a1 + i) + ld64(b1 + i);
            x0 += unpack_lo(s) * w1, x1 += unpack_hi(s) * w1;
        }
        if (nt >= 2) {
            s = ld64(a2 + i) + ld64(b2 + i);
            x0 += unpack_lo(s) * w2, x1 += unpack_hi(s) * w2;
        }
        if (nt >= 3) {
            s = ld64(a3 + i) + ld64(b3 + i);
            x0 += unpack_lo(s) * w3, x1 += unpack_hi(s) * w3;
        }
        if (last) {
            x0 = ((x0 + half2) >> shift) & lm;
            x1 = ((x1 + half2) >> shift) & lm;
        }
        st64(o + i, x0);
        st64(o + i + 2, x1);
    }
    for (; i < n; i++) {
        uint32_t acc = first ? c[i] * w0 : o[i];
        if (nt >= 1)
            acc += ((uint32_t)a1[i] + b1[i]) * w1;
        if (nt >= 2)
            acc += ((uint32_t)a2[i] + b2[i]) * w2;
        if (nt >= 3)
            acc += ((uint32_t)a3[i] + b3[i]) * w3;
        if (last)
            acc = (acc + half) >> shift;
        o[i] = acc;
    }
}

/* Dispatch one group to its specialised loop (first/last/nt constant). */
#define GROUP_DISPATCH(fn)                                                                                      \
    switch (first * 8 + last * 4 + nt) {                                                                        \
    case 8: fn(o, n, c, w0, a, b, wt, 0, 1, 0, shift); break;                                                   \
    case 9: fn(o, n, c, w0, a, b, wt, 1, 1, 0, shift); break;                                                   \
    case 10: fn(o, n, c, w0, a, b, wt, 2, 1, 0, shift); break;                                                  \
    case 12: fn(o, n, c, w0, a, b, wt, 0, 1, 1, shift); break;                                                  \
    case 13: fn(o, n, c, w0, a, b, wt, 1, 1, 1, shift); break;                                                  \
    case 14: fn(o, n, c, w0, a, b, wt, 2, 1, 1, shift); break;                                                  \
    case 1: fn(o, n, c, w0, a, b, wt, 1, 0, 0, shift); break;                                                   \
    case 2: fn(o, n, c, w0, a, b, wt, 2, 0, 0, shift); break;                                                   \
    case 3: fn(o, n, c, w0, a, b, wt, 3, 0, 0, shift); break;                                                   \
    case 5: fn(o, n, c, w0, a, b, wt, 1, 0, 1, shift); break;                                                   \
    case 6: fn(o, n, c, w0, a, b, wt, 2, 0, 1, shift); break;                                                   \
    default: fn(o, n, c, w0, a, b, wt, 3, 0, 1, shift); break;                                                  \
    }

/* o[i] = (w0*c[i] + sum_k wk*(a_k[i] + b_k[i]) + half) >> shift over n
 * values; rows[k] for k = -r..r as in taps_u32 (rows[r] the center). */
#define TAPS_SWAR(name, T, grp)                                                                                 \
    static void name(uint32_t *o, const T *const *rows, const uint16_t *w, int r, size_t n, int shift)          \
    {                                                                                                           \
        const T *c = rows[r];                                                                                   \
        uint32_t w0 = w[0];                                                                                     \
        for (int k = 1, first = 1;; first = 0) {                                                                \
            int nt = r - k + 1, cap = first ? 2 : 3;                                                            \
            nt = nt > cap ? cap : nt;                                                                           \
            int last = k + nt - 1 == r;                                                                         \
            const T *a[3] = {c, c, c}, *b[3] = {c, c, c};                                                       \
            uint32_t wt[3] = {0, 0, 0};                                                                         \
            for (int t = 0; t < nt; t++)                                                                        \
                a[t] = rows[r - k - t], b[t] = rows[r + k + t], wt[t] = w[k + t];                               \
            GROUP_DISPATCH(grp)                                                                                 \
            k += nt;                                                                                            \
            if (last)                                                                                           \
                break;                                                                                          \
        }                                                                                                       \
    }
TAPS_SWAR(taps_swar_u32, uint32_t, grp_u32)
TAPS_SWAR(taps_swar_u16, uint16_t, grp_u16)

/* The rows and columns a box needs from the z and y passes: the box grown
 * by r, clipped to the slice. Returns 0 for an empty box. */
static int box_span(const struct neuro_box *b, int nx, int ny, int r, int *xa, int *xb, int *ya, int *yb)
{
    if (!b) {
        *xa = 0, *xb = nx, *ya = 0, *yb = ny;
        return 1;
    }
    if (b->x0 >= b->x1 || b->y0 >= b->y1)
        return 0;
    *xa = clampi((int)b->x0 - r, 0, nx), *xb = clampi((int)b->x1 + r, 0, nx);
    *ya = clampi((int)b->y0 - r, 0, ny), *yb = clampi((int)b->y1 + r, 0, ny);
    return 1;
}

void neuro_smooth_fixed_swar(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out,
                             const uint16_t *w, int r, uint32_t *out, uint32_t *tmp, const struct neuro_box *boxes)
{
    size_t nxy = (size_t)nx * ny;
    const uint16_t *zrows[2 * NEURO_MAX_RADIUS + 1];
    const uint32_t *rows[2 * NEURO_MAX_RADIUS + 1];
    uint32_t *rb = tmp + nxy; /* one row, r replicated voxels each side */

    for (int zo = 0; zo < nz_out; zo++) {
        const struct neuro_box *b = boxes ? &boxes[zo] : NULL;
        int zc = z_off + zo, xa, xb, ya, yb;
        if (!box_span(b, nx, ny, r, &xa, &xb, &ya, &yb))
            continue;
        int x0 = b ? (int)b->x0 : 0, x1 = b ? (int)b->x1 : nx, y0 = b ? (int)b->y0 : 0, y1 = b ? (int)b->y1 : ny;
        size_t zbase[2 * NEURO_MAX_RADIUS + 1];
        for (int k = -r; k <= r; k++)
            zbase[k + r] = nxy * (size_t)clampi(zc + k, 0, nz_in - 1);
        if (xa == 0 && xb == nx) { /* whole rows: one long run */
            for (int k = 0; k <= 2 * r; k++)
                zrows[k] = in + zbase[k] + (size_t)nx * ya;
            taps_swar_u16(tmp + (size_t)nx * ya, zrows, w, r, (size_t)nx * (yb - ya), 8);
        } else {
            for (int y = ya; y < yb; y++) {
                for (int k = 0; k <= 2 * r; k++)
                    zrows[k] = in + zbase[k] + (size_t)nx * y + xa;
                taps_swar_u16(tmp + (size_t)nx * y + xa, zrows, w, r, (size_t)(xb - xa), 8);
            }
        }
        for (int y = y0; y < y1; y++) {
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + (size_t)nx * clampi(y + k, 0, ny - 1) + xa;
            taps_swar_u32(rb + r + xa, rows, w, r, (size_t)(xb - xa), 8);
            for (int i = 0; i < r; i++) { /* replicate at the slice's edges only */
                if (xa == 0)
                    rb[i] = rb[r];
                if (xb == nx)
                    rb[r + nx + i] = rb[r + nx - 1];
            }
            for (int k = 0; k <= 2 * r; k++)
                rows[k] = rb + k + x0;
            taps_swar_u32(out + nxy * zo + (size_t)nx * y + x0, rows, w, r, (size_t)(x1 - x0), NEURO_W_BITS);
        }
    }
}

void neuro_smooth_fixed_scalar(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out, const uint16_t *w,
                               int r, uint32_t *out, uint32_t *tmp, const struct neuro_box *boxes)
{
    size_t nxy = (size_t)nx * ny;
    const uint16_t *zrows[2 * NEURO_MAX_RADIUS + 1];
    const uint32_t *rows[2 * NEURO_MAX_RADIUS + 1];

    for (int zo = 0; zo < nz_out; zo++) {
        const struct neuro_box *b = boxes ? &boxes[zo] : NULL;
        uint32_t *o = out + nxy * zo;
        int zc = z_off + zo, xa, xb, ya, yb;
        if (!box_span(b, nx, ny, r, &xa, &xb, &ya, &yb))
            continue;
        int x0 = b ? (int)b->x0 : 0, x1 = b ? (int)b->x1 : nx, y0 = b ? (int)b->y0 : 0, y1 = b ? (int)b->y1 : ny;
        size_t span = (size_t)(xb - xa);
        /* z: rows ya..yb, columns xa..xb of the input slices (halo
         * included, clamped at its ends); whole rows are one long run */
        if (span == (size_t)nx) {
            for (int k = -r; k <= r; k++)
                zrows[k + r] = in + nxy * clampi(zc + k, 0, nz_in - 1) + (size_t)nx * ya;
            taps_u16(o + (size_t)nx * ya, zrows, w, r, (size_t)nx * (yb - ya), 8);
        } else {
            for (int y = ya; y < yb; y++) {
                for (int k = -r; k <= r; k++)
                    zrows[k + r] = in + nxy * clampi(zc + k, 0, nz_in - 1) + (size_t)nx * y + xa;
                taps_u16(o + (size_t)nx * y + xa, zrows, w, r, span, 8);
            }
        }
        /* y: rows of a copy of this slice's z result */
        memcpy(tmp + (size_t)nx * ya, o + (size_t)nx * ya, (size_t)nx * (yb - ya) * sizeof(uint32_t));
        for (int y = y0; y < y1; y++) {
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + (size_t)nx * clampi(y + k, 0, ny - 1) + xa;
            taps_u32(o + (size_t)nx * y + xa, rows, w, r, span, 8);
        }
        /* x: each row padded with r replicated voxels at the slice's edges */
        for (int y = y0; y < y1; y++) {
            uint32_t *row = o + (size_t)nx * y;
            for (int i = 0; i < r; i++) {
                if (xa == 0)
                    tmp[i] = row[0];
                if (xb == nx)
                    tmp[r + nx + i] = row[nx - 1];
            }
            memcpy(tmp + r + xa, row + xa, span * sizeof(uint32_t));
            for (int k = -r; k <= r; k++)
                rows[k + r] = tmp + r + k + x0;
            taps_u32(row + x0, rows, w, r, (size_t)(x1 - x0), NEURO_W_BITS);
        }
    }
}

/* Any nonzero byte in p[0..n)? Eight at a time: most rows of a head
 * volume are all background, and this runs on every row. */
static int any_set(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc |= ld64(b + i);
    for (; i < n; i++)
        acc |= b[i];
    return acc != 0;
}

void neuro_slice_box(const uint8_t *mask, const uint16_t *idx, int nx, int ny, struct neuro_box *b)
{
    int x0 = nx, x1 = 0, y0 = ny, y1 = 0;
    for (int y = 0; y < ny; y++) {
        const uint8_t *m = mask + (size_t)nx * y;
        const uint16_t *ix = idx ? idx + (size_t)nx * y : NULL;
        int lo = 0, hi = nx - 1;
        if (!any_set(m, (size_t)nx) && !(ix && any_set(ix, 2 * (size_t)nx)))
            continue;
        while (lo < nx && !m[lo] && !(ix && ix[lo]))
            lo++;
        if (lo == nx)
            continue;
        while (!m[hi] && !(ix && ix[hi]))
            hi--;
        x0 = lo < x0 ? lo : x0;
        x1 = hi + 1 > x1 ? hi + 1 : x1;
        y0 = y < y0 ? y : y0;
        y1 = y + 1;
    }
    if (y1 == 0)
        *b = (struct neuro_box){0, 0, 0, 0};
    else
        *b = (struct neuro_box){(uint32_t)x0, (uint32_t)x1, (uint32_t)y0, (uint32_t)y1};
}

void neuro_smooth_fixed(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out, const uint16_t *w,
                        int r, uint32_t *out, uint32_t *tmp, const struct neuro_box *boxes)
{
#if defined(MLOS_BAREMETAL) && UINTPTR_MAX > 0xffffffffu /* SWAR needs 64-bit registers */
    neuro_smooth_fixed_swar(in, nx, ny, nz_in, z_off, nz_out, w, r, out, tmp, boxes);
#else
    neuro_smooth_fixed_scalar(in, nx, ny, nz_in, z_off, nz_out, w, r, out, tmp, boxes);
#endif
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

size_t neuro_hist_masked(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t *hist, uint32_t nbins)
{
    size_t m = 0, i = 0;
    uint32_t over = 0;
    /* eight mask bytes per load: most of a head volume is background */
    for (; i + 8 <= n; i += 8) {
        if (!ld64(mask + i))
            continue;
        for (size_t j = i; j < i + 8; j++)
            if (mask[j]) {
                uint32_t v = f[j];
                over |= v >= nbins;
                hist[v < nbins ? v : 0]++;
                m++;
            }
    }
    for (; i < n; i++)
        if (mask[i]) {
            uint32_t v = f[i];
            over |= v >= nbins;
            hist[v < nbins ? v : 0]++;
            m++;
        }
    return over ? (size_t)-1 : m;
}

size_t neuro_hist_compact(const uint32_t *hist, uint32_t nbins, uint32_t *vals, uint64_t *pre)
{
    uint64_t cnt = 0, sum = 0;
    size_t d = 0;
    uint32_t v = 0;
    pre[0] = pre[1] = 0;
    /* two bins per load (hist is 8-byte aligned); most pairs are empty */
    for (; v + 2 <= nbins; v += 2) {
        uint64_t pair = ld64(hist + v);
        if (!pair)
            continue;
        for (uint32_t u = v; u < v + 2; u++) {
            uint32_t h = hist[u];
            if (!h)
                continue;
            cnt += h;
            sum += (uint64_t)h * u;
            vals[d++] = u;
            pre[2 * d] = cnt;
            pre[2 * d + 1] = sum;
        }
    }
    for (; v < nbins; v++) {
        uint32_t h = hist[v];
        if (!h)
            continue;
        cnt += h;
        sum += (uint64_t)h * v;
        vals[d++] = v;
        pre[2 * d] = cnt;
        pre[2 * d + 1] = sum;
    }
    return d;
}

void neuro_label(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t t1, uint32_t t2, uint8_t *seg)
{
    size_t i = 0;
    /* eight background voxels per load and store, as in neuro_hist_masked */
    for (; i + 8 <= n; i += 8) {
        if (!ld64(mask + i)) {
            st64(seg + i, 0);
            continue;
        }
        for (size_t j = i; j < i + 8; j++) {
            uint32_t x = f[j];
            uint8_t c = (uint8_t)(x <= t1 ? 1 : x <= t2 ? 2 : 3);
            seg[j] = mask[j] ? c : 0;
        }
    }
    for (; i < n; i++) {
        uint32_t x = f[i];
        uint8_t c = (uint8_t)(x <= t1 ? 1 : x <= t2 ? 2 : 3);
        seg[i] = mask[i] ? c : 0;
    }
}

void neuro_region_stats(const uint32_t *f, const uint8_t *seg, const uint16_t *idx, size_t n, uint32_t nreg,
                        uint64_t *cnt, uint64_t *sum, uint64_t *gm)
{
    size_t i = 0;
    /* four voxels outside every region per load: most of a volume is */
    for (; i + 4 <= n; i += 4) {
        if (!ld64(idx + i))
            continue;
        for (size_t k = i; k < i + 4; k++) {
            uint32_t j = idx[k];
            if (j == 0 || j > nreg)
                continue;
            cnt[j]++;
            sum[j] += f[k];
            gm[j] += seg[k] == 2;
        }
    }
    for (; i < n; i++) {
        uint32_t j = idx[i];
        if (j == 0 || j > nreg)
            continue;
        cnt[j]++;
        sum[j] += f[i];
        gm[j] += seg[i] == 2;
    }
}

/* ---- little-endian codecs ---- */

/* Field-by-field codecs: a cursor walks the wire bytes in struct order. */
#define ENC32(x) (mlos_put_le32(p, (x)), p += 4)
#define ENC64(x) (mlos_put_le64(p, (x)), p += 8)
#define DEC32(x) ((x) = mlos_get_le32(p), p += 4)
#define DEC64(x) ((x) = mlos_get_le64(p), p += 8)

void neuro_smooth_arg_enc(const struct neuro_smooth_arg *a, uint8_t *p)
{
    ENC32(a->nx), ENC32(a->ny), ENC32(a->nz_in), ENC32(a->z_off), ENC32(a->nz_out), ENC32(a->radius);
    ENC32(a->flags), ENC32(a->m);
    ENC64(a->in_off), ENC64(a->mask_off), ENC64(a->f_off), ENC64(a->sorted_off), ENC64(a->prefix_off);
    ENC64(a->scratch_off), ENC64(a->scratch_len), ENC64(a->box_off);
    for (int i = 0; i <= NEURO_MAX_RADIUS; i++)
        ENC32(a->w[i]);
}
void neuro_smooth_arg_dec(const uint8_t *p, struct neuro_smooth_arg *a)
{
    DEC32(a->nx), DEC32(a->ny), DEC32(a->nz_in), DEC32(a->z_off), DEC32(a->nz_out), DEC32(a->radius);
    DEC32(a->flags), DEC32(a->m);
    DEC64(a->in_off), DEC64(a->mask_off), DEC64(a->f_off), DEC64(a->sorted_off), DEC64(a->prefix_off);
    DEC64(a->scratch_off), DEC64(a->scratch_len), DEC64(a->box_off);
    for (int i = 0; i <= NEURO_MAX_RADIUS; i++)
        DEC32(a->w[i]);
}
void neuro_smooth_res_enc(const struct neuro_smooth_res *r, uint8_t *p)
{
    ENC64(r->m), ENC64(r->fmin), ENC64(r->fmax), ENC64(r->sum), ENC64(r->smooth_ns), ENC64(r->sort_ns), ENC64(r->d);
}
void neuro_smooth_res_dec(const uint8_t *p, struct neuro_smooth_res *r)
{
    DEC64(r->m), DEC64(r->fmin), DEC64(r->fmax), DEC64(r->sum), DEC64(r->smooth_ns), DEC64(r->sort_ns), DEC64(r->d);
}
void neuro_kstep_arg_enc(const struct neuro_kstep_arg *a, uint8_t *p)
{
    ENC64(a->sorted_off), ENC64(a->prefix_off), ENC64(a->d), ENC32(a->t1), ENC32(a->t2);
}
void neuro_kstep_arg_dec(const uint8_t *p, struct neuro_kstep_arg *a)
{
    DEC64(a->sorted_off), DEC64(a->prefix_off), DEC64(a->d), DEC32(a->t1), DEC32(a->t2);
}
void neuro_kstep_res_enc(const struct neuro_kstep_res *r, uint8_t *p) { ENC64(r->n1), ENC64(r->s1), ENC64(r->n2), ENC64(r->s2); }
void neuro_kstep_res_dec(const uint8_t *p, struct neuro_kstep_res *r) { DEC64(r->n1), DEC64(r->s1), DEC64(r->n2), DEC64(r->s2); }
void neuro_finish_arg_enc(const struct neuro_finish_arg *a, uint8_t *p)
{
    ENC64(a->n), ENC64(a->f_off), ENC64(a->mask_off), ENC64(a->seg_off), ENC64(a->idx_off), ENC64(a->stats_off);
    ENC64(a->box_off);
    ENC32(a->t1), ENC32(a->t2), ENC32(a->nreg), ENC32(a->flags), ENC32(a->nx), ENC32(a->ny);
}
void neuro_finish_arg_dec(const uint8_t *p, struct neuro_finish_arg *a)
{
    DEC64(a->n), DEC64(a->f_off), DEC64(a->mask_off), DEC64(a->seg_off), DEC64(a->idx_off), DEC64(a->stats_off);
    DEC64(a->box_off);
    DEC32(a->t1), DEC32(a->t2), DEC32(a->nreg), DEC32(a->flags), DEC32(a->nx), DEC32(a->ny);
}
void neuro_kmeans_arg_enc(const struct neuro_kmeans_arg *a, uint8_t *p)
{
    ENC64(a->c_bits[0]), ENC64(a->c_bits[1]), ENC64(a->c_bits[2]), ENC64(a->mtot), ENC64(a->stot);
    ENC32(a->max_iter), ENC32(a->n);
}
void neuro_kmeans_arg_dec(const uint8_t *p, struct neuro_kmeans_arg *a)
{
    DEC64(a->c_bits[0]), DEC64(a->c_bits[1]), DEC64(a->c_bits[2]), DEC64(a->mtot), DEC64(a->stot);
    DEC32(a->max_iter), DEC32(a->n);
}
void neuro_kmeans_slab_enc(const struct neuro_kmeans_slab *a, uint8_t *p)
{
    ENC64(a->sorted_off), ENC64(a->prefix_off), ENC64(a->d);
}
void neuro_kmeans_slab_dec(const uint8_t *p, struct neuro_kmeans_slab *a)
{
    DEC64(a->sorted_off), DEC64(a->prefix_off), DEC64(a->d);
}
void neuro_kmeans_res_enc(const struct neuro_kmeans_res *r, uint8_t *p)
{
    for (int k = 0; k < 3; k++)
        ENC64(r->voxels[k]);
    for (int k = 0; k < 3; k++)
        ENC64(r->c_bits[k]);
    ENC32(r->t1), ENC32(r->t2), ENC32(r->iterations), ENC32(r->rounds);
}
void neuro_kmeans_res_dec(const uint8_t *p, struct neuro_kmeans_res *r)
{
    for (int k = 0; k < 3; k++)
        DEC64(r->voxels[k]);
    for (int k = 0; k < 3; k++)
        DEC64(r->c_bits[k]);
    DEC32(r->t1), DEC32(r->t2), DEC32(r->iterations), DEC32(r->rounds);
}

uint64_t neuro_f64_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    return b;
}

double neuro_f64_from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, 8);
    return x;
}

/* floor(x) clamped to [0, UINT32_MAX]: for x >= 0 the conversion truncates,
 * which is the floor, so no libm is needed on the slaves. */
static uint32_t floor_u32(double x)
{
    if (!(x >= 0))
        return 0;
    return x >= 4294967295.0 ? UINT32_MAX : (uint32_t)x;
}

static void kmeans_thresholds(struct neuro_kmeans *k)
{
    k->t1 = floor_u32((k->c[0] + k->c[1]) / 2);
    k->t2 = floor_u32((k->c[1] + k->c[2]) / 2);
}

void neuro_kmeans_start(struct neuro_kmeans *k, const double c[3], uint64_t mtot, uint64_t stot, int max_iter)
{
    memset(k, 0, sizeof(*k));
    for (int i = 0; i < 3; i++)
        k->c[i] = c[i];
    k->mtot = mtot, k->stot = stot, k->max_iter = max_iter;
    kmeans_thresholds(k);
}

int neuro_kmeans_next(struct neuro_kmeans *k, const uint64_t t[4])
{
    uint64_t n1 = t[0], s1 = t[1], n2 = t[2], s2 = t[3];
    uint64_t n[3] = {n1, n2 - n1, k->mtot - n2}, sum[3] = {s1, s2 - s1, k->stot - s2};
    /* Per slab, each count is a prefix of its sorted values, and all
     * prefixes move the same way with a threshold: equal global counts
     * mean no voxel changed class. */
    int same = k->round > 0 && n1 == k->prev_n1 && n2 == k->prev_n2;
    for (int i = 0; i < 3; i++)
        k->voxels[i] = n[i];
    if (same || k->iterations >= k->max_iter)
        return 1;
    k->prev_n1 = n1, k->prev_n2 = n2;
    for (int i = 0; i < 3; i++)
        if (n[i])
            k->c[i] = (double)sum[i] / (double)n[i]; /* an empty class keeps its center */
    k->iterations++;
    k->round++;
    kmeans_thresholds(k);
    return 0;
}
