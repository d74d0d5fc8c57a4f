/* test_cgi_unit -- unit tests of the neuro-cgi pieces that need no slaves:
 * multipart/form-data parsing (crafted, truncated and hostile bodies),
 * form options, HTML/JSON escaping, base64, the PNG encoder (decoded again
 * here with zlib, and by Python's zlib when /usr/bin/python3 exists), body
 * reading, storage names and slice rendering.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base64.h"
#include "body.h"
#include "config.h"
#include "escape.h"
#include "multipart.h"
#include "options.h"
#include "png.h"
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
    CHECK(opts_of("image=D&atlas=Brodmann&slaves=auto&sigma=", &o, err) == 0 && !strcmp(o.atlas, "brodmann") &&
          o.sigma == 1.5);
    CHECK(opts_of("image=D&sigma=abc", &o, err) == -1 && strstr(err, "sigma"));
    CHECK(opts_of("image=D&sigma=0", &o, err) == -1);
    CHECK(opts_of("image=D&sigma=nan", &o, err) == -1);
    CHECK(opts_of("image=D&sigma=11", &o, err) == -1);
    CHECK(opts_of("image=D&atlas=talairach", &o, err) == -1 && strstr(err, "talairach"));
    CHECK(opts_of("image=D&slaves=0", &o, err) == -1);
    CHECK(opts_of("image=D&slaves=9", &o, err) == -1);
    CHECK(opts_of("image=D&slaves=2x", &o, err) == -1);
    CHECK(opts_of("image=D&kind=arm64", &o, err) == -1);
    CHECK(opts_of("image=D&colour=red", &o, err) == -1 && strstr(err, "unknown form field"));
    CHECK(opts_of("image=D&sigma=1&sigma=2", &o, err) == -1 && strstr(err, "2 times"));
    CHECK(opts_of("sigma=1", &o, err) == -1 && strstr(err, "no image"));
    CHECK(opts_of("image=", &o, err) == -1 && strstr(err, "empty"));
    CHECK(opts_of("image=D&atlas=<script>", &o, err) == -1 && strstr(err, "<script>")); /* page escapes it */
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
    {
        static const char in[] = "a\"b\\c\n\x01</script>";

        json_escape(&sb, in, sizeof in - 1);
    }
    CHECK(!strcmp(sb.data, "a\\\"b\\\\c\\n\\u0001\\u003c/script\\u003e"));
    sb_free(&sb);
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

/* An independent decoder for what png_encode_rgb promises: chunks with
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
    for (int y = 0; ok && y < h; y++) {
        uint8_t *row = raw + (stride + 1) * (size_t)y;

        if (row[0] != 1) {
            ok = 0;
            break;
        }
        for (size_t i = 0; i < stride; i++) {
            uint8_t v = (uint8_t)(row[1 + i] + (i >= 3 ? row[1 + i - 3] : 0));

            row[1 + i] = v; /* reconstructed in place, left to right */
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
        CHECK(png_encode_rgb(rgb, w, h, &png, &n) == 0);
        CHECK(png_check(png, n, rgb, w, h));
        if (s == 1)
            CHECK(png_check_python(png, n, w, h));
        free(png);
        free(rgb);
    }
    {
        uint8_t px[3] = {0}, *png;
        size_t n;

        CHECK(png_encode_rgb(px, 0, 1, &png, &n) == -1 && !png);
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

static void test_slices(void)
{
    float data[4 * 3 * 2];
    int32_t seg[4 * 3 * 2] = {0};
    struct neuro_volume v = {4, 3, 2, 1, 1, 1, data};
    struct neuro_labels l = {4, 3, 2, seg};
    struct slice_window win;
    uint8_t *rgb;
    int w, h;

    for (int i = 0; i < 24; i++)
        data[i] = (float)i;
    seg[0 + 4 * (2 + 3 * 1)] = 3; /* x=0, y=2, z=1: top-left of the axial view */
    slice_window_auto(&v, &win);
    CHECK(win.lo == 0 && win.hi == 23);
    CHECK(slice_render(&v, &l, &win, SLICE_AXIAL, &rgb, &w, &h) == 0);
    CHECK(w == 4 * 4 && h == 3 * 4); /* scaled up 4x (capped) */
    /* top-left pixel: voxel (0,2,1) = 20, blended toward the WM colour */
    {
        int g = (int)(20.0f / 23 * 255 + 0.5f);

        CHECK(rgb[0] == (uint8_t)((g * 55 + slice_class_rgb[3][0] * 45 + 50) / 100));
    }
    /* bottom-right: voxel (3,0,1) = 15, no label: grey */
    {
        const uint8_t *px = rgb + ((size_t)(h - 1) * w + (w - 1)) * 3;
        int g = (int)(15.0f / 23 * 255 + 0.5f);

        CHECK(px[0] == g && px[1] == g && px[2] == g);
    }
    free(rgb);
    CHECK(slice_render(&v, NULL, &win, SLICE_SAGITTAL, &rgb, &w, &h) == 0 && w == 12 && h == 8);
    free(rgb);
    CHECK(slice_render(&v, NULL, &win, SLICE_CORONAL, &rgb, &w, &h) == 0 && w == 16 && h == 8);
    free(rgb);
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
    test_escape();
    test_base64();
    test_png();
    test_body();
    test_safe_name();
    test_slices();
    test_config();
    printf("test_cgi_unit: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
