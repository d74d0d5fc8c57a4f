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

/* Copy a text field (no NULs, at most cap-1 bytes, spaces trimmed). */
static int text_value(const struct mp_part *p, char *out, size_t cap)
{
    const char *s = (const char *)p->data;
    size_t n = p->len;

    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n >= cap || memchr(s, '\0', n))
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
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
        if (text_value(p, v, sizeof v) < 0)
            return bad_value(p, "a short text value", err, errlen);
        if (!*v)
            continue; /* empty: keep the default */
        if (!strcmp(p->name, "sigma")) {
            char *end;

            errno = 0;
            o->sigma = strtod(v, &end);
            if (errno || *end || !isfinite(o->sigma) || o->sigma < 0.1 || o->sigma > 10)
                return bad_value(p, "a number from 0.1 to 10", err, errlen);
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
            if (errno || *end || v[0] == '+' || v[0] == '-' || n < 1 || n > max_slaves)
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
