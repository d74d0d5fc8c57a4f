/* test_cgi_unit -- unit tests of the neuro-cgi pieces that need no slaves:
 * multipart/form-data parsing (crafted, truncated and hostile bodies),
 * form options, HTML/CSV escaping, base64, the PNG encoder (decoded again
 * here with zlib, and by Python's zlib when /usr/bin/python3 exists), body
 * reading, storage names, retention and ownership, and slice rendering
 * (orientation from the affine, true aspect).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base64.h"
#include "body.h"
#include "config.h"
#include "escape.h"
#include "multipart.h"
#include "options.h"
#include "pngenc.h"
#include "slices.h"
#include "spool.h"
#include "strbuf.h"

static int failures, checks;

#define CHECK(cond)                                                                                                   \
    do {                                                                                                              \
        checks++;                                                                                                     \
        if (!(cond)) {                                                                                                \
            failures++;                                                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                  \
        }                                                                                                             \
    } while (0)

static int parse(const char *body, size_t len, const char *boundary, struct mp_form *f, char *err)
{
    return mp_parse((const uint8_t *)body, len, boundary, f, err, 256);
}

static int part_is(const struct mp_form *f, const char *name, const void *data, size_t len)
{
    const struct mp_part *p = mp_find(f, name, NULL);

    return p && p->len == len && !memcmp(p->data, data, len);
}

/* ---- Content-Type ---- */

static void test_content_type(void)
{
    char b[MP_MAX_BOUNDARY + 1], err[256], long_b[200];

    CHECK(mp_content_type("multipart/form-data; boundary=abc", b, err, sizeof err) == MP_OK && !strcmp(b, "abc"));
    CHECK(mp_content_type("Multipart/Form-Data;charset=utf-8;  BOUNDARY=\"a;b c\"", b, err, sizeof err) == MP_OK &&
          !strcmp(b, "a;b c"));
    CHECK(mp_content_type("multipart/form-data; boundary=\"q\\\"x\"; x=1", b, err, sizeof err) == MP_OK &&
          !strcmp(b, "q\"x"));
    CHECK(mp_content_type("multipart/form-data ; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", b, err,
                          sizeof err) == MP_OK &&
          !strcmp(b, "----WebKitFormBoundary7MA4YWxkTrZu0gW"));
    CHECK(mp_content_type("text/plain", b, err, sizeof err) == MP_ENOTFORM);
    CHECK(mp_content_type(NULL, b, err, sizeof err) == MP_ENOTFORM);
    CHECK(mp_content_type("application/x-www-form-urlencoded", b, err, sizeof err) == MP_ENOTFORM);
    CHECK(mp_content_type("multipart/form-datax; boundary=a", b, err, sizeof err) == MP_ENOTFORM);
    CHECK(mp_content_type("multipart/mixed; boundary=a", b, err, sizeof err) == MP_ENOTFORM);
    CHECK(mp_content_type("multipart/form-data", b, err, sizeof err) == MP_EBAD);
    CHECK(mp_content_type("multipart/form-data; charset=utf-8", b, err, sizeof err) == MP_EBAD);
    CHECK(mp_content_type("multipart/form-data; boundary=", b, err, sizeof err) == MP_EBAD);
    CHECK(mp_content_type("multipart/form-data; boundary=\"\"", b, err, sizeof err) == MP_EBAD);
    CHECK(mp_content_type("multipart/form-data; boundary=\"abc", b, err, sizeof err) == MP_EBAD);
    CHECK(mp_content_type("multipart/form-data; boundary=\"ab \"", b, err, sizeof err) == MP_EBAD);
    CHECK(mp_content_type("multipart/form-data; boundary=\"a\tb\"", b, err, sizeof err) == MP_EBAD);
    memset(long_b, 'x', 71);
    snprintf(long_b + 71, sizeof long_b - 71, "%s", "");
    {
        char ct[300];

        snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", long_b);
        CHECK(mp_content_type(ct, b, err, sizeof err) == MP_EBAD);
        long_b[70] = '\0';
        snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", long_b);
        CHECK(mp_content_type(ct, b, err, sizeof err) == MP_OK && strlen(b) == 70);
    }
}

/* ---- bodies ---- */

/* A body with binary data that contains CR, LF, NUL, "--", "\r\n--" and
 * "\r\n--<boundary>" followed by a non-delimiter byte. */
static const char bin_data[] = "\x00\x01\r\n--\r\n\r\n--XYZ\r\n--BOUNDARYX\r--BOUNDARY\r\n\n--BOUNDARY\r\n\xff\r";

static size_t make_body(char *buf, size_t cap, int order)
{
    const char *image_hdr = "--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"b.nii\"\r\n"
                            "Content-Type: application/octet-stream\r\n\r\n";
    const char *sigma = "--BOUNDARY\r\nContent-Disposition: form-data; name=\"sigma\"\r\n\r\n2.5\r\n";
    size_t n = 0;

    if (order == 1) {
        memcpy(buf + n, sigma, strlen(sigma));
        n += strlen(sigma);
    }
    memcpy(buf + n, image_hdr, strlen(image_hdr));
    n += strlen(image_hdr);
    memcpy(buf + n, bin_data, sizeof bin_data - 1);
    n += sizeof bin_data - 1;
    memcpy(buf + n, "\r\n", 2);
    n += 2;
    if (order == 0) {
        memcpy(buf + n, sigma, strlen(sigma));
        n += strlen(sigma);
    }
    n += (size_t)snprintf(buf + n, cap - n, "--BOUNDARY--\r\n");
    return n;
}

