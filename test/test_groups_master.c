/* The master as a member of a shard group: every collective with the
 * master at rank 0 and at a middle rank (N = 2, 3, 5) against a serial
 * computation, f64 results byte-identical to an all-shard group of the
 * same N, messages and one-sided access with the master, a member killed and a member frozen while the master waits
 * (MLOS_ESHARDDIED naming the rank, then re-formed and run again), a
 * member overrunning the call's deadline, a hostile peer writing garbage
 * into the master's ring, and bad options.
 *
 *   test_groups_master process | peers | failure | deadline | hostile | errors | x86_64 | mixed
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "group.h"
#include "group_call.h"
#include "group_ref.h"
#include "group_wire.h"
#include "mlos.h"
#include "mlos_coll.h"
#include "mlos_endian.h"
#include "mlos_group.h"
#include "mlos_task_api.h"
#include "ring.h"

#define OUT_BYTES (4u << 20)

static uv_loop_t *loop;
static mlos_group_mem_t gm;
static uint8_t *exp_buf, *got_buf, *master_out; /* master_out: the master rank's output */

static void spawn(mlos_shard_t *s, const char *arch)
{
    struct mlos_spawn_opts o = {.arch = arch, .group_mem = &gm, .mem_bytes = 16u << 20,
                                .bulk_bytes = 2u << 20, .ring_bytes = 1u << 20};
    int rc = mlos_spawn_sync(loop, s, &o);
    if (rc)
        fprintf(stderr, "spawn %s: %s\n%s\n", arch, mlos_strerror(rc), mlos_shard_console_tail(s));
    CHECK_EQ(rc, 0);
}

/* ---- the master's side of the group.check task (group_tasks.c) ----
 * The same argument, the same inputs (group_gen.h), the same collective
 * calls; the output goes to master_out, the master's C heap in place of
 * a shard's bulk window and heap. */
static int master_check(struct mlos_task_ctx *ctx, void *data)
{
    struct mlos_comm *c = mlos_comm_self();
    if (!c || ctx->arg_len != 32)
        return mlos_task_fail(ctx, MLOS_EINVAL, "no group on the master's rank, or not 32 bytes (%zu)", ctx->arg_len);
    struct mlos_gc g;
    mlos_gc_decode(ctx->arg, (uint32_t)mlos_comm_rank(c), (uint32_t)mlos_comm_size(c), &g);
    if (g.out_len > OUT_BYTES)
        return mlos_task_fail(ctx, MLOS_ERANGE, "output of %zu bytes", g.out_len);
    uint8_t *in = malloc(g.in_len ? g.in_len : 1);
    if (!in)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory");
    int rc = mlos_gc_run(c, &g, in, data);
    free(in);
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    uint8_t res[8];
    mlos_put_le64(res, g.out_len);
    return mlos_task_result(ctx, res, 8);
}

/* group.p2p's twin: rank r sends len bytes (group_gen bytes of r) to r+1
 * and checks what r-1 sent; then rank 0 sends rank 1 a message too large
 * for its buffer and one that fits. Argument: le64 len, le64 seed. */
static int master_p2p(struct mlos_task_ctx *ctx, void *data)
{
    struct mlos_comm *c = mlos_comm_self();
    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "16 bytes");
    uint64_t len = mlos_get_le64(ctx->arg), seed = mlos_get_le64(ctx->arg + 8);
    uint32_t me = (uint32_t)mlos_comm_rank(c), n = (uint32_t)mlos_comm_size(c);
    uint8_t *buf = malloc(2 * len + 1);
    if (!buf)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory");
    for (uint64_t i = 0; i < len; i++)
        buf[i] = mlos_gg_byte(seed, me, i);
    uint32_t prev = (me + n - 1) % n, tag = 0;
    size_t got = 0;
    int rc;
    if (me % 2 == 0) {
        rc = mlos_comm_send(c, (int)((me + 1) % n), 0x100 + me, buf, len);
        if (rc == 0)
            rc = mlos_comm_recv(c, (int)prev, buf + len, len, &got, &tag);
    } else {
        rc = mlos_comm_recv(c, (int)prev, buf + len, len, &got, &tag);
        if (rc == 0)
            rc = mlos_comm_send(c, (int)((me + 1) % n), 0x100 + me, buf, len);
    }
    for (uint64_t i = 0; rc == 0 && i < len; i++)
        if (buf[len + i] != mlos_gg_byte(seed, prev, i))
            rc = mlos_task_fail(ctx, MLOS_EPROTO, "byte %llu from rank %u is wrong", (unsigned long long)i, prev);
    free(buf);
    if (rc < 0)
        return ctx->error[0] ? rc : mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    if (got != len || tag != 0x100 + prev)
        return mlos_task_fail(ctx, MLOS_EPROTO, "got %zu bytes tag 0x%x from rank %u", got, tag, prev);
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
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    uint8_t res[8];
    mlos_put_le64(res, len);
    return mlos_task_result(ctx, res, 8);
}

