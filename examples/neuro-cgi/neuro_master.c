/* neuro_master.c -- neuro_analyze: the analysis spread over slave shards.
 *
 * The shards are a pool with fixed membership (mlos_pool.h): member i
 * holds z slab i in its bulk window. The pool starts them, watches them
 * with heartbeats, and replaces one that dies, crashes or freezes; its
 * prepare hook (slab_prepare) brings every new member -- the first of each
 * rank or a replacement -- to the state the calls expect: the slab copied
 * into its bulk window and neuro_smooth run (deterministic, so a
 * replacement reports the same sorted values). The analysis then runs in
 * phases driven by callbacks on the caller's uv loop:
 *
 *   [prepare: put slab, neuro_smooth] -> neuro_kstep(round j) on every
 *   member -> [barrier, the master reduces and updates the centers] -> ...
 *   -> neuro_finish -> read back -> close the pool
 *
 * Every call is idempotent, so a call that lost its member is re-run by the
 * pool on the replacement once prepared; the other members simply wait at
 * the barrier. The pool is started before the volume is decoded (bulk
 * sizes are upper bounds that do not depend on the data), and the master
 * writes each slab once, on every core, into a buffer of its own that every
 * member of that rank gets a copy of.
 *
 * NEURO_DEBUG=1 in the environment prints the master's preparation times
 * and each slab's smoothing and ordering (histogram) time on the shard's
 * own clock (stderr).
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "mlos_group.h"
#include "mlos_pool.h"
#include "neuro.h"
#include "neuro_core.h"
#include "mlos_endian.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NEURO_HOST_BE 1
#else
#define NEURO_HOST_BE 0
#endif

/* PH_KSTEP: the master reduces each k-means step (a round trip per step);
 * PH_KMEANS: the slaves run every step as one group call, reducing among
 * themselves (where their kind has group memory). */
enum phase { PH_SMOOTH, PH_KSTEP, PH_KMEANS, PH_FINISH, PH_DONE };

/* The k-means group's life: made once every member is prepared, broken
 * when one is lost, re-formed with the replacement once it is prepared. */
enum gstate { G_NONE, G_CREATING, G_READY, G_CALLING, G_BROKEN, G_CLOSING };

struct job;

/* One z slab: member `index` of the pool. */
struct slab {
    struct job *job;
    int index;
    int z0, z1, hz0, hz1;  /* slab, and input slices put (halo included) */
    size_t nvs;            /* voxels in the slab */
    uint32_t m;            /* masked voxels in the slab */
    uint64_t in_off, mask_off, f_off, sorted_off, prefix_off, scratch_off, scratch_len, seg_off, idx_off,
        stats_off, box_off, bulk_bytes;
    /* the slab's input as the bulk window holds it (written once by
     * slab_fill; slab_prepare copies it into every member of this rank):
     * [0, mask_off + nvs) = quantized input and mask, then the region
     * index and the boxes */
    uint8_t *stage, *stage_idx, *stage_box;
    int staged;            /* stage written */
    mlos_shard_t *waiting; /* a new member whose preparation waits for the stage */
    mlos_shard_t *preparing; /* a member whose neuro_smooth runs */
    mlos_call_t smooth_call;
    int smoothed;          /* sres holds the slab's smoothing result */
    int crashing;          /* test: the "crash" call is out */
    struct neuro_smooth_res sres;
    struct neuro_kstep_res kres;
    mlos_pool_call_t call; /* this phase's call */
    struct neuro_shard_timing tm;
    /* results of a member without a local window (a node agent's slave):
     * read back into these by mlos_node_get, then collected as in place */
    uint8_t *rb_f, *rb_seg, *rb_stats;
    unsigned gets_out;     /* mlos_node_get requests of this slab not answered */
    int get_status;        /* their first failure */
    int get_tries;         /* finish + read back re-run after a lost member */
};

struct job {
    uv_loop_t *loop;
    const struct neuro_volume *vol;
    struct neuro_opts opts;    /* copied */
    int nx, ny, nz;            /* the volume's grid, known before its data (neuro_prestart) */
    int with_atlas;            /* bulk windows sized for a region index */
    struct neuro_result *res;
    const char *arch;
    char image[4096];          /* neuro's own image for arch (neuro_image_name) */
    mlos_pool_t pool;
    int pool_open;             /* until its close callback */
    int nslabs, slabs_done, nsmoothed;
    struct slab *slabs;
    enum phase phase;
    int max_iter, crash_done;
    struct neuro_kmeans km;    /* centers (f units), thresholds, the step reached */
    uint64_t mtot, stot;
    /* the slaves' own k-means (PH_KMEANS) */
    int use_group;
    mlos_group_mem_t gm;
    int gm_open, group_open;
    enum gstate gstate;
    mlos_group_t group;
    mlos_group_call_t gcall;
    uint32_t gids[MLOS_GROUP_MAX_RANKS]; /* shard id at each rank of the group */
    int gattempts;             /* groups made or re-formed in this job */
    mlos_call_t crash_call;
    /* atlas label -> region index 1..nreg: a table over [map_lo, map_lo +
     * span) when the labels are dense enough, else binary search in uniq */
    const struct neuro_labels *atlas;
    uint32_t *map;
    int32_t map_lo;
    int32_t *uniq;
    int32_t *reg_label;        /* dense region index -> atlas label */
    uint32_t nreg;
    uint64_t *reg_stats;       /* 3*(nreg+1): counts, sums, GM counts */
    double off, qs;            /* intensity = off + f / (256*qs) */
    int radius;
    int boxes;                 /* shards smooth only each slice's box (no smoothed volume asked for) */
    int zcap;                  /* most slices a slab may get (bulk windows are sized for it) */
    uint16_t w[NEURO_MAX_RADIUS + 1];
    float wf[NEURO_MAX_RADIUS + 1];
    int remote;                /* slaves behind node agents (opts.placement) */
    unsigned gets_out;         /* mlos_node_get requests out over every slab: buffers in use */
    int rc;
    char errbuf[256];          /* the first failure's reason, copied out at the end */
};

