/* Unit tests of the neuro analysis:
 *   - NIfTI-1 reader: crafted headers, every error path, byte-swapped and
 *     gzip'ed files, scaling, labels;
 *   - fixed-point and float smoothing against a direct 3-D convolution on
 *     small random volumes, for several slab splits (halo handling);
 *   - sort / count / prefix / label / region kernels and wire codecs;
 *   - neuro_analyze on synthetic data with process shards (1 and 3) against
 *     a direct Lloyd k-means, plus a shard crash mid-run that must be
 *     replaced without changing the result.
 *   test_neuro_core [ARCH]   ARCH of the shards for the last part (process) */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

#include "../../../test/check.h"
#include "neuro.h"
#include "neuro_core.h"
#include "mlos_task.h"

/* ---- NIfTI crafting ---- */

static void wr(uint8_t *p, const void *v, int n, int swap)
{
    const uint8_t *b = v;
    for (int i = 0; i < n; i++)
        p[i] = b[swap ? n - 1 - i : i];
}
static void w16(uint8_t *p, int16_t v, int swap) { wr(p, &v, 2, swap); }
static void w32(uint8_t *p, int32_t v, int swap) { wr(p, &v, 4, swap); }
static void wf(uint8_t *p, float v, int swap) { wr(p, &v, 4, swap); }

/* A single-file NIfTI-1 of nx*ny*nz voxels of datatype dt and `bytes`
 * bytes each; voxel i has value i % 200 (as the datatype). */
static uint8_t *make_nifti(int dt, int bytes, int nx, int ny, int nz, int swap, float slope, float inter,
                           size_t *len)
{
    size_t n = (size_t)nx * ny * nz;
    uint8_t *b = calloc(1, 352 + n * bytes);
    w32(b, 348, swap);
    w16(b + 40, 3, swap);
    w16(b + 42, (int16_t)nx, swap), w16(b + 44, (int16_t)ny, swap), w16(b + 46, (int16_t)nz, swap);
    w16(b + 48, 1, swap);
    w16(b + 70, (int16_t)dt, swap);
    w16(b + 72, (int16_t)(bytes * 8), swap);
    wf(b + 76, 1, swap), wf(b + 80, 1.5f, swap), wf(b + 84, -2, swap), wf(b + 88, 0.5f, swap);
    wf(b + 108, 352, swap);
    wf(b + 112, slope, swap), wf(b + 116, inter, swap);
    memcpy(b + 344, "n+1", 4);
    for (size_t i = 0; i < n; i++) {
        int v = (int)(i % 200);
        uint8_t *p = b + 352 + i * bytes;
        switch (dt) {
        case 2: p[0] = (uint8_t)v; break;
        case 256: p[0] = (uint8_t)(int8_t)(v - 100); break;
        case 4: w16(p, (int16_t)(v - 100), swap); break;
        case 512: w16(p, (int16_t)v, swap); break;
        case 8: w32(p, v - 100, swap); break;
        case 768: w32(p, v, swap); break;
        case 16: wf(p, v + 0.25f, swap); break;
        case 64: { double d = v + 0.5; wr(p, &d, 8, swap); } break;
        }
    }
    *len = 352 + n * bytes;
    return b;
}

static double expect_val(int dt, size_t i)
{
    int v = (int)(i % 200);
    switch (dt) {
    case 256: case 4: case 8: return v - 100;
    case 16: return v + 0.25;
    case 64: return v + 0.5;
    default: return v;
    }
}

static uint8_t *gzip(const uint8_t *in, size_t len, size_t *outlen)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, len) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)in, z.avail_in = (uInt)len, z.next_out = out, z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void expect_error(const uint8_t *buf, size_t len, size_t maxv, const char *needle)
{
    struct neuro_volume v;
    char err[256] = "";
    int rc = neuro_nifti_read(buf, len, maxv, &v, err, sizeof(err));
    CHECK_EQ(rc, -1);
    if (!strstr(err, needle)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, needle);
        check_failures++;
    }
    CHECK(v.data == NULL);
}

