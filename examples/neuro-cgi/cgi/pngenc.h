/* pngenc.h -- report images as PNG files in memory, written by libpng.
 *
 * 8-bit truecolour (colour type 2), no interlace, every scanline filtered
 * with "Sub" (cheap, and it shrinks the smooth grey levels of a scan) and
 * deflated at zlib level 1: a slice is rendered on every request, so speed
 * matters more than the last few percent of size.
 */
#ifndef NEURO_PNGENC_H
#define NEURO_PNGENC_H

#include <stddef.h>
#include <stdint.h>

/* rgb: w*h pixels, 3 bytes each, rows top to bottom; 1 <= w, h <= 16384.
 * On success returns 0 and a malloc'ed PNG file image in *out (*outlen
 * bytes); -1 on a bad size, out of memory or a libpng error (then *out is
 * NULL). */
int neuro_png_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *outlen);

#endif
