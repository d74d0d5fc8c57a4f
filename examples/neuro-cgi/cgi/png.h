/* png.h -- a minimal PNG encoder (PNG 1.2 / RFC 2083) for report images.
 *
 * Writes 8-bit truecolour (colour type 2), no interlace: the signature,
 * IHDR, one IDAT holding the zlib stream of all scanlines (each prefixed
 * with filter type 1 "Sub", which shrinks smooth images at no cost), IEND.
 * Every chunk carries its CRC-32 over type and data. zlib does the deflate
 * and the CRC.
 */
#ifndef NEURO_PNG_H
#define NEURO_PNG_H

#include <stddef.h>
#include <stdint.h>

/* rgb: w*h pixels, 3 bytes each, rows top to bottom. On success returns 0
 * and a malloc'ed file image in *out (*outlen bytes); -1 on bad size or
 * out of memory. */
int png_encode_rgb(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *outlen);

#endif
