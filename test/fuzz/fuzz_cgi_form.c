/* fuzz_cgi_form.c -- neuro-cgi's request parsing: the Content-Type
 * boundary (mp_content_type), the multipart/form-data body (mp_parse),
 * the form fields (options_parse), CONTENT_LENGTH (body_content_length)
 * and reading the body (body_read), all on client bytes.
 *
 * Input: byte 0 selects extras, then the Content-Type value up to the
 * first '\n' (also tried as a CONTENT_LENGTH), then the body.
 * Checked:
 *   - every part lies inside the body, has a name, at most MP_MAX_PARTS;
 *     a failure leaves the form empty and says why;
 *   - a parsed form written out again as multipart (fresh boundary,
 *     quoted parameters) parses back to the same parts, bytes included;
 *   - accepted options are within options.h's sets and ranges;
 *   - a CONTENT_LENGTH is accepted only as decimal digits, to its value;
 *   - body_read (one input in four) returns exactly the bytes sent, NUL
 *     terminated, and reports truncation or an over-long body as such.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "body.h"
#include "multipart.h"
#include "options.h"

#define FAIL(...)                                                                                                     \
    do {                                                                                                              \
        fprintf(stderr, "fuzz_cgi_form: " __VA_ARGS__);                                                               \
        fputc('\n', stderr);                                                                                          \
        abort();                                                                                                      \
    } while (0)

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* A value that survives a quoted-string parameter unchanged. */
static int quotable(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* A header value the parser gives back unchanged (no folding, no edge blanks). */
static int plain_value(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!s)
        return 1;
    if (!n || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
        return 0;
    return quotable(s);
}

static void put_quoted(char **o, const char *s)
{
    *(*o)++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *(*o)++ = '\\';
        *(*o)++ = *s;
    }
    *(*o)++ = '"';
}

static void roundtrip(const struct mp_form *f)
{
    char boundary[MP_MAX_BOUNDARY + 1];
    size_t cap = 64, n = 0;
    for (size_t i = 0; i < f->nparts; i++) {
        const struct mp_part *p = &f->parts[i];
        if (!quotable(p->name) || !quotable(p->filename) || !plain_value(p->content_type))
            return; /* not expressible as a plain quoted parameter */
        cap += 200 + 2 * strlen(p->name) + (p->filename ? 2 * strlen(p->filename) : 0) +
               (p->content_type ? strlen(p->content_type) : 0) + p->len;
    }
    for (unsigned k = 0;; k++) {
        int clash = 0;
        snprintf(boundary, sizeof(boundary), "fuzz-roundtrip-%u", k);
        for (size_t i = 0; i < f->nparts && !clash; i++)
            clash = f->parts[i].len && memmem(f->parts[i].data, f->parts[i].len, boundary, strlen(boundary));
        if (!clash)
            break;
    }
    char *buf = malloc(cap), *o = buf;
    if (!buf)
        abort();
    for (size_t i = 0; i < f->nparts; i++) {
        const struct mp_part *p = &f->parts[i];
        o += sprintf(o, "--%s\r\nContent-Disposition: form-data; name=", boundary);
        put_quoted(&o, p->name);
        if (p->filename) {
            o += sprintf(o, "; filename=");
            put_quoted(&o, p->filename);
        }
        o += sprintf(o, "\r\n");
        if (p->content_type)
            o += sprintf(o, "Content-Type: %s\r\n", p->content_type);
        o += sprintf(o, "\r\n");
        if (p->len)
            memcpy(o, p->data, p->len);
        o += p->len;
        o += sprintf(o, "\r\n");
    }
    o += sprintf(o, "--%s--\r\n", boundary);
    n = (size_t)(o - buf);
    if (!f->nparts)
        goto out; /* a form without parts need not parse (the parser may demand one) */
    struct mp_form g;
    char err[256];
    int rc = mp_parse((const uint8_t *)buf, n, boundary, &g, err, sizeof(err));
    if (rc != MP_OK)
        FAIL("re-encoded form of %zu parts refused: %s", f->nparts, err);
    if (g.nparts != f->nparts)
        FAIL("re-encoded form has %zu parts, not %zu", g.nparts, f->nparts);
    for (size_t i = 0; i < g.nparts; i++) {
        const struct mp_part *a = &f->parts[i], *b = &g.parts[i];
        if (strcmp(a->name, b->name) || !same_str(a->filename, b->filename) ||
            !same_str(a->content_type, b->content_type) || a->len != b->len || (a->len && memcmp(a->data, b->data, a->len)))
            FAIL("part %zu (\"%s\") differs after a round trip", i, a->name);
    }
    mp_form_free(&g);
out:
    free(buf);
}

