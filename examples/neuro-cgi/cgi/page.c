/* page.c -- HTML page scaffolding and error pages (see page.h). */
#include "page.h"

#include <stdio.h>

#include "escape.h"
#include "http.h"

/* Readable from a phone to a desktop: the page never scrolls sideways
 * (images shrink to the width, a table too wide for a small screen
 * scrolls inside its own box), text stays at the reader's size. */
static const char style[] =
    "html{-webkit-text-size-adjust:100%}"
    "body{font-family:sans-serif;margin:1em auto;padding:0 1em;max-width:80em;color:#222;line-height:1.4}"
    "h1{font-size:1.6em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "caption{text-align:left;font-style:italic;padding:.2em 0}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
    "th{background:#eee}td.l,th.l{text-align:left}td.l{overflow-wrap:anywhere}th.c{text-align:center}td.na{color:#888}"
    ".scroll{max-width:100%;overflow-x:auto}"
    "button.sort{font:inherit;font-weight:bold;background:none;border:0;padding:0;cursor:pointer;"
    "text-align:inherit;color:inherit}"
    "th[aria-sort=ascending] button.sort::after{content:' \\25B2'}"
    "th[aria-sort=descending] button.sort::after{content:' \\25BC'}"
    "fieldset{margin:1em 0;max-width:40em}label{display:inline-block;min-width:12em}"
    ".err{border-left:.4em solid #c33;padding:.5em 1em;background:#fee}"
    ".swatch{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em}"
    ".slices{display:flex;flex-wrap:wrap;gap:.5em}"
    "figure.slice{margin:.5em 0;max-width:100%}"
    ".frame{position:relative;display:inline-block;max-width:100%;background:#000}"
    ".frame img{display:block;max-width:100%;height:auto;image-rendering:pixelated}"
    ".mk{position:absolute;color:#ff0;font-weight:bold;text-shadow:0 0 3px #000;line-height:1}"
    ".mk.l{left:.3em;top:50%;transform:translateY(-50%)}.mk.r{right:.3em;top:50%;transform:translateY(-50%)}"
    ".mk.t{top:.3em;left:50%;transform:translateX(-50%)}.mk.b{bottom:.3em;left:50%;transform:translateX(-50%)}"
    "code{background:#f4f4f4;padding:0 .2em;overflow-wrap:anywhere}"
    "@media (max-width:40em){body{padding:0 .5em}th,td{padding:.2em .3em}label{min-width:0}}";

void page_begin(struct strbuf *sb, const char *title)
{
    sb_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
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