struct neuro_prestart {
    struct job job;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_since(uint64_t t0) { return (double)(now_ns() - t0) / 1e6; }

static void job_fail(struct job *j, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void slab_issue(struct slab *s);
static void group_close(struct job *j);
static void readback_range(const uint8_t *f, const uint8_t *seg, size_t n, double off, double scale, float *sm,
                           int32_t *sg);
static int slab_fill(struct job *j, struct slab *s);
static void index_range(const struct job *j, size_t start, size_t n, uint16_t *ix);

/* ---- weights (master side of neuro_core.h) ---- */

int neuro_radius(double sigma) { return (int)(3.0 * sigma + 0.5); }

int neuro_weights(double sigma, uint16_t *w, float *wf)
{
    if (!(sigma > 0) || neuro_radius(sigma) > NEURO_MAX_RADIUS)
        return -1;
    int r = neuro_radius(sigma);
    double g[NEURO_MAX_RADIUS + 1], total = 0;
    for (int k = 0; k <= r; k++) {
        g[k] = exp(-0.5 * (double)k * k / (sigma * sigma));
        total += k ? 2 * g[k] : g[k];
    }
    uint32_t side = 0;
    for (int k = r; k >= 1; k--) {
        w[k] = (uint16_t)lround(g[k] / total * NEURO_W_ONE);
        side += w[k];
        wf[k] = (float)(g[k] / total);
    }
    w[0] = (uint16_t)(NEURO_W_ONE - 2 * side); /* the center absorbs the rounding: exact sum */
    wf[0] = (float)(g[0] / total);
    return r;
}

const char *neuro_image_name(const char *arch)
{
    if (!arch || !strcmp(arch, "x86_64"))
        return "neuro-slave-x86_64.elf";
    if (!strcmp(arch, "ppc"))
        return "neuro-slave-ppc.elf";
    if (!strcmp(arch, "process"))
        return "neuro-shard-process";
    return NULL;
}

int neuro_plan_shards(size_t nvox, int max_shards)
{
    /* ~2 M voxels per shard keeps a slab's smoothing well above the cost
     * of a shard's boot and round trips */
    size_t n = (nvox + 2000000 - 1) / 2000000;
    if (max_shards < 1)
        max_shards = 1;
    if (n < 1)
        n = 1;
    return n > (size_t)max_shards ? max_shards : (int)n;
}

/* ---- job control ---- */

static void on_pool_closed(mlos_pool_t *pool)
{
    struct job *j = pool->data;
    j->pool_open = 0;
}

/* No more work: stop the members (closing first, so that the
 * preparations still owed, settled next, start no replacements). */
static void job_end(struct job *j)
{
    j->phase = PH_DONE;
    group_close(j);
    if (!j->pool_open)
        return;
    mlos_pool_close(&j->pool, on_pool_closed); /* MLOS_EINVAL if closing already: fine */
    for (int i = 0; i < j->nslabs; i++) {
        struct slab *s = &j->slabs[i];
        if (s->waiting) {
            mlos_shard_t *w = s->waiting;
            s->waiting = NULL;
            mlos_pool_prepared(&j->pool, w, MLOS_ESTOPPED);
        }
    }
}

static void job_fail(struct job *j, int rc, const char *fmt, ...)
{
    if (j->rc)
        return; /* keep the first reason */
    j->rc = rc ? rc : MLOS_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->errbuf, sizeof(j->errbuf), fmt, ap);
    va_end(ap);
    job_end(j);
}

static int shard_lost(int status)
{
    return status == MLOS_ESHARDDIED || status == MLOS_EPROTO || status == MLOS_ETIMEDOUT ||
           status == MLOS_ESTOPPED;
}

/* ---- members: the prepare step ---- */

static void on_smooth(mlos_call_t *req, int status);

static void smooth_arg(struct job *j, struct slab *s, uint8_t *wire)
{
    struct neuro_smooth_arg a = {0};
    a.nx = (uint32_t)j->nx, a.ny = (uint32_t)j->ny;
    a.nz_in = (uint32_t)(s->hz1 - s->hz0), a.z_off = (uint32_t)(s->z0 - s->hz0), a.nz_out = (uint32_t)(s->z1 - s->z0);
    a.radius = (uint32_t)j->radius;
    a.flags = j->opts.float_kernel ? NEURO_FLAG_FLOAT : 0;
    a.m = s->m;
    a.in_off = s->in_off, a.mask_off = s->mask_off, a.f_off = s->f_off, a.sorted_off = s->sorted_off;
    a.prefix_off = s->prefix_off, a.scratch_off = s->scratch_off, a.scratch_len = s->scratch_len;
    if (j->boxes && !(a.flags & NEURO_FLAG_FLOAT))
        a.flags |= NEURO_FLAG_BOXES, a.box_off = s->box_off;
    for (int k = 0; k <= j->radius; k++) {
        if (a.flags & NEURO_FLAG_FLOAT)
            memcpy(&a.w[k], &j->wf[k], 4);
        else
            a.w[k] = j->w[k];
    }
    neuro_smooth_arg_enc(&a, wire);
}

/* Copy the staged slab into a new member's bulk window and smooth it
 * there; on_smooth tells the pool the member is ready. */
static void slab_put_and_smooth(struct slab *s, mlos_shard_t *sh)
{
    struct job *j = s->job;
    size_t bulk_len, nxy = (size_t)j->nx * j->ny;
    uint8_t *bulk = mlos_shard_alive(sh) ? mlos_shard_bulk(sh, &bulk_len) : NULL;
    uint8_t wire[NEURO_SMOOTH_ARG_WIRE];
    uint64_t t0 = now_ns();
    int rc;

    if (!bulk && j->remote && mlos_shard_alive(sh)) {
        /* a slave behind a node agent: its window is over there; puts
         * travel in order before the call below */
        rc = s->bulk_bytes > bulk_len ? MLOS_ERANGE : mlos_put(sh, 0, s->stage, s->mask_off + s->nvs);
        if (rc == 0 && j->nreg)
            rc = mlos_put(sh, s->idx_off, s->stage_idx, 2 * s->nvs);
        if (rc == 0 && j->boxes)
            rc = mlos_put(sh, s->box_off, s->stage_box, 16ull * (s->z1 - s->z0));
        if (rc < 0) {
            mlos_pool_prepared(&j->pool, sh, rc);
            return;
        }
    } else if (!bulk || s->bulk_bytes > bulk_len) {
        mlos_pool_prepared(&j->pool, sh, bulk ? MLOS_ERANGE : MLOS_ESHARDDIED);
        return;
    } else {
        memcpy(bulk, s->stage, s->mask_off + s->nvs);
        if (j->nreg)
            memcpy(bulk + s->idx_off, s->stage_idx, 2 * s->nvs);
        if (j->boxes)
            memcpy(bulk + s->box_off, s->stage_box, 16ull * (s->z1 - s->z0));
        __atomic_thread_fence(__ATOMIC_RELEASE); /* as mlos_put: visible before the call */
    }
    (void)nxy;
    s->tm.put_ms += ms_since(t0);
    smooth_arg(j, s, wire);
    s->preparing = sh;
    s->smooth_call.data = s;
    if ((rc = mlos_call(sh, &s->smooth_call, "neuro_smooth", wire, sizeof(wire), on_smooth)) < 0) {
        s->preparing = NULL;
        mlos_pool_prepared(&j->pool, sh, rc);
    }
}

/* A member lost during the job, before or after its HELLO: its slab goes
 * to the replacement the pool starts under the same rank. */
static void on_pool_event(mlos_pool_t *pool, const mlos_shard_t *sh, enum mlos_pool_event ev, int status,
                          const char *why)
{
    struct job *j = pool->data;
    int rank = sh ? mlos_pool_rank_of(pool, sh) : MLOS_EINVAL;
    (void)status;
    (void)why;
    if ((ev == MLOS_POOL_SHARD_FAILED || ev == MLOS_POOL_SHARD_SPAWN_FAILED) && rank >= 0 && rank < j->nslabs &&
        j->phase != PH_DONE)
        j->slabs[rank].tm.replaced++;
}

/* The pool's prepare hook: a new member for slab `rank` said HELLO. */
static void on_prepare(mlos_pool_t *pool, mlos_shard_t *sh, unsigned rank)
{
    struct job *j = pool->data;
    struct slab *s = &j->slabs[rank];

    if (j->phase == PH_DONE) {
        mlos_pool_prepared(pool, sh, MLOS_ESTOPPED);
        return;
    }
    s->tm.spawn_ms += (double)sh->spawn_ns / 1e6;
    snprintf(s->tm.arch, sizeof(s->tm.arch), "%s", sh->arch);
    s->tm.shard_id = sh->id;
    if (!s->staged) {
        s->waiting = sh; /* the master is still writing the slabs: neuro_analyze goes on */
        return;
    }
    slab_put_and_smooth(s, sh);
}

static void barrier(struct job *j);
static void group_kick(struct job *j);

static void on_smooth(mlos_call_t *req, int status)
{
    struct slab *s = req->data;
    struct job *j = s->job;
    mlos_shard_t *sh = s->preparing;
    struct neuro_smooth_res r;

    s->preparing = NULL;
    if (j->phase == PH_DONE) {
        mlos_pool_prepared(&j->pool, sh, MLOS_ESTOPPED);
        return;
    }
    if (status < 0) {
        if (!shard_lost(status))
            job_fail(j, status, "slab %d: %s", s->index + 1, req->error);
        mlos_pool_prepared(&j->pool, sh, status); /* lost: the pool starts another */
        return;
    }
    if (req->result_len != NEURO_SMOOTH_RES_WIRE) {
        job_fail(j, MLOS_EPROTO, "slab %d: neuro_smooth answered %zu bytes", s->index + 1, req->result_len);
        mlos_pool_prepared(&j->pool, sh, MLOS_EPROTO);
        return;
    }
    neuro_smooth_res_dec(req->result, &r);
    if (getenv("NEURO_DEBUG"))
        fprintf(stderr, "neuro: slab %d smooth %.1f ms, order %.1f ms (shard clock)\n", s->index + 1,
                r.smooth_ns / 1e6, r.sort_ns / 1e6);
    s->tm.smooth_ms += (double)req->rtt_ns / 1e6;
    if (r.m != s->m) {
        job_fail(j, MLOS_EPROTO, "slab %d: shard counted %llu masked voxels, master %u", s->index + 1,
                 (unsigned long long)r.m, s->m);
        mlos_pool_prepared(&j->pool, sh, MLOS_EPROTO);
        return;
    }
    if (s->smoothed && (r.d != s->sres.d || r.fmin != s->sres.fmin || r.fmax != s->sres.fmax || r.sum != s->sres.sum)) {
        /* the kernels are deterministic: a replacement that disagrees is broken */
        job_fail(j, MLOS_EPROTO, "slab %d: a replacement shard smoothed it differently", s->index + 1);
        mlos_pool_prepared(&j->pool, sh, MLOS_EPROTO);
        return;
    }
    s->sres = r;
    mlos_pool_prepared(&j->pool, sh, 0); /* calls waiting for this member go now */
    group_kick(j);                        /* and the k-means group, if it waits for it */
    if (!s->smoothed) {
        s->smoothed = 1;
        if (++j->nsmoothed == j->nslabs && j->phase == PH_SMOOTH)
            barrier(j);
    }
}

/* ---- phases ---- */

static void phase_start(struct job *j, enum phase ph)
{
    j->phase = ph;
    j->slabs_done = 0;
    for (int i = 0; i < j->nslabs && j->phase == ph; i++)
        slab_issue(&j->slabs[i]);
}

/* One Lloyd step's reduction over the slabs: the counts and sums of the
 * values at or below each threshold, {n1, s1, n2, s2}, summed over every
 * slab's neuro_kstep answer. The only place the slabs' k-means statistics
 * meet; in slab order, though the sums are of integers and exact in any
 * order. */
static void kstep_reduce(const struct job *j, uint64_t out[4])
{
    out[0] = out[1] = out[2] = out[3] = 0;
    for (int i = 0; i < j->nslabs; i++) {
        const struct neuro_kstep_res *k = &j->slabs[i].kres;
        out[0] += k->n1, out[1] += k->s1, out[2] += k->n2, out[3] += k->s2;
    }
}

/* Every slab answered the current phase. */
static void barrier(struct job *j)
{
    if (j->phase == PH_SMOOTH) {
        uint64_t lo = UINT64_MAX, hi = 0;
        j->mtot = j->stot = 0;
        for (int i = 0; i < j->nslabs; i++) {
            struct neuro_smooth_res *r = &j->slabs[i].sres;
            if (r->m) {
                lo = r->fmin < lo ? r->fmin : lo;
                hi = r->fmax > hi ? r->fmax : hi;
            }
            j->mtot += r->m;
            j->stot += r->sum;
        }
        if (!j->mtot) {
            job_fail(j, MLOS_EINVAL, "no voxel of the image is above zero: nothing to classify");
            return;
        }
        double c[3];
        for (int k = 0; k < 3; k++)
            c[k] = (double)lo + (double)(hi - lo) * (2 * k + 1) / 6.0;
        neuro_kmeans_start(&j->km, c, j->mtot, j->stot, j->max_iter);
        if (j->use_group) {
            j->phase = PH_KMEANS;
            group_kick(j);
        } else {
            phase_start(j, PH_KSTEP);
        }
        return;
    }
    if (j->phase == PH_KSTEP) {
        uint64_t t[4];
        kstep_reduce(j, t);
        phase_start(j, neuro_kmeans_next(&j->km, t) ? PH_FINISH : PH_KSTEP);
        return;
    }
    if (j->phase == PH_FINISH)
        job_end(j);
}

static void slab_done(struct slab *s)
{
    struct job *j = s->job;
    if (++j->slabs_done == j->nslabs)
        barrier(j);
}

/* ---- k-means among the slaves (PH_KMEANS) ---- */

/* Groups a job may make or re-form before it gives up: each one follows a
 * lost member, and the pool gives up on a rank after 3 failed starts. */
#define NEURO_GROUP_ATTEMPTS 16

static void on_group_closed(mlos_group_t *g)
{
    struct job *j = g->data;
    j->group_open = 0;
    if (j->gstate == G_CLOSING && j->phase == PH_KMEANS) {
        j->gstate = G_NONE; /* start over with the members the pool has now */
        group_kick(j);
    }
}

static void group_close(struct job *j)
{
    if (!j->group_open || j->gstate == G_CLOSING)
        return;
    j->gstate = G_CLOSING;
    if (mlos_group_close(&j->group, on_group_closed) < 0)
        j->group_open = 0;
}

static void on_group_ready(mlos_group_t *g, int status)
{
    struct job *j = g->data;
    if (j->phase != PH_KMEANS || j->gstate != G_CREATING)
        return;
    if (status < 0) {
        group_close(j); /* a member was lost while joining: again, from the start */
        return;
    }
    j->gstate = G_READY;
    group_kick(j);
}

static void on_kmeans(mlos_group_call_t *req, int status)
{
    struct job *j = req->data;
    struct neuro_kmeans_res r;

    if (j->phase != PH_KMEANS)
        return;
    j->gstate = G_READY;
    if (status == MLOS_ESHARDDIED || (req->failed_rank >= 0 && shard_lost(status))) {
        j->gstate = G_BROKEN; /* re-formed once the pool has prepared the replacement */
        group_kick(j);
        return;
    }
    if (status < 0) {
        job_fail(j, status, "k-means among the slaves, rank %d: %s", req->failed_rank, req->error);
        return;
    }
    for (unsigned i = 0; i < j->group.n; i++) {
        const struct mlos_group_rank_result *x = &req->ranks[i];
        if (x->result_len != NEURO_KMEANS_RES_WIRE || memcmp(x->result, req->ranks[0].result, x->result_len)) {
            job_fail(j, MLOS_EPROTO, "slab %u: neuro_kmeans answered %zu bytes unlike slab 1's", i + 1,
                     x->result_len);
            return;
        }
    }
    neuro_kmeans_res_dec(req->ranks[0].result, &r);
    /* the final thresholds follow from the final centers */
    struct neuro_kmeans k;
    double c[3];
    for (int i = 0; i < 3; i++)
        c[i] = neuro_f64_from_bits(r.c_bits[i]);
    neuro_kmeans_start(&k, c, j->mtot, j->stot, j->max_iter);
    if (k.t1 != r.t1 || k.t2 != r.t2 || r.iterations > (uint32_t)j->max_iter ||
        r.voxels[0] + r.voxels[1] + r.voxels[2] != j->mtot) {
        job_fail(j, MLOS_EPROTO, "neuro_kmeans answered an inconsistent result (%u steps)", r.iterations);
        return;
    }
    k.iterations = (int)r.iterations;
    for (int i = 0; i < 3; i++)
        k.voxels[i] = r.voxels[i];
    j->km = k;
    if (getenv("NEURO_DEBUG"))
        fprintf(stderr, "neuro: k-means among %u slaves: %u steps, %u allreduces, %.2f ms (group generation %u)\n",
                j->group.n, r.iterations, r.rounds, (double)req->rtt_ns / 1e6, j->group.generation);
    for (int i = 0; i < j->nslabs; i++)
        j->slabs[i].tm.kmeans_ms += (double)req->rtt_ns / 1e6;
    phase_start(j, PH_FINISH);
}

/* The group call: the same argument for every rank, each finding its own
 * slab's entry by its rank. */
static void group_call_kmeans(struct job *j)
{
    size_t len = NEURO_KMEANS_ARG_WIRE + (size_t)j->nslabs * NEURO_KMEANS_SLAB_WIRE;
    uint8_t *arg = malloc(len);
    if (!arg) {
        job_fail(j, MLOS_ENOMEM, "out of memory");
        return;
    }
    struct neuro_kmeans_arg a = {{0}, j->mtot, j->stot, (uint32_t)j->max_iter, (uint32_t)j->nslabs};
    for (int i = 0; i < 3; i++)
        a.c_bits[i] = neuro_f64_bits(j->km.c[i]);
    neuro_kmeans_arg_enc(&a, arg);
    for (int i = 0; i < j->nslabs; i++) {
        const struct slab *s = &j->slabs[i];
        struct neuro_kmeans_slab e = {s->sorted_off, s->prefix_off, s->sres.d};
        neuro_kmeans_slab_enc(&e, arg + NEURO_KMEANS_ARG_WIRE + (size_t)i * NEURO_KMEANS_SLAB_WIRE);
    }
    j->gcall.data = j;
    int rc = mlos_group_call(&j->group, &j->gcall, "neuro_kmeans", arg, len, 0, on_kmeans);
    free(arg); /* copied */
    if (rc == MLOS_ESHARDDIED) {
        j->gstate = G_BROKEN; /* a member went down since the group was made */
        group_kick(j);
    } else if (rc < 0) {
        job_fail(j, rc, "cannot run k-means among the slaves: %s", mlos_strerror(rc));
    } else {
        j->gstate = G_CALLING;
    }
}

static void on_crash_done(mlos_call_t *req, int status)
{
    (void)status; /* the member is lost: the group and the pool see to it */
    group_kick(req->data);
}

static int group_attempt(struct job *j)
{
    if (++j->gattempts <= NEURO_GROUP_ATTEMPTS)
        return 1;
    job_fail(j, MLOS_ESHARDDIED, "k-means among the slaves: members kept failing (%d groups made)",
             NEURO_GROUP_ATTEMPTS);
    return 0;
}

/* Take the k-means group one step further: make it once every member is
 * prepared, re-form it when the replacement of a lost one is, run the
 * step. Called whenever one of those may have changed. */
static void group_kick(struct job *j)
{
    const struct neuro_opts *o = &j->opts;
    mlos_shard_t *m[MLOS_GROUP_MAX_RANKS];
    int rc;

    if (j->phase != PH_KMEANS)
        return;
    switch (j->gstate) {
    case G_NONE: {
        for (int i = 0; i < j->nslabs; i++)
            if (!(m[i] = mlos_pool_member(&j->pool, (unsigned)i)))
                return; /* being replaced: its preparation calls again */
        if (!group_attempt(j))
            return;
        for (int i = 0; i < j->nslabs; i++)
            j->gids[i] = m[i]->id;
        /* Members poll briefly between steps where that is cheap: process
         * slaves yield their core while they poll (3 on 2 cores: 0.3-0.6 ms
         * for 32 steps polling, 5-250 ms sleeping), guests only when each
         * has a host core (3 x86_64 slaves on 2 cores: 41-128 ms polling,
         * 23-52 ms sleeping, as vCPUs poll each other off the CPU). */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        int poll = !strcmp(j->arch, "process") || j->nslabs <= ncpu;
        struct mlos_group_opts go = {.mem = &j->gm, .members = m, .n = (unsigned)j->nslabs, .ring_bytes = 4096,
                                     .spin_us = poll ? 100 : 0};
        j->group.data = j;
        j->gstate = G_CREATING;
        if ((rc = mlos_group_create(j->loop, &j->group, &go, on_group_ready)) < 0) {
            j->gstate = G_NONE;
            job_fail(j, rc, "cannot make the slaves' group: %s", mlos_strerror(rc));
            return;
        }
        j->group_open = 1;
        return;
    }
    case G_READY:
        if (o->test_crash_slab >= 1 && o->test_crash_slab <= j->nslabs && !j->crash_done) {
            /* test only: lose this member just before the step; the group
             * breaks, is re-formed with the replacement, the step re-runs */
            mlos_shard_t *victim = mlos_pool_member(&j->pool, (unsigned)o->test_crash_slab - 1);
            j->crash_done = 1;
            j->crash_call.data = j;
            if (victim && mlos_call(victim, &j->crash_call, "crash", NULL, 0, on_crash_done) == 0)
                return;
        }
        group_call_kmeans(j);
        return;
    case G_BROKEN: {
        int r = j->group.failed_rank;
        if (r < 0 || r >= j->nslabs) {
            group_close(j);
            return;
        }
        mlos_shard_t *rep = mlos_pool_member(&j->pool, (unsigned)r);
        if (!rep || rep->id == j->gids[r])
            return; /* not replaced and prepared yet */
        if (!group_attempt(j))
            return;
        j->gids[r] = rep->id;
        j->gstate = G_CREATING;
        if (mlos_group_reform(&j->group, (unsigned)r, rep, on_group_ready) < 0)
            group_close(j);
        return;
    }
    default:
        return; /* an operation is under way: its callback calls again */
    }
}

/* Turn a slab's results (smoothed values f, classes seg, region stats st,
 * laid out as in its bulk window) into the job's. */
static void slab_collect_from(struct slab *s, const uint8_t *f, const uint8_t *seg, const uint8_t *st)
{
    struct job *j = s->job;
    const struct neuro_volume *v = j->vol;
    size_t nxy = (size_t)v->nx * v->ny, base = nxy * s->z0;
    double scale = 1.0 / (256.0 * j->qs);
    int32_t *sg = j->res->seg.data + base;

    if (j->res->smoothed.data)
        readback_range(f, seg, s->nvs, j->off, scale, j->res->smoothed.data + base, sg);
    else
        for (size_t i = 0; i < s->nvs; i++)
            sg[i] = seg[i];
    if (j->nreg)
        for (size_t i = 0; i < 3 * (j->nreg + 1ull); i++)
            j->reg_stats[i] += mlos_get_le64(st + 8 * i);
}

/* Copy a slab's results out of its member's bulk window. */
static void slab_collect(struct slab *s, mlos_shard_t *sh)
{
    size_t bulk_len;
    const uint8_t *bulk = mlos_shard_bulk(sh, &bulk_len);
    slab_collect_from(s, bulk + s->f_off, bulk + s->seg_off, bulk + s->stats_off);
}

/* ---- reading results back from slaves behind node agents ---- */

#define NEURO_GET_TRIES 3

static void rb_free(struct slab *s)
{
    free(s->rb_f), free(s->rb_seg), free(s->rb_stats);
    s->rb_f = s->rb_seg = s->rb_stats = NULL;
}

static void on_got(void *arg, int status)
{
    struct slab *s = arg;
    struct job *j = s->job;
    s->gets_out--;
    j->gets_out--;
    if (status < 0 && !s->get_status)
        s->get_status = status;
    if (s->gets_out)
        return;
    if (j->phase != PH_FINISH) { /* failed meanwhile: the buffers are ours no more */
        rb_free(s);
        return;
    }
    if (s->get_status) {
        int st = s->get_status;
        rb_free(s);
        if (shard_lost(st) && ++s->get_tries < NEURO_GET_TRIES) {
            slab_issue(s); /* the member went with its results: finish again on its replacement */
            return;
        }
        job_fail(j, st, "slab %d: cannot read its results back from its node: %s", s->index + 1,
                 mlos_strerror(st));
        return;
    }
    slab_collect_from(s, s->rb_f, s->rb_seg, s->rb_stats);
    rb_free(s);
    slab_done(s);
}

static int get_range(struct slab *s, mlos_shard_t *sh, uint64_t off, uint8_t *dst, size_t len)
{
    int rc = mlos_node_get(sh, off, dst, len, on_got, s);
    if (rc == 0)
        s->gets_out++, s->job->gets_out++;
    return rc;
}

/* The results of a member without a local window: the three ranges it
 * wrote, read by mlos_node_get (issued after neuro_finish's reply, so they
 * see what it wrote); on_got collects them as slab_collect does in place. */
static int slab_fetch(struct slab *s, mlos_shard_t *sh)
{
    struct job *j = s->job;
    size_t nst = j->nreg ? 24 * (j->nreg + 1ull) : 0;
    int rc = 0;
    s->get_status = 0;
    s->rb_seg = malloc(s->nvs ? s->nvs : 1);
    s->rb_f = j->res->smoothed.data ? malloc(4 * s->nvs + 1) : NULL;
    s->rb_stats = nst ? malloc(nst) : NULL;
    if (!s->rb_seg || (j->res->smoothed.data && !s->rb_f) || (nst && !s->rb_stats)) {
        rb_free(s);
        return MLOS_ENOMEM;
    }
    if (s->nvs)
        rc = get_range(s, sh, s->seg_off, s->rb_seg, s->nvs);
    if (rc == 0 && s->rb_f && s->nvs)
        rc = get_range(s, sh, s->f_off, s->rb_f, 4 * s->nvs);
    if (rc == 0 && nst)
        rc = get_range(s, sh, s->stats_off, s->rb_stats, nst);
    if (rc < 0 && !s->gets_out)
        rb_free(s);
    else if (rc < 0)
        s->get_status = rc; /* the ones out end it */
    else if (!s->gets_out) { /* nothing to read */
        slab_collect_from(s, s->rb_f, s->rb_seg, s->rb_stats);
        rb_free(s);
        slab_done(s);
    }
    return rc < 0 && !s->gets_out ? rc : 0;
}

static void on_phase(mlos_pool_call_t *req, int status)
{
    struct slab *s = req->data;
    struct job *j = s->job;
    double rtt = (double)req->rtt_ns / 1e6;

    if (j->phase == PH_DONE)
        return; /* failed meanwhile; the pool is closing */
    if (s->crashing) { /* test: the member is gone (or the crash did not take) */
        s->crashing = 0;
        slab_issue(s); /* the real call, on the replacement */
        return;
    }
    if (status < 0) {
        job_fail(j, status, "slab %d: %s", s->index + 1, req->error);
        return;
    }
    if (j->phase == PH_KSTEP) {
        if (req->result_len != NEURO_KSTEP_RES_WIRE) {
            job_fail(j, MLOS_EPROTO, "slab %d: neuro_kstep answered %zu bytes", s->index + 1, req->result_len);
            return;
        }
        neuro_kstep_res_dec(req->result, &s->kres);
        s->tm.kmeans_ms += rtt;
        slab_done(s);
    } else if (j->phase == PH_FINISH) {
        mlos_shard_t *sh = mlos_pool_member(&j->pool, (unsigned)s->index); /* the one that answered */
        uint64_t t0 = now_ns();
        if (!sh) {
            job_fail(j, MLOS_EPROTO, "slab %d: its shard is gone after neuro_finish", s->index + 1);
            return;
        }
        if (!mlos_shard_bulk(sh, NULL) && j->remote) {
            int rc = slab_fetch(s, sh); /* slab_done once the gets are in */
            if (rc < 0)
                job_fail(j, rc, "slab %d: cannot read its results back: %s", s->index + 1, mlos_strerror(rc));
            s->tm.regions_ms += rtt + ms_since(t0);
            return;
        }
        slab_collect(s, sh);
        s->tm.regions_ms += rtt + ms_since(t0);
        slab_done(s);
    }
}

static void slab_call(struct slab *s, const char *task, const void *arg, size_t len, unsigned flags)
{
    struct job *j = s->job;
    s->call.data = s;
    int rc = mlos_pool_call_member(&j->pool, &s->call, (unsigned)s->index, task, arg, len, flags, NULL, on_phase);
    if (rc < 0)
        job_fail(j, rc, "slab %d: cannot call %s: %s", s->index + 1, task, mlos_strerror(rc));
}

/* Issue the current phase's call for s. Every one is idempotent: it reads
 * what the prepare step left in the bulk window and writes only its own
 * outputs, so the pool may re-run it on a replacement. */
static void slab_issue(struct slab *s)
{
    struct job *j = s->job;
    if (j->phase == PH_KSTEP) {
        const struct neuro_opts *o = &j->opts;
        if (o->test_crash_slab == s->index + 1 && o->test_crash_iter == j->km.round && !j->crash_done) {
            j->crash_done = 1;
            s->crashing = 1;
            slab_call(s, "crash", NULL, 0, 0); /* test only: lose this member mid-run */
            return;
        }
        struct neuro_kstep_arg a = {s->sorted_off, s->prefix_off, s->sres.d, j->km.t1, j->km.t2};
        uint8_t wire[NEURO_KSTEP_ARG_WIRE];
        neuro_kstep_arg_enc(&a, wire);
        slab_call(s, "neuro_kstep", wire, sizeof(wire), MLOS_POOL_IDEMPOTENT);
    } else if (j->phase == PH_FINISH) {
        struct neuro_finish_arg a = {s->nvs, s->f_off, s->mask_off, s->seg_off, s->idx_off, s->stats_off,
                                     s->box_off, j->km.t1, j->km.t2, j->nreg, 0, (uint32_t)j->nx, (uint32_t)j->ny};
        if (j->boxes && !j->opts.float_kernel)
            a.flags = NEURO_FLAG_BOXES;
        uint8_t wire[NEURO_FINISH_ARG_WIRE];
        neuro_finish_arg_enc(&a, wire);
        slab_call(s, "neuro_finish", wire, sizeof(wire), MLOS_POOL_IDEMPOTENT);
    }
}

/* ---- preparation on the master ---- */

static uint64_t align8(uint64_t v) { return (v + 7) & ~7ull; }

/* Bulk layout for a slab of up to zcap slices (the split is only chosen
 * once the data are known: balance_slabs). */
static void slab_layout(struct job *j, struct slab *s, int zcap)
{
    uint64_t nx = (uint64_t)j->nx, nxy = nx * j->ny, p = 0, row = nx + 2ull * j->radius;
    uint64_t nv = nxy * (uint64_t)zcap, zin = (uint64_t)zcap + 2ull * j->radius;
    zin = zin > (uint64_t)j->nz ? (uint64_t)j->nz : zin;
    s->in_off = p, p = align8(p + 2 * nxy * zin);
    s->mask_off = p, p = align8(p + nv);
    s->f_off = p, p = align8(p + 4ull * nv);
    /* bounds that do not depend on the data, so that shards can be
     * spawned before the master has looked at it: distinct masked values
     * dmax <= min(voxels, NEURO_F_BINS), regions <= NEURO_MAX_REGIONS */
    uint64_t dmax = nv < NEURO_F_BINS ? nv : NEURO_F_BINS;
    uint64_t nreg = j->with_atlas ? NEURO_MAX_REGIONS : 0;
    s->sorted_off = p, p = align8(p + 4 * dmax);
    s->prefix_off = p, p = align8(p + 16 * dmax + 16);
    s->scratch_len = 4ull * NEURO_F_BINS + 8 * (nxy + row);
    s->scratch_off = p, p = align8(p + s->scratch_len);
    s->seg_off = p, p = align8(p + nv);
    s->idx_off = p, p = align8(p + (nreg ? 2ull * nv : 0));
    s->stats_off = p, p = align8(p + (nreg ? 24ull * (nreg + 1) : 0));
    s->box_off = p, p = align8(p + 16ull * (uint64_t)zcap);
    s->bulk_bytes = (p + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
}

/* The hot loops of the master's preparation and read-back, written to be
 * vectorised: no branches, finiteness tested on the bits (so that
 * finite-math-only, which lets min/max reductions vectorise, cannot drop
 * it) and only finite values reach float arithmetic; the rounding is
 * exact without libm calls. */
#pragma GCC push_options
#pragma GCC optimize("O3", "finite-math-only", "no-signed-zeros")

static inline int finite_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    return (b & 0x7f800000u) != 0x7f800000u;
}

/* Range of the finite input values, and whether all are integers; and,
 * if w is given, each slice's weight for balance_slabs (its finite voxels
 * above zero, plus nxy/16), from the same pass over the volume. */
static void input_range(const float *d, size_t nxy, int nz, float *plo, float *phi, int *pint, uint64_t *w)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    int frac = 0, any = 0;
    for (int z = 0; z < nz; z++) {
        const float *p = d + nxy * (size_t)z;
        uint64_t c = 0;
        for (size_t i = 0; i < nxy; i++) {
            float x = p[i];
            int fin = finite_bits(x);
            float xf = fin ? x : 0.0f;
            float t = fabsf(xf) < 8388608.0f ? xf : 0.0f; /* from 2^23 on, every float is an integer */
            float xl = fin ? xf : FLT_MAX, xh = fin ? xf : -FLT_MAX;
            lo = xl < lo ? xl : lo;
            hi = xh > hi ? xh : hi;
            frac |= t != (float)(int32_t)t;
            c += (uint64_t)(xf > 0.0f);
        }
        if (w)
            w[z] = c + nxy / 16;
    }
    for (size_t i = 0; i < nxy * (size_t)nz && !any; i++)
        any = finite_bits(d[i]);
    if (!any)
        lo = INFINITY, hi = -INFINITY; /* as if no value: the caller's empty case */
    *plo = lo, *phi = hi, *pint = !frac;
}