/* group.rma's twin over data (3 len bytes of the master's memory in place
 * of a bulk window): expose [0, len) read-write and [len, 2 len)
 * read-only, allgather the keys, put to r+1, barrier, check what r-1 put,
 * get it back from r+1; then the target's checks (7 x le32 statuses). */
static int master_rma(struct mlos_task_ctx *ctx, void *data)
{
    struct mlos_comm *c = mlos_comm_self();
    uint8_t *mem = data;
    if (ctx->arg_len != 16)
        return mlos_task_fail(ctx, MLOS_EINVAL, "16 bytes");
    uint64_t len = mlos_get_le64(ctx->arg), seed = mlos_get_le64(ctx->arg + 8);
    uint32_t me = (uint32_t)mlos_comm_rank(c), n = (uint32_t)mlos_comm_size(c);
    uint64_t keys[2], all[2 * 64];
    int rc = mlos_comm_expose(c, mem, len, MLOS_COMM_READ | MLOS_COMM_WRITE, &keys[0]);
    if (rc == 0)
        rc = mlos_comm_expose(c, mem + len, len, MLOS_COMM_READ, &keys[1]);
    if (rc == 0)
        rc = mlos_allgather(c, keys, sizeof(keys), all);
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    uint8_t *src = mem + 2 * len;
    for (uint64_t i = 0; i < len; i++)
        src[i] = mlos_gg_byte(seed, me, i);
    uint32_t next = (me + 1) % n, prev = (me + n - 1) % n;
    uint64_t kn = all[2 * next], kro = all[2 * next + 1];
    rc = mlos_comm_put(c, (int)next, kn, 0, src, len);
    if (rc == 0)
        rc = mlos_barrier(c);
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    for (uint64_t i = 0; i < len; i++)
        if (mem[i] != mlos_gg_byte(seed, prev, i))
            return mlos_task_fail(ctx, MLOS_EPROTO, "byte %llu put by rank %u is wrong", (unsigned long long)i, prev);
    memset(src, 0, len);
    if ((rc = mlos_comm_get(c, (int)next, kn, 0, src, len)) < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    for (uint64_t i = 0; i < len; i++)
        if (src[i] != mlos_gg_byte(seed, me, i))
            return mlos_task_fail(ctx, MLOS_EPROTO, "get from rank %u returned other bytes", next);
    uint8_t res[28];
    mlos_put_le32(res + 0, (uint32_t)mlos_comm_put(c, (int)next, kn ^ 1, 0, src, 8));
    mlos_put_le32(res + 4, (uint32_t)mlos_comm_put(c, (int)next, kn, len - 4, src, 8));
    mlos_put_le32(res + 8, (uint32_t)mlos_comm_put(c, (int)next, kro, 0, src, 8));
    mlos_put_le32(res + 12, (uint32_t)mlos_comm_get(c, (int)next, kro, 0, src, 8));
    mlos_put_le32(res + 16, (uint32_t)mlos_comm_get(c, (int)next, kro, len, src, 1));
    mlos_put_le32(res + 20, (uint32_t)mlos_comm_get(c, (int)next, 0x1234, 0, src, 8));
    mlos_put_le32(res + 24, (uint32_t)mlos_comm_put(c, (int)next, kn, len, src, 0));
    if ((rc = mlos_barrier(c)) < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    return mlos_task_result(ctx, res, sizeof(res));
}

/* No comm call at all: returns at once. */
static int master_nothing(struct mlos_task_ctx *ctx, void *data) { return 0; }

/* Barriers until one fails, or le32 count of them if nonzero
 * (group.barriers' twin). */
static int master_barriers(struct mlos_task_ctx *ctx, void *data)
{
    struct mlos_comm *c = mlos_comm_self();
    uint32_t count = ctx->arg_len >= 4 ? mlos_get_le32(ctx->arg) : 0;
    for (uint32_t i = 0; !count || i < count; i++) {
        int rc = mlos_barrier(c);
        if (rc < 0)
            return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    }
    return 0;
}

/* One barrier, then a large answer: through mlos_task_result's heap on
 * the master's rank. */
static int master_big(struct mlos_task_ctx *ctx, void *data)
{
    static uint8_t big[5000];
    int rc = mlos_barrier(mlos_comm_self());
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(mlos_comm_self()));
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    return mlos_task_result(ctx, big, sizeof(big));
}

/* ---- group calls, synchronously ---- */

static int gcall(mlos_group_t *grp, struct gcall *g, const char *task, mlos_group_master_fn fn, const void *arg,
                 size_t len, unsigned tmo)
{
    gcall_prepare(g);
    return gcall_wait(loop, g,
                      fn ? mlos_group_call_master(grp, &g->req, task, fn, master_out, arg, len, tmo, gcall_done)
                         : mlos_group_call(grp, &g->req, task, arg, len, tmo, gcall_done));
}

/* Run one collective (the master's rank, if any, with master_check) and
 * check every rank's output against the serial computation. keep: the
 * output of rank keep_rank, for comparing groups. */
static void check_one(mlos_group_t *grp, mlos_shard_t **m, int which, int type, int op, unsigned root,
                      uint64_t count, uint64_t seed, unsigned keep_rank, uint8_t *keep, size_t *keep_len)
{
    uint8_t arg[32];
    struct gcall g;
    int mr = mlos_group_master_rank(grp);
    mlos_gc_encode(arg, (uint32_t)which, (uint32_t)type, (uint32_t)op, root, count, seed);
    int rc = gcall(grp, &g, "group.check", mr >= 0 ? master_check : NULL, arg, sizeof(arg), 60000);
    if (rc)
        fprintf(stderr, "%s n=%u master rank %d type %d op %d root %u count %llu: %s (%s)\n", which_name[which],
                grp->n, mr, type, op, root, (unsigned long long)count, mlos_strerror(rc), g.error);
    CHECK_EQ(rc, 0);
    for (unsigned r = 0; r < grp->n; r++) {
        size_t want = expected(which, type, op, root, count, seed, grp->n, r, exp_buf);
        CHECK_EQ(g.rank_len[r], 8);
        CHECK_EQ(mlos_get_le64(g.rank_result[r]), want);
        if (!want)
            continue;
        if ((int)r == mr)
            memcpy(got_buf, master_out, want);
        else
            CHECK_EQ(mlos_get(m[r], 0, got_buf, want), 0);
        if (memcmp(got_buf, exp_buf, want)) {
            size_t i = 0;
            while (got_buf[i] == exp_buf[i])
                i++;
            fprintf(stderr, "%s n=%u master rank %d type %d op %d root %u count %llu: rank %u differs at byte %zu\n",
                    which_name[which], grp->n, mr, type, op, root, (unsigned long long)count, r, i);
            CHECK(0);
        }
        if (keep && r == keep_rank) {
            memcpy(keep, got_buf, want);
            *keep_len = want;
        }
    }
}

static void make_group(mlos_group_t *g, mlos_shard_t **m, unsigned n, unsigned hb)
{
    struct mlos_group_opts o = {.mem = &gm, .members = m, .n = n, .heartbeat_ms = hb,
                                .heartbeat_timeout_ms = hb ? 4 * hb : 0};
    memset(g, 0, sizeof(*g));
    int rc = mlos_group_create_sync(loop, g, &o);
    if (rc)
        fprintf(stderr, "group create: %s: %s\n", mlos_strerror(rc), g->error ? g->error : "");
    CHECK_EQ(rc, 0);
}

static void all_collectives(mlos_group_t *g, mlos_shard_t **m)
{
    static const uint64_t counts[] = {1, 7, 700, 20000};   /* elements: small and pipelined paths */
    static const uint64_t bytes[] = {1, 100, 5000, 70000}; /* bytes per rank */
    uint64_t seed = 5000 + g->n;
    check_one(g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, seed, 0, NULL, NULL);
    for (int t = 0; t < 3; t++)
        for (int op = 0; op < 3; op++)
            for (int ci = 0; ci < 4; ci++) {
                if (ci % 2 == 0 && op)
                    continue;
                check_one(g, m, MLOS_GC_ALLREDUCE, t, op, 0, counts[ci], seed, 0, NULL, NULL);
                seed++;
                check_one(g, m, MLOS_GC_REDUCE, t, op, (unsigned)(seed % g->n), counts[ci], seed, 0, NULL, NULL);
                seed++;
            }
    for (int bi = 0; bi < 4; bi++) {
        check_one(g, m, MLOS_GC_BCAST, 0, 0, (unsigned)(seed % g->n), bytes[bi], seed, 0, NULL, NULL);
        seed++;
        check_one(g, m, MLOS_GC_GATHER, 0, 0, (unsigned)(seed % g->n), bytes[bi], seed, 0, NULL, NULL);
        seed++;
        check_one(g, m, MLOS_GC_ALLGATHER, 0, 0, 0, bytes[bi], seed, 0, NULL, NULL);
        seed++;
    }
}

/* f64 results of a group: allreduce sum/min/max (small and large) and a
 * reduce, each rank's output concatenated into out. */
static size_t f64_signature(mlos_group_t *g, mlos_shard_t **m, uint8_t *out)
{
    static const uint64_t counts[] = {5, 20000};
    size_t at = 0, len;
    for (int ci = 0; ci < 2; ci++)
        for (int op = 0; op < 3; op++)
            for (unsigned r = 0; r < g->n; r++) {
                check_one(g, m, MLOS_GC_ALLREDUCE, 2, op, 0, counts[ci], 900 + ci * 3 + op, r, out + at, &len);
                at += len;
            }
    check_one(g, m, MLOS_GC_REDUCE, 2, 0, g->n - 1, 20000, 950, g->n - 1, out + at, &len);
    return at + len;
}

static void stop_all(mlos_shard_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        mlos_shard_stop_sync(&s[i]);
}

/* ---- cases ---- */

/* kinds: of the five shards (the master's groups use the first n-1);
 * what: printed. */
static void run_sizes(const char *const kinds[5], const char *what, unsigned first_size)
{
    static const unsigned sizes[] = {2, 3, 5};
    mlos_shard_t s[5];
    static uint8_t sig_shards[4u << 20], sig_master[4u << 20]; /* 5 ranks x 3 ops x 160 KB, and a reduce */
    for (unsigned i = 0; i < 5; i++)
        spawn(&s[i], kinds[i]);
    for (unsigned k = 0; k < 3; k++) {
        unsigned n = sizes[k];
        if (n < first_size)
            continue;
        mlos_shard_t *m[5];
        mlos_group_t g;
        /* The all-shard group of this N: its f64 bits are the reference. */
        for (unsigned r = 0; r < n; r++)
            m[r] = &s[r];
        make_group(&g, m, n, 0);
        size_t sl = f64_signature(&g, m, sig_shards);
        mlos_group_close_sync(&g);
        unsigned places[2] = {0, n / 2};
        for (int p = 0; p < 2; p++) {
            if (p == 1 && places[1] == 0)
                continue;
            unsigned mr = places[p];
            for (unsigned r = 0, next = 0; r < n; r++)
                m[r] = r == mr ? NULL : &s[next++];
            make_group(&g, m, n, 0);
            CHECK_EQ(mlos_group_master_rank(&g), (int)mr);
            all_collectives(&g, m);
            size_t ml = f64_signature(&g, m, sig_master);
            CHECK_EQ(ml, sl);
            CHECK(!memcmp(sig_master, sig_shards, sl)); /* byte-identical to the all-shard group */
            printf("%s, n=%u, master at rank %u: every collective matches the serial computation, f64 bits "
                   "identical to the all-shard group\n",
                   what, n, mr);
            mlos_group_close_sync(&g);
        }
    }
    stop_all(s, 5);
}

static void case_process(void)
{
    static const char *const k[5] = {"process", "process", "process", "process", "process"};
    run_sizes(k, "process members", 2);
}

static void case_x86_64(void)
{
    static const char *const k[5] = {"process", "x86_64", "process", "x86_64", "process"};
    run_sizes(k, "process and x86_64 members", 2);
}

/* A big-endian, 32-bit PowerPC member beside x86_64 and process ones: the
 * master folds what crosses the rings little-endian like everyone. */
static void case_mixed(void)
{
    static const char *const k[5] = {"ppc", "x86_64", "process", "process", "process"};
    run_sizes(k, "ppc, x86_64 and process members", 3);
}


/* While the master's rank waits in barriers, a member is killed (then, in
 * a second round, frozen): the master's collective fails naming the rank
 * within the heartbeat bound, the call completes, and re-formed with a
 * replacement the group runs again with the master in place. */
static void case_failure(void)
{
    for (int frozen = 0; frozen < 2; frozen++) {
        mlos_shard_t s[3];
        unsigned mr = 1, victim = frozen ? 0 : 2; /* the master in the middle; a neighbour goes */
        mlos_shard_t *m[3] = {&s[0], NULL, &s[1]};
        mlos_group_t g;
        struct gcall c;
        spawn(&s[0], "process");
        spawn(&s[1], "process");
        make_group(&g, m, 3, 100); /* heartbeats: 100 ms, fenced after 400 ms */
        struct later l = {.pid = m[victim]->pid, .sig = frozen ? SIGSTOP : SIGKILL};
        uv_timer_init(loop, &l.t);
        uv_timer_start(&l.t, later_cb, 300, 0);
        uint64_t t0 = now_ms();
        int rc = gcall(&g, &c, "group.barriers", master_barriers, "\0\0\0\0", 4, 0);
        uint64_t took = now_ms() - t0;
        uv_close((uv_handle_t *)&l.t, NULL);
        printf("%s rank %u while the master waits: %s after %llu ms; the master's rank: %s\n",
               frozen ? "froze" : "killed", victim, mlos_strerror(rc), (unsigned long long)took, c.rank_error[mr]);
        CHECK_EQ(rc, MLOS_ESHARDDIED);
        CHECK_EQ(c.failed_rank, (int)victim);
        CHECK_EQ(g.failed_rank, (int)victim);
        CHECK(took < 300 + (frozen ? 400 + 100 + 1500 : 1500));
        char want[32];
        snprintf(want, sizeof(want), "rank %u", victim);
        CHECK_EQ(c.rank_status[mr], MLOS_ESHARDDIED);
        CHECK(strstr(c.rank_error[mr], want));
        unsigned other = victim == 0 ? 2 : 0;
        CHECK_EQ(c.rank_status[other], MLOS_ESHARDDIED);
        CHECK(strstr(c.rank_error[other], want));
        /* The master's rank is never re-formed; the dead one is. */
        mlos_shard_t rep;
        spawn(&rep, "process");
        struct reformed ref = {0, 0};
        g.data = &ref;
        CHECK_EQ(mlos_group_reform(&g, mr, &rep, on_ref), MLOS_EINVAL);
        CHECK_EQ(mlos_group_reform(&g, victim, NULL, on_ref), MLOS_EINVAL);
        CHECK_EQ(mlos_group_reform(&g, victim, &rep, on_ref), 0);
        while (!ref.done)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(ref.st, 0);
        CHECK_EQ(g.generation, 2);
        CHECK_EQ(g.failed_rank, -1);
        CHECK_EQ(mlos_group_master_rank(&g), (int)mr);
        mlos_shard_t *dead = m[victim];
        m[victim] = &rep;
        check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 99, 0, NULL, NULL);
        check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 5, 98, 0, NULL, NULL);
        check_one(&g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, 97, 0, NULL, NULL);
        printf("re-formed with a replacement at rank %u, the master still at rank %u: the step runs again\n", victim,
               mr);
        mlos_group_close_sync(&g);
        if (frozen)
            kill(dead->pid, SIGCONT);
        stop_all(s, 2);
        mlos_shard_stop_sync(&rep);
    }
}

