/* page.h -- the HTML scaffolding shared by every page this CGI returns:
 * a small HTML5 document with inline CSS (no external resources, so a
 * saved report.html is self-contained). */
#ifndef NEURO_PAGE_H
#define NEURO_PAGE_H

#include "strbuf.h"

/* Doctype, head with the (escaped) title, style, opening body and h1. */
void page_begin(struct strbuf *sb, const char *title);
void page_end(struct strbuf *sb);

/* A complete error page: "<status> <reason>", the (escaped) message, and
 * where the request's data was kept when request_id is not NULL. */
void page_error(struct strbuf *sb, int status, const char *message, const char *request_id);

#endif
