/* report.h -- the analysis report as HTML and as JSON.
 *
 * report_json: one JSON object (saved as results.json) with the fields of
 * test/reference.py's output -- dims, centers, voxels, ml, iterations,
 * regions (label, name, voxels, mean_smoothed, gm_ml) -- plus the request
 * id, file, options, per-shard timings and times in ms.
 * JSON is written by jansson; "orientation" gives the header transform used,
 * the voxel axis codes and the display convention.
 * report_html: a self-contained page: summary, CSV and JSON download links
 * (data: URIs), tissue volume table, region tables (with an atlas: left and
 * right side by side, sortable by a small script), oriented slice images
 * with R/L, A/P, S/I markers as data: URIs, shard timings, and the
 * same JSON inside <script type="application/json" id="results"> so that
 * programs can read the numbers from the response without scraping tables.
 */
#ifndef NEURO_REPORT_H
#define NEURO_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "atlas.h"
#include "neuro.h"
#include "options.h"
#include "slices.h"
#include "strbuf.h"

struct report_image {
    enum slice_view view;
    char file[32];        /* saved name in the request directory */
    uint8_t *png;         /* NULL if rendering failed */
    size_t len;
    int w, h;
};

struct report {
    const char *request_id;
    const char *filename;     /* as the client named it; may be NULL */
    size_t upload_bytes;
    const struct neuro_volume *vol;
    const struct job_opts *opts;
    const struct atlas *atlas; /* NULL: no atlas */
    const struct neuro_result *res;
    double read_ms;           /* receiving and spooling the body */
    double parse_ms;          /* NIfTI (and atlas) decoding */
    double render_ms;         /* slice images */
    double request_ms;        /* CGI start to report */
    struct slice_orient orient; /* how the pictures were oriented */
    struct report_image img[3];
};

void report_json(struct strbuf *sb, const struct report *r);
/* The same JSON for a <script type="application/json"> element: every '<'
 * written as \u003c, so the text can neither end the element nor change
 * how the HTML parser reads it. */
void report_json_script(struct strbuf *sb, const struct report *r);
/* The numbers as CSV (RFC 4180, CRLF): one row per tissue class, then one
 * per atlas region: section,label,name,hemisphere,voxels,volume_ml,
 * mean_smoothed,gm_ml (tissue rows give the class center as mean_smoothed). */
void report_csv(struct strbuf *sb, const struct report *r);
void report_html(struct strbuf *sb, const struct report *r);

/* Shared by the formats: 'L' or 'R' for a name ending in "_L" / "_R"
 * (AAL's convention), else 0; nibabel-style axis codes ("RAS", "LPI", ...:
 * the direction each voxel axis grows toward); "sform", "qform", "none". */
char report_hemisphere(const char *name);
void report_axcodes(const struct slice_orient *o, char out[4]);
const char *report_xform_name(int xform);

#endif