static void test_basic(void)
{
    char body[1024], err[256];
    struct mp_form f;
    size_t n;

    for (int order = 0; order < 2; order++) {
        n = make_body(body, sizeof body, order);
        CHECK(parse(body, n, "BOUNDARY", &f, err) == MP_OK);
        CHECK(f.nparts == 2);
        CHECK(part_is(&f, "image", bin_data, sizeof bin_data - 1));
        CHECK(part_is(&f, "sigma", "2.5", 3));
        CHECK(mp_find(&f, "image", NULL) && !strcmp(mp_find(&f, "image", NULL)->filename, "b.nii"));
        CHECK(mp_find(&f, "image", NULL) &&
              !strcmp(mp_find(&f, "image", NULL)->content_type, "application/octet-stream"));
        CHECK(mp_find(&f, "sigma", NULL) && !mp_find(&f, "sigma", NULL)->filename);
        mp_form_free(&f);
    }
}

/* Every proper prefix of a body is a truncated upload; the full body and
 * body + epilogue are fine. */
static void test_truncated_everywhere(void)
{
    char body[1024], err[256];
    struct mp_form f;
    size_t n = make_body(body, sizeof body, 0), close_end = n - 2; /* end of "--BOUNDARY--" */
    int bad = 0;

    for (size_t cut = 0; cut < close_end; cut++) {
        int rc = parse(body, cut, "BOUNDARY", &f, err);

        if (rc != MP_ETRUNC) {
            bad++;
            fprintf(stderr, "cut at %zu: rc %d (%s)\n", cut, rc, err);
        }
        CHECK(f.nparts == 0 && f.parts == NULL);
    }
    CHECK(bad == 0);
    CHECK(parse(body, close_end, "BOUNDARY", &f, err) == MP_OK && f.nparts == 2);
    mp_form_free(&f);
    memcpy(body + n, "epilogue\r\n--BOUNDARY\r\njunk", 26);
    CHECK(parse(body, n + 26, "BOUNDARY", &f, err) == MP_OK && f.nparts == 2);
    mp_form_free(&f);
}

static void test_variants(void)
{
    char err[256];
    struct mp_form f;
    const char *b;

    /* preamble, transport padding, folded header, quoted-pair filename, empty part */
    b = "This is a preamble.\r\n--xx  \t\r\nContent-Disposition: form-data;\r\n name=\"a\"; "
        "filename=\"C:\\dir\\q\\\"x\\\\.nii\"\r\n\r\n\r\n--xx\r\ncontent-disposition: FORM-DATA; NAME=b\r\n\r\n"
        "v\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_OK && f.nparts == 2);
    CHECK(part_is(&f, "a", "", 0));
    CHECK(mp_find(&f, "a", NULL) && !strcmp(mp_find(&f, "a", NULL)->filename, "C:\\dir\\q\"x\\.nii"));
    CHECK(part_is(&f, "b", "v", 1));
    mp_form_free(&f);

    /* LF-only line endings; CR inside data kept */
    b = "--xx\nContent-Disposition: form-data; name=\"a\"\n\nline1\r\nline2\n--xx\n"
        "Content-Disposition: form-data; name=\"c\"\n\n\n--xx--\n";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_OK && f.nparts == 2);
    CHECK(part_is(&f, "a", "line1\r\nline2", 12));
    CHECK(part_is(&f, "c", "", 0));
    mp_form_free(&f);

    /* CRLF body: "\n--xx" without CR is data */
    b = "--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nq\n--xx\r\nz\r\n--xx--\r\n";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_OK && f.nparts == 1 && part_is(&f, "a", "q\n--xx\r\nz", 9));
    mp_form_free(&f);

    /* zero parts */
    b = "--xx--\r\n";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_OK && f.nparts == 0);
    mp_form_free(&f);

    /* malformed */
    b = "--xx\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD); /* no name */
    b = "--xx\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD);
    b = "--xx\r\nContent-Type: text/plain\r\n\r\nv\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD); /* no disposition */
    b = "--xx\r\nno colon here\r\n\r\nv\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD);
    b = "--xx\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD); /* unterminated quote */
    b = "--xx\r\n Content-Disposition: form-data; name=a\r\n\r\nv\r\n--xx--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD); /* continuation first */
    b = "no boundary anywhere\r\n";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD);
    b = "--xy\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--xy--";
    CHECK(parse(b, strlen(b), "xx", &f, err) == MP_EBAD); /* wrong boundary */
    {
        static const char nul[] = "--xx\r\nContent-Disposition: form-data; name=a\0b\r\n\r\nv\r\n--xx--";

        CHECK(parse(nul, sizeof nul - 1, "xx", &f, err) == MP_EBAD);
    }
    CHECK(parse("", 0, "xx", &f, err) == MP_ETRUNC);
}

