/* escape.c -- HTML and JSON text escaping (see escape.h). */
#include "escape.h"

#include <string.h>

void html_escape(struct strbuf *sb, const char *s, size_t n)
{
    size_t run = 0; /* start of the pending run of bytes copied verbatim */

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;

        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            rep = ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) ? "?" : NULL;
        }
        if (!rep)
            continue;
        sb_append(sb, s + run, i - run);
        sb_puts(sb, rep);
        run = i + 1;
    }
    sb_append(sb, s + run, n - run);
}

void html_escape_str(struct strbuf *sb, const char *s)
{
    if (s)
        html_escape(sb, s, strlen(s));
}

void json_escape(struct strbuf *sb, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];

        if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != 0x7f)
            continue;
        sb_append(sb, s + run, i - run);
        switch (c) {
        case '"': sb_puts(sb, "\\\""); break;
        case '\\': sb_puts(sb, "\\\\"); break;
        case '\n': sb_puts(sb, "\\n"); break;
        case '\r': sb_puts(sb, "\\r"); break;
        case '\t': sb_puts(sb, "\\t"); break;
        default:
            /* hex by hand: no locale or printf needed for six bytes */
            tmp[0] = '\\';
            tmp[1] = 'u';
            tmp[2] = '0';
            tmp[3] = '0';
            tmp[4] = "0123456789abcdef"[c >> 4];
            tmp[5] = "0123456789abcdef"[c & 15];
            sb_append(sb, tmp, 6);
        }
        run = i + 1;
    }
    sb_append(sb, s + run, n - run);
}

void json_escape_str(struct strbuf *sb, const char *s)
{
    if (s)
        json_escape(sb, s, strlen(s));
}
