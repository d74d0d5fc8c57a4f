/* Built-in tasks that exercise a shard group from inside (run them with
 * mlos_group_call): every collective on generated inputs (group_gen.h),
 * messages around a ring, one-sided access with its checks, a lone get, a barrier
 * loop for failure tests, and timed loops for benchmarks. Outputs go to
 * the bulk window (offset 0) for the master to compare with a serial
 * computation; integers in arguments and results are little-endian. */
#include <stdint.h>
#include <string.h>

#include "group_check.h"
#include "group_gen.h"
#include "hal.h"
#include "mem.h"
#include "mlos_coll.h"
#include "mlos_endian.h"
#include "mlos_task.h"

static struct mlos_comm *need_comm(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = mlos_comm_self();
    if (!c)
        mlos_task_fail(ctx, MLOS_EINVAL, "not run as a group call (mlos_group_call)");
    return c;
}

static int comm_failed(struct mlos_task_ctx *ctx, struct mlos_comm *c, int rc)
{
    return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
}

/* One collective (group_check.h) into the bulk window at offset 0. */
static int run_one(struct mlos_task_ctx *ctx, struct mlos_comm *c, const uint8_t *arg, size_t *out_len)
{
    struct mlos_gc g;
    mlos_gc_decode(arg, (uint32_t)mlos_comm_rank(c), (uint32_t)mlos_comm_size(c), &g);
    if (g.out_len > ctx->bulk_len || g.in_len > ctx->bulk_len)
        return mlos_task_fail(ctx, MLOS_ERANGE, "output of %zu bytes does not fit the bulk window", g.out_len);
    uint8_t *in = mlos_malloc(g.in_len ? g.in_len : 1);
    if (!in)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory for %zu input bytes", g.in_len);
    int rc = mlos_gc_run(c, &g, in, ctx->bulk);
    mlos_free(in);
    if (rc < 0)
        return comm_failed(ctx, c, rc);
    *out_len = g.out_len;
    return 0;
}

/* Every collective on generated inputs. Argument: group_check.h's 32
 * bytes. Output: the collective's output at bulk offset 0. Result: le64
 * output bytes. */
static int group_check(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = need_comm(ctx);
    if (!c)
        return MLOS_EINVAL;
    if (ctx->arg_len != 32)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.check takes 32 bytes, got %zu", ctx->arg_len);
    const uint8_t *a = ctx->arg;
    size_t olen = 0;
    int rc = run_one(ctx, c, a, &olen);
    if (rc < 0)
        return rc;
    /* Typed results leave in the wire order (little-endian) for the master. */
    uint32_t which = mlos_get_le32(a);
    if ((which == MLOS_GC_REDUCE || which == MLOS_GC_ALLREDUCE) && mlos_get_le32(a + 8) != MLOS_COLL_USER && MLOS_HOST_BIG_ENDIAN)
        for (size_t i = 0; i + 8 <= olen; i += 8) {
            uint64_t v;
            memcpy(&v, ctx->bulk + i, 8);
            mlos_put_le64(ctx->bulk + i, v);
        }
    uint8_t res[8];
    mlos_put_le64(res, olen);
    return mlos_task_result(ctx, res, 8);
}
MLOS_TASK("group.check", group_check);

/* Messages around the ring: rank r sends len bytes (group_gen bytes of
 * rank r, seed) to r+1 and checks what r-1 sent. Argument: le64 len, le64
 * seed. Result: le64 bytes checked. */
