/* http.h -- writing a CGI response (RFC 3875 section 6).
 *
 * A response is a "Status:" header field, "Content-Type:", any extra
 * header fields, an empty line, then the body; the server turns it into
 * the HTTP status line. Fields end with LF, which RFC 3875 allows and
 * Apache accepts. The body is omitted for HEAD requests (the server would
 * drop it anyway, but the script should not send it).
 */
#ifndef NEURO_HTTP_H
#define NEURO_HTTP_H

#include <stddef.h>

/* Reason phrase for the status codes this program uses ("Error" otherwise). */
const char *http_reason(int status);

/* Write the whole response to fd. extra: zero or more complete header
 * lines, each ending in "\n", or NULL. Returns 0 or -1. */
int http_respond(int fd, int status, const char *content_type, const char *extra, const void *body, size_t len,
                 int head_only);

#endif