static void test_nifti(void)
{
    static const int dts[][2] = {{2, 1}, {256, 1}, {4, 2}, {512, 2}, {8, 4}, {768, 4}, {16, 4}, {64, 8}};
    char err[256];
    size_t len, zlen;

    for (int swap = 0; swap < 2; swap++)
        for (size_t t = 0; t < sizeof(dts) / sizeof(dts[0]); t++) {
            uint8_t *b = make_nifti(dts[t][0], dts[t][1], 5, 4, 3, swap, 0, 0, &len);
            struct neuro_volume v;
            int rc = neuro_nifti_read(b, len, 1000, &v, err, sizeof(err));
            CHECK_EQ(rc, 0);
            if (rc == 0) {
                CHECK(v.nx == 5 && v.ny == 4 && v.nz == 3);
                CHECK(v.dx == 1.5 && v.dy == 2 && v.dz == 0.5);
                int bad = 0;
                for (size_t i = 0; i < 60; i++)
                    bad += fabs(v.data[i] - expect_val(dts[t][0], i)) > 1e-6;
                CHECK_EQ(bad, 0);
                neuro_volume_free(&v);
            }
            /* the same, gzip'ed */
            uint8_t *z = gzip(b, len, &zlen);
            rc = neuro_nifti_read(z, zlen, 1000, &v, err, sizeof(err));
            CHECK_EQ(rc, 0);
            if (rc == 0) {
                CHECK(v.data[59] == (float)expect_val(dts[t][0], 59));
                neuro_volume_free(&v);
            }
            free(z);
            free(b);
        }

    /* scaling, and labels */
    uint8_t *b = make_nifti(2, 1, 5, 4, 3, 0, 2.0f, -1.0f, &len);
    struct neuro_volume v;
    CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
    CHECK(v.data[7] == 13.0f);
    neuro_volume_free(&v);
    struct neuro_labels l;
    CHECK_EQ(neuro_nifti_read_labels(b, len, 1000, &l, err, sizeof(err)), 0);
    CHECK(l.data[7] == 13 && l.nx == 5);
    neuro_labels_free(&l);
    free(b);

    /* 4-D with one volume is fine, two volumes are not */
    b = make_nifti(2, 1, 5, 4, 3, 1, 0, 0, &len);
    w16(b + 40, 4, 1);
    w16(b + 48, 1, 1);
    CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
    neuro_volume_free(&v);
    w16(b + 48, 2, 1);
    expect_error(b, len, 1000, "wrong dimensions");
    free(b);

    /* every error */
    b = make_nifti(2, 1, 5, 4, 3, 0, 0, 0, &len);
    uint8_t junk[400];
    memset(junk, 'x', sizeof(junk));
    expect_error(junk, sizeof(junk), 1000, "not a NIfTI-1 file");
    expect_error(junk, 2, 1000, "not a NIfTI file");
    expect_error(b, 200, 1000, "truncated header");
    expect_error(b, len - 1, 1000, "truncated data");
    expect_error(b, 1000, 59, "too large");
    uint8_t *c = malloc(len);
    memcpy(c, b, len);
    memcpy(c + 344, "abc", 4);
    expect_error(c, len, 1000, "magic");
    memcpy(c + 344, "ni1", 4);
    expect_error(c, len, 1000, ".hdr/.img pair");
    memcpy(c, b, len);
    w16(c + 40, 2, 0);
    expect_error(c, len, 1000, "wrong dimensions");
    memcpy(c, b, len);
    w16(c + 44, 0, 0);
    expect_error(c, len, 1000, "wrong dimensions");
    memcpy(c, b, len);
    w16(c + 70, 128, 0);
    expect_error(c, len, 1000, "unsupported datatype 128");
    memcpy(c, b, len);
    w16(c + 70, 1024, 0);
    expect_error(c, len, 1000, "unsupported datatype 1024 (int64)");
    memcpy(c, b, len);
    w32(c, 540, 0);
    expect_error(c, len, 1000, "NIfTI-2");
    memcpy(c, b, len);
    wf(c + 80, 0, 0);
    expect_error(c, len, 1000, "voxel size");
    free(c);
    /* gzip: truncated stream, and a bomb larger than the limit */
    uint8_t *z = gzip(b, len, &zlen);
    expect_error(z, zlen / 2, 1000, "truncated gzip");
    /* a flipped byte: bad code or bad CRC, worded the same way whichever
     * inflater (libdeflate's whole-buffer one or zlib's) ran first */
    z[zlen / 2] ^= 0x55;
    expect_error(z, zlen, 1000, "corrupt gzip");
    free(z);
    free(b);
    b = make_nifti(2, 1, 200, 200, 50, 0, 0, 0, &len);
    z = gzip(b, len, &zlen);
    expect_error(z, zlen, 10, "too large");
    /* the decompression buffer grows as needed: a 2 MB volume (about 50x
     * its gzip size) followed by a second member whose tiny ISIZE gives no
     * usable size hint reads whole from the first member; an ISIZE that
     * claims 4 GiB is no hint either, and the length check refuses it */
    {
        size_t tlen;
        uint8_t *tail = gzip((const uint8_t *)"x", 1, &tlen);
        uint8_t *two = malloc(zlen + tlen);
        memcpy(two, z, zlen);
        memcpy(two + zlen, tail, tlen);
        CHECK_EQ(neuro_nifti_read(two, zlen + tlen, 1 << 22, &v, err, sizeof(err)), 0);
        CHECK(v.nx == 200 && v.ny == 200 && v.nz == 50 && v.data[199] == 199 && v.data[200 * 200 * 50 - 1] == 199);
        neuro_volume_free(&v);
        memset(two + zlen - 4, 0xff, 4);
        expect_error(two, zlen, 1 << 22, "corrupt gzip");
        free(two);
        free(tail);
    }
    /* the grid from the header alone: gzip or not, even with the data cut
     * short; refused like the reader refuses a header */
    int gx = 0, gy = 0, gz = 0;
    CHECK(neuro_nifti_peek(z, zlen, 1 << 30, &gx, &gy, &gz) == 0 && gx == 200 && gy == 200 && gz == 50);
    gx = 0;
    CHECK(neuro_nifti_peek(z, 200, 1 << 30, &gx, &gy, &gz) == 0 && gx == 200);
    gx = 0;
    CHECK(neuro_nifti_peek(b, 400, 1 << 30, &gx, &gy, &gz) == 0 && gx == 200);
    CHECK(neuro_nifti_peek(z, zlen, 10, &gx, &gy, &gz) < 0);
    CHECK(neuro_nifti_peek(b, 300, 1 << 30, &gx, &gy, &gz) < 0);
    CHECK(neuro_nifti_peek((const uint8_t *)"not a nifti file", 16, 1 << 30, &gx, &gy, &gz) < 0);
    free(z);
    free(b);
}

/* The voxel-to-world transform: sform preferred, else qform (quaternion,
 * offsets, pixdim with qfac), else the scaling alone; a singular one is
 * treated as absent. */
static int affine_is(const struct neuro_volume *v, const double want[3][4])
{
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (fabs(v->affine[r][c] - want[r][c]) > 1e-5)
                return 0;
    return 1;
}