static int group_p2p(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = need_comm(ctx);
    if (!c)
        return MLOS_EINVAL;
    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.p2p takes 16 bytes");
    uint64_t len = mlos_get_le64(ctx->arg), seed = mlos_get_le64(ctx->arg + 8);
    uint32_t me = (uint32_t)mlos_comm_rank(c), n = (uint32_t)mlos_comm_size(c);
    uint8_t *buf = mlos_malloc(2 * len + 1);
    if (!buf || n < 2)
        return mlos_task_fail(ctx, n < 2 ? MLOS_EINVAL : MLOS_ENOMEM, "need 2 ranks and %llu bytes",
                              (unsigned long long)len);
    for (uint64_t i = 0; i < len; i++)
        buf[i] = mlos_gg_byte(seed, me, i);
    uint32_t prev = (me + n - 1) % n, tag = 0;
    size_t got = 0;
    int rc;
    /* Even ranks send first, odd ones receive first: no ring of full sends. */
    if (me % 2 == 0) {
        rc = mlos_comm_send(c, (int)((me + 1) % n), 0x100 + me, buf, len);
        if (rc == 0)
            rc = mlos_comm_recv(c, (int)prev, buf + len, len, &got, &tag);
    } else {
        rc = mlos_comm_recv(c, (int)prev, buf + len, len, &got, &tag);
        if (rc == 0)
            rc = mlos_comm_send(c, (int)((me + 1) % n), 0x100 + me, buf, len);
    }
    if (rc < 0) {
        mlos_free(buf);
        return comm_failed(ctx, c, rc);
    }
    for (uint64_t i = 0; i < len; i++)
        if (buf[len + i] != mlos_gg_byte(seed, prev, i)) {
            mlos_free(buf);
            return mlos_task_fail(ctx, MLOS_EPROTO, "byte %llu from rank %u is wrong", (unsigned long long)i, prev);
        }
    mlos_free(buf);
    if (got != len || tag != 0x100 + prev)
        return mlos_task_fail(ctx, MLOS_EPROTO, "got %zu bytes tag 0x%x from rank %u", got, tag, prev);
    /* Too small a buffer: the message is dropped whole, the next one is intact. */
    uint8_t small[4];
    if (me == 0) {
        rc = mlos_comm_send(c, 1, 7, "0123456789", 10);
        if (rc == 0)
            rc = mlos_comm_send(c, 1, 8, "ok", 2);
    } else if (me == 1) {
        rc = mlos_comm_recv(c, 0, small, sizeof(small), &got, &tag);
        if (rc != MLOS_ETOOBIG || got != 10)
            return mlos_task_fail(ctx, MLOS_EPROTO, "oversized message: rc %d len %zu", rc, got);
        rc = mlos_comm_recv(c, 0, small, sizeof(small), &got, &tag);
        if (rc == 0 && (got != 2 || tag != 8 || memcmp(small, "ok", 2)))
            return mlos_task_fail(ctx, MLOS_EPROTO, "message after the dropped one is wrong");
    }
    if (rc < 0)
        return comm_failed(ctx, c, rc);
    uint8_t res[8];
    mlos_put_le64(res, len);
    return mlos_task_result(ctx, res, 8);
}
MLOS_TASK("group.p2p", group_p2p);

/* One-sided access: every rank exposes bulk [0, len) read-write and [len,
 * 2 len) read-only, the keys are allgathered, rank r puts len bytes into
 * r+1's first region, and after a barrier gets them back and checks them.
 * Then the checks the target makes: result (7 x le32) = status of a put
 * with a wrong key, past the end, into the read-only region, a get from
 * the read-only region (0), a get past the end, a get with an unexposed
 * key, and a zero-byte put (0). Argument: le64 len, le64 seed. */
