/* strbuf.h -- a growable byte buffer for building responses in memory.
 *
 * The CGI builds its whole response before writing a byte, so that a late
 * failure can still change the HTTP status. Allocation failure is sticky:
 * once set, appends are ignored and sb_failed() reports it, so callers check
 * once at the end instead of after every append.
 */
#ifndef NEURO_STRBUF_H
#define NEURO_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int failed;   /* an allocation failed; contents are incomplete */
};

#define STRBUF_INIT {NULL, 0, 0, 0}

void sb_append(struct strbuf *sb, const void *p, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
int sb_failed(const struct strbuf *sb);
void sb_free(struct strbuf *sb);

#endif