/* q = lrint((x - lo) * qs) clamped to [0, NEURO_Q_MAX] (non-finite x: lo),
 * as little-endian uint16. Adding and subtracting 1.5*2^52 rounds a
 * double below 2^51 to the nearest integer, ties to even: lrint's rule. */
static void quantize_range(const float *d, size_t n, double lo, double qs, uint16_t *q)
{
    const double magic = 6755399441055744.0;
    for (size_t i = 0; i < n; i++) {
        float x = d[i];
        double y = finite_bits(x) ? ((double)x - lo) * qs : 0.0;
        y = y < 0 ? 0 : y > NEURO_Q_MAX ? NEURO_Q_MAX : y;
        double rq = (y + magic) - magic;
        q[i] = (uint16_t)(int32_t)rq;
    }
    if (NEURO_HOST_BE)
        for (size_t i = 0; i < n; i++)
            mlos_put_le16((uint8_t *)&q[i], q[i]);
}

/* mask = input > 0 (non-finite input: lo > 0); returns how many are set. */
static size_t mask_range(const float *d, size_t n, double lo, uint8_t *mask)
{
    size_t m = 0;
    uint8_t nonfinite = lo > 0; /* a non-finite input counts as lo */
    for (size_t i = 0; i < n; i++) {
        float x = d[i];
        uint8_t b = finite_bits(x) ? x > 0 : nonfinite;
        mask[i] = b;
        m += b;
    }
    return m;
}

