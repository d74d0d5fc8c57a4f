/* png.c -- minimal PNG encoder (see png.h). */
#include "png.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append one chunk at *pos: length, type, data, CRC(type + data). */
static void chunk(uint8_t *buf, size_t *pos, const char *type, const uint8_t *data, uint32_t len)
{
    uint8_t *p = buf + *pos;
    uLong crc;

    be32(p, len);
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, data, len);
    crc = crc32(0L, p + 4, 4 + len);
    be32(p + 8 + len, (uint32_t)crc);
    *pos += 12 + (size_t)len;
}

int png_encode_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *outlen)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t stride, rawlen, pos = 0;
    uint8_t ihdr[13], *raw, *buf;
    uLongf zlen;

    *out = NULL;
    *outlen = 0;
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384)
        return -1;
    stride = (size_t)w * 3;
    rawlen = (stride + 1) * (size_t)h;
    if (!(raw = malloc(rawlen)))
        return -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *src = rgb + stride * (size_t)y;
        uint8_t *dst = raw + (stride + 1) * (size_t)y;

        dst[0] = 1; /* Sub: each byte minus the same channel one pixel left */
        for (size_t i = 0; i < stride; i++)
            dst[1 + i] = (uint8_t)(src[i] - (i >= 3 ? src[i - 3] : 0));
    }
    zlen = compressBound(rawlen);
    if (zlen > 0x7fffffffUL || !(buf = malloc(8 + 25 + 12 + zlen + 12))) {
        free(raw);
        return -1;
    }
    /* level 1: a quarter of level 6's time on the report's slices (ch2bet:
     * 4 ms against 19 ms for three) for 15% more bytes.
     * IDAT data goes straight to its place after signature, IHDR and the
     * IDAT length/type */
    if (compress2(buf + 8 + 25 + 8, &zlen, raw, rawlen, 1) != Z_OK) {
        free(raw);
        free(buf);
        return -1;
    }
    free(raw);
    memcpy(buf, sig, 8);
    pos = 8;
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* truecolour */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    chunk(buf, &pos, "IHDR", ihdr, 13);
    /* IDAT: the data was compressed in place; frame it with length, type, CRC */
    be32(buf + pos, (uint32_t)zlen);
    memcpy(buf + pos + 4, "IDAT", 4);
    be32(buf + pos + 8 + zlen, (uint32_t)crc32(0L, buf + pos + 4, 4 + (uInt)zlen));
    pos += 12 + zlen;
    chunk(buf, &pos, "IEND", NULL, 0);
    *out = buf;
    *outlen = pos;
    return 0;
}
