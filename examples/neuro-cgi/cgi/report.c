/* report.c -- the HTML analysis report (see report.h; JSON and CSV are in
 * report_json.c). */
#include "report.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "escape.h"
#include "page.h"

static const char *const class_name[3] = {"CSF", "GM", "WM"};

/* The side of the brain an AAL-style name says ("..._L" / "..._R"), or 0. */
char report_hemisphere(const char *name)
{
    size_t n = strlen(name);

    if (n > 2 && name[n - 2] == '_' && (name[n - 1] == 'L' || name[n - 1] == 'R'))
        return name[n - 1];
    return 0;
}

/* Axis codes like nibabel's aff2axcodes: for each voxel axis the
 * anatomical direction its index grows toward ("RAS", "LPI", ...). */
void report_axcodes(const struct slice_orient *o, char out[4])
{
    for (int w = 0; w < 3; w++)
        out[o->axis[w]] = o->toward_plus[w] ? "RAS"[w] : "LPI"[w];
    out[3] = '\0';
}

const char *report_xform_name(int xform)
{
    return xform == NEURO_XFORM_SFORM ? "sform" : xform == NEURO_XFORM_QFORM ? "qform" : "none";
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

/* One region's cells: voxels, GM volume, mean smoothed intensity. Each
 * carries its value in data-v, which the sorting script orders by. */
static void region_cells(struct strbuf *sb, const struct neuro_region *g)
{
    if (!g) {
        sb_puts(sb, "<td class=\"na\" data-v=\"\">&ndash;</td><td class=\"na\" data-v=\"\">&ndash;</td>"
                    "<td class=\"na\" data-v=\"\">&ndash;</td>");
        return;
    }
    sb_printf(sb, "<td data-v=\"%llu\">%llu</td><td data-v=\"%.6g\">%.3f</td><td data-v=\"%.6g\">%.3f</td>",
              (unsigned long long)g->voxels, (unsigned long long)g->voxels, g->gm_ml, g->gm_ml, g->mean_smoothed,
              g->mean_smoothed);
}

/* The region tables. Regions named "<base>_L" and "<base>_R" (AAL's
 * convention) are shown as one row per structure with the two
 * hemispheres side by side, in the order of the lower label; the others
 * (midline structures, atlases without sides such as Brodmann's) in a
 * plain table. Both are complete and in label order without scripts;
 * with them, every column header sorts. */
static void regions_table(struct strbuf *sb, const struct report *r)
{
    const struct neuro_result *res = r->res;
    size_t n = res->nregions, npaired = 0, nsingle = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    char (*tmp)[48] = calloc(n ? n : 1, sizeof *tmp);
    ptrdiff_t *partner = calloc(n ? n : 1, sizeof *partner);
    const char *atlas_title = strcmp(r->opts->atlas, "aal") ? "Brodmann" : "AAL";

    if (!names || !tmp || !partner) {
        sb->failed = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = atlas_region_name(r->atlas, res->regions[i].label, tmp[i], sizeof tmp[i]);
        partner[i] = -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t li = strlen(names[i]);

        if (report_hemisphere(names[i]) != 'L')
            continue;
        for (size_t j = 0; j < n; j++)
            if (report_hemisphere(names[j]) == 'R' && partner[j] < 0 && strlen(names[j]) == li &&
                !strncmp(names[i], names[j], li - 2)) {
                partner[i] = (ptrdiff_t)j, partner[j] = (ptrdiff_t)i;
                npaired++;
                break;
            }
    }
    nsingle = n - 2 * npaired;
    sb_printf(sb, "<h2>Regions (%s atlas)</h2>\n", atlas_title);
    if (npaired) {
        sb_puts(sb, "<div class=\"scroll\"><table id=\"regions-lr\" class=\"sortable\">\n"
                    "<caption>Left and right hemisphere side by side (subject's left / right)</caption>\n"
                    "<thead><tr><th rowspan=\"2\" class=\"l\" data-type=\"text\">Structure</th>"
                    "<th colspan=\"3\" class=\"c\">Left</th><th colspan=\"3\" class=\"c\">Right</th></tr>\n"
                    "<tr><th>Voxels</th><th>GM (mL)</th><th>Mean</th><th>Voxels</th><th>GM (mL)</th>"
                    "<th>Mean</th></tr></thead>\n<tbody>\n");
        for (size_t i = 0; i < n; i++) {
            size_t j = (size_t)partner[i], li;
            const struct neuro_region *L, *R;

            if (partner[i] < 0 || j < i)
                continue; /* unpaired, or shown with its partner already */
            L = report_hemisphere(names[i]) == 'L' ? &res->regions[i] : &res->regions[j];
            R = L == &res->regions[i] ? &res->regions[j] : &res->regions[i];
            li = strlen(names[i]) - 2;
            sb_printf(sb, "<tr><td class=\"l\" data-v=\"%d\" title=\"labels %d / %d\">", (int)L->label,
                      (int)L->label, (int)R->label);
            html_escape(sb, names[i], li);
            sb_puts(sb, "</td>");
            region_cells(sb, L);
            region_cells(sb, R);
            sb_puts(sb, "</tr>\n");
        }
        sb_puts(sb, "</tbody></table></div>\n");
    }
    if (nsingle) {
        sb_printf(sb, "<div class=\"scroll\"><table id=\"regions\" class=\"sortable\">\n%s"
                      "<thead><tr><th>Label</th><th class=\"l\" data-type=\"text\">Name</th><th>Voxels</th>"
                      "<th>GM (mL)</th><th>Mean</th></tr></thead>\n<tbody>\n",
                  npaired ? "<caption>Regions without a left/right pair</caption>\n" : "");
        for (size_t i = 0; i < n; i++) {
            if (partner[i] >= 0)
                continue;
            sb_printf(sb, "<tr><td data-v=\"%d\">%d</td><td class=\"l\">", (int)res->regions[i].label,
                      (int)res->regions[i].label);
            html_escape_str(sb, names[i]);
            sb_puts(sb, "</td>");
            region_cells(sb, &res->regions[i]);
            sb_puts(sb, "</tr>\n");
        }
        sb_puts(sb, "</tbody></table></div>\n");
    }
    sb_puts(sb, "<p class=\"note\">Mean: mean smoothed intensity over the region. GM: grey matter volume "
                "inside it.</p>\n");
out:
    free(names);
    free(tmp);
    free(partner);
}

static void images(struct strbuf *sb, const struct report *r)
{
    const struct slice_orient *o = &r->orient;
    char codes[4];

    report_axcodes(o, codes);
    sb_puts(sb, "<h2>Mid-slices with segmentation</h2>\n<p>");
    for (int k = 0; k < 3; k++) {
        const uint8_t *c = slice_class_rgb[k + 1];

        sb_printf(sb, "<span class=\"swatch\" style=\"background:#%02x%02x%02x\"></span>%s ", c[0], c[1], c[2],
                  class_name[k]);
    }
    sb_puts(sb, "</p>\n<p id=\"orientation\">");
    if (o->known) {
        sb_printf(sb, "Radiological convention: the subject's right is on the picture's left; anterior "
                      "(axial) and superior (coronal, sagittal) are up; sagittal seen from the left, anterior "
                      "on the left. Oriented from the header's %s (voxel axes %s",
                  report_xform_name(r->vol->xform), codes);
        if (o->oblique_deg >= 1)
            sb_printf(sb, ", tilted %.0f&deg; from the scanner axes: shown in the nearest orthogonal orientation",
                      o->oblique_deg);
        sb_puts(sb, "). Pixels are square millimetres.");
    } else {
        sb_puts(sb, "<strong>Orientation unknown:</strong> the header has neither a qform nor an sform, so the "
                    "voxel axes are shown as if they ran to the right, anterior and superior (RAS); the "
                    "R/L, A/P and S/I markers may be wrong. Radiological convention otherwise.");
    }
    sb_puts(sb, "</p>\n<div class=\"slices\">\n");
    for (int i = 0; i < 3; i++) {
        const struct report_image *im = &r->img[i];
        static const char *const side[4] = {"l", "r", "t", "b"};

        if (!im->png)
            continue;
        sb_printf(sb, "<figure class=\"slice\"><div class=\"frame\"><img alt=\"%s slice\" width=\"%d\" "
                      "height=\"%d\" src=\"data:image/png;base64,",
                  slice_view_name(im->view), im->w, im->h);
        base64_append(sb, im->png, im->len);
        sb_puts(sb, "\">");
        for (int k = 0; k < 4; k++)
            sb_printf(sb, "<span class=\"mk %s\">%s</span>", side[k], slice_marker(im->view, k));
        sb_printf(sb, "</div><figcaption>%s (<code>%s</code>)</figcaption></figure>\n", slice_view_name(im->view),
                  im->file);
    }
    sb_puts(sb, "</div>\n");
}

/* Links that download the results, as data: URIs so that they work from
 * the report alone (also when it is saved and opened later). */
static void downloads(struct strbuf *sb, const struct report *r)
{
    struct strbuf tmp = STRBUF_INIT;

    sb_puts(sb, "<p id=\"downloads\">Download the results: <a id=\"dl-csv\" download=\"");
    html_escape_str(sb, r->request_id);
    sb_puts(sb, ".csv\" href=\"data:text/csv;charset=utf-8;base64,");
    report_csv(&tmp, r);
    base64_append(sb, (const uint8_t *)(tmp.data ? tmp.data : ""), tmp.len);
    sb->failed |= tmp.failed;
    sb_free(&tmp);
    sb_puts(sb, "\">CSV</a> &middot; <a id=\"dl-json\" download=\"");
    html_escape_str(sb, r->request_id);
    sb_puts(sb, ".json\" href=\"data:application/json;base64,");
    report_json(&tmp, r);
    base64_append(sb, (const uint8_t *)(tmp.data ? tmp.data : ""), tmp.len);
    sb->failed |= tmp.failed;
    sb_free(&tmp);
    sb_puts(sb, "\">JSON</a></p>\n");
}

/* Sorting for tables of class "sortable": a header click orders the body
 * rows by that column (numbers by data-v, text otherwise), again to
 * reverse. Without scripts the tables are simply in label order. */
static const char sort_script[] =
    "<script>\n"
    "document.querySelectorAll('table.sortable').forEach(function (t) {\n"
    "  var body = t.tBodies[0], heads = t.tHead.rows, cols = [];\n"
    "  /* the leaf header cells, in column order (rowspan/colspan aware) */\n"
    "  Array.prototype.forEach.call(heads[0].cells, function (c) {\n"
    "    if (c.rowSpan > 1) cols.push(c); else for (var k = 0; k < c.colSpan; k++) cols.push(null);\n"
    "  });\n"
    "  var sub = heads.length > 1 ? Array.prototype.slice.call(heads[1].cells) : [];\n"
    "  for (var i = 0; i < cols.length; i++) if (!cols[i]) cols[i] = sub.shift();\n"
    "  cols.forEach(function (th, col) {\n"
    "    var b = document.createElement('button');\n"
    "    b.type = 'button'; b.className = 'sort'; b.textContent = th.textContent;\n"
    "    th.textContent = ''; th.appendChild(b); th.setAttribute('aria-sort', 'none');\n"
    "    b.addEventListener('click', function () {\n"
    "      var up = th.getAttribute('aria-sort') !== 'ascending', text = th.dataset.type === 'text';\n"
    "      cols.forEach(function (o) { o.setAttribute('aria-sort', 'none'); });\n"
    "      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');\n"
    "      var rows = Array.prototype.slice.call(body.rows);\n"
    "      rows.sort(function (x, y) {\n"
    "        var a = x.cells[col], c = y.cells[col];\n"
    "        if (text) return (up ? 1 : -1) * a.textContent.localeCompare(c.textContent);\n"
    "        var p = a.dataset.v === '' ? NaN : +a.dataset.v, q = c.dataset.v === '' ? NaN : +c.dataset.v;\n"
    "        if (isNaN(p) || isNaN(q)) return isNaN(p) - isNaN(q); /* missing values last */\n"
    "        return up ? p - q : q - p;\n"
    "      });\n"
    "      rows.forEach(function (row) { body.appendChild(row); });\n"
    "    });\n"
    "  });\n"
    "});\n"
    "</script>\n";

static void shards_table(struct strbuf *sb, const struct report *r)
{
    const struct neuro_result *res = r->res;

    sb_puts(sb, "<h2>Shards</h2>\n<div class=\"scroll\"><table id=\"shards\">\n<tr><th class=\"l\">Arch</th><th>Shard</th>"
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
    sb_printf(sb, "</table></div>\n<table id=\"times\">\n"
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
    {
        char codes[4];

        report_axcodes(&r->orient, codes);
        if (r->orient.known)
            sb_printf(sb, "<tr><th class=\"l\">Orientation</th><td class=\"l\" id=\"axcodes\">%s (from the %s)</td>"
                          "</tr>\n", codes, report_xform_name(v->xform));
        else
            sb_puts(sb, "<tr><th class=\"l\">Orientation</th><td class=\"l\" id=\"axcodes\">unknown (no qform or "
                        "sform)</td></tr>\n");
    }
    sb_puts(sb, "<tr><th class=\"l\">Request</th><td class=\"l\"><code id=\"request-id\">");
    html_escape_str(sb, r->request_id);
    sb_puts(sb, "</code></td></tr>\n</table>\n");
    downloads(sb, r);
    volumes_table(sb, r->res);
    if (r->atlas)
        regions_table(sb, r);
    images(sb, r);
    shards_table(sb, r);
    sb_puts(sb, "<script type=\"application/json\" id=\"results\">");
    report_json_script(sb, r);
    sb_puts(sb, "</script>\n");
    sb_puts(sb, sort_script);
    sb_puts(sb, "<p><a href=\"?\">Analyse another image</a></p>\n");
    page_end(sb);
}
