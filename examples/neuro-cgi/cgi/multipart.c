/* multipart.c -- multipart/form-data parsing (see multipart.h for the rules). */
#define _GNU_SOURCE /* memmem */
#include "multipart.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ASCII only: header syntax is ASCII and the C locale is not ours to trust. */
static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int ieq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* RFC 7230 tchar. */
static int is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Find parameter `want` in a ";"-separated list starting at p. Returns 1
 * with *value malloc'ed, 0 if absent, MP_EBAD if the list is malformed,
 * MP_ENOMEM. The first occurrence wins. */
static int get_param(const char *p, const char *want, char **value)
{
    size_t wlen = strlen(want);

    *value = NULL;
    for (;;) {
        const char *name, *v;
        size_t nlen;
        char *out = NULL, *o;
        int match;

        p = skip_ows(p);
        if (!*p)
            return 0;
        if (*p != ';')
            return MP_EBAD;
        p = skip_ows(p + 1);
        if (!*p)
            return 0; /* a trailing ';' is harmless */
        for (name = p; is_tchar((unsigned char)*p); p++)
            ;
        if (!(nlen = (size_t)(p - name)))
            return MP_EBAD;
        p = skip_ows(p);
        if (*p != '=')
            return MP_EBAD;
        p = skip_ows(p + 1);
        match = nlen == wlen && ieq_n(name, want, wlen);
        if (match && !(out = malloc(strlen(p) + 1)))
            return MP_ENOMEM;
        o = out;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (!*p) {
                    free(out);
                    return MP_EBAD; /* unterminated quoted-string */
                }
                /* only \" and \\ are escapes: browsers send C:\path unescaped */
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                if (o)
                    *o++ = *p;
            }
            p++;
        } else {
            /* a token; be lenient about non-token bytes other than ; and space */
            for (v = p; *p && *p != ';' && *p != ' ' && *p != '\t'; p++)
                if (o)
                    *o++ = *p;
            if (p == v) {
                free(out);
                return MP_EBAD;
            }
        }
        if (match) {
            *o = '\0';
            *value = out;
            return 1;
        }
    }
}

int mp_content_type(const char *ct, char *out, char *err, size_t errlen)
{
    static const char type[] = "multipart/form-data";
    const char *p;
    char *b = NULL;
    size_t n;
    int rc;

    out[0] = '\0';
    if (!ct)
        return fail(MP_ENOTFORM, err, errlen, "no Content-Type; expected multipart/form-data");
    p = skip_ows(ct);
    if (!ieq_n(p, type, sizeof type - 1) || (p[sizeof type - 1] && !strchr("; \t", p[sizeof type - 1])))
        return fail(MP_ENOTFORM, err, errlen, "Content-Type is not multipart/form-data");
    rc = get_param(p + sizeof type - 1, "boundary", &b);
    if (rc == MP_ENOMEM)
        return fail(MP_ENOMEM, err, errlen, "out of memory");
    if (rc < 0)
        return fail(MP_EBAD, err, errlen, "malformed Content-Type parameters");
    if (rc == 0)
        return fail(MP_EBAD, err, errlen, "multipart/form-data without a boundary parameter");
    n = strlen(b);
    rc = MP_OK;
    if (n < 1 || n > MP_MAX_BOUNDARY || b[n - 1] == ' ')
        rc = fail(MP_EBAD, err, errlen, "boundary must be 1 to %d characters, not ending in a space",
                  MP_MAX_BOUNDARY);
    for (size_t i = 0; rc == MP_OK && i < n; i++)
        if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] > 0x7e)
            rc = fail(MP_EBAD, err, errlen, "boundary contains a non-printable character");
    if (rc == MP_OK)
        memcpy(out, b, n + 1);
    free(b);
    return rc;
}

/* What follows "--boundary" at b[p]: 1 another part follows (*next = its
 * first header byte), 2 closing delimiter, 0 not a delimiter after all,
 * MP_ETRUNC if the body ends first. */
static int after_boundary(const uint8_t *b, size_t len, size_t p, size_t *next)
{
    while (p < len && (b[p] == ' ' || b[p] == '\t'))
        p++; /* transport padding */
    if (p >= len)
        return MP_ETRUNC;
    if (b[p] == '-') {
        if (p + 1 >= len)
            return MP_ETRUNC;
        return b[p + 1] == '-' ? 2 : 0;
    }
    if (b[p] == '\r') {
        if (p + 1 >= len)
            return MP_ETRUNC;
        if (b[p + 1] != '\n')
            return 0;
        *next = p + 2;
        return 1;
    }
    if (b[p] == '\n') {
        *next = p + 1;
        return 1;
    }
    return 0;
}

