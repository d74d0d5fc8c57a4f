/* report_json.c -- the results as JSON (jansson) and CSV (see report.h). */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static const char *const class_name[3] = {"CSF", "GM", "WM"};

/* JSON has no NaN/Infinity. */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A JSON string of client or atlas text. JSON text is UTF-8: bytes that
 * are not (a Latin-1 file name, say) become '?' instead of losing the
 * whole document. */
static json_t *jstr(const char *s)
{
    json_t *j;
    char *copy;

    s = s ? s : "";
    if ((j = json_string(s)))
        return j;
    if (!(copy = strdup(s)))
        return NULL;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static void set(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *bad = 1;
}

static void push(json_t *a, json_t *v, int *bad)
{
    if (!v || json_array_append_new(a, v) < 0)
        *bad = 1;
}

static json_t *triple_real(const double v[3], int *bad)
{
    json_t *a = json_array();

    if (!a) {
        *bad = 1;
        return NULL;
    }
    for (int k = 0; k < 3; k++)
        push(a, jnum(v[k]), bad);
    return a;
}

static json_t *build_json(const struct report *r)
{
    const struct neuro_result *res = r->res;
    const struct neuro_volume *v = r->vol;
    double dims[3] = {v->dx, v->dy, v->dz};
    json_t *o = json_object(), *a, *x;
    char tmp[48], codes[4];
    int bad = !o;

    if (bad)
        return NULL;
    set(o, "request_id", jstr(r->request_id), &bad);
    set(o, "file", jstr(r->filename), &bad);
    set(o, "upload_bytes", json_integer((json_int_t)r->upload_bytes), &bad);
    set(o, "dims", json_pack("[iii]", v->nx, v->ny, v->nz), &bad);
    set(o, "voxel_mm", triple_real(dims, &bad), &bad);
    report_axcodes(&r->orient, codes);
    set(o, "orientation",
        json_pack("{s:s, s:s, s:f, s:s}", "xform", report_xform_name(v->xform), "axcodes", codes, "oblique_deg",
                  isfinite(r->orient.oblique_deg) ? r->orient.oblique_deg : 0.0, "display", "radiological"),
        &bad);
    x = json_object();
    if (x) {
        set(x, "sigma", jnum(r->opts->sigma), &bad);
        set(x, "atlas", jstr(r->opts->atlas), &bad);
        set(x, "slaves", json_integer(r->opts->slaves), &bad);
        set(x, "kind", jstr(r->opts->arch), &bad);
    }
    set(o, "options", x, &bad);
    set(o, "classes", json_pack("[sss]", class_name[0], class_name[1], class_name[2]), &bad);
    set(o, "centers", triple_real(res->centers, &bad), &bad);
    set(o, "voxels",
        json_pack("[III]", (json_int_t)res->voxels[0], (json_int_t)res->voxels[1], (json_int_t)res->voxels[2]),
        &bad);
    set(o, "ml", triple_real(res->ml, &bad), &bad);
    set(o, "iterations", json_integer(res->iterations), &bad);
    if (r->atlas) {
        a = json_array();
        for (size_t i = 0; a && i < res->nregions; i++) {
            const struct neuro_region *g = &res->regions[i];

            x = json_object();
            if (x) {
                const char *name = atlas_region_name(r->atlas, g->label, tmp, sizeof tmp);
                char side[2] = {report_hemisphere(name), 0};

                set(x, "label", json_integer(g->label), &bad);
                set(x, "name", jstr(name), &bad);
                set(x, "hemisphere", side[0] ? json_string(side) : json_null(), &bad);
                set(x, "voxels", json_integer((json_int_t)g->voxels), &bad);
                set(x, "mean_smoothed", jnum(g->mean_smoothed), &bad);
                set(x, "gm_ml", jnum(g->gm_ml), &bad);
            }
            push(a, x, &bad);
        }
        set(o, "regions", a, &bad);
    }
    a = json_array();
    for (int i = 0; a && i < res->nshards; i++) {
        const struct neuro_shard_timing *t = &res->timing[i];

        push(a,
             json_pack("{s:s%, s:I, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:i}", "arch", t->arch,
                       strnlen(t->arch, sizeof t->arch), "shard_id", (json_int_t)t->shard_id, "z0", t->z0, "z1",
                       t->z1, "spawn_ms", t->spawn_ms, "put_ms", t->put_ms, "smooth_ms", t->smooth_ms,
                       "kmeans_ms", t->kmeans_ms, "regions_ms", t->regions_ms, "replaced", t->replaced),
             &bad);
    }
    set(o, "shards", a, &bad);
    set(o, "time_ms",
        json_pack("{s:f, s:f, s:f, s:f, s:f}", "read", r->read_ms, "parse", r->parse_ms, "analysis", res->total_ms,
                  "render", r->render_ms, "request", r->request_ms),
        &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

struct dump_ctx {
    struct strbuf *sb;
    int in_html;
};

/* jansson's output callback. Inside a <script> element '<' must not
 * appear at all ("</script>" ends it, "<!--" changes how it is parsed);
 * in JSON text it can only be inside a string, where \u003c means the same. */
static int dump_cb(const char *p, size_t n, void *data)
{
    struct dump_ctx *c = data;

    if (!c->in_html) {
        sb_append(c->sb, p, n);
        return 0;
    }
    for (const char *lt; n && (lt = memchr(p, '<', n)); n -= (size_t)(lt + 1 - p), p = lt + 1) {
        sb_append(c->sb, p, (size_t)(lt - p));
        sb_puts(c->sb, "\\u003c");
    }
    sb_append(c->sb, p, n);
    return 0;
}

static void json_out(struct strbuf *sb, const struct report *r, int in_html)
{
    json_t *o = build_json(r);
    struct dump_ctx c = {sb, in_html};

    if (!o || json_dump_callback(o, dump_cb, &c, JSON_COMPACT | JSON_REAL_PRECISION(10)) < 0)
        sb->failed = 1;
    json_decref(o);
}

void report_json(struct strbuf *sb, const struct report *r)
{
    json_out(sb, r, 0);
}

void report_json_script(struct strbuf *sb, const struct report *r)
{
    json_out(sb, r, 1);
}

/* ---- CSV ---- */

static void csv_num(struct strbuf *sb, double v, const char *fmt)
{
    if (isfinite(v))
        sb_printf(sb, fmt, v);
}

void report_csv(struct strbuf *sb, const struct report *r)
{
    const struct neuro_result *res = r->res;
    char tmp[48];

    sb_puts(sb, "section,label,name,hemisphere,voxels,volume_ml,mean_smoothed,gm_ml\r\n");
    for (int k = 0; k < 3; k++) {
        sb_printf(sb, "tissue,%d,%s,,%llu,", k + 1, class_name[k], (unsigned long long)res->voxels[k]);
        csv_num(sb, res->ml[k], "%.6f");
        sb_puts(sb, ",");
        csv_num(sb, res->centers[k], "%.6f");
        sb_puts(sb, ",\r\n");
    }
    for (size_t i = 0; r->atlas && i < res->nregions; i++) {
        const struct neuro_region *g = &res->regions[i];
        const char *name = atlas_region_name(r->atlas, g->label, tmp, sizeof tmp);
        char side = report_hemisphere(name);

        sb_printf(sb, "region,%d,", (int)g->label);
        csv_field(sb, name);
        sb_printf(sb, ",%s,%llu,,", side == 'L' ? "L" : side == 'R' ? "R" : "", (unsigned long long)g->voxels);
        csv_num(sb, g->mean_smoothed, "%.6f");
        sb_puts(sb, ",");
        csv_num(sb, g->gm_ml, "%.6f");
        sb_puts(sb, "\r\n");
    }
}