/* Smoothed values (little-endian f) to intensities, labels to int32. */
static void readback_range(const uint8_t *f, const uint8_t *seg, size_t n, double off, double scale, float *sm,
                           int32_t *sg)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, f + 4 * i, 4);
        if (NEURO_HOST_BE)
            v = mlos_get_le32(f + 4 * i);
        sm[i] = (float)(off + (double)(int32_t)v * scale); /* v < 2^20 */
        sg[i] = seg[i];
    }
}
#pragma GCC pop_options

/* Offset and scale of the 12-bit quantization (exact for integer data
 * with a range up to 4095); slice weights into w if given (input_range). */
static void quantize_plan(struct job *j, uint64_t *w)
{
    const struct neuro_volume *v = j->vol;
    float flo, fhi;
    int integral;
    input_range(v->data, (size_t)v->nx * v->ny, v->nz, &flo, &fhi, &integral, w);
    double lo = flo, hi = fhi;
    if (!(lo <= hi))
        lo = hi = 0;
    double range = hi - lo;
    if (range <= 0)
        j->qs = 1;
    else if (integral && range <= NEURO_Q_MAX)
        j->qs = floor(NEURO_Q_MAX / range);
    else
        j->qs = NEURO_Q_MAX / range;
    j->off = lo;
}