/* Locate the first boundary line (after an optional preamble). Returns as
 * after_boundary, with *lf set when that line ends in a bare LF. */
static int first_boundary(const uint8_t *b, size_t len, const char *dash, size_t dlen, size_t *next, int *lf)
{
    size_t pos = 0;

    for (;;) {
        const uint8_t *nl;
        size_t rest = len - pos;

        if (rest >= dlen && !memcmp(b + pos, dash, dlen)) {
            int r = after_boundary(b, len, pos + dlen, next);

            if (r != 0) {
                *lf = r == 1 && b[*next - 2] != '\r';
                return r;
            }
        } else if (rest && rest < dlen && !memcmp(b + pos, dash, rest)) {
            return MP_ETRUNC; /* the body stops inside the first boundary */
        }
        if (!(nl = memchr(b + pos, '\n', rest)))
            return 0;
        pos = (size_t)(nl - b) + 1;
    }
}

/* Apply one logical header line to part. */
static int part_header(struct mp_part *part, const char *line, int *have_cd, char *err, size_t errlen)
{
    static const char cd[] = "content-disposition", ctype[] = "content-type";
    const char *colon = strchr(line, ':'), *v, *e;
    size_t nlen;
    int rc;

    if (!colon || colon == line)
        return fail(MP_EBAD, err, errlen, "malformed part header line");
    for (e = colon; e > line && (e[-1] == ' ' || e[-1] == '\t'); e--)
        ;
    nlen = (size_t)(e - line);
    v = skip_ows(colon + 1);
    if (nlen == sizeof cd - 1 && ieq_n(line, cd, nlen)) {
        if (*have_cd)
            return MP_OK; /* the first one counts */
        *have_cd = 1;
        if (!ieq_n(v, "form-data", 9) || (v[9] && !strchr("; \t", v[9])))
            return fail(MP_EBAD, err, errlen, "part is not Content-Disposition: form-data");
        rc = get_param(v + 9, "name", &part->name);
        if (rc == 0)
            return fail(MP_EBAD, err, errlen, "form-data part without a name");
        if (rc > 0)
            rc = get_param(v + 9, "filename", &part->filename);
        if (rc == MP_ENOMEM)
            return fail(rc, err, errlen, "out of memory");
        if (rc < 0)
            return fail(MP_EBAD, err, errlen, "malformed Content-Disposition parameters");
    } else if (nlen == sizeof ctype - 1 && ieq_n(line, ctype, nlen) && !part->content_type) {
        size_t n = strlen(v);

        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (!(part->content_type = strndup(v, n)))
            return fail(MP_ENOMEM, err, errlen, "out of memory");
    }
    return MP_OK;
}

/* Parse the header block at b[*pos]; on success *pos is the first data byte. */
static int part_headers(const uint8_t *b, size_t len, size_t *pos, struct mp_part *part, char *err,
                        size_t errlen)
{
    struct strbuf hdr = STRBUF_INIT; /* logical lines, '\n'-separated */
    size_t p = *pos;
    int have_cd = 0, rc = MP_OK;

    for (;;) {
        const uint8_t *nl;
        size_t lend, n;

        if (p - *pos > MP_MAX_HEADER_BYTES) {
            rc = fail(MP_ELIMIT, err, errlen, "part headers larger than %d bytes", MP_MAX_HEADER_BYTES);
            goto out;
        }
        if (!(nl = memchr(b + p, '\n', len - p))) {
            rc = len - *pos > MP_MAX_HEADER_BYTES
                     ? fail(MP_ELIMIT, err, errlen, "part headers larger than %d bytes", MP_MAX_HEADER_BYTES)
                     : fail(MP_ETRUNC, err, errlen, "body ends inside part headers");
            goto out;
        }
        lend = (size_t)(nl - b);
        n = lend - p - (lend > p && b[lend - 1] == '\r');
        if (memchr(b + p, '\0', n)) {
            rc = fail(MP_EBAD, err, errlen, "NUL byte in part headers");
            goto out;
        }
        if (n == 0) {
            p = lend + 1;
            break;
        }
        if (b[p] == ' ' || b[p] == '\t') {
            if (!hdr.len) {
                rc = fail(MP_EBAD, err, errlen, "part headers start with a continuation line");
                goto out;
            }
            hdr.len--; /* drop the '\n': obsolete line folding joins lines */
            sb_puts(&hdr, " ");
        }
        sb_append(&hdr, b + p, n);
        sb_puts(&hdr, "\n");
        p = lend + 1;
    }
    if (sb_failed(&hdr)) {
        rc = fail(MP_ENOMEM, err, errlen, "out of memory");
        goto out;
    }
    for (char *line = hdr.data; line && *line && rc == MP_OK;) {
        char *e = strchr(line, '\n');

        *e = '\0';
        rc = part_header(part, line, &have_cd, err, errlen);
        line = e + 1;
    }
    if (rc == MP_OK && !have_cd)
        rc = fail(MP_EBAD, err, errlen, "part without Content-Disposition");
    *pos = p;
out:
    sb_free(&hdr);
    return rc;
}

