/* options.c -- validating the form fields (see options.h). */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const fields[] = {"image", "sigma", "atlas", "slaves", "kind"};

/* A printable, shortened copy of client bytes for error messages (the page
 * escapes it for HTML; this keeps binary junk and huge values out). */
static void shown(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 4 < cap; i++)
        out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    if (n > 0 && o + 4 >= cap && o >= 3)
        memcpy(out + o - 3, "...", 3);
    out[o] = '\0';
}

/* Copy a text field as sent: no NULs, at most cap-1 bytes. Nothing is
 * trimmed: " 2" is not a value the form can send, so it is refused rather
 * than guessed at. */
static int text_value(const struct mp_part *p, char *out, size_t cap)
{
    if (p->len >= cap || memchr(p->data, '\0', p->len))
        return -1;
    memcpy(out, p->data, p->len);
    out[p->len] = '\0';
    return 0;
}

int options_sigma(const char *s, double *out)
{
    const char *p = s;
    int digits = 0, frac = 0;
    double v;

    /* HTML's "valid floating-point number" (what <input type=number>
     * submits): [-] digits [. digits] or [-] . digits, then optionally
     * e|E [+|-] digits. No spaces, no leading '+', no hexadecimal, no
     * inf/nan, no "1." -- then strtod, whose C-locale decimal reading of
     * exactly this grammar is the number. */
    if (*p == '-')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, frac++;
        if (!frac)
            return -1;
    }
    if (!digits && !frac)
        return -1;
    if (*p == 'e' || *p == 'E') {
        int ed = 0;

        p++;
        if (*p == '+' || *p == '-')
            p++;
        while (*p >= '0' && *p <= '9')
            p++, ed++;
        if (!ed)
            return -1;
    }
    if (*p)
        return -1;
    errno = 0;
    v = strtod(s, NULL);
    if (errno || !isfinite(v) || v < OPTIONS_SIGMA_MIN || v > OPTIONS_SIGMA_MAX)
        return -1;
    *out = v;
    return 0;
}

static int bad_value(const struct mp_part *p, const char *expect, char *err, size_t errlen)
{
    char v[48];

    shown((const char *)p->data, p->len, v, sizeof v);
    snprintf(err, errlen, "invalid value \"%s\" for field \"%s\": expected %s", v, p->name, expect);
    return -1;
}

int options_parse(const struct mp_form *f, int max_slaves, struct job_opts *o, char *err, size_t errlen)
{
    char v[32], expect[64];

    memset(o, 0, sizeof *o);
    o->sigma = 1.5;
    strcpy(o->atlas, "none");
    strcpy(o->arch, "x86_64");
    for (size_t i = 0; i < f->nparts; i++) {
        const struct mp_part *p = &f->parts[i];
        int known = 0, count;

        for (size_t k = 0; k < sizeof fields / sizeof *fields; k++)
            known |= !strcmp(p->name, fields[k]);
        if (!known) {
            shown(p->name, strlen(p->name), v, sizeof v);
            snprintf(err, errlen, "unknown form field \"%s\" (expected image, sigma, atlas, slaves, kind)", v);
            return -1;
        }
        if (mp_find(f, p->name, &count) && count > 1) {
            snprintf(err, errlen, "form field \"%s\" given %d times", p->name, count);
            return -1;
        }
        if (!strcmp(p->name, "image")) {
            o->image = p;
            continue;
        }
        if (text_value(p, v, sizeof v) < 0 || !*v)
            return bad_value(p, !*v ? "a value (leave the field out for the default)" : "a short text value",
                             err, errlen);
        if (!strcmp(p->name, "sigma")) {
            if (options_sigma(v, &o->sigma) < 0)
                return bad_value(p, "a decimal number from 0.1 to 10", err, errlen);
        } else if (!strcmp(p->name, "atlas")) {
            if (strcasecmp(v, "none") && strcasecmp(v, "aal") && strcasecmp(v, "brodmann"))
                return bad_value(p, "none, aal or brodmann", err, errlen);
            for (char *c = v; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            snprintf(o->atlas, sizeof o->atlas, "%s", v);
        } else if (!strcmp(p->name, "slaves")) {
            char *end;
            long n;

            snprintf(expect, sizeof expect, "auto or a whole number from 1 to %d", max_slaves);
            if (!strcasecmp(v, "auto")) {
                o->slaves = 0;
                continue;
            }
            errno = 0;
            n = strtol(v, &end, 10);
            if (errno || *end || v[0] < '0' || v[0] > '9' || n < 1 || n > max_slaves)
                return bad_value(p, expect, err, errlen);
            o->slaves = (int)n;
        } else if (!strcmp(p->name, "kind")) {
            if (strcmp(v, "x86_64") && strcmp(v, "ppc") && strcmp(v, "process"))
                return bad_value(p, "x86_64, ppc or process", err, errlen);
            snprintf(o->arch, sizeof o->arch, "%s", v);
        }
    }
    if (!o->image || (!o->image->len && (!o->image->filename || !*o->image->filename))) {
        snprintf(err, errlen, "no image uploaded: choose a .nii or .nii.gz file");
        return -1;
    }
    if (!o->image->len) {
        snprintf(err, errlen, "the uploaded file is empty");
        return -1;
    }
    return 0;
}
