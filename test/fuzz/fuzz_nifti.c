/* fuzz_nifti.c -- the NIfTI-1 reader (examples/neuro-cgi/nifti.c), plain
 * and gzip, on uploaded bytes.
 *
 * For every input, neuro_nifti_read, neuro_nifti_read_labels and
 * neuro_nifti_peek (with a small voxel limit, so a fuzzer's headers cannot
 * ask for gigabytes). Checked:
 *   - no access outside the input (sanitizer: the input is an exact copy);
 *   - an accepted image has 1.. max_voxels voxels, positive finite voxel
 *     sizes and data; a refusal has a reason;
 *   - read, read_labels and peek agree: the same inputs accepted with the
 *     same grid (peek may accept more: it looks at the header only);
 *   - plain and gzip agree: an accepted plain file, gzip-compressed, reads
 *     to the same volume bit for bit; an accepted .nii.gz's inflated bytes
 *     read to the same volume as the .nii.gz.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "neuro.h"

#define MAX_VOXELS (1u << 15)

#define FAIL(...)                                                                                                     \
    do {                                                                                                              \
        fprintf(stderr, "fuzz_nifti: " __VA_ARGS__);                                                                  \
        fputc('\n', stderr);                                                                                          \
        abort();                                                                                                      \
    } while (0)

/* gzip (zlib's gzip wrapper) of len bytes; NULL on failure. */
static uint8_t *gzip(const uint8_t *p, size_t len, size_t *out)
{
    z_stream z = {0};
    uLong cap;
    uint8_t *o;
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    cap = deflateBound(&z, (uLong)len) + 32;
    if (!(o = malloc(cap))) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)p, z.avail_in = (uInt)len, z.next_out = o, z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(o);
        return NULL;
    }
    *out = cap - z.avail_out;
    deflateEnd(&z);
    return o;
}

/* gunzip for the check (zlib, independent of the reader's paths). No
 * more than max bytes, and no buffer beyond what len bytes of deflate can
 * produce (1032:1), so an input costs what it can inflate to. */
static uint8_t *gunzip(const uint8_t *p, size_t len, size_t max, size_t *out)
{
    z_stream z = {0};
    if (max > len * 1032)
        max = len * 1032;
    uint8_t *o = malloc(max + 1);
    if (!o || inflateInit2(&z, 15 + 16) != Z_OK) {
        free(o);
        return NULL;
    }
    z.next_in = (Bytef *)p, z.avail_in = (uInt)len, z.next_out = o, z.avail_out = (uInt)max + 1;
    int rc = inflate(&z, Z_FINISH);
    *out = max + 1 - z.avail_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(o);
        return NULL;
    }
    return o;
}

static void same_volume(const struct neuro_volume *a, const struct neuro_volume *b, const char *what)
{
    size_t n = (size_t)a->nx * a->ny * a->nz;
    if (a->nx != b->nx || a->ny != b->ny || a->nz != b->nz || a->dx != b->dx || a->dy != b->dy || a->dz != b->dz ||
        memcmp(a->data, b->data, n * sizeof(float)))
        FAIL("%s: volumes differ", what);
}

static int read_checked(const uint8_t *buf, size_t len, struct neuro_volume *v)
{
    char err[256] = "";
    struct neuro_labels l;
    int nx, ny, nz;
    int rv = neuro_nifti_read(buf, len, MAX_VOXELS, v, err, sizeof(err));
    if (rv < 0 && !err[0])
        FAIL("read refused without a reason");
    err[0] = 0;
    int rl = neuro_nifti_read_labels(buf, len, MAX_VOXELS, &l, err, sizeof(err));
    if (rl < 0 && !err[0])
        FAIL("read_labels refused without a reason");
    int rp = neuro_nifti_peek(buf, len, MAX_VOXELS, &nx, &ny, &nz);
    if (rv != rl)
        FAIL("read says %d, read_labels says %d", rv, rl);
    if (rv == 0) {
        size_t n = (size_t)v->nx * v->ny * v->nz;
        if (v->nx < 1 || v->ny < 1 || v->nz < 1 || n > MAX_VOXELS || !v->data)
            FAIL("accepted a %d x %d x %d volume", v->nx, v->ny, v->nz);
        if (!(v->dx > 0) || !(v->dy > 0) || !(v->dz > 0) || !isfinite(v->dx) || !isfinite(v->dy) || !isfinite(v->dz))
            FAIL("accepted voxel size %g x %g x %g", v->dx, v->dy, v->dz);
        if (l.nx != v->nx || l.ny != v->ny || l.nz != v->nz || !l.data)
            FAIL("labels grid differs");
        if (rp != 0 || nx != v->nx || ny != v->ny || nz != v->nz)
            FAIL("peek disagrees with read (%d: %d x %d x %d)", rp, nx, ny, nz);
        volatile float sink = 0;
        for (size_t i = 0; i < n; i++)
            sink += v->data[i] + (float)l.data[i]; /* all voxels written */
        (void)sink;
        neuro_labels_free(&l);
    }
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct neuro_volume v, w;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    int gz = size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
    /* the plain/gzip comparison costs a deflate or inflate and three more
     * reads: done for one accepted input in four (by its last byte), so a
     * campaign spends most of its time in the reader itself */
    if (read_checked(buf, size, &v) == 0 && (buf[size - 1] & 3) == 0) {
        size_t n2;
        uint8_t *other = gz ? gunzip(buf, size, MAX_VOXELS * 8 + 65536, &n2) : gzip(buf, size, &n2);
        if (!gz && !other)
            FAIL("cannot gzip the input");
        if (other) {
            /* one inflate call reads the first gzip member, as the reader
             * does; an inflated size over our limit is not compared */
            if (read_checked(other, n2, &w) != 0)
                FAIL("accepted %s, refused its %s", gz ? "gzip" : "plain", gz ? "inflated bytes" : "gzip");
            same_volume(&v, &w, gz ? "gzip vs inflated" : "plain vs gzip");
            neuro_volume_free(&w);
            free(other);
        }
    }
    neuro_volume_free(&v);
    free(buf);
    return 0;
}