static void test_nifti_xform(void)
{
    for (int swap = 0; swap < 2; swap++) {
        struct neuro_volume v;
        size_t len;
        char err[256];
        uint8_t *b = make_nifti(2, 1, 5, 4, 3, swap, 0, 0, &len);
        const double none[3][4] = {{1.5, 0, 0, 0}, {0, 2, 0, 0}, {0, 0, 0.5, 0}};

        CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
        CHECK(v.xform == NEURO_XFORM_NONE && affine_is(&v, none));
        neuro_volume_free(&v);

        /* qform: 90 degrees about z (b = c = 0, d = sin 45), qfac -1 */
        {
            const double want[3][4] = {{0, -2, 0, 10}, {1.5, 0, 0, -20}, {0, 0, -0.5, 30}};

            w16(b + 252, 1, swap);
            wf(b + 256, 0, swap), wf(b + 260, 0, swap), wf(b + 264, (float)sqrt(0.5), swap);
            wf(b + 268, 10, swap), wf(b + 272, -20, swap), wf(b + 276, 30, swap);
            wf(b + 76, -1, swap);
            CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
            CHECK(v.xform == NEURO_XFORM_QFORM && affine_is(&v, want));
            neuro_volume_free(&v);
        }
        /* sform wins over the qform when both are set */
        {
            const double want[3][4] = {{-1.5, 0, 0, 90}, {0, 0, 0.5, -126}, {0, 2, 0, -72}};

            w16(b + 254, 2, swap);
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++)
                    wf(b + 280 + 16 * r + 4 * c, (float)want[r][c], swap);
            CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
            CHECK(v.xform == NEURO_XFORM_SFORM && affine_is(&v, want));
            neuro_volume_free(&v);
        }
        /* a singular sform orients nothing: the qform is used instead, and
         * without that, neither */
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                wf(b + 280 + 16 * r + 4 * c, 0, swap);
        CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
        CHECK(v.xform == NEURO_XFORM_QFORM);
        neuro_volume_free(&v);
        w16(b + 252, 0, swap);
        CHECK_EQ(neuro_nifti_read(b, len, 1000, &v, err, sizeof(err)), 0);
        CHECK(v.xform == NEURO_XFORM_NONE && affine_is(&v, none));
        neuro_volume_free(&v);
        free(b);
    }
}

/* ---- smoothing ---- */

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
    return rng;
}

/* Direct 3-D convolution with replicate edges, in double, with weights
 * wd[0..r] (one side). */
static void direct3d(const uint16_t *q, int nx, int ny, int nz, const double *wd, int r, double *out)
{
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                double acc = 0;
                for (int c = -r; c <= r; c++)
                    for (int b = -r; b <= r; b++)
                        for (int a = -r; a <= r; a++) {
                            int xx = x + a < 0 ? 0 : x + a >= nx ? nx - 1 : x + a;
                            int yy = y + b < 0 ? 0 : y + b >= ny ? ny - 1 : y + b;
                            int zz = z + c < 0 ? 0 : z + c >= nz ? nz - 1 : z + c;
                            acc += wd[abs(a)] * wd[abs(b)] * wd[abs(c)] * q[xx + nx * (yy + ny * (size_t)zz)];
                        }
                out[x + nx * (y + ny * (size_t)z)] = acc;
            }
}

static void test_smooth_case(int nx, int ny, int nz, double sigma)
{
    uint16_t w[NEURO_MAX_RADIUS + 1];
    float wfl[NEURO_MAX_RADIUS + 1];
    double wq[NEURO_MAX_RADIUS + 1], wd[NEURO_MAX_RADIUS + 1];
    int r = neuro_weights(sigma, w, wfl);
    CHECK_EQ(r, neuro_radius(sigma));
    uint32_t sum = w[0];
    for (int k = 1; k <= r; k++)
        sum += 2u * w[k];
    CHECK_EQ(sum, NEURO_W_ONE);
    double tot = 0;
    for (int k = 0; k <= r; k++)
        tot += (k ? 2 : 1) * exp(-0.5 * k * k / (sigma * sigma));
    for (int k = 0; k <= r; k++) {
        wq[k] = w[k] / (double)NEURO_W_ONE;
        wd[k] = exp(-0.5 * k * k / (sigma * sigma)) / tot;
        if (k)
            CHECK(fabs(wq[k] - wd[k]) <= 0.5 / NEURO_W_ONE + 1e-12);
        CHECK(fabs(wfl[k] - wd[k]) < 1e-6);
    }

    size_t n = (size_t)nx * ny * nz, nxy = (size_t)nx * ny;
    uint16_t *q = malloc(n * 2);
    for (size_t i = 0; i < n; i++)
        q[i] = (uint16_t)(rnd() % (NEURO_Q_MAX + 1));
    double *ref_q = malloc(n * sizeof(double)), *ref_d = malloc(n * sizeof(double));
    direct3d(q, nx, ny, nz, wq, r, ref_q);
    direct3d(q, nx, ny, nz, wd, r, ref_d);

    uint32_t *f = malloc(n * 4), *tmp = malloc((nxy + nx + 2 * r) * 4);
    float *ftmp = malloc((nxy + nx + 2 * r) * 4), *fslab = malloc(nxy * 4);
    for (int slabs = 1; slabs <= 5 && slabs <= nz; slabs += (slabs == 3 ? 2 : 1)) {
        for (int kind = 0; kind < 2; kind++) {
            memset(f, 0xff, n * 4);
            for (int s = 0; s < slabs; s++) {
                int z0 = nz * s / slabs, z1 = nz * (s + 1) / slabs;
                int h0 = z0 - r < 0 ? 0 : z0 - r, h1 = z1 + r > nz ? nz : z1 + r;
                if (kind == 0)
                    neuro_smooth_fixed(q + nxy * h0, nx, ny, h1 - h0, z0 - h0, z1 - z0, w, r, f + nxy * z0, tmp, NULL);
                else
                    neuro_smooth_float(q + nxy * h0, nx, ny, h1 - h0, z0 - h0, z1 - z0, wfl, r, f + nxy * z0, ftmp,
                                       fslab);
            }
            double worst = 0;
            const double *ref = kind == 0 ? ref_q : ref_d;
            for (size_t i = 0; i < n; i++) {
                double d = fabs(f[i] / 256.0 - ref[i]);
                worst = d > worst ? d : worst;
            }
            /* fixed: three roundings of at most 1/32, 1/512, 1/512 q units
             * (plus carried); float: float32 rounding on values < 4096 */
            double tol = kind == 0 ? 0.05 : 0.01;
            if (worst > tol) {
                fprintf(stderr, "%s smoothing %dx%dx%d sigma %g, %d slabs: max error %g q units\n",
                        kind ? "float" : "fixed", nx, ny, nz, sigma, slabs, worst);
                check_failures++;
            }
        }
    }
    free(q), free(ref_q), free(ref_d), free(f), free(tmp), free(ftmp), free(fslab);
}