static void test_limits(void)
{
    struct strbuf sb = STRBUF_INIT;
    char err[256];
    struct mp_form f;

    /* huge header: over the per-part limit */
    sb_puts(&sb, "--xx\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ");
    for (int i = 0; i < MP_MAX_HEADER_BYTES; i++)
        sb_puts(&sb, "p");
    sb_puts(&sb, "\r\n\r\nv\r\n--xx--\r\n");
    CHECK(parse(sb.data, sb.len, "xx", &f, err) == MP_ELIMIT);
    /* the same, cut short inside the giant header: still the limit */
    CHECK(parse(sb.data, sb.len - 20, "xx", &f, err) == MP_ELIMIT);
    sb_free(&sb);

    /* large but allowed header */
    sb_puts(&sb, "--xx\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ");
    for (int i = 0; i < MP_MAX_HEADER_BYTES - 200; i++)
        sb_puts(&sb, "p");
    sb_puts(&sb, "\r\n\r\nv\r\n--xx--\r\n");
    CHECK(parse(sb.data, sb.len, "xx", &f, err) == MP_OK && part_is(&f, "a", "v", 1));
    mp_form_free(&f);
    sb_free(&sb);

    /* too many parts */
    for (int i = 0; i <= MP_MAX_PARTS; i++)
        sb_printf(&sb, "--xx\r\nContent-Disposition: form-data; name=f%d\r\n\r\n%d\r\n", i, i);
    sb_puts(&sb, "--xx--\r\n");
    CHECK(parse(sb.data, sb.len, "xx", &f, err) == MP_ELIMIT);
    sb_free(&sb);

    /* a 3 MB binary part with many near-delimiters */
    sb_puts(&sb, "--xx\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.nii\"\r\n\r\n");
    size_t start = sb.len;
    for (int i = 0; i < 200000; i++)
        sb_append(&sb, "\r\n--x\r\n--xy\0\r\r\n", 15);
    size_t dlen = sb.len - start;
    sb_puts(&sb, "\r\n--xx--\r\n");
    CHECK(!sb_failed(&sb));
    CHECK(parse(sb.data, sb.len, "xx", &f, err) == MP_OK && f.nparts == 1 && f.parts[0].len == dlen);
    mp_form_free(&f);
    sb_free(&sb);
}

/* ---- options ---- */

static int opts_of(const char *fields, struct job_opts *o, char *err)
{
    static struct strbuf sb;
    static struct mp_form f;
    char name[32], value[64];
    const char *p = fields;

    mp_form_free(&f);
    sb_free(&sb);
    /* fields: "name=value&name=value"; image gets a file name */
    while (*p) {
        int n = 0;

        if (sscanf(p, "%31[^=]=%63[^&]%n", name, value, &n) < 2) {
            if (sscanf(p, "%31[^=]=%n", name, &n) < 1 || !n)
                break;
            value[0] = '\0';
        }
        p += n;
        if (*p == '&')
            p++;
        sb_printf(&sb, "--b\r\nContent-Disposition: form-data; name=\"%s\"%s\r\n\r\n%s\r\n", name,
                  strcmp(name, "image") ? "" : "; filename=\"x.nii\"", value);
    }
    sb_puts(&sb, "--b--\r\n");
    if (parse(sb.data, sb.len, "b", &f, err) != MP_OK)
        return -2;
    return options_parse(&f, 8, o, err, 256);
}

static void test_options(void)
{
    struct job_opts o;
    char err[256];

    CHECK(opts_of("image=DATA", &o, err) == 0 && o.sigma == 1.5 && !strcmp(o.atlas, "none") && o.slaves == 0 &&
          !strcmp(o.arch, "x86_64") && o.image->len == 4);
    CHECK(opts_of("sigma=2&atlas=AAL&slaves=4&kind=process&image=D", &o, err) == 0 && o.sigma == 2 &&
          !strcmp(o.atlas, "aal") && o.slaves == 4 && !strcmp(o.arch, "process"));
    CHECK(opts_of("image=D&atlas=Brodmann&slaves=auto&kind=ppc", &o, err) == 0 && !strcmp(o.atlas, "brodmann") &&
          o.sigma == 1.5 && !strcmp(o.arch, "ppc"));
    /* empty or padded values are refused, not read as the default */
    CHECK(opts_of("image=D&sigma=", &o, err) == -1 && strstr(err, "sigma"));
    CHECK(opts_of("image=D&sigma= 2", &o, err) == -1 && strstr(err, "sigma"));
    CHECK(opts_of("image=D&sigma=2 ", &o, err) == -1);
    CHECK(opts_of("image=D&atlas=", &o, err) == -1 && strstr(err, "atlas"));
    CHECK(opts_of("image=D&slaves= 2", &o, err) == -1);
    CHECK(opts_of("image=D&kind=process ", &o, err) == -1);
    CHECK(opts_of("image=D&sigma=abc", &o, err) == -1 && strstr(err, "sigma"));
    CHECK(opts_of("image=D&sigma=0", &o, err) == -1);
    CHECK(opts_of("image=D&sigma=nan", &o, err) == -1);
    CHECK(opts_of("image=D&sigma=11", &o, err) == -1);
    CHECK(opts_of("image=D&atlas=talairach", &o, err) == -1 && strstr(err, "talairach"));
    CHECK(opts_of("image=D&slaves=0", &o, err) == -1);
    CHECK(opts_of("image=D&slaves=9", &o, err) == -1);
    CHECK(opts_of("image=D&slaves=2x", &o, err) == -1);
    CHECK(opts_of("image=D&slaves=+2", &o, err) == -1);
    CHECK(opts_of("image=D&kind=arm64", &o, err) == -1);
    CHECK(opts_of("image=D&colour=red", &o, err) == -1 && strstr(err, "unknown form field"));
    CHECK(opts_of("image=D&sigma=1&sigma=2", &o, err) == -1 && strstr(err, "2 times"));
    CHECK(opts_of("sigma=1", &o, err) == -1 && strstr(err, "no image"));
    CHECK(opts_of("image=", &o, err) == -1 && strstr(err, "empty"));
    CHECK(opts_of("image=D&atlas=<script>", &o, err) == -1 && strstr(err, "<script>")); /* page escapes it */
}

/* The sigma grammar, value by value: what <input type=number step=any
 * min=0.1 max=10> accepts (the browser test checks the same list against
 * Chromium's own validation). */
