/* escape.h -- escaping untrusted text for the HTML and CSV we emit (JSON
 * is written by jansson, which escapes its own strings).
 *
 * html_escape: & < > " ' become character references, so the result is safe
 * both as element text and inside a quoted attribute value. C0 control
 * characters other than TAB, LF and CR (and DEL) become '?', since HTML
 * does not allow them as text.
 * html_escape takes an explicit length: uploads may contain NUL bytes.
 * csv_field: one CSV field (RFC 4180): quoted when it holds a comma, a
 * quote, CR or LF, quotes doubled. A field starting with = + - @ TAB or
 * CR is prefixed with an apostrophe and quoted, so that a spreadsheet
 * shows it as text instead of evaluating it as a formula.
 */
#ifndef NEURO_ESCAPE_H
#define NEURO_ESCAPE_H

#include <stddef.h>

#include "strbuf.h"

void html_escape(struct strbuf *sb, const char *s, size_t n);
void html_escape_str(struct strbuf *sb, const char *s); /* NUL-terminated; NULL appends nothing */
void csv_field(struct strbuf *sb, const char *s); /* NULL: empty field */

#endif
