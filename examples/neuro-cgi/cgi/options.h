/* options.h -- the analysis request's form fields.
 *
 *   image   the NIfTI file (.nii or .nii.gz); required, non-empty
 *   sigma   smoothing sigma in voxels, 0.1..10, written as HTML's valid
 *           floating-point number (options_sigma); absent: 1.5
 *   atlas   none | aal | brodmann (case-insensitive); absent: none
 *   slaves  auto | 1..max_slaves (decimal digits); absent: auto
 *   kind    x86_64 | ppc | process (slave kind); absent: x86_64
 *
 * Any other field name, a repeated field, an empty value, a value with
 * surrounding spaces, or a value outside these sets is a client error
 * (HTTP 400): silently ignoring a typo would run a different analysis than
 * the one asked for. Whether the chosen kind is installed is the
 * caller's question (a 422 when it is not).
 */
#ifndef NEURO_OPTIONS_H
#define NEURO_OPTIONS_H

#include <stddef.h>

#include "multipart.h"

struct job_opts {
    const struct mp_part *image;
    double sigma;
    char atlas[32];   /* "none", "aal" or "brodmann" */
    int slaves;       /* 0: auto */
    char arch[32];    /* "x86_64" or "process" */
};

#define OPTIONS_SIGMA_MIN 0.1
#define OPTIONS_SIGMA_MAX 10.0

/* Returns 0, or -1 with a message for the client in err. */
int options_parse(const struct mp_form *f, int max_slaves, struct job_opts *o, char *err, size_t errlen);

/* A sigma value: exactly the strings an <input type="number" min="0.1"
 * max="10" step="any"> accepts -- HTML's valid floating-point number,
 * [-](digits[.digits] | .digits)[(e|E)[+|-]digits], within 0.1..10.
 * Returns 0 with the value, or -1. */
int options_sigma(const char *s, double *out);

#endif