/* Write s's slab (quantized input with halo, mask, region index) into its
 * shard's bulk window and count its masked voxels. */
/* Write s's slab (quantized input with halo, mask, region index, boxes)
 * into its stage, laid out as in the bulk window, and count its masked
 * voxels. */
static int slab_fill(struct job *j, struct slab *s)
{
    size_t nxy = (size_t)j->vol->nx * j->vol->ny;
    if (!s->stage)
        return MLOS_ENOMEM;
    quantize_range(j->vol->data + nxy * s->hz0, nxy * (s->hz1 - s->hz0), j->off, j->qs,
                   (uint16_t *)(s->stage + s->in_off));
    s->m = (uint32_t)mask_range(j->vol->data + nxy * s->z0, s->nvs, j->off, s->stage + s->mask_off);
    if (j->nreg) {
        if (!(s->stage_idx = malloc(2 * s->nvs)))
            return MLOS_ENOMEM;
        index_range(j, nxy * s->z0, s->nvs, (uint16_t *)s->stage_idx);
    }
    if (j->boxes) {
        /* per slice: the voxels the k-means (masked) and the region table
         * (indexed) read back; the rest of the slab is not smoothed */
        const uint16_t *ix = j->nreg ? (const uint16_t *)s->stage_idx : NULL;
        if (!(s->stage_box = malloc(16ull * (s->z1 - s->z0) + 1)))
            return MLOS_ENOMEM;
        for (int z = 0; z < s->z1 - s->z0; z++) {
            struct neuro_box b;
            neuro_slice_box(s->stage + s->mask_off + nxy * z, ix ? ix + nxy * z : NULL, j->vol->nx, j->vol->ny, &b);
            uint8_t *o = s->stage_box + 16ull * z;
            mlos_put_le32(o, b.x0), mlos_put_le32(o + 4, b.x1), mlos_put_le32(o + 8, b.y0);
            mlos_put_le32(o + 12, b.y1);
        }
    }
    if (j->nreg && NEURO_HOST_BE) {
        uint16_t *ix = (uint16_t *)s->stage_idx;
        for (size_t i = 0; i < s->nvs; i++)
            mlos_put_le16((uint8_t *)&ix[i], ix[i]);
    }
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Map atlas labels to dense indexes 1..nreg (0: no region); index_range
 * then writes the indexes of a range of voxels. */
static int atlas_index(struct job *j, const struct neuro_labels *at)
{
    size_t n = (size_t)at->nx * at->ny * at->nz;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    j->atlas = at;
    for (size_t i = 0; i < n; i++) {
        int32_t a = at->data[i];
        lo = a && a < lo ? a : lo;
        hi = a && a > hi ? a : hi;
    }
    if (lo > hi)
        return 0; /* no region at all */
    int64_t span = (int64_t)hi - lo + 1;
    if (span <= (1 << 24)) {
        /* direct table over the label range */
        uint32_t *map = j->map = calloc((size_t)span, sizeof(uint32_t));
        if (!map)
            return -1;
        j->map_lo = lo;
        for (size_t i = 0; i < n; i++)
            if (at->data[i])
                map[at->data[i] - lo] = 1;
        uint32_t k = 0;
        for (int64_t l = 0; l < span; l++)
            if (map[l])
                map[l] = ++k;
        if (k > NEURO_MAX_REGIONS)
            return -2;
        j->nreg = k;
        j->reg_label = malloc((k + 1) * sizeof(int32_t));
        if (!j->reg_label)
            return -1;
        for (int64_t l = 0; l < span; l++)
            if (map[l])
                j->reg_label[map[l]] = (int32_t)(l + lo);
        return 0;
    }
    /* sparse labels: sort the distinct values, then binary search */
    int32_t *u = j->uniq = malloc(n * sizeof(int32_t));
    size_t nu = 0;
    if (!u)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (at->data[i])
            u[nu++] = at->data[i];
    qsort(u, nu, sizeof(int32_t), cmp_i32);
    size_t k = 0;
    for (size_t i = 0; i < nu; i++)
        if (!k || u[i] != u[k - 1])
            u[k++] = u[i];
    if (k > NEURO_MAX_REGIONS)
        return -2;
    j->nreg = (uint32_t)k;
    j->reg_label = malloc((k + 1) * sizeof(int32_t));
    if (!j->reg_label)
        return -1;
    for (size_t i = 0; i < k; i++)
        j->reg_label[i + 1] = u[i];
    return 0;
}

static void index_range(const struct job *j, size_t start, size_t n, uint16_t *ix)
{
    const int32_t *a = j->atlas->data + start;
    if (j->map) {
        const uint32_t *map = j->map;
        int32_t lo = j->map_lo;
        for (size_t i = 0; i < n; i++)
            ix[i] = a[i] ? (uint16_t)map[a[i] - lo] : 0;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!a[i]) {
            ix[i] = 0;
            continue;
        }
        int32_t *hit = bsearch(&a[i], j->uniq, j->nreg, sizeof(int32_t), cmp_i32);
        ix[i] = (uint16_t)(hit - j->uniq + 1);
    }
}