/* Boxes: inside each slice's box both kernels give exactly the values of
 * the whole-slice run (outside it, out[] is theirs). Random boxes,
 * including empty ones, whole slices, boxes touching the edges and single
 * voxels; several slab splits. And neuro_slice_box finds the box of a
 * mask and an index. */
static void test_smooth_boxes(void)
{
    static const int dims[][3] = {{23, 19, 13}, {7, 30, 5}, {40, 3, 4}, {1, 9, 6}};
    for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++)
        for (int r = 0; r <= 7; r += 3) {
            int nx = dims[di][0], ny = dims[di][1], nz = dims[di][2];
            uint16_t w[NEURO_MAX_RADIUS + 1];
            float wfl[NEURO_MAX_RADIUS + 1];
            r = neuro_weights(r ? r / 3.0 : 0.1, w, wfl);
            size_t nxy = (size_t)nx * ny, n = nxy * nz;
            uint16_t *q = malloc(n * 2);
            for (size_t i = 0; i < n; i++)
                q[i] = (uint16_t)(rnd() % (NEURO_Q_MAX + 1));
            uint32_t *full = malloc(n * 4), *got = malloc(n * 4), *tmp = malloc((nxy + nx + 2 * r) * 4);
            struct neuro_box *box = malloc(nz * sizeof(*box));
            neuro_smooth_fixed_scalar(q, nx, ny, nz, 0, nz, w, r, full, tmp, NULL);
            for (int trial = 0; trial < 20; trial++) {
                for (int z = 0; z < nz; z++) {
                    uint32_t xa = rnd() % (nx + 1), xb = rnd() % (nx + 1), ya = rnd() % (ny + 1), yb = rnd() % (ny + 1);
                    int kind = (int)(rnd() % 5);
                    box[z] = kind == 0   ? (struct neuro_box){0, 0, 0, 0}
                             : kind == 1 ? (struct neuro_box){0, (uint32_t)nx, 0, (uint32_t)ny}
                                         : (struct neuro_box){xa < xb ? xa : xb, xa < xb ? xb : xa,
                                                              ya < yb ? ya : yb, ya < yb ? yb : ya};
                }
                for (int kernel = 0; kernel < 2; kernel++) {
                    int slabs = 1 + (int)(rnd() % 3);
                    memset(got, 0xab, n * 4);
                    for (int s = 0; s < slabs && s < nz; s++) {
                        int z0 = nz * s / slabs, z1 = nz * (s + 1) / slabs;
                        int h0 = z0 - r < 0 ? 0 : z0 - r, h1 = z1 + r > nz ? nz : z1 + r;
                        (kernel ? neuro_smooth_fixed_swar : neuro_smooth_fixed_scalar)(
                            q + nxy * h0, nx, ny, h1 - h0, z0 - h0, z1 - z0, w, r, got + nxy * z0, tmp, box + z0);
                    }
                    int bad = 0;
                    for (int z = 0; z < nz; z++)
                        for (int y = 0; y < ny; y++)
                            for (int x = 0; x < nx; x++) {
                                size_t i = x + nx * (y + ny * (size_t)z);
                                int in = (uint32_t)x >= box[z].x0 && (uint32_t)x < box[z].x1 &&
                                         (uint32_t)y >= box[z].y0 && (uint32_t)y < box[z].y1;
                                bad += in && got[i] != full[i];
                            }
                    if (bad) {
                        fprintf(stderr, "%s smoothing with boxes: %d voxels wrong, %dx%dx%d r %d\n",
                                kernel ? "swar" : "scalar", bad, nx, ny, nz, r);
                        check_failures++;
                    }
                }
            }
            free(q), free(full), free(got), free(tmp), free(box);
        }

    /* neuro_slice_box */
    uint8_t mask[6 * 5] = {0};
    uint16_t idx[6 * 5] = {0};
    struct neuro_box b;
    neuro_slice_box(mask, idx, 6, 5, &b);
    CHECK(b.x0 == 0 && b.x1 == 0 && b.y0 == 0 && b.y1 == 0);
    mask[2 + 6 * 1] = 1;
    neuro_slice_box(mask, NULL, 6, 5, &b);
    CHECK(b.x0 == 2 && b.x1 == 3 && b.y0 == 1 && b.y1 == 2);
    idx[5 + 6 * 3] = 9;
    idx[0 + 6 * 2] = 1;
    neuro_slice_box(mask, idx, 6, 5, &b);
    CHECK(b.x0 == 0 && b.x1 == 6 && b.y0 == 1 && b.y1 == 4);
    neuro_slice_box(mask, NULL, 6, 5, &b); /* without the index, the mask alone */
    CHECK(b.x0 == 2 && b.x1 == 3 && b.y0 == 1 && b.y1 == 2);
}

/* The SWAR kernel must equal the scalar one bit for bit: random inputs,
 * all-maximum inputs (the bit budget's worst case), odd sizes (tails),
 * radii 0..11 (every tap grouping), several slab splits. */