static int group_rma(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = need_comm(ctx);
    if (!c)
        return MLOS_EINVAL;
    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.rma takes 16 bytes");
    uint64_t len = mlos_get_le64(ctx->arg), seed = mlos_get_le64(ctx->arg + 8);
    uint32_t me = (uint32_t)mlos_comm_rank(c), n = (uint32_t)mlos_comm_size(c);
    if (n < 2 || 3 * len > ctx->bulk_len || !len)
        return mlos_task_fail(ctx, MLOS_EINVAL, "need 2 ranks and 3 x %llu bulk bytes", (unsigned long long)len);
    uint64_t keys[2];
    uint8_t wire[16], all[16 * 64];
    int rc = mlos_comm_expose(c, ctx->bulk, len, MLOS_COMM_READ | MLOS_COMM_WRITE, &keys[0]);
    if (rc == 0)
        rc = mlos_comm_expose(c, ctx->bulk + len, len, MLOS_COMM_READ, &keys[1]);
    /* Keys are numbers: little-endian on the wire, since a group may mix
     * byte orders (a PowerPC member beside x86_64 ones). */
    mlos_put_le64(wire, keys[0]);
    mlos_put_le64(wire + 8, keys[1]);
    if (rc == 0)
        rc = mlos_allgather(c, wire, sizeof(wire), all);
    if (rc < 0)
        return comm_failed(ctx, c, rc);
    uint8_t *src = ctx->bulk + 2 * len;
    for (uint64_t i = 0; i < len; i++)
        src[i] = mlos_gg_byte(seed, me, i);
    uint32_t next = (me + 1) % n, prev = (me + n - 1) % n;
    uint64_t kn = mlos_get_le64(all + 16 * next), kro = mlos_get_le64(all + 16 * next + 8);
    rc = mlos_comm_put(c, (int)next, kn, 0, src, len);
    if (rc == 0)
        rc = mlos_barrier(c);
    if (rc < 0)
        return comm_failed(ctx, c, rc);
    /* What prev put into my region */
    for (uint64_t i = 0; i < len; i++)
        if (ctx->bulk[i] != mlos_gg_byte(seed, prev, i))
            return mlos_task_fail(ctx, MLOS_EPROTO, "byte %llu put by rank %u is wrong", (unsigned long long)i, prev);
    memset(src, 0, len);
    rc = mlos_comm_get(c, (int)next, kn, 0, src, len);
    if (rc < 0)
        return comm_failed(ctx, c, rc);
    if (memcmp(src, ctx->bulk, 0) || src[len - 1] != mlos_gg_byte(seed, me, len - 1) || src[0] != mlos_gg_byte(seed, me, 0))
        return mlos_task_fail(ctx, MLOS_EPROTO, "get from rank %u returned other bytes", next);
    uint8_t res[28];
    mlos_put_le32(res + 0, (uint32_t)mlos_comm_put(c, (int)next, kn ^ 1, 0, src, 8));
    mlos_put_le32(res + 4, (uint32_t)mlos_comm_put(c, (int)next, kn, len - 4, src, 8));
    mlos_put_le32(res + 8, (uint32_t)mlos_comm_put(c, (int)next, kro, 0, src, 8));
    mlos_put_le32(res + 12, (uint32_t)mlos_comm_get(c, (int)next, kro, 0, src, 8));
    mlos_put_le32(res + 16, (uint32_t)mlos_comm_get(c, (int)next, kro, len, src, 1));
    mlos_put_le32(res + 20, (uint32_t)mlos_comm_get(c, (int)next, 0x1234, 0, src, 8));
    mlos_put_le32(res + 24, (uint32_t)mlos_comm_put(c, (int)next, kn, len, src, 0));
    /* Nobody leaves while a peer may still ask: the regions go with the call. */
    if ((rc = mlos_barrier(c)) < 0)
        return comm_failed(ctx, c, rc);
    return mlos_task_result(ctx, res, sizeof(res));
}
MLOS_TASK("group.rma", group_rma);

/* One get from a peer's region and nothing else, for tests of a target
 * that is in no comm call (between calls its regions are gone: it
 * answers MLOS_EKEY). Argument: le32 peer, le32 len (<= bulk), le64 key.
 * Result: le32 status of the get. */
static int group_get(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = need_comm(ctx);
    if (!c)
        return MLOS_EINVAL;
    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.get takes 16 bytes");
    uint32_t peer = mlos_get_le32(ctx->arg), len = mlos_get_le32(ctx->arg + 4);
    if (len > ctx->bulk_len)
        return mlos_task_fail(ctx, MLOS_ERANGE, "%u bytes do not fit the bulk window", len);
    uint8_t res[4];
    mlos_put_le32(res, (uint32_t)mlos_comm_get(c, (int)peer, mlos_get_le64(ctx->arg + 8), 0, ctx->bulk, len));
    return mlos_task_result(ctx, res, sizeof(res));
}
MLOS_TASK("group.get", group_get);