/* ---- the master's preparation on every core ----
 *
 * Before the first call the master scans the volume (range), maps the
 * atlas and writes every slab (quantize, mask, region index): ~90 ms of
 * memory-bound loops on ch2bet when run one after the other on the loop
 * thread, while the process or bare-metal shards it just started wait for
 * their slab. The pieces are independent, so they run on threads, and the
 * loop thread takes a share itself. */
struct prep_task {
    struct job *j;
    struct slab *s;    /* slab to write, or NULL: the atlas index */
    const struct neuro_labels *atlas;
    int rc;
    double ms;
    pthread_t th;
    int threaded;
};

static void *prep_task_run(void *arg)
{
    struct prep_task *t = arg;
    uint64_t t0 = now_ns();
    t->rc = t->s ? slab_fill(t->j, t->s) : atlas_index(t->j, t->atlas);
    t->ms = ms_since(t0);
    return NULL;
}

/* Run tasks[0..n) on threads and task 0 on this one; falls back to this
 * thread for any that cannot get a thread. */
static void prep_run_all(struct prep_task *tasks, int n)
{
    for (int i = 1; i < n; i++)
        tasks[i].threaded = pthread_create(&tasks[i].th, NULL, prep_task_run, &tasks[i]) == 0;
    if (n > 0)
        prep_task_run(&tasks[0]);
    for (int i = 1; i < n; i++) {
        if (tasks[i].threaded)
            pthread_join(tasks[i].th, NULL);
        else
            prep_task_run(&tasks[i]);
    }
}

