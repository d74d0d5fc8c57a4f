/* tasks_neuro.c -- slave tasks of the neuro analysis (wire formats and bulk
 * layouts in neuro_core.h):
 *   neuro_smooth  smooth a slab, order its masked values by a histogram,
 *                 keep their distinct values with prefix counts and sums
 *   neuro_kstep   counts and sums below two thresholds (one Lloyd step)
 *   neuro_kmeans  every Lloyd step, as a group call: the slaves allreduce
 *                 their counts and sums among themselves
 *   neuro_finish  label the slab, per-region statistics
 * Stateless: every argument names the bulk regions it uses, so a replaced
 * shard only needs its slab put again and neuro_smooth re-run.
 * Built into neuro's own slave images with the SDK (`mlos build`, see
 * meson.build): only <mlos/task.h> and the SDK's libc subset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mlos/coll.h>
#include <mlos/task.h>

#include "neuro_core.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NEURO_BIG_ENDIAN 1
#else
#define NEURO_BIG_ENDIAN 0
#endif

/* Little-endian bulk arrays <-> native order, in place (no-ops here on
 * little-endian shards). */
static void swap16(uint16_t *a, size_t n)
{
    if (NEURO_BIG_ENDIAN)
        for (size_t i = 0; i < n; i++)
            a[i] = mlos_get_le16((const uint8_t *)&a[i]);
}
static void swap32(uint32_t *a, size_t n)
{
    if (NEURO_BIG_ENDIAN)
        for (size_t i = 0; i < n; i++)
            a[i] = mlos_get_le32((const uint8_t *)&a[i]);
}
static void swap64(uint64_t *a, size_t n)
{
    if (NEURO_BIG_ENDIAN)
        for (size_t i = 0; i < n; i++)
            a[i] = mlos_get_le64((const uint8_t *)&a[i]);
}

/* [off, off+len) inside the bulk window and 8-byte aligned? */
static int in_bulk(const struct mlos_task_ctx *ctx, uint64_t off, uint64_t len)
{
    return ctx->bulk && (off & 7) == 0 && off <= ctx->bulk_len && len <= ctx->bulk_len - off;
}

#define NEED_BULK(ctx, what, off, len)                                                                           \
    do {                                                                                                         \
        if (!in_bulk(ctx, off, len))                                                                             \
            return mlos_task_fail(ctx, MLOS_ERANGE, "%s [%llu, +%llu) is not aligned inside the %zu-byte bulk window", \
                                  what, (unsigned long long)(off), (unsigned long long)(len), ctx->bulk_len);    \
    } while (0)

/* The nz boxes at off (little-endian uint32 x0 x1 y0 y1 each), checked to
 * lie inside an nx*ny slice, decoded into *out (free it). Returns 0 or
 * a task error. The bulk copy is left as it is: two tasks read it. */
static int load_boxes(struct mlos_task_ctx *ctx, uint64_t off, uint64_t nz, uint32_t nx, uint32_t ny,
                      struct neuro_box **out)
{
    struct neuro_box *b;

    NEED_BULK(ctx, "boxes", off, 16 * nz);
    if (!(b = malloc(nz ? nz * sizeof(*b) : 1)))
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory for %llu boxes", (unsigned long long)nz);
    for (uint64_t z = 0; z < nz; z++) {
        const uint8_t *p = ctx->bulk + off + 16 * z;
        b[z] = (struct neuro_box){mlos_get_le32(p), mlos_get_le32(p + 4), mlos_get_le32(p + 8),
                                  mlos_get_le32(p + 12)};
        if (b[z].x0 > b[z].x1 || b[z].x1 > nx || b[z].y0 > b[z].y1 || b[z].y1 > ny) {
            struct neuro_box bad = b[z]; /* named in the message, after b is freed */
            free(b);
            return mlos_task_fail(ctx, MLOS_EINVAL, "box of slice %llu, [%u,%u) x [%u,%u), is not inside %ux%u",
                                  (unsigned long long)z, bad.x0, bad.x1, bad.y0, bad.y1, nx, ny);
        }
    }
    *out = b;
    return 0;
}

