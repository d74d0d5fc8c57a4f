/* escape.c -- HTML and CSV text escaping (see escape.h). */
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

void csv_field(struct strbuf *sb, const char *s)
{
    const char *p;
    int formula;

    s = s ? s : "";
    /* a spreadsheet runs a cell that starts like a formula: make it text */
    formula = s[0] && strchr("=+-@\t\r", s[0]);
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        sb_puts(sb, s);
        return;
    }
    sb_puts(sb, formula ? "\"'" : "\"");
    for (; (p = strchr(s, '"')); s = p + 1) {
        sb_append(sb, s, (size_t)(p - s));
        sb_puts(sb, "\"\"");
    }
    sb_puts(sb, s);
    sb_puts(sb, "\"");
}