static int default_max_shards(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

void neuro_result_free(struct neuro_result *res)
{
    neuro_labels_free(&res->seg);
    neuro_volume_free(&res->smoothed);
    free(res->regions);
    free(res->timing);
    memset(res, 0, sizeof(*res));
}

static void slab_set(struct job *j, struct slab *s, int z0, int z1)
{
    s->z0 = z0, s->z1 = z1;
    s->hz0 = z0 - j->radius < 0 ? 0 : z0 - j->radius;
    s->hz1 = z1 + j->radius > j->nz ? j->nz : z1 + j->radius;
    s->nvs = (size_t)j->nx * j->ny * (size_t)(z1 - z0);
}

/* Split the slices so that every slab gets about the same work: a slice
 * costs its voxels above zero (what the boxes, the histogram and the
 * labels see) plus a sixteenth of the slice for what every slice costs.
 * Slabs stay within 1..zcap slices. Even thickness does not mean even
 * work: in a head the lower half holds more brain. */
static void balance_slabs(struct job *j, const uint64_t *w)
{
    int ns = j->nslabs, nz = j->nz, z = 0;
    double total = 0, acc = 0;
    for (int k = 0; k < nz; k++)
        total += (double)w[k];
    for (int i = 0; i < ns; i++) {
        int z0 = z, left = ns - i - 1; /* slabs after this one */
        if (i == ns - 1) {
            z = nz;
        } else {
            double target = total * (i + 1) / ns;
            while (z < nz && acc + (double)w[z] / 2 < target)
                acc += (double)w[z++];
            /* at least one slice here and for each later slab, at most zcap
             * here and room for the later ones within their caps */
            int lo = z0 + 1 > nz - left * j->zcap ? z0 + 1 : nz - left * j->zcap;
            int hi = z0 + j->zcap < nz - left ? z0 + j->zcap : nz - left;
            int b = z < lo ? lo : z > hi ? hi : z;
            while (z < b)
                acc += (double)w[z++];
            while (z > b)
                acc -= (double)w[--z];
        }
        slab_set(j, &j->slabs[i], z0, z);
    }
}

/* Check the grid and options, lay the slabs out and spawn their shards.
 * Returns 0 or an error (with err set); the job may then hold shards to
 * stop (job_abort). */
static void job_free(struct job *j)
{
    free(j->map);
    free(j->uniq);
    free(j->reg_label);
    free(j->reg_stats);
    for (int i = 0; j->slabs && i < j->nslabs; i++) {
        free(j->slabs[i].stage);
        free(j->slabs[i].stage_idx);
        free(j->slabs[i].stage_box);
        rb_free(&j->slabs[i]);
    }
    free(j->slabs);
    if (j->gm_open)
        mlos_group_mem_close(&j->gm);
}

/* How long a member may owe a heartbeat: longer than the longest task (a
 * slab's neuro_smooth under QEMU TCG on a loaded host takes up to a few
 * seconds; a member answers between tasks only). A member whose process is
 * stopped is fenced long before this (MLOS_HEARTBEAT_STOPPED_MS). */
static unsigned hang_timeout_ms(const char *arch)
{
    return !strcmp(arch, "process") ? 5000 : !strcmp(arch, "ppc") ? 30000 : 10000;
}

/* Check the grid and options, lay the slabs out and start the pool. Returns
 * 0 or an error (with errbuf set); the job may then hold a pool to close
 * (job_abort). */
static int job_setup(struct job *j, uv_loop_t *loop, int nx, int ny, int nz, int with_atlas,
                     const struct neuro_opts *opts)
{
    double sigma = opts && opts->sigma > 0 ? opts->sigma : 1.5;

    if (opts)
        j->opts = *opts;
    j->opts.prestart = NULL;
    j->loop = loop;
    j->nx = nx, j->ny = ny, j->nz = nz, j->with_atlas = with_atlas;
    j->arch = j->opts.arch ? j->opts.arch : "x86_64";
    j->max_iter = j->opts.max_iter > 0 ? j->opts.max_iter : 50;
    j->boxes = !j->opts.smoothed_volume;
    j->phase = PH_SMOOTH;
    const char *iname = neuro_image_name(j->arch);
    if (!iname) {
        snprintf(j->errbuf, sizeof(j->errbuf), "unknown slave kind %s", j->arch);
        return MLOS_EINVAL;
    }
    j->remote = j->opts.placement != NULL;
    if (j->remote) /* the agents find it on their MLOS_IMAGE_PATH, by name */
        snprintf(j->image, sizeof(j->image), "%s", iname);
    else if (mlos_image_find(iname, j->image, sizeof(j->image)) < 0) {
        snprintf(j->errbuf, sizeof(j->errbuf), "neuro's %s slave image %s is not on MLOS_IMAGE_PATH or installed",
                 j->arch, iname);
        return MLOS_ENOENT;
    }
    if (nx < 1 || ny < 1 || nz < 1) {
        snprintf(j->errbuf, sizeof(j->errbuf), "no image");
        return MLOS_EINVAL;
    }
    if (nx > 65536 || ny > 65536 || nz > 65536) {
        snprintf(j->errbuf, sizeof(j->errbuf), "image dimensions %dx%dx%d are too large", nx, ny, nz);
        return MLOS_EINVAL;
    }
    j->radius = neuro_weights(sigma, j->w, j->wf);
    if (j->radius < 0) {
        snprintf(j->errbuf, sizeof(j->errbuf), "sigma %g is outside (0, %d/3] voxels", sigma, NEURO_MAX_RADIUS);
        return MLOS_EINVAL;
    }
    size_t n = (size_t)nx * ny * nz;
    int ns = j->opts.shards > 0 ? j->opts.shards : neuro_plan_shards(n, default_max_shards());
    if (ns > nz)
        ns = nz;
    if (!(j->slabs = calloc((size_t)ns, sizeof(struct slab)))) {
        snprintf(j->errbuf, sizeof(j->errbuf), "out of memory");
        return MLOS_ENOMEM;
    }
    j->nslabs = ns;
    /* room for slabs half again as thick as an even split's, for
     * balance_slabs to use: a head's slices are not equally full */
    j->zcap = ns == 1 ? nz : (nz + ns - 1) / ns + (nz + ns - 1) / ns / 2 + 1;
    j->zcap = j->zcap > nz ? nz : j->zcap;
    for (int i = 0; i < ns; i++) {
        struct slab *s = &j->slabs[i];
        s->job = j, s->index = i;
        slab_set(j, s, (int)((int64_t)nz * i / ns), (int)((int64_t)nz * (i + 1) / ns));
        slab_layout(j, s, j->zcap);
    }
    /* the members start now: the layout needs no data; they boot while the
     * master decodes the volume (neuro_prestart) and writes the slabs */
    /* k-means among the slaves: their group memory (behind node agents,
     * each agent's copy of it; mlos_group.h) */
    j->use_group = !j->opts.master_reduce && ns <= MLOS_GROUP_MAX_RANKS;
    if (j->use_group) {
        size_t gbytes = mlos_group_mem_needed((unsigned)ns, 4096);
        int grc = gbytes ? mlos_group_mem_init(&j->gm, gbytes) : MLOS_EINVAL;
        if (grc < 0) {
            snprintf(j->errbuf, sizeof(j->errbuf), "no group memory for %d slaves: %s", ns, mlos_strerror(grc));
            return grc;
        }
        j->gm_open = 1;
    }
    struct mlos_pool_opts po = {
        /* no prefault_bulk: faulting whole windows in beside the boot and
         * the master's own writes cost more than it saved on a 2-core host
         * (measured: master prep 650-700 ms with it, 180-310 ms without) */
        .spawn = {.arch = j->arch, .image = j->image, .bulk_bytes = j->slabs[0].bulk_bytes, .kvm = j->opts.kvm,
                  .group_mem = j->use_group ? &j->gm : NULL},
        .members = (unsigned)ns,
        .placement = j->opts.placement,
        .prepare = on_prepare,
        .on_event = on_pool_event,
        .heartbeat_timeout_ms = hang_timeout_ms(j->arch),
    };
    j->pool.data = j;
    int rc = mlos_pool_init(loop, &j->pool, &po);
    if (rc < 0) {
        snprintf(j->errbuf, sizeof(j->errbuf), "cannot start %d %s shards: %s", ns, j->arch, mlos_strerror(rc));
        return rc;
    }
    j->pool_open = 1;
    return 0;
}

/* Stop whatever shards a job holds and wait until they are gone. */
static void job_abort(struct job *j)
{
    job_end(j);
    while ((j->pool_open || j->group_open || j->gets_out) && uv_run(j->loop, UV_RUN_ONCE))
        ;
}

int neuro_prestart(uv_loop_t *loop, int nx, int ny, int nz, int with_atlas, const struct neuro_opts *opts,
                   struct neuro_prestart **out, char *err, size_t errlen)
{
    struct neuro_prestart *p = calloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return MLOS_ENOMEM;
    }
    rc = job_setup(&p->job, loop, nx, ny, nz, with_atlas, opts);
    if (rc < 0) {
        snprintf(err, errlen, "%s", p->job.errbuf);
        neuro_prestart_cancel(p);
        return rc;
    }
    *out = p;
    return 0;
}