static void test_sigma(void)
{
    static const char *const good[] = {"1.5", "0.1", "10", "10.0", "2", "002", ".5", "1e0", "1E0", "5e-1",
                                       "1e+1", "0.10", "9.999"};
    static const char *const bad[] = {"", " 1.5", "1.5 ", "+1.5", "0x1", "0x1p0", "1.", "1.5.", "inf", "nan",
                                      "-1", "0.09", "10.01", "1e2", "1,5", "1e", "e1", ".", "-", "1.5e", "١"};
    double v;

    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int ok = options_sigma(good[i], &v) == 0;

        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  sigma \"%s\" refused\n", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int refused = options_sigma(bad[i], &v) == -1;

        CHECK(refused);
        if (!refused)
            fprintf(stderr, "  sigma \"%s\" accepted\n", bad[i]);
    }
    CHECK(options_sigma("5e-1", &v) == 0 && v == 0.5);
    CHECK(options_sigma(".5", &v) == 0 && v == 0.5);
}

/* ---- escaping, base64 ---- */

static void test_escape(void)
{
    struct strbuf sb = STRBUF_INIT;

    {
        static const char in[] = "<a href=\"x\">'&'</a>\x01\x7f\tok\0z";

        html_escape(&sb, in, sizeof in - 1);
    }
    CHECK(!strcmp(sb.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;??\tok?z"));
    sb_free(&sb);
    html_escape_str(&sb, "plain é");
    CHECK(!strcmp(sb.data, "plain é"));
    sb_free(&sb);
    html_escape_str(&sb, NULL);
    CHECK(sb.len == 0);
    /* CSV fields: plain, quoted, quotes doubled, formulas made text */
    {
        static const char *const in[] = {"Precentral_L", "a,b", "say \"hi\"", "two\nlines", "=1+2", "-3", "@x",
                                         "", NULL};
        static const char *const out[] = {"Precentral_L", "\"a,b\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"",
                                          "\"'=1+2\"", "\"'-3\"", "\"'@x\"", "", ""};

        for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
            csv_field(&sb, in[i]);
            CHECK(!strcmp(sb.data ? sb.data : "", out[i]));
            if (strcmp(sb.data ? sb.data : "", out[i]))
                fprintf(stderr, "  csv_field: got [%s], want [%s]\n", sb.data ? sb.data : "", out[i]);
            sb_free(&sb);
        }
    }
}

static void test_base64(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

    for (int i = 0; i < 7; i++) {
        struct strbuf sb = STRBUF_INIT;

        base64_append(&sb, (const uint8_t *)in[i], strlen(in[i]));
        CHECK(!strcmp(sb.data ? sb.data : "", out[i]));
        sb_free(&sb);
    }
    {
        /* long input crosses the internal flush block */
        uint8_t buf[1000];
        struct strbuf sb = STRBUF_INIT;

        for (int i = 0; i < 1000; i++)
            buf[i] = (uint8_t)(i * 7);
        base64_append(&sb, buf, sizeof buf);
        CHECK(sb.len == 4 * ((1000 + 2) / 3));
        sb_free(&sb);
    }
}

/* ---- PNG ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An independent decoder for what neuro_png_rgb promises: chunks with
 * good CRCs, IHDR first, IEND last, zlib data that unfilters to rgb. */
static int png_check(const uint8_t *png, size_t n, const uint8_t *rgb, int w, int h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t pos = 8, zlen = 0, stride = (size_t)w * 3;
    uint8_t *z = NULL, *raw;
    uLongf rawlen = (stride + 1) * (size_t)h;
    int seen_ihdr = 0, seen_iend = 0, ok = 1;

    if (n < 8 || memcmp(png, sig, 8))
        return 0;
    while (pos + 12 <= n && !seen_iend) {
        uint32_t len = be32(png + pos);
        const uint8_t *type = png + pos + 4, *data = png + pos + 8;

        if (pos + 12 + len > n)
            return 0;
        if (crc32(0, type, 4 + len) != be32(data + len))
            return 0;
        if (!memcmp(type, "IHDR", 4)) {
            if (len != 13 || be32(data) != (uint32_t)w || be32(data + 4) != (uint32_t)h || data[8] != 8 ||
                data[9] != 2 || data[12] != 0)
                return 0;
            seen_ihdr = 1;
        } else if (!memcmp(type, "IDAT", 4)) {
            if (!seen_ihdr)
                return 0;
            z = realloc(z, zlen + len);
            memcpy(z + zlen, data, len);
            zlen += len;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_iend = 1;
        }
        pos += 12 + len;
    }
    if (!seen_iend || pos != n || !(raw = malloc(rawlen))) {
        free(z);
        return 0;
    }
    if (uncompress(raw, &rawlen, z, zlen) != Z_OK || rawlen != (stride + 1) * (size_t)h)
        ok = 0;
    /* every filter type of PNG 1.2 section 6, reconstructed in place */
    for (int y = 0; ok && y < h; y++) {
        uint8_t *row = raw + (stride + 1) * (size_t)y, *up = y ? row - (stride + 1) : NULL;

        if (row[0] > 4) {
            ok = 0;
            break;
        }
        for (size_t i = 0; i < stride; i++) {
            int a = i >= 3 ? row[1 + i - 3] : 0, b = up ? up[1 + i] : 0, c = up && i >= 3 ? up[1 + i - 3] : 0;
            int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
            int pred = row[0] == 0 ? 0
                       : row[0] == 1 ? a
                       : row[0] == 2 ? b
                       : row[0] == 3 ? (a + b) / 2
                                     : (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
            uint8_t v = (uint8_t)(row[1 + i] + pred);

            row[1 + i] = v;
            if (v != rgb[stride * (size_t)y + i])
                ok = 0;
        }
    }
    free(z);
    free(raw);
    return ok;
}

/* Python's own zlib and struct as a second opinion, if Python is here. */
static int png_check_python(const uint8_t *png, size_t n, int w, int h)
{
    char path[] = "/tmp/test_cgi_unit_XXXXXX", cmd[1200];
    int fd = mkstemp(path), rc;

    if (access("/usr/bin/python3", X_OK) != 0)
        return 1;
    if (fd < 0 || write(fd, png, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import sys, struct, zlib\n"
             "d = open(sys.argv[1], \"rb\").read()\n"
             "assert d[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\"\n"
             "p, idat, hdr = 8, b\"\", None\n"
             "while p < len(d):\n"
             "    n, t = struct.unpack(\">I4s\", d[p:p+8]); body = d[p+8:p+8+n]\n"
             "    assert struct.unpack(\">I\", d[p+8+n:p+12+n])[0] == zlib.crc32(t + body)\n"
             "    if t == b\"IHDR\": hdr = struct.unpack(\">IIBBBBB\", body)\n"
             "    if t == b\"IDAT\": idat += body\n"
             "    p += 12 + n\n"
             "w, h = hdr[0], hdr[1]\n"
             "assert (w, h) == (%d, %d) and hdr[2:5] == (8, 2, 0)\n"
             "assert len(zlib.decompress(idat)) == h * (3 * w + 1)\n"
             "' %s",
             w, h, path);
    rc = system(cmd);
    unlink(path);
    return rc == 0;
}

static void test_png(void)
{
    int sizes[][2] = {{1, 1}, {37, 23}, {256, 3}, {181, 217}};

    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        uint8_t *rgb = malloc((size_t)w * h * 3), *png;
        size_t n;

        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            rgb[i] = (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(i / 3);
        CHECK(neuro_png_rgb(rgb, w, h, &png, &n) == 0);
        CHECK(png_check(png, n, rgb, w, h));
        if (s == 1)
            CHECK(png_check_python(png, n, w, h));
        free(png);
        free(rgb);
    }
    {
        uint8_t px[3] = {0}, *png;
        size_t n;

        CHECK(neuro_png_rgb(px, 0, 1, &png, &n) == -1 && !png);
    }
}

/* ---- body, storage names, slices ---- */

static void test_body(void)
{
    char err[256];
    uint8_t *buf;
    size_t len;
    int p[2], s[2];

    CHECK(body_content_length(NULL) == -1 && body_content_length("") == -1);
    CHECK(body_content_length("123") == 123 && body_content_length("0") == 0);
    CHECK(body_content_length("-1") == -2 && body_content_length("1e3") == -2 &&
          body_content_length("99999999999999999999") == -2);

    /* short body: truncated, and what came is spooled */
    CHECK(pipe(p) == 0 && pipe(s) == 0);
    CHECK(write(p[1], "0123456789", 10) == 10);
    close(p[1]);
    CHECK(body_read(p[0], s[1], 20, 100, &buf, &len, err, sizeof err) == BODY_TRUNC && len == 10);
    close(s[1]);
    {
        char got[32];

        CHECK(read(s[0], got, sizeof got) == 10 && !memcmp(got, "0123456789", 10));
    }
    free(buf);
    close(p[0]);
    close(s[0]);

    /* exact length: stops reading at CONTENT_LENGTH even if more is there */
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "abcdefgh", 8) == 8);
    close(p[1]);
    CHECK(body_read(p[0], -1, 5, 100, &buf, &len, err, sizeof err) == BODY_OK && len == 5 && !memcmp(buf, "abcde", 5));
    free(buf);
    close(p[0]);

    /* unknown length: until EOF, limited */
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "abcdefgh", 8) == 8);
    close(p[1]);
    CHECK(body_read(p[0], -1, -1, 5, &buf, &len, err, sizeof err) == BODY_TOOBIG);
    free(buf);
    close(p[0]);
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "abcdefgh", 8) == 8);
    close(p[1]);
    CHECK(body_read(p[0], -1, -1, 8, &buf, &len, err, sizeof err) == BODY_OK && len == 8 && buf[8] == 0);
    free(buf);
    close(p[0]);
}