/* Barriers until one fails (or le32 count of them, if nonzero): for
 * failure tests, the error names the rank that went down. An optional
 * second le32, rank + 1: that rank fails its task at once instead, while
 * the others wait for it in their first barrier. */
static int group_barriers(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = need_comm(ctx);
    if (!c)
        return MLOS_EINVAL;
    uint32_t count = ctx->arg_len >= 4 ? mlos_get_le32(ctx->arg) : 0;
    if (ctx->arg_len >= 8 && mlos_get_le32(ctx->arg + 4) == (uint32_t)mlos_comm_rank(c) + 1)
        return mlos_task_fail(ctx, MLOS_ETASK, "rank %d was asked to fail", mlos_comm_rank(c));
    for (uint32_t i = 0; !count || i < count; i++) {
        int rc = mlos_barrier(c);
        if (rc < 0)
            return comm_failed(ctx, c, rc);
    }
    return 0;
}
MLOS_TASK("group.barriers", group_barriers);

/* Timed loop of one collective for benchmarks. Argument: le32 which
 * (GC_*), le32 iterations (<= 4096), le64 bytes (allreduce: f64 sum of
 * bytes/8 elements; bcast: bytes from root 0). Result: le64 ns of each
 * iteration, this rank's clock, after a barrier. */
static int group_bench(struct mlos_task_ctx *ctx)
{
    struct mlos_comm *c = need_comm(ctx);
    if (!c)
        return MLOS_EINVAL;
    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.bench takes 16 bytes");
    uint32_t which = mlos_get_le32(ctx->arg), iters = mlos_get_le32(ctx->arg + 4);
    uint64_t bytes = mlos_get_le64(ctx->arg + 8);
    if (iters == 0 || iters > 4096 || 2 * bytes > ctx->bulk_len)
        return mlos_task_fail(ctx, MLOS_EINVAL, "1..4096 iterations of at most half the bulk window");
    uint64_t *t = mlos_malloc(iters * 8);
    if (!t)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory");
    uint8_t *in = ctx->bulk, *out = ctx->bulk + bytes;
    int rc = mlos_barrier(c);
    for (uint32_t i = 0; rc == 0 && i < iters; i++) {
        uint64_t t0 = mlos_hal_now_ns();
        switch (which) {
        case MLOS_GC_BARRIER: rc = mlos_barrier(c); break;
        case MLOS_GC_BCAST: rc = mlos_bcast(c, in, bytes, 0); break;
        case MLOS_GC_ALLREDUCE: rc = mlos_allreduce(c, in, out, bytes / 8, MLOS_COLL_F64, MLOS_COLL_SUM); break;
        default: rc = MLOS_EINVAL;
        }
        t[i] = mlos_hal_now_ns() - t0;
    }
    if (rc < 0) {
        mlos_free(t);
        return comm_failed(ctx, c, rc);
    }
    for (uint32_t i = 0; i < iters; i++)
        mlos_put_le64((uint8_t *)&t[i], t[i]);
    rc = mlos_task_result(ctx, t, iters * 8);
    mlos_free(t);
    return rc;
}
MLOS_TASK("group.bench", group_bench);

/* The first bytes of the bulk window, where group.check left its output:
 * how a master reads it back from a shard behind a node agent (no
 * mlos_get there). Argument: le64 length (at most 512 KiB and the window).
 * Result: those bytes. */
static int group_out(struct mlos_task_ctx *ctx)
{
    if (ctx->arg_len != 8)
        return mlos_task_fail(ctx, MLOS_EINVAL, "group.out takes 8 bytes");
    uint64_t len = mlos_get_le64(ctx->arg);
    if (len > (512u << 10) || len > ctx->bulk_len)
        return mlos_task_fail(ctx, MLOS_ERANGE, "group.out: %llu bytes is more than 512 KiB or the window",
                              (unsigned long long)len);
    return mlos_task_result(ctx, ctx->bulk, (size_t)len);
}
MLOS_TASK("group.out", group_out);