static void test_smooth_swar(void)
{
    static const double sigmas[] = {0.1, 0.4, 0.8, 1.0, 1.5, 2.0, 2.2, 2.6, 3.7};
    static const int dims[][3] = {{13, 11, 17}, {1, 1, 5}, {3, 2, 4}, {31, 9, 6}, {6, 5, 3}};
    for (size_t si = 0; si < sizeof(sigmas) / sizeof(sigmas[0]); si++)
        for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++)
            for (int fill = 0; fill < 2; fill++) {
                int nx = dims[di][0], ny = dims[di][1], nz = dims[di][2];
                uint16_t w[NEURO_MAX_RADIUS + 1];
                float wfl[NEURO_MAX_RADIUS + 1];
                int r = neuro_weights(sigmas[si], w, wfl);
                size_t nxy = (size_t)nx * ny, n = nxy * nz;
                uint16_t *q = malloc(n * 2);
                for (size_t i = 0; i < n; i++)
                    q[i] = fill ? NEURO_Q_MAX : (uint16_t)(rnd() % (NEURO_Q_MAX + 1));
                uint32_t *a = malloc(n * 4), *b = malloc(n * 4), *tmp = malloc((nxy + nx + 2 * r) * 4);
                for (int slabs = 1; slabs <= 3 && slabs <= nz; slabs++) {
                    for (int s = 0; s < slabs; s++) {
                        int z0 = nz * s / slabs, z1 = nz * (s + 1) / slabs;
                        int h0 = z0 - r < 0 ? 0 : z0 - r, h1 = z1 + r > nz ? nz : z1 + r;
                        neuro_smooth_fixed_scalar(q + nxy * h0, nx, ny, h1 - h0, z0 - h0, z1 - z0, w, r,
                                                  a + nxy * z0, tmp, NULL);
                        neuro_smooth_fixed_swar(q + nxy * h0, nx, ny, h1 - h0, z0 - h0, z1 - z0, w, r,
                                                b + nxy * z0, tmp, NULL);
                    }
                    if (memcmp(a, b, n * 4)) {
                        fprintf(stderr, "swar smoothing differs: %dx%dx%d sigma %g, %d slabs\n", nx, ny, nz,
                                sigmas[si], slabs);
                        check_failures++;
                    }
                    if (fill && a[n / 2] != NEURO_Q_MAX << NEURO_F_SHIFT) {
                        fprintf(stderr, "constant input smoothed to %u\n", a[n / 2]);
                        check_failures++;
                    }
                }
                free(q), free(a), free(b), free(tmp);
            }
}

static void test_smooth(void)
{
    test_smooth_swar();
    test_smooth_boxes();
    test_smooth_case(13, 11, 17, 1.5);
    test_smooth_case(9, 7, 12, 1.0);
    test_smooth_case(4, 3, 6, 1.5); /* radius larger than the volume */
    test_smooth_case(16, 5, 9, 2.2);
    uint16_t w[NEURO_MAX_RADIUS + 1];
    float wfl[NEURO_MAX_RADIUS + 1];
    CHECK_EQ(neuro_weights(0, w, wfl), -1);
    CHECK_EQ(neuro_weights(20, w, wfl), -1);
}

/* ---- small kernels and codecs ---- */

static void test_kernels(void)
{
    size_t n = 5000;
    uint32_t *a = malloc(n * 4), *t = malloc(n * 4), counts[2048];
    uint64_t *pre = malloc((n + 1) * 8);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++)
            a[i] = round == 0 ? rnd() : round == 1 ? rnd() % 1000 : 7;
        neuro_sort_u32(a, t, n, counts);
        int bad = 0;
        for (size_t i = 1; i < n; i++)
            bad += a[i - 1] > a[i];
        CHECK_EQ(bad, 0);
        neuro_prefix_u64(a, n, pre);
        uint32_t probe = a[n / 3];
        size_t c = neuro_count_le(a, n, probe), direct = 0;
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++)
            if (a[i] <= probe)
                direct++, s += a[i];
        CHECK_EQ(c, direct);
        CHECK(pre[c] == s);
        CHECK_EQ(neuro_count_le(a, n, UINT32_MAX), n);
        CHECK_EQ(neuro_count_le(a, 0, 5), 0);
    }
    free(a), free(t), free(pre);

    /* histogram ordering: the same counts and sums as sorting */
    {
        size_t nv = 20000;
        uint32_t *f = malloc(nv * 4), *hist = calloc(NEURO_F_BINS, 4), *vals = malloc(nv * 4);
        uint8_t *mk = malloc(nv);
        uint64_t *pr = malloc((2 * nv + 2) * 8);
        size_t m = 0;
        for (size_t i = 0; i < nv; i++) {
            f[i] = i % 7 == 0 ? NEURO_F_BINS - 1 : rnd() % (i % 2 ? 3000 : NEURO_F_BINS);
            mk[i] = rnd() % 3 != 0;
            m += mk[i];
        }
        CHECK_EQ(neuro_hist_masked(f, mk, nv, hist, NEURO_F_BINS), m);
        size_t d = neuro_hist_compact(hist, NEURO_F_BINS, vals, pr);
        CHECK(d <= m && d > 0);
        int bad = 0;
        for (size_t i = 1; i < d; i++)
            bad += vals[i - 1] >= vals[i];
        CHECK_EQ(bad, 0);
        CHECK(pr[0] == 0 && pr[1] == 0 && pr[2 * d] == m);
        for (int probe = 0; probe < 50; probe++) {
            uint32_t t = probe == 0 ? 0 : probe == 1 ? UINT32_MAX : probe == 2 ? vals[d - 1] : rnd() % NEURO_F_BINS;
            size_t i = neuro_count_le(vals, d, t), cnt = 0;
            uint64_t sum = 0;
            for (size_t k = 0; k < nv; k++)
                if (mk[k] && f[k] <= t)
                    cnt++, sum += f[k];
            CHECK(pr[2 * i] == cnt && pr[2 * i + 1] == sum);
        }
        f[5] = NEURO_F_BINS, mk[5] = 1;
        CHECK(neuro_hist_masked(f, mk, nv, hist, NEURO_F_BINS) == (size_t)-1);
        free(f), free(hist), free(vals), free(mk), free(pr);
    }

    uint32_t f[6] = {10, 20, 21, 30, 31, 5};
    uint8_t mask[6] = {1, 1, 1, 1, 1, 0}, seg[6];
    uint16_t idx[6] = {1, 1, 2, 2, 3, 1};
    neuro_label(f, mask, 6, 20, 30, seg);
    CHECK(seg[0] == 1 && seg[1] == 1 && seg[2] == 2 && seg[3] == 2 && seg[4] == 3 && seg[5] == 0);
    uint64_t cnt[3] = {0}, sum[3] = {0}, gm[3] = {0};
    neuro_region_stats(f, seg, idx, 6, 2, cnt, sum, gm); /* index 3 > nreg: ignored */
    CHECK(cnt[1] == 3 && sum[1] == 35 && gm[1] == 0 && cnt[2] == 2 && sum[2] == 51 && gm[2] == 2);

    struct neuro_smooth_arg sa = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, {17, 18}}, sb;
    uint8_t wire[NEURO_SMOOTH_ARG_WIRE];
    sa.w[NEURO_MAX_RADIUS] = 0xdeadbeef;
    neuro_smooth_arg_enc(&sa, wire);
    CHECK(wire[0] == 1 && wire[1] == 0 && wire[32] == 9);
    neuro_smooth_arg_dec(wire, &sb);
    CHECK(!memcmp(&sa, &sb, sizeof(sa)));
    struct neuro_kstep_res ka = {1, 0x0102030405060708ull, 3, 4}, kb;
    uint8_t kw[NEURO_KSTEP_RES_WIRE];
    neuro_kstep_res_enc(&ka, kw);
    CHECK(kw[8] == 8 && kw[15] == 1);
    neuro_kstep_res_dec(kw, &kb);
    CHECK(!memcmp(&ka, &kb, sizeof(ka)));
    struct neuro_kmeans_arg ma = {{1, 2, 3}, 4, 5, 6, 7}, mb;
    uint8_t mw[NEURO_KMEANS_ARG_WIRE];
    neuro_kmeans_arg_enc(&ma, mw);
    neuro_kmeans_arg_dec(mw, &mb);
    CHECK(!memcmp(&ma, &mb, sizeof(ma)) && mw[40] == 6 && mw[44] == 7);
    struct neuro_kmeans_res ra = {{1, 2, 3}, {4, 5, 0x4000000000000000ull}, 7, 8, 9, 10}, rb;
    uint8_t rw[NEURO_KMEANS_RES_WIRE];
    neuro_kmeans_res_enc(&ra, rw);
    neuro_kmeans_res_dec(rw, &rb);
    CHECK(!memcmp(&ra, &rb, sizeof(ra)) && neuro_f64_from_bits(rb.c_bits[2]) == 2.0);

    /* the shared k-means bookkeeping: values {10, 20, 200, 210} from
     * centers 0, 100, 300 take one step to {15, 200, 210}, then stop */
    struct neuro_kmeans km;
    neuro_kmeans_start(&km, (const double[3]){0, 100, 300}, 4, 440, 50);
    CHECK(km.t1 == 50 && km.t2 == 200);
    uint64_t step[4] = {2, 30, 3, 230}; /* <= 50: 10, 20; <= 200: and 200 */
    CHECK_EQ(neuro_kmeans_next(&km, step), 0);
    CHECK(km.c[0] == 15 && km.c[1] == 200 && km.c[2] == 210 && km.iterations == 1);
    CHECK(km.t1 == 107 && km.t2 == 205);
    CHECK_EQ(neuro_kmeans_next(&km, step), 1); /* same counts: done, centers kept */
    CHECK(km.voxels[0] == 2 && km.voxels[1] == 1 && km.voxels[2] == 1 && km.c[0] == 15);
    neuro_kmeans_start(&km, (const double[3]){-5, -1, 1e300}, 1, 1, 0);
    CHECK(km.t1 == 0 && km.t2 == UINT32_MAX); /* the floor clamps like the master's did */
    CHECK_EQ(neuro_kmeans_next(&km, step), 1); /* max_iter 0: no step */
    struct neuro_finish_arg fa = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, fb;
    uint8_t fw[NEURO_FINISH_ARG_WIRE];
    neuro_finish_arg_enc(&fa, fw);
    neuro_finish_arg_dec(fw, &fb);
    CHECK(!memcmp(&fa, &fb, sizeof(fa)));
}

