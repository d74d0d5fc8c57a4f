/* page.c -- HTML page scaffolding and error pages (see page.h). */
#include "page.h"

#include <stdio.h>

#include "escape.h"
#include "http.h"

static const char style[] =
    "body{font-family:sans-serif;margin:2em;max-width:80em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
    "th{background:#eee}td.l,th.l{text-align:left}"
    "fieldset{margin:1em 0;max-width:40em}label{display:inline-block;min-width:12em}"
    ".err{border-left:.4em solid #c33;padding:.5em 1em;background:#fee}"
    ".swatch{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em}"
    "figure{display:inline-block;margin:.5em}img{image-rendering:pixelated}"
    "code{background:#f4f4f4;padding:0 .2em}";

void page_begin(struct strbuf *sb, const char *title)
{
    sb_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    html_escape_str(sb, title);
    sb_printf(sb, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
    html_escape_str(sb, title);
    sb_puts(sb, "</h1>\n");
}

void page_end(struct strbuf *sb)
{
    sb_puts(sb, "</body>\n</html>\n");
}

void page_error(struct strbuf *sb, int status, const char *message, const char *request_id)
{
    char title[64];

    snprintf(title, sizeof title, "%d %s", status, http_reason(status));
    page_begin(sb, title);
    sb_puts(sb, "<p class=\"err\" id=\"error\">");
    html_escape_str(sb, message);
    sb_puts(sb, "</p>\n");
    if (request_id) {
        sb_puts(sb, "<p>The request was kept as <code>");
        html_escape_str(sb, request_id);
        sb_puts(sb, "</code> in the server's storage directory.</p>\n");
    }
    sb_puts(sb, "<p><a href=\"?\">Back to the upload form</a></p>\n");
    page_end(sb);
}
