/* escape.h -- escaping untrusted text for the HTML and JSON we emit.
 *
 * html_escape: & < > " ' become character references, so the result is safe
 * both as element text and inside a quoted attribute value. C0 control
 * characters other than TAB, LF and CR (and DEL) become '?', since HTML
 * does not allow them as text.
 * json_escape: the body of a JSON string (RFC 8259): quote, backslash and
 * controls escaped; bytes >= 0x80 pass through (callers supply UTF-8 or
 * accept a replacement on decoding). '<' and '>' become \u003c/\u003e so the
 * text cannot close a <script> element if it is ever embedded in a page.
 * Both take an explicit length: uploads may contain NUL bytes.
 */
#ifndef NEURO_ESCAPE_H
#define NEURO_ESCAPE_H

#include <stddef.h>

#include "strbuf.h"

void html_escape(struct strbuf *sb, const char *s, size_t n);
void html_escape_str(struct strbuf *sb, const char *s); /* NUL-terminated; NULL appends nothing */
void json_escape(struct strbuf *sb, const char *s, size_t n);
void json_escape_str(struct strbuf *sb, const char *s);

#endif
