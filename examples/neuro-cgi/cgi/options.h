/* options.h -- the analysis request's form fields.
 *
 *   image   the NIfTI file (.nii or .nii.gz); required, non-empty
 *   sigma   smoothing sigma in voxels, 0.1..10; empty: 1.5
 *   atlas   none | aal | brodmann (case-insensitive); empty: none
 *   slaves  auto | 1..max_slaves; empty: auto
 *   kind    x86_64 | process (slave kind); empty: x86_64
 *
 * Any other field name, a repeated field, or a value outside these sets is
 * a client error (HTTP 400): silently ignoring a typo would run a
 * different analysis than the one asked for.
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

/* Returns 0, or -1 with a message for the client in err. */
int options_parse(const struct mp_form *f, int max_slaves, struct job_opts *o, char *err, size_t errlen);

#endif
