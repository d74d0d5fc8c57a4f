/* atlas.h -- label atlases for the per-region table.
 *
 * An atlas is <dir>/<which>.nii.gz (a label volume read with
 * neuro_nifti_read_labels) plus an optional name list <dir>/<which>.nii.txt
 * in MRIcron's format: one region per line, "label name [code]",
 * whitespace-separated, CRLF or LF. (MRIcron's .lut files are binary colour
 * tables, not names.) Regions without a listed name are called "Brodmann
 * area N" for the Brodmann atlas and "region N" otherwise.
 */
#ifndef NEURO_ATLAS_H
#define NEURO_ATLAS_H

#include <stddef.h>
#include <stdint.h>

#include "neuro.h"

#define ATLAS_MAX_LABEL 65535

struct atlas {
    char which[16];
    struct neuro_labels labels;
    char **names;    /* names[label], NULL where unnamed; nnames entries */
    int32_t nnames;
};

/* which: "aal" or "brodmann". Returns 0, or -1 with the reason in err. */
int atlas_load(const char *dir, const char *which, size_t max_voxels, struct atlas *a, char *err, size_t errlen);

/* Parse a name list (exposed for the unit test). Returns 0 or -1 (memory). */
int atlas_parse_names(struct atlas *a, const char *text, size_t len);

/* The region's display name; tmp (cap bytes) holds generated names. */
const char *atlas_region_name(const struct atlas *a, int32_t label, char *tmp, size_t cap);

void atlas_free(struct atlas *a);

#endif