static void test_safe_name(void)
{
    char out[128];

    spool_safe_name("ch2bet.nii.gz", out, sizeof out);
    CHECK(!strcmp(out, "upload-ch2bet.nii.gz"));
    spool_safe_name("C:\\Users\\me\\brain scan.NII", out, sizeof out);
    CHECK(!strcmp(out, "upload-brain_scan.NII"));
    spool_safe_name("../../etc/passwd", out, sizeof out);
    CHECK(!strcmp(out, "upload-passwd"));
    spool_safe_name("..", out, sizeof out);
    CHECK(!strcmp(out, "upload-.."));
    spool_safe_name("report.html", out, sizeof out);
    CHECK(!strcmp(out, "upload-report.html"));
    spool_safe_name("", out, sizeof out);
    CHECK(!strcmp(out, "upload.nii"));
    spool_safe_name(NULL, out, sizeof out);
    CHECK(!strcmp(out, "upload.nii"));
    spool_safe_name(".nii.gz", out, sizeof out);
    CHECK(!strcmp(out, "upload.nii.gz"));
    spool_safe_name("<x>\"y\".nii", out, sizeof out);
    CHECK(!strcmp(out, "upload-_x__y_.nii"));
    {
        char longname[400];

        memset(longname, 'a', 300);
        strcpy(longname + 300, ".nii.gz");
        spool_safe_name(longname, out, sizeof out);
        CHECK(strlen(out) <= 100 && strstr(out, ".nii.gz") == out + strlen(out) - 7);
    }
}