static int neuro_smooth(struct mlos_task_ctx *ctx)
{
    struct neuro_smooth_arg a;
    struct neuro_smooth_res r = {0};
    uint8_t out[NEURO_SMOOTH_RES_WIRE];

    if (ctx->arg_len != NEURO_SMOOTH_ARG_WIRE)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_smooth wants %d argument bytes, got %zu",
                              NEURO_SMOOTH_ARG_WIRE, ctx->arg_len);
    neuro_smooth_arg_dec(ctx->arg, &a);
    if (a.nx == 0 || a.ny == 0 || a.nz_out == 0 || a.nx > 65536 || a.ny > 65536 || a.nz_in > 65536 ||
        a.z_off + (uint64_t)a.nz_out > a.nz_in || a.radius > NEURO_MAX_RADIUS)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_smooth: bad geometry %ux%u, slices %u+%u of %u, radius %u",
                              a.nx, a.ny, a.z_off, a.nz_out, a.nz_in, a.radius);
    uint64_t nxy = (uint64_t)a.nx * a.ny, n = nxy * a.nz_out, row = a.nx + 2ull * a.radius;
    uint64_t need_scratch = 4ull * NEURO_F_BINS + 8 * (nxy + row);
    uint64_t dmax = a.m < NEURO_F_BINS ? a.m : NEURO_F_BINS;
    if (a.m > n)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_smooth: %u masked voxels in a %llu-voxel slab", a.m,
                              (unsigned long long)n);
    NEED_BULK(ctx, "input", a.in_off, 2 * nxy * a.nz_in);
    NEED_BULK(ctx, "mask", a.mask_off, n);
    NEED_BULK(ctx, "smoothed", a.f_off, 4 * n);
    NEED_BULK(ctx, "sorted", a.sorted_off, 4 * dmax);
    NEED_BULK(ctx, "prefix", a.prefix_off, 16 * dmax + 16);
    NEED_BULK(ctx, "scratch", a.scratch_off, a.scratch_len);
    if (a.scratch_len < need_scratch)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_smooth: scratch of %llu bytes, need %llu",
                              (unsigned long long)a.scratch_len, (unsigned long long)need_scratch);

    struct neuro_box *boxes = NULL;
    int rc;
    if ((a.flags & NEURO_FLAG_BOXES) && (rc = load_boxes(ctx, a.box_off, a.nz_out, a.nx, a.ny, &boxes)) < 0)
        return rc;

    uint16_t *in = (uint16_t *)(ctx->bulk + a.in_off);
    const uint8_t *mask = ctx->bulk + a.mask_off;
    uint32_t *f = (uint32_t *)(ctx->bulk + a.f_off);
    uint32_t *sorted = (uint32_t *)(ctx->bulk + a.sorted_off);
    uint64_t *prefix = (uint64_t *)(ctx->bulk + a.prefix_off);
    uint32_t *hist = (uint32_t *)(ctx->bulk + a.scratch_off);
    uint8_t *scratch = ctx->bulk + a.scratch_off + 4ull * NEURO_F_BINS;

    uint64_t t0 = mlos_task_now_ns();
    swap16(in, nxy * a.nz_in);
    if (a.flags & NEURO_FLAG_FLOAT) {
        float w[NEURO_MAX_RADIUS + 1];
        for (uint32_t i = 0; i <= a.radius; i++)
            memcpy(&w[i], &a.w[i], 4);
        neuro_smooth_float(in, (int)a.nx, (int)a.ny, (int)a.nz_in, (int)a.z_off, (int)a.nz_out, w, (int)a.radius,
                           f, (float *)scratch, (float *)(scratch + 4 * (nxy + row)));
    } else {
        uint16_t w[NEURO_MAX_RADIUS + 1];
        uint32_t sum = 0;
        for (uint32_t i = 0; i <= a.radius; i++) {
            w[i] = (uint16_t)a.w[i];
            sum += (i ? 2 : 1) * a.w[i];
        }
        if (sum != NEURO_W_ONE) {
            free(boxes);
            return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_smooth: weights sum to %u, not %u", sum, NEURO_W_ONE);
        }
        neuro_smooth_fixed(in, (int)a.nx, (int)a.ny, (int)a.nz_in, (int)a.z_off, (int)a.nz_out, w, (int)a.radius,
                           f, (uint32_t *)scratch, boxes);
    }
    free(boxes);
    uint64_t t1 = mlos_task_now_ns();

    memset(hist, 0, 4ull * NEURO_F_BINS);
    size_t m = neuro_hist_masked(f, mask, n, hist, NEURO_F_BINS);
    if (m == (size_t)-1)
        return mlos_task_fail(ctx, MLOS_ERANGE, "neuro_smooth: a smoothed value is >= %u", NEURO_F_BINS);
    if (m != a.m)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_smooth: mask has %zu voxels set, argument says %u", m, a.m);
    size_t d = neuro_hist_compact(hist, NEURO_F_BINS, sorted, prefix);
    swap32(f, n);
    r.m = m;
    r.d = d;
    r.fmin = d ? sorted[0] : 0;
    r.fmax = d ? sorted[d - 1] : 0;
    r.sum = prefix[2 * d + 1];
    r.smooth_ns = t1 - t0;
    r.sort_ns = mlos_task_now_ns() - t1;
    neuro_smooth_res_enc(&r, out);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("neuro_smooth", neuro_smooth);

