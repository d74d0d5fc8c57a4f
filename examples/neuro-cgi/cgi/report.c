/* report.c -- HTML and JSON analysis reports (see report.h). */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "escape.h"
#include "page.h"

static const char *const class_name[3] = {"CSF", "GM", "WM"};

/* JSON has no NaN/Infinity. */
static void json_num(struct strbuf *sb, double v)
{
    if (isfinite(v))
        sb_printf(sb, "%.10g", v);
    else
        sb_puts(sb, "null");
}

static void json_str(struct strbuf *sb, const char *s)
{
    sb_puts(sb, "\"");
    json_escape_str(sb, s ? s : "");
    sb_puts(sb, "\"");
}

void report_json(struct strbuf *sb, const struct report *r)
{
    const struct neuro_result *res = r->res;
    const struct neuro_volume *v = r->vol;
    char tmp[48];

    sb_puts(sb, "{\"request_id\":");
    json_str(sb, r->request_id);
    sb_puts(sb, ",\"file\":");
    json_str(sb, r->filename);
    sb_printf(sb, ",\"upload_bytes\":%zu,\"dims\":[%d,%d,%d],\"voxel_mm\":[", r->upload_bytes, v->nx, v->ny,
              v->nz);
    json_num(sb, v->dx);
    sb_puts(sb, ",");
    json_num(sb, v->dy);
    sb_puts(sb, ",");
    json_num(sb, v->dz);
    sb_puts(sb, "],\"options\":{\"sigma\":");
    json_num(sb, r->opts->sigma);
    sb_puts(sb, ",\"atlas\":");
    json_str(sb, r->opts->atlas);
    sb_printf(sb, ",\"slaves\":%d,\"kind\":", r->opts->slaves);
    json_str(sb, r->opts->arch);
    sb_puts(sb, "},\"classes\":[\"CSF\",\"GM\",\"WM\"],\"centers\":[");
    for (int k = 0; k < 3; k++) {
        sb_puts(sb, k ? "," : "");
        json_num(sb, res->centers[k]);
    }
    sb_printf(sb, "],\"voxels\":[%llu,%llu,%llu],\"ml\":[", (unsigned long long)res->voxels[0],
              (unsigned long long)res->voxels[1], (unsigned long long)res->voxels[2]);
    for (int k = 0; k < 3; k++) {
        sb_puts(sb, k ? "," : "");
        json_num(sb, res->ml[k]);
    }
    sb_printf(sb, "],\"iterations\":%d", res->iterations);
    if (r->atlas) {
        sb_puts(sb, ",\"regions\":[");
        for (size_t i = 0; i < res->nregions; i++) {
            const struct neuro_region *g = &res->regions[i];

            sb_printf(sb, "%s{\"label\":%d,\"name\":", i ? "," : "", (int)g->label);
            json_str(sb, atlas_region_name(r->atlas, g->label, tmp, sizeof tmp));
            sb_printf(sb, ",\"voxels\":%llu,\"mean_smoothed\":", (unsigned long long)g->voxels);
            json_num(sb, g->mean_smoothed);
            sb_puts(sb, ",\"gm_ml\":");
            json_num(sb, g->gm_ml);
            sb_puts(sb, "}");
        }
        sb_puts(sb, "]");
    }
    sb_puts(sb, ",\"shards\":[");
    for (int i = 0; i < res->nshards; i++) {
        const struct neuro_shard_timing *t = &res->timing[i];

        sb_printf(sb, "%s{\"arch\":", i ? "," : "");
        json_str(sb, t->arch);
        sb_printf(sb, ",\"shard_id\":%u,\"z0\":%d,\"z1\":%d,\"spawn_ms\":%.3f,\"put_ms\":%.3f,"
                      "\"smooth_ms\":%.3f,\"kmeans_ms\":%.3f,\"regions_ms\":%.3f,\"replaced\":%d}",
                  (unsigned)t->shard_id, t->z0, t->z1, t->spawn_ms, t->put_ms, t->smooth_ms, t->kmeans_ms,
                  t->regions_ms, t->replaced);
    }
    sb_printf(sb, "],\"time_ms\":{\"read\":%.3f,\"parse\":%.3f,\"analysis\":%.3f,\"render\":%.3f,"
                  "\"request\":%.3f}}",
              r->read_ms, r->parse_ms, res->total_ms, r->render_ms, r->request_ms);
}

