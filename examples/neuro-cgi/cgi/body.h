/* body.h -- reading the CGI request body (RFC 3875 section 4.2).
 *
 * The script may read at most CONTENT_LENGTH bytes from stdin; without a
 * CONTENT_LENGTH (a chunked request that the server passes through) it
 * reads until EOF. Every byte read is also written to a spool file before
 * anything else looks at it, so nothing the client sent is lost, even when
 * the request turns out to be bad.
 */
#ifndef NEURO_BODY_H
#define NEURO_BODY_H

#include <stddef.h>
#include <stdint.h>

enum body_status {
    BODY_OK = 0,
    BODY_TRUNC = -1,  /* EOF before CONTENT_LENGTH bytes: an interrupted upload */
    BODY_TOOBIG = -2, /* length unknown and more than max bytes arrived */
    BODY_EIO = -3,    /* read, spool write or memory failure */
};

/* Parse a CONTENT_LENGTH value: decimal digits only. Returns the length,
 * -1 when s is NULL or empty (no length), -2 when malformed. */
long long body_content_length(const char *s);

/* Read from fd in: exactly `expect` bytes if expect >= 0 (EOF earlier is
 * BODY_TRUNC), else until EOF, failing with BODY_TOOBIG beyond max. Bytes
 * are copied to spool_fd (if >= 0). *buf (malloc'ed, one NUL byte past the
 * end) and *len hold what arrived, also on failure; free(*buf). */
int body_read(int in, int spool_fd, long long expect, size_t max, uint8_t **buf, size_t *len, char *err,
              size_t errlen);

#endif
