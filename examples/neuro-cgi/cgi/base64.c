/* base64.c -- base64 for data: URIs, by OpenSSL's libcrypto (see base64.h). */
#include "base64.h"

#include <openssl/evp.h>

void base64_append(struct strbuf *sb, const uint8_t *p, size_t n)
{
    /* EVP_EncodeBlock writes 4 bytes per 3 in, padded, without line
     * breaks, plus a NUL: encode in blocks that a stack buffer holds. */
    enum { IN = 3 * 1024 };
    unsigned char quad[4 * IN / 3 + 1];

    while (n) {
        size_t k = n < IN ? n : IN;
        int m = EVP_EncodeBlock(quad, p, (int)k);

        sb_append(sb, quad, (size_t)m);
        p += k, n -= k;
    }
}