static void volumes_table(struct strbuf *sb, const struct neuro_result *res)
{
    double total = res->ml[0] + res->ml[1] + res->ml[2];

    sb_puts(sb, "<h2>Tissue volumes</h2>\n<table id=\"volumes\">\n<tr><th class=\"l\">Class</th>"
                "<th>Volume (mL)</th><th>Fraction</th><th>Voxels</th><th>Center (smoothed intensity)</th></tr>\n");
    for (int k = 0; k < 3; k++) {
        const uint8_t *c = slice_class_rgb[k + 1];

        sb_printf(sb,
                  "<tr><td class=\"l\"><span class=\"swatch\" style=\"background:#%02x%02x%02x\"></span>%s</td>"
                  "<td class=\"ml\">%.3f</td><td>%.1f%%</td><td>%llu</td><td>%.4f</td></tr>\n",
                  c[0], c[1], c[2], class_name[k], res->ml[k], total > 0 ? 100 * res->ml[k] / total : 0.0,
                  (unsigned long long)res->voxels[k], res->centers[k]);
    }
    sb_printf(sb, "<tr><th class=\"l\">Total</th><td>%.3f</td><td>100%%</td><td>%llu</td><td></td></tr>\n"
                  "</table>\n<p>k-means converged after %d iteration%s.</p>\n",
              total, (unsigned long long)(res->voxels[0] + res->voxels[1] + res->voxels[2]), res->iterations,
              res->iterations == 1 ? "" : "s");
}

static void regions_table(struct strbuf *sb, const struct report *r)
{
    char tmp[48];

    sb_printf(sb, "<h2>Regions (%s atlas)</h2>\n<table id=\"regions\">\n<tr><th>Label</th><th class=\"l\">Name</th>"
                  "<th>Voxels</th><th>Mean intensity (smoothed)</th><th>GM (mL)</th></tr>\n",
              strcmp(r->opts->atlas, "aal") ? "Brodmann" : "AAL");
    for (size_t i = 0; i < r->res->nregions; i++) {
        const struct neuro_region *g = &r->res->regions[i];

        sb_printf(sb, "<tr><td>%d</td><td class=\"l\">", (int)g->label);
        html_escape_str(sb, atlas_region_name(r->atlas, g->label, tmp, sizeof tmp));
        sb_printf(sb, "</td><td>%llu</td><td>%.3f</td><td>%.3f</td></tr>\n", (unsigned long long)g->voxels,
                  g->mean_smoothed, g->gm_ml);
    }
    sb_puts(sb, "</table>\n");
}

static void images(struct strbuf *sb, const struct report *r)
{
    sb_puts(sb, "<h2>Mid-slices with segmentation</h2>\n<p>");
    for (int k = 0; k < 3; k++) {
        const uint8_t *c = slice_class_rgb[k + 1];

        sb_printf(sb, "<span class=\"swatch\" style=\"background:#%02x%02x%02x\"></span>%s ", c[0], c[1], c[2],
                  class_name[k]);
    }
    sb_puts(sb, "(voxel axes; superior / anterior up)</p>\n<div>\n");
    for (int i = 0; i < 3; i++) {
        const struct report_image *im = &r->img[i];

        if (!im->png)
            continue;
        sb_printf(sb, "<figure><img alt=\"%s slice\" width=\"%d\" height=\"%d\" src=\"data:image/png;base64,",
                  slice_view_name(im->view), im->w, im->h);
        base64_append(sb, im->png, im->len);
        sb_printf(sb, "\"><figcaption>%s (<code>%s</code>)</figcaption></figure>\n", slice_view_name(im->view),
                  im->file);
    }
    sb_puts(sb, "</div>\n");
}

