/* base64.c -- RFC 4648 base64 encoding (see base64.h). */
#include "base64.h"

void base64_append(struct strbuf *sb, const uint8_t *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char quad[4 * 256];
    size_t q = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t left = n - i;

        if (left > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        quad[q++] = abc[(v >> 18) & 63];
        quad[q++] = abc[(v >> 12) & 63];
        quad[q++] = left > 1 ? abc[(v >> 6) & 63] : '=';
        quad[q++] = left > 2 ? abc[v & 63] : '=';
        if (q == sizeof quad) { /* flush in blocks: one append per 192 bytes in */
            sb_append(sb, quad, q);
            q = 0;
        }
    }
    sb_append(sb, quad, q);
}