/* Counts and sums of the slab's masked values <= t1 and <= t2:
 * {n1, s1, n2, s2}. sorted/prefix as neuro_smooth left them (checked). */
static void kstep_sums(const uint32_t *sorted, const uint64_t *prefix, uint64_t d, uint32_t t1, uint32_t t2,
                       uint64_t out[4])
{
    size_t i1 = neuro_count_le(sorted, d, t1), i2 = neuro_count_le(sorted, d, t2);
    out[0] = prefix[2 * i1], out[1] = prefix[2 * i1 + 1];
    out[2] = prefix[2 * i2], out[3] = prefix[2 * i2 + 1];
}

/* The d distinct values and their prefixes that neuro_smooth left at
 * sorted_off and prefix_off, checked to lie in the bulk window. */
static int slab_values(struct mlos_task_ctx *ctx, const char *task, uint64_t sorted_off, uint64_t prefix_off,
                       uint64_t d, const uint32_t **sorted, const uint64_t **prefix)
{
    if (d > ctx->bulk_len / 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "%s: %llu values cannot fit", task, (unsigned long long)d);
    NEED_BULK(ctx, "sorted", sorted_off, 4 * d);
    NEED_BULK(ctx, "prefix", prefix_off, 16 * d + 16);
    *sorted = (const uint32_t *)(ctx->bulk + sorted_off);
    *prefix = (const uint64_t *)(ctx->bulk + prefix_off);
    return 0;
}

static int neuro_kstep(struct mlos_task_ctx *ctx)
{
    struct neuro_kstep_arg a;
    struct neuro_kstep_res r;
    uint8_t out[NEURO_KSTEP_RES_WIRE];

    if (ctx->arg_len != NEURO_KSTEP_ARG_WIRE)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_kstep wants %d argument bytes, got %zu", NEURO_KSTEP_ARG_WIRE,
                              ctx->arg_len);
    neuro_kstep_arg_dec(ctx->arg, &a);
    const uint32_t *sorted;
    const uint64_t *prefix;
    int rc = slab_values(ctx, "neuro_kstep", a.sorted_off, a.prefix_off, a.d, &sorted, &prefix);
    if (rc < 0)
        return rc;
    uint64_t t[4];
    kstep_sums(sorted, prefix, a.d, a.t1, a.t2, t);
    r = (struct neuro_kstep_res){t[0], t[1], t[2], t[3]};
    neuro_kstep_res_enc(&r, out);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("neuro_kstep", neuro_kstep);

static int neuro_kmeans(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = mlos_comm_self();
    struct neuro_kmeans_arg a;
    struct neuro_kmeans_slab sl;
    struct neuro_kmeans_res r = {0};
    uint8_t out[NEURO_KMEANS_RES_WIRE];

    if (!c)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_kmeans runs as a group call (mlos_group_call)");
    int rank = mlos_comm_rank(c), size = mlos_comm_size(c);
    if (ctx->arg_len < NEURO_KMEANS_ARG_WIRE)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_kmeans wants at least %d argument bytes, got %zu",
                              NEURO_KMEANS_ARG_WIRE, ctx->arg_len);
    neuro_kmeans_arg_dec(ctx->arg, &a);
    if (a.n != (uint32_t)size || ctx->arg_len != NEURO_KMEANS_ARG_WIRE + (size_t)a.n * NEURO_KMEANS_SLAB_WIRE)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_kmeans: %zu argument bytes for %u slabs in a group of %d",
                              ctx->arg_len, a.n, size);
    if (a.max_iter > NEURO_KMEANS_MAX_ITER)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_kmeans: %u iterations asked, at most %d", a.max_iter,
                              NEURO_KMEANS_MAX_ITER);
    neuro_kmeans_slab_dec(ctx->arg + NEURO_KMEANS_ARG_WIRE + (size_t)rank * NEURO_KMEANS_SLAB_WIRE, &sl);
    const uint32_t *sorted;
    const uint64_t *prefix;
    int src = slab_values(ctx, "neuro_kmeans", sl.sorted_off, sl.prefix_off, sl.d, &sorted, &prefix);
    if (src < 0)
        return src;

    struct neuro_kmeans k;
    double c0[3];
    for (int i = 0; i < 3; i++)
        c0[i] = neuro_f64_from_bits(a.c_bits[i]);
    neuro_kmeans_start(&k, c0, a.mtot, a.stot, (int)a.max_iter);
    for (;;) {
        uint64_t mine[4], all[4];
        kstep_sums(sorted, prefix, sl.d, k.t1, k.t2, mine);
        int rc = mlos_allreduce(c, mine, all, 4, MLOS_COLL_U64, MLOS_COLL_SUM);
        if (rc < 0)
            return mlos_task_fail(ctx, rc, "neuro_kmeans: allreduce of step %d: %s", k.round + 1,
                                  mlos_comm_error(c));
        r.rounds++;
        if (all[0] > a.mtot || all[2] > a.mtot || all[1] > a.stot || all[3] > a.stot)
            return mlos_task_fail(ctx, MLOS_EPROTO,
                                  "neuro_kmeans: step %d counted %llu and %llu of %llu voxels: a peer's sums are wrong",
                                  k.round + 1, (unsigned long long)all[0], (unsigned long long)all[2],
                                  (unsigned long long)a.mtot);
        if (neuro_kmeans_next(&k, all))
            break;
    }
    for (int i = 0; i < 3; i++)
        r.voxels[i] = k.voxels[i], r.c_bits[i] = neuro_f64_bits(k.c[i]);
    r.t1 = k.t1, r.t2 = k.t2, r.iterations = (uint32_t)k.iterations;
    neuro_kmeans_res_enc(&r, out);
    return mlos_task_result(ctx, out, sizeof(out));
}
MLOS_TASK("neuro_kmeans", neuro_kmeans);