static uint64_t cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* every thread of this process: the loop and the master's rank */
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* Messages and one-sided access between the master's rank and shards,
 * with the checks the target makes (the master's rank is a target too). */
static void case_peers(void)
{
    mlos_shard_t s[2];
    spawn(&s[0], "process");
    spawn(&s[1], "process");
    mlos_shard_t *mid[3] = {&s[0], NULL, &s[1]}, *first[2] = {NULL, &s[0]};
    mlos_shard_t **sets[2] = {mid, first};
    unsigned ns[2] = {3, 2};
    for (int k = 0; k < 2; k++) {
        mlos_group_t g;
        struct gcall c;
        uint8_t parg[16];
        make_group(&g, sets[k], ns[k], 0);
        mlos_put_le64(parg, 100000);
        mlos_put_le64(parg + 8, 31);
        int rc = gcall(&g, &c, "group.p2p", master_p2p, parg, 16, 60000);
        if (rc)
            fprintf(stderr, "p2p: %s\n", c.error);
        CHECK_EQ(rc, 0);
        mlos_put_le64(parg, 50000);
        rc = gcall(&g, &c, "group.rma", master_rma, parg, 16, 60000);
        if (rc)
            fprintf(stderr, "rma: %s\n", c.error);
        CHECK_EQ(rc, 0);
        for (unsigned r = 0; r < g.n; r++) {
            const uint8_t *p = c.rank_result[r];
            CHECK_EQ(c.rank_len[r], 28);
            CHECK_EQ((int32_t)mlos_get_le32(p + 0), MLOS_EKEY);    /* wrong key */
            CHECK_EQ((int32_t)mlos_get_le32(p + 4), MLOS_ERANGE);  /* past the end */
            CHECK_EQ((int32_t)mlos_get_le32(p + 8), MLOS_EACCES);  /* read-only region */
            CHECK_EQ((int32_t)mlos_get_le32(p + 12), 0);           /* reading it is fine */
            CHECK_EQ((int32_t)mlos_get_le32(p + 16), MLOS_ERANGE); /* get past the end */
            CHECK_EQ((int32_t)mlos_get_le32(p + 20), MLOS_EKEY);   /* never exposed */
            CHECK_EQ((int32_t)mlos_get_le32(p + 24), 0);           /* empty put at the end */
        }
        printf("n=%u, master at rank %d: messages and one-sided access to and from it, checked by each target\n",
               g.n, mlos_group_master_rank(&g));
        /* A get aimed at the master's rank once its function has returned
         * (it makes no comm call): refused at once by the loop, as a shard
         * between calls would, not left waiting for the deadline. */
        uint8_t garg[16];
        int mr = mlos_group_master_rank(&g);
        mlos_put_le32(garg, (uint32_t)mr);
        mlos_put_le32(garg + 4, 64);
        mlos_put_le64(garg + 8, 0x5eed);
        uint64_t t0 = uv_hrtime();
        rc = gcall(&g, &c, "group.get", master_nothing, garg, 16, 10000);
        uint64_t ms = (uv_hrtime() - t0) / 1000000;
        if (rc)
            fprintf(stderr, "lone get: %s\n", c.error);
        CHECK_EQ(rc, 0);
        for (unsigned r = 0; r < g.n; r++)
            if ((int)r != mr) {
                CHECK_EQ(c.rank_len[r], 4);
                CHECK_EQ((int32_t)mlos_get_le32(c.rank_result[r]), MLOS_EKEY);
            }
        CHECK(ms < 5000);
        printf("a get at the master's rank between its calls: refused (MLOS_EKEY) after %llu ms\n",
               (unsigned long long)ms);
        mlos_group_close_sync(&g);
    }
    stop_all(s, 2);
}

/* A frozen member (no heartbeats) overruns the call's deadline while the
 * master waits: the master's rank sleeps meanwhile (its CPU time stays a
 * small part of the wait), its collectives are aborted (MLOS_ETIMEDOUT),
 * the call completes blaming the member, and re-formed in place it runs. */
static void case_deadline(void)
{
    mlos_shard_t s;
    mlos_shard_t *m[2] = {NULL, &s};
    mlos_group_t g;
    struct gcall c;
    spawn(&s, "process");
    make_group(&g, m, 2, 0);
    kill(s.pid, SIGSTOP);
    uint64_t t0 = now_ms(), cpu0 = cpu_ms();
    int rc = gcall(&g, &c, "group.barriers", master_barriers, "\0\0\0\0", 4, 1000);
    uint64_t took = now_ms() - t0, cpu = cpu_ms() - cpu0;
    kill(s.pid, SIGCONT);
    printf("a frozen member past the deadline: %s after %llu ms, %llu ms CPU here; the master's rank: %s\n",
           mlos_strerror(rc), (unsigned long long)took, (unsigned long long)cpu, c.rank_error[0]);
    /* A spinning rank would burn most of that second (a core of its own
     * or its share of a busy one); a sleeping one wakes a few times. */
    CHECK(cpu < 250);
    CHECK_EQ(rc, MLOS_ETIMEDOUT);
    CHECK_EQ(c.rank_status[0], MLOS_ETIMEDOUT);
    CHECK_EQ(c.rank_status[1], MLOS_ETIMEDOUT);
    CHECK_EQ(g.failed_rank, 1);
    CHECK(took >= 1000 && took < 1000 + 1500);
    struct reformed ref = {0, 0};
    g.data = &ref;
    CHECK_EQ(mlos_group_reform(&g, 1, &s, on_ref), 0);
    while (!ref.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(ref.st, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 700, 5, 0, NULL, NULL);
    printf("re-formed in place: runs again\n");
    mlos_group_close_sync(&g);
    mlos_shard_stop_sync(&s);
}

/* A member writes garbage into its ring to the master: the master's
 * collective fails with MLOS_EPROTO (it copies and checks), nothing
 * breaks, and a new group works. */
static void case_hostile(void)
{
    mlos_shard_t s;
    mlos_shard_t *m[2] = {NULL, &s};
    mlos_group_t g;
    struct gcall c;
    uint8_t a[32] = {0};
    spawn(&s, "process");
    mlos_put_le32(a, MLOS_GC_ALLREDUCE);
    mlos_put_le32(a + 4, 2);
    mlos_put_le64(a + 16, 50000);
    for (int how = 0; how < 3; how++) {
        make_group(&g, m, 2, 0);
        check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 50000, 1, 0, NULL, NULL);
        size_t len;
        uint32_t ring;
        uint8_t *slice = mlos__group_slice(&g, &len, &ring);
        CHECK(slice);
        int kind = how == 2 ? MLOS_GROUP_RING_COLL : MLOS_GROUP_RING_RMA;
        uint32_t size = mlos_group_ring_size(ring, kind);
        struct mlos_ring_ctl *ctl = (struct mlos_ring_ctl *)(slice + mlos_group_ring_off(2, ring, 1, 0, kind));
        /* The collective ring is the member's own to write during the
         * call: frozen, it cannot overwrite what is forged in its name. */
        if (kind == MLOS_GROUP_RING_COLL)
            kill(s.pid, SIGSTOP);
        if (how == 0) {
            __atomic_store_n(&ctl->head, ctl->head + 8, __ATOMIC_RELEASE); /* not a record boundary */
        } else {
            uint8_t *data = (uint8_t *)(ctl + 1);
            uint32_t at = mlos_from_le32(ctl->head) & (size - 1);
            memset(data + at, 0xA5, 64); /* a "frame" that is not one: length far past the ring */
            __atomic_store_n(&ctl->head, mlos_to_le32(mlos_from_le32(ctl->head) + 64), __ATOMIC_RELEASE);
        }
        int rc = gcall(&g, &c, "group.check", master_check, a, 32, 1500);
        if (kind == MLOS_GROUP_RING_COLL)
            kill(s.pid, SIGCONT);
        printf("hostile ring to the master (%s): %s; the master's rank: %s\n",
               how == 0 ? "bad index" : how == 1 ? "garbage one-sided frame" : "garbage collective frame",
               mlos_strerror(rc), c.rank_error[0]);
        CHECK(rc == MLOS_EPROTO || rc == MLOS_ETIMEDOUT);
        CHECK_EQ(c.rank_status[0], MLOS_EPROTO);
        CHECK(mlos_shard_alive(&s));
        mlos_group_close_sync(&g);
    }
    make_group(&g, m, 2, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 50000, 2, 0, NULL, NULL);
    mlos_group_close_sync(&g);
    printf("after a hostile peer: a new group with the master works\n");
    mlos_shard_stop_sync(&s);
}

static void case_errors(void)
{
    mlos_shard_t s[2];
    spawn(&s[0], "process");
    spawn(&s[1], "process");
    mlos_group_t g;
    struct gcall c;
    /* The master holds one rank. */
    mlos_shard_t *two[3] = {NULL, &s[0], NULL};
    struct mlos_group_opts o = {.mem = &gm, .members = two, .n = 3};
    memset(&g, 0, sizeof(g));
    CHECK_EQ(mlos_group_create_sync(loop, &g, &o), MLOS_EINVAL);
    /* A group with the master needs its function; one without takes none. */
    mlos_shard_t *m[3] = {&s[0], NULL, &s[1]};
    make_group(&g, m, 3, 0);
    memset(&c, 0, sizeof(c));
    c.req.data = &c;
    CHECK_EQ(mlos_group_call(&g, &c.req, "group.barriers", "\1\0\0\0", 4, 0, gcall_done), MLOS_EINVAL);
    CHECK_EQ(mlos_group_call_master(&g, &c.req, "group.barriers", NULL, NULL, "\1\0\0\0", 4, 0, gcall_done),
             MLOS_EINVAL);
    /* Wake-ups both ways: a lost one costs a sleep's 200 ms bound, so 500
     * barriers (a few ms all told) would take 100 s. */
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(gcall(&g, &c, "group.barriers", master_barriers, "\xf4\x01\0\0", 4, 0), 0);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    printf("500 barriers, the master in the middle: %llu ms\n", (unsigned long long)ms);
    CHECK(ms < 10000);
    /* A large answer from the master's rank arrives whole. */
    CHECK_EQ(gcall(&g, &c, "group.barriers", master_big, "\1\0\0\0", 4, 0), 0);
    CHECK_EQ(c.rank_len[1], 5000);
    for (unsigned i = 0; i < 64; i++)
        CHECK_EQ(c.rank_result[1][i], (uint8_t)(i * 7));
    mlos_group_close_sync(&g);
    mlos_shard_t *plain[2] = {&s[0], &s[1]};
    make_group(&g, plain, 2, 0);
    CHECK_EQ(mlos_group_master_rank(&g), -1);
    CHECK_EQ(mlos_group_call_master(&g, &c.req, "group.barriers", master_barriers, NULL, "\1\0\0\0", 4, 0, gcall_done),
             MLOS_EINVAL);
    mlos_group_close_sync(&g);
    /* The master alone (n = 1). */
    mlos_shard_t *alone[1] = {NULL};
    make_group(&g, alone, 1, 0);
    check_one(&g, alone, MLOS_GC_ALLREDUCE, 2, 0, 0, 9, 3, 0, NULL, NULL);
    mlos_group_close_sync(&g);
    printf("bad options refused; large answers and a master-only group work\n");
    stop_all(s, 2);
}

int main(int argc, char **argv)
{
    loop = uv_default_loop();
    exp_buf = malloc(OUT_BYTES);
    got_buf = malloc(OUT_BYTES);
    master_out = malloc(OUT_BYTES);
    CHECK(exp_buf && got_buf && master_out);
    CHECK_EQ(mlos_group_mem_init(&gm, 96u << 20), 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "process"))
            case_process();
        else if (!strcmp(argv[i], "x86_64"))
            case_x86_64();
        else if (!strcmp(argv[i], "mixed"))
            case_mixed();
        else if (!strcmp(argv[i], "failure"))
            case_failure();
        else if (!strcmp(argv[i], "hostile"))
            case_hostile();
        else if (!strcmp(argv[i], "deadline"))
            case_deadline();
        else if (!strcmp(argv[i], "peers"))
            case_peers();
        else if (!strcmp(argv[i], "errors"))
            case_errors();
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
    }
    CHECK_EQ(mlos_group_mem_close(&gm), 0);
    free(exp_buf);
    free(got_buf);
    free(master_out);
    CHECK_DONE();
}
