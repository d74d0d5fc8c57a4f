/* atlas.c -- atlas label volumes and region names (see atlas.h). */
#include "atlas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

int atlas_parse_names(struct atlas *a, const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *q, *name;
        long label = 0;
        int digits = 0;
        size_t n;

        if (!eol)
            eol = end;
        for (q = p; q < eol && (*q == ' ' || *q == '\t'); q++)
            ;
        for (; q < eol && *q >= '0' && *q <= '9' && label <= ATLAS_MAX_LABEL; q++, digits++)
            label = label * 10 + (*q - '0');
        for (; q < eol && (*q == ' ' || *q == '\t'); q++)
            ;
        for (name = q; q < eol && *q != ' ' && *q != '\t' && *q != '\r'; q++)
            ;
        n = (size_t)(q - name);
        if (digits && label > 0 && label <= ATLAS_MAX_LABEL && n) {
            if (label >= a->nnames) {
                char **grown = realloc(a->names, (size_t)(label + 1) * sizeof *grown);

                if (!grown)
                    return -1;
                memset(grown + a->nnames, 0, (size_t)(label + 1 - a->nnames) * sizeof *grown);
                a->names = grown;
                a->nnames = (int32_t)label + 1;
            }
            if (!a->names[label] && !(a->names[label] = strndup(name, n)))
                return -1;
        }
        p = eol + 1;
    }
    return 0;
}

int atlas_load(const char *dir, const char *which, size_t max_voxels, struct atlas *a, char *err, size_t errlen)
{
    char path[4096];
    uint8_t *buf;
    size_t len;
    int rc;

    memset(a, 0, sizeof *a);
    snprintf(a->which, sizeof a->which, "%s", which);
    snprintf(path, sizeof path, "%s/%s.nii.gz", dir, which);
    if ((rc = fileio_read(path, (size_t)1 << 30, &buf, &len)) < 0) {
        snprintf(err, errlen, "cannot read atlas %s%s", path, rc == -2 ? ": too large" : "");
        return -1;
    }
    rc = neuro_nifti_read_labels(buf, len, max_voxels, &a->labels, err, errlen);
    free(buf);
    if (rc < 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s.nii.txt", dir, which);
    if (fileio_read(path, (size_t)4 << 20, &buf, &len) == 0) {
        rc = atlas_parse_names(a, (const char *)buf, len);
        free(buf);
        if (rc < 0) {
            snprintf(err, errlen, "out of memory reading region names");
            atlas_free(a);
            return -1;
        }
    }
    return 0;
}

const char *atlas_region_name(const struct atlas *a, int32_t label, char *tmp, size_t cap)
{
    if (label >= 0 && label < a->nnames && a->names[label])
        return a->names[label];
    snprintf(tmp, cap, strcmp(a->which, "brodmann") ? "region %d" : "Brodmann area %d", (int)label);
    return tmp;
}

void atlas_free(struct atlas *a)
{
    for (int32_t i = 0; i < a->nnames; i++)
        free(a->names[i]);
    free(a->names);
    a->names = NULL;
    a->nnames = 0;
    neuro_labels_free(&a->labels);
}