static int neuro_finish(struct mlos_task_ctx *ctx)
{
    struct neuro_finish_arg a;

    if (ctx->arg_len != NEURO_FINISH_ARG_WIRE)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_finish wants %d argument bytes, got %zu",
                              NEURO_FINISH_ARG_WIRE, ctx->arg_len);
    neuro_finish_arg_dec(ctx->arg, &a);
    if (a.n > ctx->bulk_len || a.nreg > NEURO_MAX_REGIONS)
        return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_finish: %llu voxels, %u regions", (unsigned long long)a.n,
                              a.nreg);
    NEED_BULK(ctx, "smoothed", a.f_off, 4 * a.n);
    NEED_BULK(ctx, "mask", a.mask_off, a.n);
    NEED_BULK(ctx, "labels", a.seg_off, a.n);
    uint32_t *f = (uint32_t *)(ctx->bulk + a.f_off);
    const uint8_t *mask = ctx->bulk + a.mask_off;
    uint8_t *seg = ctx->bulk + a.seg_off;

    uint64_t nxy = (uint64_t)a.nx * a.ny, sn = 3 * (a.nreg + 1ull);
    struct neuro_box *boxes = NULL;
    uint16_t *idx = NULL;
    uint64_t *st = NULL;
    int rc;
    if (a.flags & NEURO_FLAG_BOXES) {
        if (nxy == 0 || a.n % nxy)
            return mlos_task_fail(ctx, MLOS_EINVAL, "neuro_finish: %llu voxels are not slices of %ux%u",
                                  (unsigned long long)a.n, a.nx, a.ny);
        if ((rc = load_boxes(ctx, a.box_off, a.n / nxy, a.nx, a.ny, &boxes)) < 0)
            return rc;
    }
    if (a.nreg) {
        if (!in_bulk(ctx, a.idx_off, 2 * a.n) || !in_bulk(ctx, a.stats_off, 8 * sn)) {
            free(boxes);
            return mlos_task_fail(ctx, MLOS_ERANGE, "neuro_finish: region index or stats outside the bulk window");
        }
        idx = (uint16_t *)(ctx->bulk + a.idx_off);
        st = (uint64_t *)(ctx->bulk + a.stats_off);
        memset(st, 0, 8 * sn);
        swap16(idx, a.n);
    }

    swap32(f, a.n);
    if (!boxes) {
        neuro_label(f, mask, a.n, a.t1, a.t2, seg);
        if (idx)
            neuro_region_stats(f, seg, idx, a.n, a.nreg, st, st + a.nreg + 1, st + 2 * (a.nreg + 1));
    } else {
        /* only the boxes: seg is 0 elsewhere, where no voxel is masked or
         * in a region */
        memset(seg, 0, a.n);
        for (uint64_t z = 0; z < a.n / nxy; z++)
            for (uint32_t y = boxes[z].y0; y < boxes[z].y1 && boxes[z].x0 < boxes[z].x1; y++) {
                uint64_t i = nxy * z + (uint64_t)a.nx * y + boxes[z].x0, w = boxes[z].x1 - boxes[z].x0;
                neuro_label(f + i, mask + i, w, a.t1, a.t2, seg + i);
                if (idx)
                    neuro_region_stats(f + i, seg + i, idx + i, w, a.nreg, st, st + a.nreg + 1,
                                       st + 2 * (a.nreg + 1));
            }
        free(boxes);
    }
    if (st)
        swap64(st, sn);
    swap32(f, a.n);
    return mlos_task_result(ctx, NULL, 0);
}
MLOS_TASK("neuro_finish", neuro_finish);