static void check_form(const uint8_t *body, size_t len, const char *boundary)
{
    struct mp_form f;
    char err[256] = "";
    int rc = mp_parse(body, len, boundary, &f, err, sizeof(err));

    if (rc != MP_OK) {
        if (f.nparts || f.parts)
            FAIL("failed parse left %zu parts", f.nparts);
        if (!err[0])
            FAIL("parse failed (%d) without a reason", rc);
        if (rc != MP_EBAD && rc != MP_ETRUNC && rc != MP_ELIMIT && rc != MP_ENOMEM)
            FAIL("parse returned %d", rc);
        return;
    }
    if (f.nparts > MP_MAX_PARTS)
        FAIL("%zu parts", f.nparts);
    for (size_t i = 0; i < f.nparts; i++) {
        const struct mp_part *p = &f.parts[i];
        int count = 0;
        if (!p->name)
            FAIL("part %zu without a name", i);
        if (p->len && (p->data < body || p->data > body + len || p->len > (size_t)(body + len - p->data)))
            FAIL("part %zu data outside the body", i);
        const struct mp_part *first = mp_find(&f, p->name, &count);
        if (!first || first > p || count < 1)
            FAIL("mp_find misses part %zu", i);
    }
    struct job_opts jo;
    if (options_parse(&f, 4, &jo, err, sizeof(err)) == 0) {
        if (!jo.image || jo.sigma < 0.1 || jo.sigma > 10 || jo.slaves < 0 || jo.slaves > 4 ||
            (strcmp(jo.atlas, "none") && strcmp(jo.atlas, "aal") && strcmp(jo.atlas, "brodmann")) ||
            (strcmp(jo.arch, "x86_64") && strcmp(jo.arch, "ppc") && strcmp(jo.arch, "process")))
            FAIL("options out of range accepted");
    } else if (!err[0]) {
        FAIL("options refused without a reason");
    }
    roundtrip(&f);
    mp_form_free(&f);
}

static void check_length(const char *s)
{
    long long v = body_content_length(s), want = 0;
    size_t n = strlen(s);
    int digits = n > 0;
    for (size_t i = 0; i < n; i++)
        digits &= s[i] >= '0' && s[i] <= '9';
    if (!n) {
        if (v != -1)
            FAIL("empty CONTENT_LENGTH gave %lld", v);
        return;
    }
    if (!digits) {
        if (v != -2)
            FAIL("CONTENT_LENGTH \"%s\" gave %lld", s, v);
        return;
    }
    if (v == -2)
        return; /* absurdly large: refused */
    for (size_t i = 0; i < n; i++)
        want = want * 10 + (s[i] - '0');
    if (v != want)
        FAIL("CONTENT_LENGTH \"%s\" gave %lld", s, v);
}

static void check_body_read(const uint8_t *body, size_t len, unsigned sel)
{
    int fd = memfd_create("fuzz-body", MFD_CLOEXEC);
    long long expect;
    size_t max = 4096;
    uint8_t *got = NULL;
    size_t glen = 0;
    char err[256] = "";

    if (fd < 0)
        return;
    if (len && write(fd, body, len) != (ssize_t)len)
        abort();
    lseek(fd, 0, SEEK_SET);
    switch (sel & 3) {
    case 0: expect = -1; break;            /* until EOF */
    case 1: expect = (long long)len; break;
    case 2: expect = (long long)len + 1 + (sel >> 2); break; /* the client stops early */
    default: expect = len ? (long long)len - 1 : 0; break;
    }
    int rc = body_read(fd, -1, expect, max, &got, &glen, err, sizeof(err));
    close(fd);
    if (!got)
        FAIL("body_read returned no buffer");
    if (got[glen])
        FAIL("body not NUL terminated");
    if (expect < 0) {
        if (len > max ? rc != BODY_TOOBIG : rc != BODY_OK || glen != len)
            FAIL("read to EOF of %zu bytes: rc %d, %zu bytes", len, rc, glen);
    } else if ((size_t)expect > len) {
        if (rc != BODY_TRUNC || glen != len)
            FAIL("truncated body of %zu/%lld: rc %d, %zu bytes", len, expect, rc, glen);
    } else if (rc != BODY_OK || glen != (size_t)expect) {
        FAIL("body of %lld bytes: rc %d, %zu bytes", expect, rc, glen);
    }
    if (glen && memcmp(got, body, glen > len ? len : glen))
        FAIL("body bytes differ");
    if (rc != BODY_OK && !err[0])
        FAIL("body_read failed without a reason");
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ctype[512], boundary[MP_MAX_BOUNDARY + 1], err[256];
    unsigned sel;
    size_t n;
    const uint8_t *nl;

    if (!size)
        return 0;
    sel = data[0];
    data++, size--;
    nl = memchr(data, '\n', size < sizeof(ctype) ? size : sizeof(ctype) - 1);
    n = nl ? (size_t)(nl - data) : (size < sizeof(ctype) ? size : sizeof(ctype) - 1);
    memcpy(ctype, data, n);
    ctype[n] = 0;
    data += nl ? n + 1 : n, size -= nl ? n + 1 : n;

    if (!memchr(ctype, 0, n))
        check_length(ctype);
    /* an exactly sized copy of the body: reading past it is a bug */
    uint8_t *body = malloc(size ? size : 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    int rc = mp_content_type(ctype, boundary, err, sizeof(err));
    if (rc == MP_OK) {
        size_t bl = strlen(boundary);
        if (!bl || bl > MP_MAX_BOUNDARY)
            FAIL("boundary of %zu bytes", bl);
        check_form(body, size, boundary);
    } else if (rc != MP_ENOTFORM && rc != MP_EBAD) {
        FAIL("content type returned %d", rc);
    }
    if ((sel & 0xc0) == 0xc0)
        check_body_read(body, size, sel);
    free(body);
    return 0;
}
