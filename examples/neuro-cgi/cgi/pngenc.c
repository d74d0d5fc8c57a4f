/* pngenc.c -- PNG output through libpng (see pngenc.h). */
#include "pngenc.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct membuf {
    uint8_t *data;
    size_t len, cap;
    int failed;
};

/* libpng's write callback: append to the growing buffer. A failed
 * allocation is remembered and reported after png_write_end, not by
 * longjmp'ing out of the callback. */
static void mem_write(png_structp png, png_bytep p, size_t n)
{
    struct membuf *m = png_get_io_ptr(png);

    if (m->failed)
        return;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 64 << 10;
        uint8_t *d;

        while (cap < m->len + n)
            cap *= 2;
        if (!(d = realloc(m->data, cap))) {
            m->failed = 1;
            return;
        }
        m->data = d, m->cap = cap;
    }
    memcpy(m->data + m->len, p, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

int neuro_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *outlen)
{
    /* volatile: still read after a longjmp back from libpng */
    struct membuf *volatile m = NULL;
    png_bytep *volatile rows = NULL;
    png_structp png;
    png_infop info = NULL;

    *out = NULL;
    *outlen = 0;
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384)
        return -1;
    if (!(png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL)))
        return -1;
    if (!(info = png_create_info_struct(png)) || !(m = calloc(1, sizeof *m)) ||
        !(rows = malloc(sizeof *rows * (size_t)h))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(m);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m->data);
        free(m);
        free(rows);
        return -1;
    }
    png_set_write_fn(png, m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, 1);
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)w * 3);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (m->failed) {
        free(m->data);
        free(m);
        return -1;
    }
    *out = m->data;
    *outlen = m->len;
    free(m);
    return 0;
}
