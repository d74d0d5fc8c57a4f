/* http.c -- CGI response output (see http.h). */
#include "http.h"

#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "strbuf.h"

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

int http_respond(int fd, int status, const char *content_type, const char *extra, const void *body, size_t len,
                 int head_only)
{
    struct strbuf h = STRBUF_INIT;
    int rc;

    sb_printf(&h, "Status: %d %s\n", status, http_reason(status));
    sb_printf(&h, "Content-Type: %s\n", content_type);
    sb_printf(&h, "Content-Length: %zu\n", len);
    sb_puts(&h, "Cache-Control: no-store\n");
    sb_puts(&h, "X-Content-Type-Options: nosniff\n");
    if (extra)
        sb_puts(&h, extra);
    sb_puts(&h, "\n");
    rc = sb_failed(&h) ? -1 : fileio_write_all(fd, h.data, h.len);
    if (rc == 0 && !head_only && len)
        rc = fileio_write_all(fd, body, len);
    sb_free(&h);
    return rc;
}