static void part_free(struct mp_part *p)
{
    free(p->name);
    free(p->filename);
    free(p->content_type);
    memset(p, 0, sizeof *p);
}

int mp_parse(const uint8_t *b, size_t len, const char *boundary, struct mp_form *out, char *err, size_t errlen)
{
    char delim[MP_MAX_BOUNDARY + 5];
    size_t blen = strlen(boundary), dlen, pos = 0;
    const char *dash;
    int lf = 0, r, rc = MP_OK;

    out->parts = NULL;
    out->nparts = 0;
    if (blen < 1 || blen > MP_MAX_BOUNDARY)
        return fail(MP_EBAD, err, errlen, "invalid boundary");
    /* delim = CRLF "--" boundary; dash skips the line ending */
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    dash = delim + 2;
    if (len == 0)
        return fail(MP_ETRUNC, err, errlen, "empty request body");
    r = first_boundary(b, len, dash, blen + 2, &pos, &lf);
    if (r == MP_ETRUNC)
        return fail(MP_ETRUNC, err, errlen, "body ends inside the first boundary line");
    if (r == 0)
        return fail(MP_EBAD, err, errlen, "body does not contain the boundary from Content-Type");
    /* LF-only bodies use LF "--" boundary as the delimiter */
    const char *d = lf ? delim + 1 : delim;
    dlen = blen + (lf ? 3 : 4);

    while (r == 1) {
        struct mp_part part = {0};
        size_t s, ds;
        const uint8_t *q;
        void *grown;

        if (out->nparts == MP_MAX_PARTS) {
            rc = fail(MP_ELIMIT, err, errlen, "more than %d parts", MP_MAX_PARTS);
            break;
        }
        if ((rc = part_headers(b, len, &pos, &part, err, errlen)) != MP_OK) {
            part_free(&part);
            break;
        }
        /* the part's data runs up to the next real delimiter */
        ds = s = pos;
        for (;;) {
            q = s < len ? memmem(b + s, len - s, d, dlen) : NULL;
            if (!q) {
                r = MP_ETRUNC;
                break;
            }
            r = after_boundary(b, len, (size_t)(q - b) + dlen, &pos);
            if (r != 0)
                break;
            s = (size_t)(q - b) + 1; /* "--boundary" followed by data: keep looking */
        }
        if (r == MP_ETRUNC) {
            part_free(&part);
            rc = fail(MP_ETRUNC, err, errlen, "body ends before the closing boundary (truncated upload?)");
            break;
        }
        part.data = b + ds;
        part.len = (size_t)(q - b) - ds;
        if (!(grown = realloc(out->parts, (out->nparts + 1) * sizeof *out->parts))) {
            part_free(&part);
            rc = fail(MP_ENOMEM, err, errlen, "out of memory");
            break;
        }
        out->parts = grown;
        out->parts[out->nparts++] = part;
    }
    if (rc != MP_OK)
        mp_form_free(out);
    return rc;
}

const struct mp_part *mp_find(const struct mp_form *f, const char *name, int *count)
{
    const struct mp_part *first = NULL;
    int n = 0;

    for (size_t i = 0; i < f->nparts; i++)
        if (!strcmp(f->parts[i].name, name)) {
            if (!first)
                first = &f->parts[i];
            n++;
        }
    if (count)
        *count = n;
    return first;
}

void mp_form_free(struct mp_form *f)
{
    for (size_t i = 0; i < f->nparts; i++)
        part_free(&f->parts[i]);
    free(f->parts);
    f->parts = NULL;
    f->nparts = 0;
}