void neuro_prestart_cancel(struct neuro_prestart *p)
{
    if (!p)
        return;
    job_abort(&p->job);
    job_free(&p->job);
    free(p);
}

int neuro_analyze(uv_loop_t *loop, const struct neuro_volume *vol, const struct neuro_opts *opts,
                  struct neuro_result *res, char *err, size_t errlen)
{
    uint64_t t_start = now_ns();
    struct neuro_prestart *pre = opts ? opts->prestart : NULL;
    const struct neuro_labels *atlas = opts ? opts->atlas : NULL;
    struct job *j;
    int rc;

    memset(res, 0, sizeof(*res));
    if (err && errlen)
        err[0] = 0;
    if (!vol || !vol->data) {
        neuro_prestart_cancel(pre);
        snprintf(err, errlen, "no image");
        return MLOS_EINVAL;
    }
    if (pre && (pre->job.nx != vol->nx || pre->job.ny != vol->ny || pre->job.nz != vol->nz ||
                (atlas && !pre->job.with_atlas) || pre->job.rc)) {
        neuro_prestart_cancel(pre); /* sized for another volume, or lost: start afresh */
        pre = NULL;
    }
    if (!(j = pre ? &pre->job : calloc(1, sizeof(*j)))) {
        snprintf(err, errlen, "out of memory");
        return MLOS_ENOMEM;
    }
    if (pre)
        j->opts.atlas = atlas;
    else if ((rc = job_setup(j, loop, vol->nx, vol->ny, vol->nz, atlas != NULL, opts)) < 0)
        goto fail;
    j->vol = vol, j->res = res;
    if (atlas && (atlas->nx != vol->nx || atlas->ny != vol->ny || atlas->nz != vol->nz)) {
        snprintf(j->errbuf, sizeof(j->errbuf), "atlas grid %dx%dx%d differs from the image's %dx%dx%d", atlas->nx,
                 atlas->ny, atlas->nz, vol->nx, vol->ny, vol->nz);
        rc = MLOS_EINVAL;
        goto fail;
    }
    size_t nxy = (size_t)vol->nx * vol->ny, n = nxy * vol->nz;
    int ns = j->nslabs;
    res->timing = calloc((size_t)ns, sizeof(struct neuro_shard_timing));
    res->smoothed = (struct neuro_volume){vol->nx, vol->ny, vol->nz, vol->dx, vol->dy, vol->dz,
                                          j->boxes ? NULL : malloc(n * sizeof(float))};
    res->seg = (struct neuro_labels){vol->nx, vol->ny, vol->nz, malloc(n * sizeof(int32_t))};
    if (!res->timing || (!j->boxes && !res->smoothed.data) || !res->seg.data) {
        snprintf(j->errbuf, sizeof(j->errbuf), "out of memory");
        rc = MLOS_ENOMEM;
        goto fail;
    }
    res->nshards = ns;

    uint64_t t_prep = now_ns();
    if (j->phase != PH_DONE) {
        /* the atlas map on a second thread while this one scans the range */
        struct prep_task at = {.j = j, .atlas = atlas};
        if (atlas)
            at.threaded = pthread_create(&at.th, NULL, prep_task_run, &at) == 0;
        /* without memory for the weights the even split stands */
        uint64_t *w = ns > 1 ? malloc((size_t)vol->nz * sizeof(uint64_t)) : NULL;
        quantize_plan(j, w);
        if (w)
            balance_slabs(j, w);
        free(w);
        double t_plan = ms_since(t_prep);
        if (atlas && at.threaded)
            pthread_join(at.th, NULL);
        else if (atlas)
            prep_task_run(&at);
        rc = at.rc;
        if (getenv("NEURO_DEBUG"))
            fprintf(stderr, "neuro: prep: range and split %.1f ms, atlas index %.1f ms (in parallel)\n", t_plan,
                    at.ms);
        if (rc == 0 && j->nreg) {
            j->reg_stats = calloc(3 * (j->nreg + 1ull), sizeof(uint64_t));
            if (!j->reg_stats)
                rc = -1;
        }
        if (rc == -2)
            job_fail(j, MLOS_EINVAL, "atlas has more than %d distinct labels", NEURO_MAX_REGIONS);
        else if (rc < 0)
            job_fail(j, MLOS_ENOMEM, "out of memory");
    }
    for (int i = 0; i < ns; i++)
        j->slabs[i].tm.z0 = j->slabs[i].z0, j->slabs[i].tm.z1 = j->slabs[i].z1;

    if (j->phase != PH_DONE) {
        struct prep_task *fill = calloc((size_t)ns, sizeof(*fill));
        for (int i = 0; i < ns && fill; i++) {
            struct slab *s = &j->slabs[i];
            s->stage = malloc(s->mask_off + s->nvs);
            fill[i] = (struct prep_task){.j = j, .s = s};
        }
        if (!fill) {
            job_fail(j, MLOS_ENOMEM, "out of memory");
        } else {
            prep_run_all(fill, ns);
            for (int i = 0; i < ns && j->phase != PH_DONE; i++) {
                j->slabs[i].tm.put_ms += fill[i].ms;
                if (fill[i].rc < 0)
                    job_fail(j, fill[i].rc, "slab %d: cannot write the slab: %s", i + 1, mlos_strerror(fill[i].rc));
                if (getenv("NEURO_DEBUG"))
                    fprintf(stderr, "neuro: prep: slab %d written in %.1f ms\n", i + 1, fill[i].ms);
            }
            free(fill);
        }
    }
    res->prep_ms = ms_since(t_prep);
    /* members that said HELLO meanwhile get their slab now */
    for (int i = 0; i < ns && j->phase != PH_DONE; i++) {
        struct slab *s = &j->slabs[i];
        s->staged = 1;
        if (s->waiting) {
            mlos_shard_t *w = s->waiting;
            s->waiting = NULL;
            slab_put_and_smooth(s, w);
        }
    }

    while (j->phase != PH_DONE || j->pool_open || j->group_open || j->gets_out)
        uv_run(loop, UV_RUN_ONCE);

    for (int i = 0; i < ns; i++)
        res->timing[i] = j->slabs[i].tm;
    if (!j->rc) {
        double vml = fabs(vol->dx * vol->dy * vol->dz) / 1000.0, scale = 1.0 / (256.0 * j->qs);
        for (int k = 0; k < 3; k++) {
            res->centers[k] = j->off + j->km.c[k] * scale;
            res->voxels[k] = j->km.voxels[k];
            res->ml[k] = (double)res->voxels[k] * vml;
        }
        res->iterations = j->km.iterations;
        if (j->nreg) {
            res->regions = calloc(j->nreg, sizeof(struct neuro_region));
            if (!res->regions) {
                j->rc = MLOS_ENOMEM;
                snprintf(j->errbuf, sizeof(j->errbuf), "out of memory");
            } else {
                const uint64_t *cnt = j->reg_stats, *sum = cnt + j->nreg + 1, *gm = sum + j->nreg + 1;
                for (uint32_t r = 1; r <= j->nreg; r++) {
                    struct neuro_region *g = &res->regions[r - 1];
                    g->label = j->reg_label[r];
                    g->voxels = cnt[r];
                    g->mean_smoothed = cnt[r] ? j->off + (double)sum[r] / (double)cnt[r] * scale : 0;
                    g->gm_ml = (double)gm[r] * vml;
                }
                res->nregions = j->nreg;
            }
        }
    }
    rc = j->rc;
    if (rc)
        snprintf(err, errlen, "%s", j->errbuf);
    job_free(j);
    free(pre ? (void *)pre : (void *)j);
    if (rc)
        neuro_result_free(res);
    else
        res->total_ms = ms_since(t_start);
    return rc;

fail:
    snprintf(err, errlen, "%s", j->errbuf);
    job_abort(j);
    job_free(j);
    free(pre ? (void *)pre : (void *)j);
    neuro_result_free(res);
    return rc;
}
