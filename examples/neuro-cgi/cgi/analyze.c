/* analyze.c -- a POST request from spooled body to report (see analyze.h). */
#include "analyze.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "atlas.h"
#include "body.h"
#include "multipart.h"
#include "neuro.h"
#include "neuro_cluster.h"
#include "options.h"
#include "page.h"
#include "kinds.h"
#include "pngenc.h"
#include "report.h"
#include "slices.h"

volatile sig_atomic_t analyze_terminated;

double analyze_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The atlas is decoded on a second thread while the upload is: the two
 * gunzips are the biggest serial cost of a request before the slaves
 * start. */
struct atlas_job {
    const struct cgi_config *cfg;
    const char *which;
    struct atlas *atlas;
    int rc;
    char err[256];
};

static void *atlas_job_run(void *arg)
{
    struct atlas_job *j = arg;

    j->rc = atlas_load(j->cfg->atlas_dir, j->which, j->cfg->max_voxels, j->atlas, j->err, sizeof j->err);
    return NULL;
}

/* Set an error response: status, message, and the small HTML page. */
static void fail(struct response *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct response *resp, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(resp->message, sizeof resp->message, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "text/html; charset=utf-8";
    sb_free(&resp->body);
    page_error(&resp->body, status, resp->message, resp->have_spool ? resp->spool.id : NULL);
}

/* HTTP status for a neuro_nifti_read failure, from its reason text (the
 * reader reports reasons, not codes; these phrases are its vocabulary). */
static int nifti_status(const char *why)
{
    if (strstr(why, "too large"))
        return 413;
    if (strstr(why, "out of memory"))
        return 503;
    if (strstr(why, "wrong dimensions") || strstr(why, "unsupported datatype"))
        return 422;
    return 400; /* not NIfTI, truncated, corrupt */
}

/* HTTP status for a neuro_analyze failure: no slaves to be had is a
 * temporary condition (503); anything else is our fault (500). */
static int analysis_status(int rc)
{
    switch (rc) {
    case MLOS_ESPAWN:
    case MLOS_ESHARDDIED:
    case MLOS_ETIMEDOUT:
    case MLOS_ENOMEM:
        return 503;
    default:
        return 500;
    }
}

/* Whether some voxel is above zero: the segmentation works on those
 * (neuro.h), and an image without any is the client's data, not a fault
 * of the analysis. */
static int any_positive(const struct neuro_volume *v)
{
    size_t n = (size_t)v->nx * v->ny * v->nz;

    for (size_t i = 0; i < n; i++)
        if (v->data[i] > 0)
            return 1;
    return 0;
}

/* Receive the body into memory and request.body. 0, or fail()ed. */
static int receive(const struct cgi_config *cfg, int in, struct response *resp, uint8_t **body, size_t *len)
{
    long long clen = body_content_length(getenv("CONTENT_LENGTH"));
    char path[4200], err[256];
    int fd, rc;

    if (clen == -2) {
        fail(resp, 400, "malformed Content-Length");
        return -1;
    }
    if (clen >= 0 && (unsigned long long)clen > cfg->max_bytes) {
        fail(resp, 413, "upload of %lld bytes is larger than the limit of %zu bytes (%zu MiB)", clen, cfg->max_bytes,
             cfg->max_bytes >> 20);
        return -1;
    }
    if (spool_path(&resp->spool, "request.body", path, sizeof path) < 0 ||
        (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        fail(resp, 500, "cannot create the spool file: %s", strerror(errno));
        return -1;
    }
    rc = body_read(in, fd, clen, cfg->max_bytes, body, len, err, sizeof err);
    if (close(fd) < 0 && rc == BODY_OK) {
        fail(resp, 500, "spooling the request body: %s", strerror(errno));
        return -1;
    }
    switch (rc) {
    case BODY_OK: return 0;
    case BODY_TRUNC: fail(resp, 400, "%s", err); return -1;
    case BODY_TOOBIG: fail(resp, 413, "%s", err); return -1;
    default: fail(resp, 500, "%s", err); return -1;
    }
}

/* Mid-slice PNGs into r->img, saved as files in the request directory. */
static void render(struct response *resp, const struct neuro_volume *vol, const struct neuro_labels *seg,
                   struct report *r)
{
    static const enum slice_view views[3] = {SLICE_AXIAL, SLICE_CORONAL, SLICE_SAGITTAL};
    struct slice_window win;

    slice_window_auto(vol, &win);
    slice_orient_of(vol, &r->orient);
    for (int i = 0; i < 3; i++) {
        struct report_image *im = &r->img[i];
        uint8_t *rgb;

        im->view = views[i];
        snprintf(im->file, sizeof im->file, "%s.png", slice_view_name(views[i]));
        if (slice_render(vol, seg, &win, &r->orient, views[i], &rgb, &im->w, &im->h) < 0)
            continue;
        if (neuro_png_rgb(rgb, im->w, im->h, &im->png, &im->len) == 0)
            spool_write(&resp->spool, im->file, im->png, im->len); /* the report has it inline anyway */
        free(rgb);
    }
}

void analyze_post(const struct cgi_config *cfg, int in, double t0_ms, struct response *resp)
{
    struct neuro_volume vol = {0};
    struct neuro_result res = {0};
    struct mp_form form = {0};
    struct atlas atlas = {0};
    struct job_opts opts;
    struct report r = {0};
    struct strbuf json = STRBUF_INIT, csv = STRBUF_INIT;
    char boundary[MP_MAX_BOUNDARY + 1], err[512], name[128];
    uint8_t *body = NULL;
    struct neuro_prestart *pre = NULL;
    struct neuro_cluster *nc = NULL;
    struct neuro_opts no;
    size_t len = 0;
    int rc, have_atlas = 0;
    double t;

    {
        /* room for the body and the upload's copy: twice the announced
         * length, or the most a body may be when none is announced, or
         * nothing when it is refused unread (413) */
        long long clen = body_content_length(getenv("CONTENT_LENGTH"));
        unsigned long long body_max = clen < 0                                       ? cfg->max_bytes
                                      : (unsigned long long)clen > cfg->max_bytes ? 0
                                                                                   : (unsigned long long)clen;
        struct spool_policy keep = {cfg->keep_seconds, cfg->keep_bytes};
        struct spool_usage u;

        rc = spool_create(cfg->storage, &keep, 2 * body_max, &resp->spool, &u, err, sizeof err);
        if (u.removed) /* the server's error log: what the retention policy deleted */
            fprintf(stderr, "neuro-cgi: retention removed %zu request%s (%llu bytes); %zu kept (%llu bytes)\n",
                    u.removed, u.removed == 1 ? "" : "s", u.removed_bytes, u.kept, u.kept_bytes);
        if (rc < 0) {
            fail(resp, rc == SPOOL_EFULL ? 503 : 500, "%s", err);
            return;
        }
    }
    resp->have_spool = 1;
    t = analyze_now_ms();
    rc = receive(cfg, in, resp, &body, &len);
    signal(SIGTERM, SIG_DFL); /* from here on a server's SIGTERM simply ends us */
    if (rc < 0)
        goto out;
    if (analyze_terminated) {
        fail(resp, 503, "request aborted by the server before the analysis started");
        goto out;
    }
    r.read_ms = analyze_now_ms() - t;

    rc = mp_content_type(getenv("CONTENT_TYPE"), boundary, err, sizeof err);
    if (rc != MP_OK) {
        fail(resp, rc == MP_ENOTFORM ? 415 : 400, "%s", err);
        goto out;
    }
    rc = mp_parse(body, len, boundary, &form, err, sizeof err);
    if (rc != MP_OK) {
        fail(resp, rc == MP_ENOMEM ? 503 : 400, "malformed multipart/form-data body: %s", err);
        goto out;
    }
    if (options_parse(&form, cfg->max_slaves, &opts, err, sizeof err) < 0) {
        fail(resp, 400, "%s", err);
        goto out;
    }
    if (!kind_usable(opts.arch, err, sizeof err)) {
        fail(resp, 422, "kind=%s cannot be used: %s", opts.arch, err);
        goto out;
    }
    spool_safe_name(opts.image->filename, name, sizeof name);
    if (spool_write(&resp->spool, name, opts.image->data, opts.image->len) < 0) {
        fail(resp, 500, "cannot save the upload: %s", strerror(errno));
        goto out;
    }

    /* the slaves boot while the image and the atlas are decoded */
    no = (struct neuro_opts){.sigma = opts.sigma, .shards = opts.slaves, .arch = opts.arch, .kvm = cfg->kvm};
    if (cfg->slurm) {
        /* this request's own agents on the allocation; closed at the end */
        struct neuro_cluster_opts co = {.launcher = "slurm", .nodes = cfg->slurm_nodes,
                                        .partition = cfg->slurm_partition, .agent = cfg->agent,
                                        .host = getenv("NEURO_SLURM_HOST"),
                                        .join_timeout_ms = cfg->slurm_timeout_s * 1000u,
                                        .time_limit_min = cfg->slurm_time_limit_min};
        if (neuro_cluster_open(uv_default_loop(), &co, &nc, err, sizeof err) < 0) {
            fail(resp, 503, "no slaves on Slurm: %s", err);
            goto out;
        }
        no.placement = neuro_cluster_placement(nc);
    }
    {
        int nx, ny, nz;
        if (neuro_nifti_peek(opts.image->data, opts.image->len, cfg->max_voxels, &nx, &ny, &nz) == 0 &&
            opts.slaves <= nz && neuro_prestart(uv_default_loop(), nx, ny, nz, strcmp(opts.atlas, "none") != 0, &no,
                                                &pre, err, sizeof err) < 0)
            pre = NULL; /* neuro_analyze will start them and say what went wrong */
    }

    t = analyze_now_ms();
    {
        struct atlas_job job = {.cfg = cfg, .which = opts.atlas, .atlas = &atlas};
        pthread_t th;
        int threaded = 0, vrc;

        if (strcmp(opts.atlas, "none")) {
            threaded = pthread_create(&th, NULL, atlas_job_run, &job) == 0;
            if (!threaded)
                atlas_job_run(&job);
        }
        vrc = neuro_nifti_read(opts.image->data, opts.image->len, cfg->max_voxels, &vol, err, sizeof err);
        if (threaded)
            pthread_join(th, NULL);
        have_atlas = strcmp(opts.atlas, "none") && job.rc == 0;
        if (vrc < 0) {
            fail(resp, nifti_status(err), "cannot use the uploaded file: %s", err);
            goto out;
        }
        if (strcmp(opts.atlas, "none") && job.rc < 0) {
            fail(resp, 500, "atlas unavailable: %s", job.err);
            goto out;
        }
    }
    if (have_atlas) {
        if (atlas.labels.nx != vol.nx || atlas.labels.ny != vol.ny || atlas.labels.nz != vol.nz) {
            fail(resp, 422, "atlas grid mismatch: the image is %d x %d x %d voxels, the %s atlas is %d x %d x %d",
                 vol.nx, vol.ny, vol.nz, opts.atlas, atlas.labels.nx, atlas.labels.ny, atlas.labels.nz);
            goto out;
        }
    }
    r.parse_ms = analyze_now_ms() - t;
    if (!any_positive(&vol)) {
        fail(resp, 422, "the image has no voxel above zero: there is no tissue to segment");
        goto out;
    }
    if (opts.slaves > vol.nz) {
        fail(resp, 422, "%d slaves asked for, but the image has only %d slices", opts.slaves, vol.nz);
        goto out;
    }

    {
        no.atlas = have_atlas ? &atlas.labels : NULL;
        no.prestart = pre;
        pre = NULL; /* neuro_analyze owns it now */
        err[0] = '\0';
        rc = neuro_analyze(uv_default_loop(), &vol, &no, &res, err, sizeof err);
        if (rc < 0) {
            fail(resp, analysis_status(rc), "analysis failed: %s (%s)", err[0] ? err : "no details",
                 mlos_strerror(rc));
            goto out;
        }
    }

    t = analyze_now_ms();
    render(resp, &vol, &res.seg, &r);
    r.render_ms = analyze_now_ms() - t;
    r.request_id = resp->spool.id;
    r.filename = opts.image->filename;
    r.upload_bytes = opts.image->len;
    r.vol = &vol;
    r.opts = &opts;
    r.atlas = have_atlas ? &atlas : NULL;
    r.res = &res;
    r.request_ms = analyze_now_ms() - t0_ms;
    report_html(&resp->body, &r);
    report_json(&json, &r);
    report_csv(&csv, &r);
    if (sb_failed(&resp->body) || sb_failed(&json) || sb_failed(&csv)) {
        fail(resp, 503, "out of memory writing the report");
        goto out;
    }
    sb_puts(&json, "\n");
    if (spool_write(&resp->spool, "results.json", json.data, json.len) < 0 ||
        spool_write(&resp->spool, "results.csv", csv.data, csv.len) < 0 ||
        spool_write(&resp->spool, "report.html", resp->body.data, resp->body.len) < 0) {
        fail(resp, 500, "cannot store the results: %s", strerror(errno));
        goto out;
    }
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
    snprintf(resp->message, sizeof resp->message, "analysed %s: %d x %d x %d, %d %s slaves, %.0f ms", name, vol.nx,
             vol.ny, vol.nz, res.nshards, opts.arch, r.request_ms);
out:
    neuro_prestart_cancel(pre); /* refused before the analysis: stop the early slaves */
    neuro_cluster_close(nc);    /* its agents, their slaves and srun's step: gone on return */
    for (int i = 0; i < 3; i++)
        free(r.img[i].png);
    sb_free(&json);
    sb_free(&csv);
    if (res.nshards || res.seg.data || res.regions)
        neuro_result_free(&res);
    if (have_atlas || atlas.labels.data)
        atlas_free(&atlas);
    neuro_volume_free(&vol);
    mp_form_free(&form);
    free(body);
}