/* A volume with the identity affine (RAS, 1 mm) unless told otherwise. */
static void ras(struct neuro_volume *v)
{
    memset(v->affine, 0, sizeof v->affine);
    v->affine[0][0] = v->dx, v->affine[1][1] = v->dy, v->affine[2][2] = v->dz;
    v->xform = NEURO_XFORM_SFORM;
}

static void test_slices(void)
{
    float data[4 * 3 * 2];
    int32_t seg[4 * 3 * 2] = {0};
    struct neuro_volume v = {4, 3, 2, 1, 1, 1, data};
    struct neuro_labels l = {4, 3, 2, seg};
    struct slice_window win;
    struct slice_orient o;
    uint8_t *rgb;
    int w, h;

    for (int i = 0; i < 24; i++)
        data[i] = (float)i;
    ras(&v);
    slice_orient_of(&v, &o);
    CHECK(o.known && o.axis[0] == 0 && o.axis[1] == 1 && o.axis[2] == 2 && o.toward_plus[0] && o.toward_plus[1] &&
          o.toward_plus[2] && o.oblique_deg < 1e-9);
    /* x=0 is the subject's left: in the radiological axial view, the
     * picture's right; y=2 is the most anterior row: the top */
    seg[0 + 4 * (2 + 3 * 1)] = 3;
    slice_window_auto(&v, &win);
    CHECK(win.lo == 0 && win.hi == 23);
    CHECK(slice_render(&v, &l, &win, &o, SLICE_AXIAL, &rgb, &w, &h) == 0);
    CHECK(w == 4 * 4 && h == 3 * 4); /* scaled up 4x (capped) */
    /* top-right pixel: voxel (0,2,1) = 20, blended toward the WM colour */
    {
        int g = (int)(20.0f / 23 * 255 + 0.5f);
        const uint8_t *px = rgb + (size_t)(w - 1) * 3;

        CHECK(px[0] == (uint8_t)((g * 55 + slice_class_rgb[3][0] * 45 + 50) / 100));
    }
    /* bottom-left: voxel (3,0,1) = 15 (right, posterior), no label: grey */
    {
        const uint8_t *px = rgb + (size_t)(h - 1) * w * 3;
        int g = (int)(15.0f / 23 * 255 + 0.5f);

        CHECK(px[0] == g && px[1] == g && px[2] == g);
    }
    free(rgb);
    CHECK(slice_render(&v, NULL, &win, &o, SLICE_SAGITTAL, &rgb, &w, &h) == 0 && w == 12 && h == 8);
    free(rgb);
    CHECK(slice_render(&v, NULL, &win, &o, SLICE_CORONAL, &rgb, &w, &h) == 0 && w == 16 && h == 8);
    free(rgb);
    CHECK(!strcmp(slice_marker(SLICE_AXIAL, 0), "R") && !strcmp(slice_marker(SLICE_AXIAL, 1), "L") &&
          !strcmp(slice_marker(SLICE_AXIAL, 2), "A") && !strcmp(slice_marker(SLICE_CORONAL, 3), "I") &&
          !strcmp(slice_marker(SLICE_SAGITTAL, 0), "A") && !strcmp(slice_marker(SLICE_SAGITTAL, 1), "P"));

    /* No qform/sform: shown as RAS, and said to be unknown */
    v.xform = NEURO_XFORM_NONE;
    slice_orient_of(&v, &o);
    CHECK(!o.known && o.axis[0] == 0 && o.toward_plus[0]);
}

/* The same anatomy stored with its voxel axes permuted and flipped (and
 * the affine saying so) must give the very same pictures; anisotropic
 * voxels keep their aspect. */
static void test_orientation(void)
{
    enum { NX = 7, NY = 5, NZ = 6 };
    static float a[NX * NY * NZ], b[NX * NY * NZ];
    /* b's voxel (i, j, k) = a's (x, y, z) with i = NZ-1-z (toward I),
     * j = x (toward R), k = NY-1-y (toward P): "IRP" storage */
    struct neuro_volume va = {NX, NY, NZ, 1, 1, 1, a}, vb = {NZ, NX, NY, 1, 1, 1, b};
    struct slice_window win;
    struct slice_orient oa, ob;

    for (int i = 0; i < NX * NY * NZ; i++)
        a[i] = (float)((i * 37) % 101);
    for (int z = 0; z < NZ; z++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++)
                b[(NZ - 1 - z) + NZ * (x + NX * (NY - 1 - y))] = a[x + NX * (y + NY * z)];
    ras(&va);
    memset(vb.affine, 0, sizeof vb.affine);
    vb.affine[2][0] = -1; /* i: toward inferior */
    vb.affine[0][1] = 1;  /* j: toward right */
    vb.affine[1][2] = -1; /* k: toward posterior */
    vb.affine[0][3] = 12, vb.affine[1][3] = -3, vb.affine[2][3] = 40;
    vb.xform = NEURO_XFORM_QFORM;
    slice_orient_of(&va, &oa);
    slice_orient_of(&vb, &ob);
    CHECK(ob.axis[0] == 1 && ob.axis[1] == 2 && ob.axis[2] == 0 && ob.toward_plus[0] && !ob.toward_plus[1] &&
          !ob.toward_plus[2]);
    slice_window_auto(&va, &win);
    for (int view = 0; view < 3; view++) {
        uint8_t *ra, *rb;
        int wa, ha, wb, hb;

        CHECK(slice_render(&va, NULL, &win, &oa, (enum slice_view)view, &ra, &wa, &ha) == 0);
        CHECK(slice_render(&vb, NULL, &win, &ob, (enum slice_view)view, &rb, &wb, &hb) == 0);
        CHECK(wa == wb && ha == hb && !memcmp(ra, rb, (size_t)wa * ha * 3));
        if (wa != wb || ha != hb)
            fprintf(stderr, "  view %d: %dx%d vs %dx%d\n", view, wa, ha, wb, hb);
        free(ra);
        free(rb);
    }
    /* a slight tilt is reported, the pairing stays */
    {
        double t = 10 * M_PI / 180;

        va.affine[0][0] = cos(t), va.affine[1][0] = sin(t);
        va.affine[0][1] = -sin(t), va.affine[1][1] = cos(t);
        slice_orient_of(&va, &oa);
        CHECK(oa.axis[0] == 0 && oa.axis[1] == 1 && fabs(oa.oblique_deg - 10) < 1e-6);
    }
    /* 1 x 1 x 3 mm voxels: the coronal picture is three times as tall per
     * slice as it is wide per column */
    {
        uint8_t *r;
        int w, h;

        va.dz = 3;
        ras(&va);
        slice_orient_of(&va, &oa);
        CHECK(oa.mm[2] == 3);
        CHECK(slice_render(&va, NULL, &win, &oa, SLICE_CORONAL, &r, &w, &h) == 0);
        CHECK(w * 3 * NZ == h * NX);
        free(r);
        CHECK(slice_render(&va, NULL, &win, &oa, SLICE_AXIAL, &r, &w, &h) == 0);
        CHECK(w * NY == h * NX);
        free(r);
    }
}