/* ---- the whole analysis on shards ---- */

/* Direct Lloyd iterations on the smoothed values, the rule of neuro.h. */
static int lloyd(const float *x, const float *in, size_t n, int max_iter, uint64_t cnt[3])
{
    double lo = INFINITY, hi = -INFINITY, c[3];
    for (size_t i = 0; i < n; i++)
        if (in[i] > 0)
            lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    for (int k = 0; k < 3; k++)
        c[k] = lo + (hi - lo) * (2 * k + 1) / 6.0;
    uint8_t *lab = malloc(n);
    int it = 0;
    for (int round = 0;; round++) {
        uint64_t nk[3] = {0};
        double sk[3] = {0};
        int changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(in[i] > 0))
                continue;
            int best = 0;
            for (int k = 1; k < 3; k++)
                if (fabs(x[i] - c[k]) < fabs(x[i] - c[best]))
                    best = k;
            changed += round && lab[i] != best;
            lab[i] = (uint8_t)best;
            nk[best]++, sk[best] += x[i];
        }
        memcpy(cnt, nk, sizeof(nk));
        if ((round && !changed) || it >= max_iter)
            break;
        for (int k = 0; k < 3; k++)
            if (nk[k])
                c[k] = sk[k] / nk[k];
        it++;
    }
    free(lab);
    return it;
}