static void shards_table(struct strbuf *sb, const struct report *r)
{
    const struct neuro_result *res = r->res;

    sb_puts(sb, "<h2>Shards</h2>\n<table id=\"shards\">\n<tr><th class=\"l\">Arch</th><th>Shard</th>"
                "<th>Slab z</th><th>Spawn (ms)</th><th>Put (ms)</th><th>Smooth (ms)</th><th>k-means (ms)</th>"
                "<th>Regions (ms)</th><th>Replaced</th></tr>\n");
    for (int i = 0; i < res->nshards; i++) {
        const struct neuro_shard_timing *t = &res->timing[i];

        sb_puts(sb, "<tr><td class=\"l\">");
        html_escape(sb, t->arch, strnlen(t->arch, sizeof t->arch));
        sb_printf(sb, "</td><td>%u</td><td>%d&ndash;%d</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
                      "<td>%.1f</td><td>%d</td></tr>\n",
                  (unsigned)t->shard_id, t->z0, t->z1, t->spawn_ms, t->put_ms, t->smooth_ms, t->kmeans_ms,
                  t->regions_ms, t->replaced);
    }
    sb_printf(sb, "</table>\n<table id=\"times\">\n"
                  "<tr><th class=\"l\">Receive upload</th><td>%.1f ms</td></tr>\n"
                  "<tr><th class=\"l\">Decode NIfTI</th><td>%.1f ms</td></tr>\n"
                  "<tr><th class=\"l\">Analysis on shards</th><td>%.1f ms</td></tr>\n"
                  "<tr><th class=\"l\">Render images</th><td>%.1f ms</td></tr>\n"
                  "<tr><th class=\"l\">Total (CGI)</th><td id=\"total-ms\">%.1f ms</td></tr>\n</table>\n",
              r->read_ms, r->parse_ms, res->total_ms, r->render_ms, r->request_ms);
}

void report_html(struct strbuf *sb, const struct report *r)
{
    const struct neuro_volume *v = r->vol;

    page_begin(sb, "Brain MRI tissue analysis: report");
    sb_puts(sb, "<table id=\"summary\">\n<tr><th class=\"l\">File</th><td class=\"l\">");
    html_escape_str(sb, r->filename && *r->filename ? r->filename : "(unnamed)");
    sb_printf(sb, " (%zu bytes)</td></tr>\n<tr><th class=\"l\">Grid</th><td class=\"l\">%d &times; %d &times; %d "
                  "voxels of %.3g &times; %.3g &times; %.3g mm</td></tr>\n",
              r->upload_bytes, v->nx, v->ny, v->nz, v->dx, v->dy, v->dz);
    sb_printf(sb, "<tr><th class=\"l\">Options</th><td class=\"l\">sigma %.3g voxels, atlas ", r->opts->sigma);
    html_escape_str(sb, r->opts->atlas);
    sb_printf(sb, ", %d %s slave%s%s</td></tr>\n", r->res->nshards, r->opts->arch, r->res->nshards == 1 ? "" : "s",
              r->opts->slaves ? "" : " (auto)");
    sb_puts(sb, "<tr><th class=\"l\">Request</th><td class=\"l\"><code id=\"request-id\">");
    html_escape_str(sb, r->request_id);
    sb_puts(sb, "</code></td></tr>\n</table>\n");
    volumes_table(sb, r->res);
    if (r->atlas)
        regions_table(sb, r);
    images(sb, r);
    shards_table(sb, r);
    sb_puts(sb, "<script type=\"application/json\" id=\"results\">");
    report_json(sb, r);
    sb_puts(sb, "</script>\n<p><a href=\"?\">Analyse another image</a></p>\n");
    page_end(sb);
}