/* ---- storage: retention, ownership, modes ---- */

static char stor_root[64];

static void make_request(const char *storage, const char *id, size_t bytes, int done)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", storage, id);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s/request.body", storage, id);
    if ((f = fopen(path, "wb"))) {
        for (size_t i = 0; i < bytes; i++)
            fputc('x', f);
        fclose(f);
    }
    if (done) {
        snprintf(path, sizeof path, "%s/%s/request.txt", storage, id);
        if ((f = fopen(path, "w")))
            fclose(f);
    }
}

static int exists(const char *storage, const char *name)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", storage, name);
    return lstat(path, &st) == 0;
}

/* An id for a time offset from now (negative: past). */
static void id_at(time_t now, long ago, int n, char *out, size_t cap)
{
    time_t t = now - ago;
    struct tm tm;
    char stamp[20];

    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, cap, "%s-%d-%08x", stamp, 100 + n, 0xabc00 + n);
}

static void test_spool(void)
{
    char storage[128], err[512], id[8][64], path[256];
    struct spool_policy keep = {3600, 1000000};
    struct spool_usage u;
    struct spool sp;
    struct stat st;
    time_t now = time(NULL), when;

    snprintf(stor_root, sizeof stor_root, "/tmp/test_cgi_spool_XXXXXX");
    if (!mkdtemp(stor_root)) {
        CHECK(0);
        return;
    }
    /* created 0700, and so is each request directory */
    snprintf(storage, sizeof storage, "%s/a/storage", stor_root);
    CHECK(spool_create(storage, &keep, 0, &sp, NULL, err, sizeof err) == 0);
    CHECK(stat(storage, &st) == 0 && (st.st_mode & 0777) == 0700 && st.st_uid == geteuid());
    CHECK(stat(sp.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(spool_parse_id(sp.id, &when) == 0 && labs((long)(when - now)) < 5);
    CHECK(spool_parse_id("20260101T000000Z-1-0123abcd", &when) == 0);
    CHECK(spool_parse_id("20260101T000000Z-1-0123abc", &when) == -1);
    CHECK(spool_parse_id("x0260101T000000Z-1-0123abcd", &when) == -1);
    CHECK(spool_parse_id("20260101T000000Z-1-0123abcd.old", &when) == -1);
    /* a looser mode of our own directory is tightened */
    chmod(storage, 0755);
    CHECK(spool_create(storage, &keep, 0, &sp, NULL, err, sizeof err) == 0);
    CHECK(stat(storage, &st) == 0 && (st.st_mode & 0777) == 0700);

    /* retention by age: finished requests older than max_age go; young
     * ones, running ones and foreign names stay; a running one older
     * than SPOOL_STALE_SECONDS is a dead CGI's and goes */
    snprintf(storage, sizeof storage, "%s/b", stor_root);
    mkdir(storage, 0700);
    id_at(now, 7200, 0, id[0], sizeof id[0]);                  /* old, done */
    id_at(now, 60, 1, id[1], sizeof id[1]);                    /* young, done */
    id_at(now, 1800, 2, id[2], sizeof id[2]);                  /* old, running, not stale */
    id_at(now, SPOOL_STALE_SECONDS + 7200, 3, id[3], sizeof id[3]); /* stale, running */
    id_at(now, 30, 4, id[4], sizeof id[4]);                    /* young, running */
    make_request(storage, id[0], 100, 1);
    make_request(storage, id[1], 100, 1);
    make_request(storage, id[2], 100, 0);
    make_request(storage, id[3], 100, 0);
    make_request(storage, id[4], 100, 0);
    snprintf(path, sizeof path, "%s/notes-20200101", storage);
    mkdir(path, 0700);
    keep = (struct spool_policy){600, 1000000};
    CHECK(spool_prune(storage, &keep, 0, now, &u, err, sizeof err) == 0);
    CHECK(!exists(storage, id[0]) && exists(storage, id[1]) && exists(storage, id[2]) && !exists(storage, id[3]) &&
          exists(storage, id[4]));
    CHECK(exists(storage, "notes-20200101"));
    CHECK(u.removed == 2 && u.kept == 3 && u.kept_bytes == 300);

    /* retention by size: the oldest finished requests go until the new
     * one's reserve fits; running ones are never deleted */
    snprintf(storage, sizeof storage, "%s/c", stor_root);
    mkdir(storage, 0700);
    for (int i = 0; i < 6; i++) {
        id_at(now, 600 - i * 60, i, id[i], sizeof id[i]);
        make_request(storage, id[i], 1000, i != 1); /* id[1] still running */
    }
    keep = (struct spool_policy){3600, 4500};
    CHECK(spool_prune(storage, &keep, 1000, now, &u, err, sizeof err) == 0);
    /* 6000 + 1000 > 4500: drop id[0], skip running id[1], drop id[2], id[3] -> 3000 + 1000 <= 4500 */
    CHECK(!exists(storage, id[0]) && exists(storage, id[1]) && !exists(storage, id[2]) && !exists(storage, id[3]) &&
          exists(storage, id[4]) && exists(storage, id[5]));
    CHECK(u.removed == 3 && u.kept_bytes == 3000);
    /* full: only running requests left and still no room: refused */
    keep = (struct spool_policy){3600, 1500};
    CHECK(spool_prune(storage, &keep, 1000, now, &u, err, sizeof err) == SPOOL_EFULL && strstr(err, "full"));
    CHECK(exists(storage, id[1]));
    CHECK(spool_create(storage, &keep, 1000, &sp, &u, err, sizeof err) == SPOOL_EFULL);

    /* a symbolic link, and a directory of someone else, are refused */
    snprintf(path, sizeof path, "%s/link", stor_root);
    CHECK(symlink(storage, path) == 0);
    CHECK(spool_create(path, &keep, 0, &sp, NULL, err, sizeof err) == SPOOL_EIO && strstr(err, "symbolic link"));
    if (geteuid() == 0) {
        snprintf(path, sizeof path, "%s/theirs", stor_root);
        mkdir(path, 0777);
        CHECK(chown(path, 65534, 65534) == 0);
    } else {
        snprintf(path, sizeof path, "/tmp"); /* root's */
    }
    err[0] = '\0';
    CHECK(spool_create(path, &keep, 0, &sp, NULL, err, sizeof err) == SPOOL_EIO && strstr(err, "owned by uid") &&
          strstr(err, "refusing"));
    {
        char cmd[128];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", stor_root);
        CHECK(system(cmd) == 0);
    }
}

/* Server settings from the environment: defaults, values, refusals. */
static void test_config(void)
{
    struct cgi_config c;
    char err[256];
    const char *vars[] = {"NEURO_STORAGE", "NEURO_MAX_BYTES", "NEURO_MAX_VOXELS", "NEURO_MAX_SLAVES",
                          "NEURO_ATLAS_DIR", "NEURO_KVM"};

    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    CHECK(config_load(&c, err, sizeof err) == 0);
    CHECK(!strcmp(c.storage, "/var/tmp/neuro-cgi") && c.max_slaves == 8 && c.kvm == 0);
    setenv("NEURO_MAX_SLAVES", "3", 1);
    setenv("NEURO_KVM", "1", 1);
    CHECK(config_load(&c, err, sizeof err) == 0 && c.max_slaves == 3 && c.kvm == 1);
    setenv("NEURO_KVM", "yes", 1);
    CHECK(config_load(&c, err, sizeof err) < 0 && strstr(err, "NEURO_KVM must be 0 or 1"));
    setenv("NEURO_KVM", "0", 1);
    setenv("NEURO_MAX_SLAVES", "0", 1);
    CHECK(config_load(&c, err, sizeof err) < 0 && strstr(err, "NEURO_MAX_SLAVES"));
    unsetenv("NEURO_MAX_SLAVES");
    /* retention: 7 days and 4 GiB unless set; at least two bodies' room */
    CHECK(config_load(&c, err, sizeof err) == 0 && c.keep_seconds == 604800 && c.keep_bytes == 4ull << 30);
    setenv("NEURO_KEEP_SECONDS", "60", 1);
    setenv("NEURO_KEEP_BYTES", "268435456", 1);
    CHECK(config_load(&c, err, sizeof err) == 0 && c.keep_seconds == 60 && c.keep_bytes == 268435456);
    setenv("NEURO_KEEP_BYTES", "268435455", 1); /* < 2 x 128 MiB */
    CHECK(config_load(&c, err, sizeof err) < 0 && strstr(err, "NEURO_KEEP_BYTES"));
    setenv("NEURO_KEEP_BYTES", "1G", 1);
    CHECK(config_load(&c, err, sizeof err) < 0 && strstr(err, "NEURO_KEEP_BYTES"));
    unsetenv("NEURO_KEEP_BYTES");
    setenv("NEURO_KEEP_SECONDS", "-1", 1);
    CHECK(config_load(&c, err, sizeof err) < 0 && strstr(err, "NEURO_KEEP_SECONDS"));
    unsetenv("NEURO_KEEP_SECONDS");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

int main(void)
{
    test_content_type();
    test_basic();
    test_truncated_everywhere();
    test_variants();
    test_limits();
    test_options();
    test_sigma();
    test_escape();
    test_base64();
    test_png();
    test_body();
    test_safe_name();
    test_slices();
    test_orientation();
    test_spool();
    test_config();
    printf("test_cgi_unit: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