static void test_analyze(const char *arch)
{
    int nx = 40, ny = 36, nz = 30;
    size_t n = (size_t)nx * ny * nz;
    struct neuro_volume v = {nx, ny, nz, 1, 1, 2, malloc(n * sizeof(float))};
    struct neuro_labels at = {nx, ny, nz, malloc(n * sizeof(int32_t))};
    /* nested boxes of three intensities, noise, a zero background */
    for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                int d = abs(x - nx / 2) + abs(y - ny / 2) + abs(z - nz / 2);
                float base = d > 30 ? 0 : d > 22 ? 40 : d > 12 ? 90 : 140;
                size_t i = x + nx * (y + ny * (size_t)z);
                v.data[i] = base ? base + (float)(rnd() % 21) - 10 : 0;
                at.data[i] = x < nx / 2 ? 1000 : -7; /* sparse, negative labels */
            }
    struct neuro_result ref = {0};
    for (int shards = 1; shards <= 3; shards += 2) {
        for (int crash = 0; crash < 2; crash++) {
            struct neuro_opts o = {.shards = shards, .arch = arch, .atlas = &at, .smoothed_volume = 1};
            struct neuro_result r;
            char err[256];
            if (crash)
                o.test_crash_slab = shards, o.test_crash_iter = 2;
            int rc = neuro_analyze(uv_default_loop(), &v, &o, &r, err, sizeof(err));
            CHECK_EQ(rc, 0);
            if (rc) {
                fprintf(stderr, "neuro_analyze: %s\n", err);
                continue;
            }
            CHECK_EQ(r.nshards, shards);
            CHECK_EQ(r.timing[shards - 1].replaced, crash);
            /* slabs (balanced by work, not thickness) tile the volume */
            for (int i = 0; i < shards; i++)
                CHECK(r.timing[i].z0 == (i ? r.timing[i - 1].z1 : 0) && r.timing[i].z1 > r.timing[i].z0);
            CHECK_EQ(r.timing[shards - 1].z1, nz);
            uint64_t cnt[3];
            int it = lloyd(r.smoothed.data, v.data, n, 50, cnt);
            CHECK_EQ(it, r.iterations);
            for (int k = 0; k < 3; k++) {
                CHECK_EQ(cnt[k], r.voxels[k]);
                CHECK(fabs(r.ml[k] - r.voxels[k] * 0.002) < 1e-9);
            }
            CHECK(r.centers[0] < r.centers[1] && r.centers[1] < r.centers[2]);
            /* plateaus 40/90/140, pulled toward each other by the blur */
            CHECK(fabs(r.centers[0] - 40) < 10 && fabs(r.centers[1] - 87) < 10 && fabs(r.centers[2] - 130) < 12);
            uint64_t segc[4] = {0};
            for (size_t i = 0; i < n; i++)
                if (r.seg.data[i] >= 0 && r.seg.data[i] <= 3)
                    segc[r.seg.data[i]]++;
            CHECK(segc[1] == r.voxels[0] && segc[2] == r.voxels[1] && segc[3] == r.voxels[2]);
            CHECK_EQ(r.nregions, 2);
            if (r.nregions == 2) {
                CHECK(r.regions[0].label == -7 && r.regions[1].label == 1000);
                CHECK_EQ(r.regions[0].voxels + r.regions[1].voxels, n);
                double s = 0;
                uint64_t gm = 0;
                for (size_t i = 0; i < n; i++)
                    if (at.data[i] == 1000)
                        s += r.smoothed.data[i], gm += r.seg.data[i] == 2;
                CHECK(fabs(r.regions[1].mean_smoothed - s / r.regions[1].voxels) < 1e-3);
                CHECK(fabs(r.regions[1].gm_ml - gm * 0.002) < 1e-9);
            }
            if (!ref.seg.data) {
                ref = r;
                continue;
            }
            if (shards > 1 && !crash) { /* the master's own reduction: the same answer */
                struct neuro_result mr;
                o.master_reduce = 1;
                CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &mr, err, sizeof(err)), 0);
                CHECK(mr.seg.data && !memcmp(mr.seg.data, r.seg.data, n * sizeof(int32_t)));
                CHECK(mr.iterations == r.iterations && !memcmp(mr.centers, r.centers, sizeof(r.centers)));
                CHECK(!memcmp(mr.voxels, r.voxels, sizeof(r.voxels)));
                neuro_result_free(&mr);
            }
            /* any split, with or without a lost shard: the same answer */
            CHECK(!memcmp(ref.seg.data, r.seg.data, n * sizeof(int32_t)));
            CHECK(!memcmp(ref.smoothed.data, r.smoothed.data, n * sizeof(float)));
            CHECK_EQ(ref.iterations, r.iterations);
            neuro_result_free(&r);
        }
    }
    neuro_result_free(&ref);

    /* Without the smoothed volume the shards smooth only each slice's box
     * of masked or indexed voxels: the same answer. A partial atlas (a
     * corner, part of it outside the mask) over the zero background. */
    for (size_t i = 0; i < n; i++) {
        int x = (int)(i % nx), y = (int)(i / nx % ny), z = (int)(i / ((size_t)nx * ny));
        at.data[i] = x < 8 && y < 10 && z > 20 ? 5 : x > 25 && z < 12 ? 6 : 0;
    }
    for (int shards = 1; shards <= 3; shards += 2) {
        struct neuro_result full, boxed;
        struct neuro_opts o = {.shards = shards, .arch = arch, .atlas = &at, .smoothed_volume = 1};
        char err[256];
        int rc1 = neuro_analyze(uv_default_loop(), &v, &o, &full, err, sizeof(err));
        o.smoothed_volume = 0;
        o.test_crash_slab = shards, o.test_crash_iter = 1; /* and a replaced shard on the way */
        int rc2 = neuro_analyze(uv_default_loop(), &v, &o, &boxed, err, sizeof(err));
        CHECK(rc1 == 0 && rc2 == 0);
        if (rc1 || rc2)
            continue;
        CHECK(boxed.smoothed.data == NULL);
        CHECK(!memcmp(full.seg.data, boxed.seg.data, n * sizeof(int32_t)));
        CHECK(full.iterations == boxed.iterations && !memcmp(full.voxels, boxed.voxels, sizeof(full.voxels)));
        CHECK(!memcmp(full.centers, boxed.centers, sizeof(full.centers)));
        CHECK(full.nregions == 2 && boxed.nregions == 2);
        for (size_t k = 0; k < 2 && k < boxed.nregions; k++)
            CHECK(full.regions[k].voxels == boxed.regions[k].voxels &&
                  full.regions[k].mean_smoothed == boxed.regions[k].mean_smoothed &&
                  full.regions[k].gm_ml == boxed.regions[k].gm_ml);
        neuro_result_free(&full);
        neuro_result_free(&boxed);
    }

    /* Shards started before the volume exists (neuro_prestart): the same
     * answer; a volume of another grid makes neuro_analyze start afresh;
     * a cancelled prestart leaves no shard behind. */
    {
        struct neuro_result plain, early, other;
        struct neuro_opts o = {.shards = 2, .arch = arch, .atlas = &at};
        struct neuro_prestart *p = NULL;
        char err[256];
        CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &plain, err, sizeof(err)), 0);
        CHECK_EQ(neuro_prestart(uv_default_loop(), nx, ny, nz, 1, &o, &p, err, sizeof(err)), 0);
        o.prestart = p;
        CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &early, err, sizeof(err)), 0);
        CHECK(early.seg.data && plain.seg.data && !memcmp(plain.seg.data, early.seg.data, n * sizeof(int32_t)));
        CHECK(early.nregions == plain.nregions && early.iterations == plain.iterations);
        CHECK_EQ(neuro_prestart(uv_default_loop(), nx, ny, nz + 3, 0, &o, &p, err, sizeof(err)), 0);
        o.prestart = p; /* sized for another grid, and without room for the atlas */
        CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &other, err, sizeof(err)), 0);
        CHECK(other.seg.data && plain.seg.data && !memcmp(plain.seg.data, other.seg.data, n * sizeof(int32_t)));
        o.prestart = NULL;
        CHECK_EQ(neuro_prestart(uv_default_loop(), nx, ny, nz, 1, &o, &p, err, sizeof(err)), 0);
        neuro_prestart_cancel(p);
        /* gone, not just asked to go: this process has no child left (the
         * shards are its children; libuv has reaped every one) */
        errno = 0;
        CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
        struct neuro_opts bad = {.shards = 2, .arch = arch, .sigma = 50};
        CHECK_EQ(neuro_prestart(uv_default_loop(), nx, ny, nz, 0, &bad, &p, err, sizeof(err)), MLOS_EINVAL);
        CHECK(p == NULL && strstr(err, "sigma") != NULL);
        neuro_result_free(&plain);
        neuro_result_free(&early);
        neuro_result_free(&other);
    }

    /* refusals */
    struct neuro_opts o = {.arch = arch, .sigma = 50};
    struct neuro_result r;
    char err[256];
    CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &r, err, sizeof(err)), MLOS_EINVAL);
    CHECK(strstr(err, "sigma") != NULL);
    struct neuro_labels small = {nx, ny, nz - 1, at.data};
    o = (struct neuro_opts){.arch = arch, .atlas = &small};
    CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &r, err, sizeof(err)), MLOS_EINVAL);
    CHECK(strstr(err, "atlas grid") != NULL);
    memset(v.data, 0, n * sizeof(float));
    o = (struct neuro_opts){.arch = arch, .shards = 2};
    CHECK_EQ(neuro_analyze(uv_default_loop(), &v, &o, &r, err, sizeof(err)), MLOS_EINVAL);
    CHECK(strstr(err, "above zero") != NULL);
    neuro_volume_free(&v);
    neuro_labels_free(&at);
}

