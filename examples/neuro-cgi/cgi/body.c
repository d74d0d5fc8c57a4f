/* body.c -- reading and spooling the request body (see body.h). */
#include "body.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

long long body_content_length(const char *s)
{
    long long v = 0;

    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (1LL << 50))
            return -2;
        v = v * 10 + (*s - '0');
    }
    return v;
}

int body_read(int in, int spool_fd, long long expect, size_t max, uint8_t **buf, size_t *len, char *err,
              size_t errlen)
{
    size_t cap = expect >= 0 ? (size_t)expect + 1 : max + 2 < (1 << 20) ? max + 2 : 1 << 20, got = 0;
    uint8_t *b = malloc(cap);
    int rc = BODY_OK;

    *buf = NULL;
    *len = 0;
    if (!b) {
        snprintf(err, errlen, "out of memory for a %lld byte body", expect);
        return BODY_EIO;
    }
    for (;;) {
        size_t want = expect >= 0 ? (size_t)expect - got : cap - 1 - got;
        ssize_t k;

        if (expect >= 0 && want == 0)
            break;
        if (expect < 0 && want == 0) {
            uint8_t *nb;

            if (cap - 1 >= max + 1) {
                /* one byte past max is proof enough that the body is too big */
                rc = BODY_TOOBIG;
                snprintf(err, errlen, "request body larger than %zu bytes", max);
                break;
            }
            cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
            if (!(nb = realloc(b, cap))) {
                rc = BODY_EIO;
                snprintf(err, errlen, "out of memory reading the body");
                break;
            }
            b = nb;
            continue;
        }
        k = read(in, b + got, want > (1 << 20) ? (1 << 20) : want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = BODY_EIO;
            snprintf(err, errlen, "reading the request body: %s", strerror(errno));
            break;
        }
        if (k == 0) {
            if (expect >= 0) {
                rc = BODY_TRUNC;
                snprintf(err, errlen, "truncated upload: received %zu of %lld bytes", got, expect);
            }
            break;
        }
        if (spool_fd >= 0 && fileio_write_all(spool_fd, b + got, (size_t)k) < 0) {
            rc = BODY_EIO;
            snprintf(err, errlen, "spooling the request body: %s", strerror(errno));
            break;
        }
        got += (size_t)k;
    }
    b[got] = 0;
    *buf = b;
    *len = got;
    return rc;
}