/* The slave tasks themselves, linked into this program (as into a process
 * shard) and run through the runtime's registry: what they refuse. */
static int run_task(const char *name, const uint8_t *arg, size_t len, uint8_t *bulk, size_t bulk_len, char *err)
{
    struct mlos_task_ctx ctx;
    mlos_task_ctx_init(&ctx, arg, len, bulk, bulk_len);
    int rc = mlos_task_run(name, strlen(name), &ctx);
    snprintf(err, 200, "%s", ctx.error);
    mlos_task_ctx_release(&ctx);
    return rc;
}

static void test_tasks(void)
{
    static uint8_t bulk[1 << 16];
    uint8_t wire[NEURO_SMOOTH_ARG_WIRE] = {0};
    char err[200];
    MLOS_TASKS_USE_LINKED(); /* this program's own tasks, as a process shard's */
    CHECK(mlos_task_find("neuro_smooth", 12) && mlos_task_find("neuro_finish", 12));
    CHECK_EQ(run_task("neuro_kstep", wire, 3, bulk, sizeof(bulk), err), MLOS_EINVAL);
    CHECK(strstr(err, "argument bytes") != NULL);
    CHECK_EQ(run_task("neuro_kmeans", wire, NEURO_KMEANS_ARG_WIRE, bulk, sizeof(bulk), err), MLOS_EINVAL);
    CHECK(strstr(err, "group call") != NULL); /* not outside a group */
    struct neuro_kstep_arg k = {.sorted_off = 4, .prefix_off = 64, .d = 1}; /* misaligned */
    neuro_kstep_arg_enc(&k, wire);
    CHECK_EQ(run_task("neuro_kstep", wire, NEURO_KSTEP_ARG_WIRE, bulk, sizeof(bulk), err), MLOS_ERANGE);
    k = (struct neuro_kstep_arg){.sorted_off = 0, .prefix_off = 1024, .d = 1u << 30}; /* cannot fit */
    neuro_kstep_arg_enc(&k, wire);
    CHECK_EQ(run_task("neuro_kstep", wire, NEURO_KSTEP_ARG_WIRE, bulk, sizeof(bulk), err), MLOS_EINVAL);
    struct neuro_smooth_arg a = {.nx = 8, .ny = 8, .nz_in = 2, .z_off = 1, .nz_out = 2, .radius = 1};
    neuro_smooth_arg_enc(&a, wire); /* slices 1..3 of 2 */
    CHECK_EQ(run_task("neuro_smooth", wire, NEURO_SMOOTH_ARG_WIRE, bulk, sizeof(bulk), err), MLOS_EINVAL);
    CHECK(strstr(err, "bad geometry") != NULL);
    a = (struct neuro_smooth_arg){.nx = 8, .ny = 8, .nz_in = 1, .nz_out = 1, .radius = 1, .in_off = 1u << 20};
    neuro_smooth_arg_enc(&a, wire); /* input outside the window */
    CHECK_EQ(run_task("neuro_smooth", wire, NEURO_SMOOTH_ARG_WIRE, bulk, sizeof(bulk), err), MLOS_ERANGE);
    CHECK(strstr(err, "input") != NULL);
}

int main(int argc, char **argv)
{
    test_nifti();
    test_nifti_xform();
    test_smooth();
    test_kernels();
    test_tasks();
    test_analyze(argc > 1 ? argv[1] : "process");
    CHECK_EQ(neuro_plan_shards(100, 4), 1);
    CHECK_EQ(neuro_plan_shards(7000000, 4), 4);
    CHECK_EQ(neuro_plan_shards(7000000, 2), 2);
    uv_loop_close(uv_default_loop());
    CHECK_DONE();
}
