/* Shard groups end to end: every collective against a serial computation
 * (all ops, types, several sizes, N = 1, 2, 3, 5, 8), byte-identical
 * results across shard kinds, messages, one-sided access and its checks,
 * a member killed and a member frozen during a collective, re-forming with
 * a replacement, many groups at once, members asleep while frames for
 * later steps wait, and bad options.
 *
 *   test_groups process | x86_64 | ppc | mixed | failure | failure-ppc | fails | many | errors | pool | hostile | poll
 *               | sleepers | user BIN
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "../shards/tasks/group_gen.h"
#include "check.h"
#include "group_ref.h"
#include "mlos.h"
#include "mlos_endian.h"
#include "mlos_group.h"
#include "mlos_pool.h"
#include "group.h"
#include "group_call.h"
#include "group_wire.h"
#include "ring.h"


static uv_loop_t *loop;
static mlos_group_mem_t gm;

static void spawn(mlos_shard_t *s, const char *arch)
{
    struct mlos_spawn_opts o = {.arch = arch, .group_mem = &gm, .mem_bytes = 16u << 20,
                                .bulk_bytes = 2u << 20, .ring_bytes = 1u << 20};
    int rc = mlos_spawn_sync(loop, s, &o);
    if (rc)
        fprintf(stderr, "spawn %s: %s\n%s\n", arch, mlos_strerror(rc), mlos_shard_console_tail(s));
    CHECK_EQ(rc, 0);
}

/* ---- group calls, synchronously ---- */

static int gcall(mlos_group_t *grp, struct gcall *g, const char *task, const void *arg, size_t len, unsigned tmo)
{
    gcall_prepare(g);
    return gcall_wait(loop, g, mlos_group_call(grp, &g->req, task, arg, len, tmo, gcall_done));
}

static uint8_t *exp_buf, *got_buf;

/* Run one collective on the group and check every rank's output. If
 * keep is given, rank 0's output is copied there (cross-group compare). */
static void check_one(mlos_group_t *grp, mlos_shard_t **m, int which, int type, int op, unsigned root,
                      uint64_t count, uint64_t seed, uint8_t *keep, size_t *keep_len)
{
    uint8_t arg[32];
    struct gcall g;
    mlos_gc_encode(arg, (uint32_t)which, (uint32_t)type, (uint32_t)op, root, count, seed);
    int rc = gcall(grp, &g, "group.check", arg, sizeof(arg), 60000);
    if (rc)
        fprintf(stderr, "%s n=%u type %d op %d root %u count %llu: %s (%s)\n", which_name[which], grp->n, type, op,
                root, (unsigned long long)count, mlos_strerror(rc), g.error);
    CHECK_EQ(rc, 0);
    for (unsigned r = 0; r < grp->n; r++) {
        size_t want = expected(which, type, op, root, count, seed, grp->n, r, exp_buf);
        CHECK_EQ(g.rank_len[r], 8);
        CHECK_EQ(mlos_get_le64(g.rank_result[r]), want);
        if (!want)
            continue;
        CHECK_EQ(mlos_get(m[r], 0, got_buf, want), 0);
        if (memcmp(got_buf, exp_buf, want)) {
            size_t i = 0;
            while (got_buf[i] == exp_buf[i])
                i++;
            fprintf(stderr, "%s n=%u type %d op %d root %u count %llu: rank %u differs at byte %zu\n",
                    which_name[which], grp->n, type, op, root, (unsigned long long)count, r, i);
            CHECK(0);
        }
        if (keep && r == (which == MLOS_GC_REDUCE || which == MLOS_GC_GATHER ? root : 0)) {
            memcpy(keep, got_buf, want);
            *keep_len = want;
        }
    }
}

static void make_group(mlos_group_t *g, mlos_shard_t **m, unsigned n, uint32_t ring, unsigned hb)
{
    struct mlos_group_opts o = {.mem = &gm, .members = m, .n = n, .ring_bytes = ring, .heartbeat_ms = hb,
                                .heartbeat_timeout_ms = hb ? 4 * hb : 0};
    memset(g, 0, sizeof(*g));
    int rc = mlos_group_create_sync(loop, g, &o);
    if (rc)
        fprintf(stderr, "group create: %s: %s\n", mlos_strerror(rc), g->error ? g->error : "");
    CHECK_EQ(rc, 0);
}

/* Every collective, several sizes, on group g. */
static void all_collectives(mlos_group_t *g, mlos_shard_t **m, int thorough)
{
    static const uint64_t counts[] = {1, 7, 700, 20000};   /* elements: small and pipelined paths */
    static const uint64_t bytes[] = {1, 100, 5000, 70000}; /* bytes per rank */
    uint64_t seed = 1000 + g->n;
    check_one(g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, seed, NULL, NULL);
    for (int t = 0; t < 3; t++)
        for (int op = 0; op < 3; op++)
            for (int ci = 0; ci < 4; ci++) {
                if (!thorough && ci % 2 == 0 && op)
                    continue;
                check_one(g, m, MLOS_GC_ALLREDUCE, t, op, 0, counts[ci], seed, NULL, NULL);
                seed++;
                check_one(g, m, MLOS_GC_REDUCE, t, op, (unsigned)(seed % g->n), counts[ci], seed, NULL, NULL);
                seed++;
            }
    for (int bi = 0; bi < 4; bi++) {
        if (g->n * bytes[bi] > (2u << 20))
            continue; /* the bulk window holds the output */
        check_one(g, m, MLOS_GC_BCAST, 0, 0, (unsigned)(seed % g->n), bytes[bi], seed, NULL, NULL);
        seed++;
        check_one(g, m, MLOS_GC_GATHER, 0, 0, (unsigned)(seed % g->n), bytes[bi], seed, NULL, NULL);
        seed++;
        check_one(g, m, MLOS_GC_ALLGATHER, 0, 0, 0, bytes[bi], seed, NULL, NULL);
        seed++;
    }
}

static void stop_all(mlos_shard_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        mlos_shard_stop_sync(&s[i]);
}

/* ---- cases ---- */

static void case_process(void)
{
    static const unsigned sizes[] = {1, 2, 3, 5, 8};
    mlos_shard_t s[8];
    mlos_shard_t *m[8];
    for (unsigned i = 0; i < 8; i++) {
        spawn(&s[i], "process");
        m[i] = &s[i];
    }
    for (unsigned k = 0; k < 5; k++) {
        mlos_group_t g;
        make_group(&g, m, sizes[k], 0, 0);
        all_collectives(&g, m, sizes[k] <= 3);
        printf("process n=%u: all collectives match the serial computation\n", sizes[k]);
        mlos_group_close_sync(&g);
    }
    stop_all(s, 8);
}

/* Messages around the ring, one-sided access and its checks, on every
 * rank of g (n ranks): group.p2p and group.rma check their own bytes. */
static void check_peers(mlos_group_t *g, unsigned n)
{
    struct gcall c;
    uint8_t parg[16];
    mlos_put_le64(parg, 100000);
    mlos_put_le64(parg + 8, 31);
    int rc = gcall(g, &c, "group.p2p", parg, 16, 60000);
    if (rc)
        fprintf(stderr, "p2p: %s\n", c.error);
    CHECK_EQ(rc, 0);
    mlos_put_le64(parg, 50000);
    rc = gcall(g, &c, "group.rma", parg, 16, 60000);
    if (rc)
        fprintf(stderr, "rma: %s\n", c.error);
    CHECK_EQ(rc, 0);
    for (unsigned r = 0; r < n; r++) {
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
}

/* f64 sums of a 2- and a 3-rank group of each kind mix must be the same
 * bits as those of a process group: the first row of kinds. */
static void case_kinds(const char *(*kinds)[3], int nkinds)
{
    static uint8_t ref[2][3][200000];
    size_t ref_len[2][3] = {{0}};
    for (int kind = 0; kind < nkinds; kind++) {
        for (unsigned n = 2; n <= 3; n++) {
            mlos_shard_t s[3];
            mlos_shard_t *m[3];
            mlos_group_t g;
            for (unsigned i = 0; i < n; i++) {
                spawn(&s[i], kinds[kind][i]);
                m[i] = &s[i];
            }
            make_group(&g, m, n, 0, 0);
            uint8_t out[200000];
            size_t len = 0;
            const uint64_t counts[3] = {3, 900, 20000};
            for (int ci = 0; ci < 3; ci++) {
                check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, counts[ci], 77 + ci, out, &len);
                if (ci == 2) {
                    if (kind == 0) {
                        memcpy(ref[n - 2][0], out, len);
                        ref_len[n - 2][0] = len;
                    } else {
                        CHECK_EQ(len, ref_len[n - 2][0]);
                        CHECK(!memcmp(out, ref[n - 2][0], len)); /* byte-identical across kinds */
                    }
                }
            }
            check_one(&g, m, MLOS_GC_REDUCE, 1, 1, 1, 5000, 5, NULL, NULL);
            check_one(&g, m, MLOS_GC_BCAST, 0, 0, n - 1, 70000, 6, NULL, NULL);
            check_one(&g, m, MLOS_GC_ALLGATHER, 0, 0, 0, 3000, 7, NULL, NULL);
            check_one(&g, m, MLOS_GC_GATHER, 0, 0, 0, 100, 8, NULL, NULL);
            check_one(&g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, 9, NULL, NULL);
            check_peers(&g, n); /* big- and little-endian peers: messages and one-sided access between them */
            printf("%s/%s/%s n=%u: collectives, messages and one-sided access match, f64 sums identical to the "
                   "process group\n",
                   kinds[kind][0], kinds[kind][1], kinds[kind][2], n);
            mlos_group_close_sync(&g);
            stop_all(s, n);
        }
    }
}

/* Groups of one bare-metal kind, and that kind beside process shards. */
static void case_arch(const char *arch)
{
    const char *kinds[3][3] = {{"process", "process", "process"}, {arch, arch, arch}, {arch, "process", arch}};
    case_kinds(kinds, 3);
}

/* Every kind in one group: PowerPC (big-endian, 32-bit), x86_64, process. */
static void case_mixed(void)
{
    const char *kinds[3][3] = {{"process", "process", "process"},
                               {"ppc", "x86_64", "process"},
                               {"process", "ppc", "x86_64"}};
    case_kinds(kinds, 3);
}


/* A member killed, then a member frozen, during a collective; the group
 * reports the rank, survivors are unharmed, and re-formed with a
 * replacement the step runs again. */
static void case_failure_of(const char *arch)
{
    for (int frozen = 0; frozen < 2; frozen++) {
        mlos_shard_t s[4];
        mlos_shard_t *m[3];
        mlos_group_t g;
        struct gcall c;
        unsigned victim = frozen ? 2 : 1;
        for (unsigned i = 0; i < 3; i++) {
            spawn(&s[i], i == victim ? arch : "process");
            m[i] = &s[i];
        }
        make_group(&g, m, 3, 0, 100); /* heartbeats: 100 ms, fenced after 400 ms */
        struct later l = {.pid = s[victim].pid, .sig = frozen ? SIGSTOP : SIGKILL};
        uv_timer_init(loop, &l.t);
        uv_timer_start(&l.t, later_cb, 300, 0);
        uint64_t t0 = now_ms();
        int rc = gcall(&g, &c, "group.barriers", "\0\0\0\0", 4, 0);
        uint64_t took = now_ms() - t0;
        uv_close((uv_handle_t *)&l.t, NULL);
        printf("%s %s rank %u during barriers: %s after %llu ms: %s\n", frozen ? "froze" : "killed", arch, victim,
               mlos_strerror(rc), (unsigned long long)took, c.error);
        CHECK_EQ(rc, MLOS_ESHARDDIED);
        CHECK_EQ(c.failed_rank, (int)victim);
        CHECK_EQ(g.failed_rank, (int)victim);
        /* Within the heartbeat bound (fenced after 400 ms without an answer,
         * pinged every 100 ms), with slack for a loaded machine. */
        CHECK(took < 300 + (frozen ? 400 + 100 + 1500 : 1500));
        for (unsigned r = 0; r < 3; r++) {
            if (r == victim)
                continue;
            char want[32];
            snprintf(want, sizeof(want), "rank %u", victim);
            CHECK_EQ(c.rank_status[r], MLOS_ESHARDDIED);
            CHECK(strstr(c.rank_error[r], want));
            CHECK(mlos_shard_alive(&s[r])); /* answered heartbeats while blocked */
        }
        /* Broken: later calls fail at once. */
        struct gcall c2;
        memset(&c2, 0, sizeof(c2));
        c2.req.data = &c2;
        CHECK_EQ(mlos_group_call(&g, &c2.req, "group.barriers", "\1\0\0\0", 4, 0, gcall_done), MLOS_ESHARDDIED);
        /* Re-form with a replacement; the idempotent step runs again. */
        spawn(&s[3], arch);
        struct reformed ref = {0, 0};
        g.data = &ref;
        CHECK_EQ(mlos_group_reform(&g, victim, &s[3], NULL), MLOS_EINVAL); /* needs a callback */
        CHECK_EQ(mlos_group_reform(&g, victim, &s[3], on_ref), 0);
        while (!ref.done)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(ref.st, 0);
        CHECK_EQ(g.generation, 2);
        CHECK_EQ(g.failed_rank, -1);
        m[victim] = &s[3];
        check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 99, NULL, NULL);
        check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 5, 98, NULL, NULL);
        printf("re-formed with a replacement at rank %u: the step runs again\n", victim);
        mlos_group_close_sync(&g);
        if (frozen)
            kill(s[victim].pid, SIGCONT);
        stop_all(s, 4);
    }
}


/* A rank whose task fails while the others wait for it in a barrier: the
 * call still ends (no deadline given), naming that rank and its error; the
 * others' collectives end MLOS_ECANCELED; the group is broken (frames may
 * be left in the rings) until re-formed, here with the same shard in
 * place. A call in which every rank fails on its own, waiting for nobody,
 * leaves the group whole. */
static void case_fails(void)
{
    mlos_shard_t s[3];
    mlos_shard_t *m[3];
    mlos_group_t g;
    struct gcall c;
    for (unsigned i = 0; i < 3; i++) {
        spawn(&s[i], "process");
        m[i] = &s[i];
    }
    make_group(&g, m, 3, 0, 0);
    uint8_t arg[8];
    mlos_put_le32(arg, 0);     /* barriers for ever ... */
    mlos_put_le32(arg + 4, 2); /* ... but rank 1 fails at once */
    uint64_t t0 = now_ms();
    int rc = gcall(&g, &c, "group.barriers", arg, sizeof(arg), 0);
    printf("rank 1 failed under the others' barrier: %s after %llu ms: %s\n", mlos_strerror(rc),
           (unsigned long long)(now_ms() - t0), c.error);
    CHECK_EQ(rc, MLOS_ETASK);
    CHECK_EQ(c.failed_rank, 1);
    CHECK(strstr(c.error, "rank 1") && strstr(c.error, "asked to fail"));
    CHECK_EQ(c.rank_status[1], MLOS_ETASK);
    CHECK_EQ(c.rank_status[0], MLOS_ECANCELED);
    CHECK_EQ(c.rank_status[2], MLOS_ECANCELED);
    CHECK(strstr(c.rank_error[0], "another rank's task failed"));
    CHECK_EQ(g.failed_rank, 1);
    struct gcall c2;
    gcall_prepare(&c2);
    CHECK_EQ(mlos_group_call(&g, &c2.req, "group.barriers", "\1\0\0\0", 4, 0, gcall_done), MLOS_ESHARDDIED);
    struct reformed ref = {0, 0};
    g.data = &ref;
    CHECK_EQ(mlos_group_reform(&g, 1, &s[1], on_ref), 0);
    while (!ref.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(ref.st, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 5000, 11, NULL, NULL);
    /* Every rank fails on its own: each says why, the group stays whole. */
    rc = gcall(&g, &c, "group.check", "short", 5, 0);
    CHECK_EQ(rc, MLOS_EINVAL);
    for (unsigned r = 0; r < 3; r++)
        CHECK_EQ(c.rank_status[r], MLOS_EINVAL);
    CHECK_EQ(g.failed_rank, -1);
    check_one(&g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, 12, NULL, NULL);
    printf("re-formed in place, the step runs; a call every rank fails alone leaves the group whole\n");
    mlos_group_close_sync(&g);
    stop_all(s, 3);
}

struct many {
    mlos_group_call_t req;
    int done, status;
};
static void on_many(mlos_group_call_t *req, int status)
{
    struct many *x = req->data;
    x->done = 1;
    x->status = status;
    if (status)
        fprintf(stderr, "group %u: %s\n", req->group->id, req->error);
}

/* Four groups at once over eight shards, a shard in two groups, messages
 * and one-sided access with their checks. */
static void case_many(void)
{
    mlos_shard_t s[8];
    mlos_shard_t *m[8];
    mlos_group_t g[4];
    for (unsigned i = 0; i < 8; i++) {
        spawn(&s[i], "process");
        m[i] = &s[i];
    }
    for (unsigned k = 0; k < 4; k++)
        make_group(&g[k], m + 2 * k, 2, 0, 0);
    uint8_t arg[32];
    struct many x[4];
    memset(x, 0, sizeof(x));
    mlos_gc_encode(arg, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 4242);
    for (unsigned k = 0; k < 4; k++) {
        x[k].req.data = &x[k];
        CHECK_EQ(mlos_group_call(&g[k], &x[k].req, "group.check", arg, 32, 60000, on_many), 0);
    }
    for (unsigned k = 0; k < 4; k++) {
        while (!x[k].done)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(x[k].status, 0);
    }
    for (unsigned k = 0; k < 4; k++) { /* each group's pair folded its own two ranks */
        size_t want = expected(MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 4242, 2, 0, exp_buf);
        for (unsigned r = 0; r < 2; r++) {
            CHECK_EQ(mlos_get(m[2 * k + r], 0, got_buf, want), 0);
            CHECK(!memcmp(got_buf, exp_buf, want));
        }
        mlos_group_close_sync(&g[k]);
    }
    printf("4 groups at once: each correct\n");

    /* Shard 0 in two groups at once: (0, 1, 2) and (3, 0). */
    mlos_group_t a, b;
    mlos_shard_t *ma[3] = {&s[0], &s[1], &s[2]}, *mb[2] = {&s[3], &s[0]};
    make_group(&a, ma, 3, 0, 0);
    make_group(&b, mb, 2, 0, 0);
    check_one(&a, ma, MLOS_GC_ALLREDUCE, 0, 0, 0, 700, 1, NULL, NULL);
    check_one(&b, mb, MLOS_GC_ALLREDUCE, 1, 2, 0, 700, 2, NULL, NULL);
    memset(x, 0, sizeof(x));
    x[0].req.data = &x[0];
    x[1].req.data = &x[1];
    CHECK_EQ(mlos_group_call(&a, &x[0].req, "group.barriers", "\x32\0\0\0", 4, 60000, on_many), 0);
    CHECK_EQ(mlos_group_call(&b, &x[1].req, "group.barriers", "\x32\0\0\0", 4, 60000, on_many), 0);
    while (!x[0].done || !x[1].done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(x[0].status, 0);
    CHECK_EQ(x[1].status, 0);
    printf("a shard in two groups: both run\n");

    /* Messages around the ring, one-sided access and its checks. */
    check_peers(&a, 3);
    printf("messages and one-sided access: bytes right, keys/bounds/rights checked by the target\n");
    mlos_group_close_sync(&a);
    mlos_group_close_sync(&b);
    stop_all(s, 8);
}

/* The application's reduction operator (an eBPF program at the reduction
 * hook, inserted with bpf.load) used by reduce/allreduce_user. */
static void case_user(const char *bin)
{
    FILE *f = fopen(bin, "rb");
    CHECK(f);
    static uint8_t code[8192 + 8];
    size_t n = fread(code, 1, sizeof(code), f);
    fclose(f);
    CHECK(n > 8 && code[0] == 5); /* header: hook 5 = reduce */
    uint8_t *arg = calloc(1, n);
    mlos_put_le32(arg + 4, (uint32_t)(n - 8));
    arg[0] = 5;
    memcpy(arg + 8, code + 8, n - 8);
    mlos_shard_t s[3];
    mlos_shard_t *m[3];
    mlos_group_t g;
    for (unsigned i = 0; i < 3; i++) {
        spawn(&s[i], "process");
        m[i] = &s[i];
    }
    make_group(&g, m, 3, 0, 0);
    /* Without an operator: MLOS_ENOENT, said by every rank. */
    uint8_t a[32] = {0};
    struct gcall c;
    mlos_put_le32(a, MLOS_GC_ALLREDUCE);
    mlos_put_le32(a + 8, 3);
    mlos_put_le64(a + 16, 10);
    CHECK_EQ(gcall(&g, &c, "group.check", a, 32, 10000), MLOS_ENOENT);
    for (unsigned i = 0; i < 3; i++) {
        char err[300];
        void *res;
        size_t rl;
        int rc = mlos_call_sync(&s[i], "bpf.load", arg, n, &res, &rl, err, sizeof(err));
        if (rc)
            fprintf(stderr, "bpf.load: %s\n", err);
        CHECK_EQ(rc, 0);
        free(res);
    }
    check_one(&g, m, MLOS_GC_ALLREDUCE, 0, 3, 0, 5, 11, NULL, NULL);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 0, 3, 0, 30000, 12, NULL, NULL);
    check_one(&g, m, MLOS_GC_REDUCE, 0, 3, 2, 700, 13, NULL, NULL);
    check_one(&g, m, MLOS_GC_REDUCE, 0, 3, 1, 30000, 14, NULL, NULL);
    printf("reduce/allreduce with the application's eBPF operator match\n");
    mlos_group_close_sync(&g);
    stop_all(s, 3);
    free(arg);
}

/* A group of pool shards (the pool spawns them with the group memory),
 * and a deadline: a rank that overruns fails the call with
 * MLOS_ETIMEDOUT, the others are released, the group must be re-formed. */
static void case_pool(void)
{
    mlos_pool_t pool;
    struct mlos_pool_opts po = {.spawn = {.arch = "process", .group_mem = &gm, .mem_bytes = 16u << 20,
                                          .bulk_bytes = 2u << 20},
                                .min_shards = 3, .max_shards = 3};
    CHECK_EQ(mlos_pool_init(loop, &pool, &po), 0);
    uint64_t t0 = now_ms();
    while (pool.ready < 3 && now_ms() - t0 < 10000)
        uv_run(loop, UV_RUN_ONCE);
    mlos_shard_t *m[3];
    CHECK_EQ(mlos_pool_shards(&pool, m, 3), 3);
    mlos_group_t g;
    make_group(&g, m, 3, 0, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 21, NULL, NULL);
    check_one(&g, m, MLOS_GC_BCAST, 0, 0, 2, 5000, 22, NULL, NULL);
    printf("a group of pool shards: collectives match\n");
    /* every rank loops on barriers: the deadline passes, the master aborts them */
    struct gcall c;
    int rc = gcall(&g, &c, "group.barriers", "\0\0\0\0", 4, 300);
    CHECK_EQ(rc, MLOS_ETIMEDOUT);
    for (unsigned r = 0; r < 3; r++)
        CHECK_EQ(c.rank_status[r], MLOS_ETIMEDOUT);
    CHECK(g.failed_rank >= 0);
    struct gcall c2;
    memset(&c2, 0, sizeof(c2));
    c2.req.data = &c2;
    CHECK_EQ(mlos_group_call(&g, &c2.req, "group.check", "", 0, 0, gcall_done), MLOS_ESHARDDIED);
    mlos_group_close_sync(&g);
    printf("a group call past its deadline: every rank released, the group broken\n");
    mlos_pool_close_sync(&pool);
}

/* A hostile member: the bytes a peer shares are not trusted. With rank
 * 1's one-sided ring to rank 0 rewritten (an index that is not a record
 * boundary, then a frame with a bad header) -- a ring rank 1 itself does
 * not touch during an allreduce, so the damage stays -- rank 0's
 * collective fails with MLOS_EPROTO instead of reading outside the ring,
 * the call ends at its deadline, and a new group works again. */
static void case_hostile(void)
{
    mlos_shard_t s[2];
    mlos_shard_t *m[2] = {&s[0], &s[1]};
    mlos_group_t g;
    struct gcall c;
    uint8_t a[32] = {0};
    spawn(&s[0], "process");
    spawn(&s[1], "process");
    mlos_put_le32(a, MLOS_GC_ALLREDUCE);
    mlos_put_le32(a + 4, 2);
    mlos_put_le64(a + 16, 50000);
    for (int how = 0; how < 2; how++) {
        make_group(&g, m, 2, 0, 0);
        check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 50000, 1, NULL, NULL);
        size_t len;
        uint32_t ring;
        uint8_t *slice = mlos__group_slice(&g, &len, &ring);
        CHECK(slice);
        struct mlos_ring_ctl *ctl = (struct mlos_ring_ctl *)(slice + mlos_group_ring_off(2, ring, 1, 0, MLOS_GROUP_RING_RMA));
        if (how == 0) {
            __atomic_store_n(&ctl->head, ctl->head + 8, __ATOMIC_RELEASE); /* not a record boundary */
        } else {
            uint8_t *data = (uint8_t *)(ctl + 1);
            uint32_t at = mlos_from_le32(ctl->head) & (MLOS_GROUP_SMALL_RING - 1);
            memset(data + at, 0xA5, 64); /* a "frame" that is not one */
            __atomic_store_n(&ctl->head, mlos_to_le32(mlos_from_le32(ctl->head) + 64), __ATOMIC_RELEASE);
        }
        int rc = gcall(&g, &c, "group.check", a, 32, 1500);
        printf("hostile ring (%s): %s; rank 0: %s\n", how ? "garbage frame" : "bad index", mlos_strerror(rc),
               c.rank_error[0]);
        CHECK(rc == MLOS_EPROTO || rc == MLOS_ETIMEDOUT);
        CHECK_EQ(c.rank_status[0], MLOS_EPROTO);
        CHECK(mlos_shard_alive(&s[0]) && mlos_shard_alive(&s[1]));
        mlos_group_close_sync(&g);
    }
    make_group(&g, m, 2, 0, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 50000, 2, NULL, NULL);
    mlos_group_close_sync(&g);
    printf("after a hostile peer: a new group works\n");
    stop_all(s, 2);
}

/* Polling members (spin before sleeping): the same results. */
static void case_poll(void)
{
    mlos_shard_t s[3];
    mlos_shard_t *m[3] = {&s[0], &s[1], &s[2]};
    mlos_group_t g;
    for (unsigned i = 0; i < 3; i++)
        spawn(&s[i], "process");
    struct mlos_group_opts o = {.mem = &gm, .members = m, .n = 3, .spin_us = 200, .ring_bytes = 1u << 20};
    CHECK_EQ(mlos_group_create_sync(loop, &g, &o), 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 3, 41, NULL, NULL);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 100000, 42, NULL, NULL);
    check_one(&g, m, MLOS_GC_REDUCE, 0, 2, 1, 100000, 43, NULL, NULL);
    check_one(&g, m, MLOS_GC_BCAST, 0, 0, 2, 300000, 44, NULL, NULL);
    check_one(&g, m, MLOS_GC_ALLGATHER, 0, 0, 0, 200000, 45, NULL, NULL);
    check_one(&g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, 46, NULL, NULL);
    printf("polling members, 1 MiB rings: collectives match\n");
    mlos_group_close_sync(&g);
    stop_all(s, 3);
}

/* ---- sleeping members ---- */

/* CPU time (user + system) a process has used, in ms; -1 if unknown. */
static long cpu_ms(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/* A member that waits for a peer sleeps, also while frames for its later
 * steps sit in its rings. Rank 0 is frozen before a barrier of 3: rank 1
 * waits for it in round 1 with rank 2's round-2 frame already in its
 * ring; rank 2 waits for it in round 2 with nothing there. Both must
 * sleep: a member that took the held frame for work would poll it
 * without end and burn a CPU (on a shared machine, the one its peer
 * needs). Rank 2's CPU time is the baseline; a spinning rank 1 gets far
 * more than a tenth of the wall time unless the machine runs some 20
 * busy processes per core. */
static void case_sleepers(void)
{
    enum { N = 3, WINDOW_MS = 1000 };
    mlos_shard_t s[N];
    mlos_shard_t *m[N];
    mlos_group_t g;
    struct gcall c;
    for (unsigned i = 0; i < N; i++) {
        spawn(&s[i], "process");
        m[i] = &s[i];
    }
    make_group(&g, m, N, 0, 0); /* spin_us 0: a member sleeps as soon as it has nothing to do */
    CHECK_EQ(kill(s[0].pid, SIGSTOP), 0);
    memset(&c, 0, sizeof(c));
    c.req.data = &c;
    CHECK_EQ(mlos_group_call(&g, &c.req, "group.barriers", "\1\0\0\0", 4, 0, gcall_done), 0);
    /* Let ranks 1 and 2 get into the barrier, then watch them. */
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 200)
        uv_run(loop, UV_RUN_NOWAIT), usleep(10000);
    long c1 = cpu_ms(s[1].pid), c2 = cpu_ms(s[2].pid);
    t0 = now_ms();
    while (now_ms() - t0 < WINDOW_MS)
        uv_run(loop, UV_RUN_NOWAIT), usleep(10000);
    long d1 = cpu_ms(s[1].pid) - c1, d2 = cpu_ms(s[2].pid) - c2;
    uint64_t wall = now_ms() - t0;
    printf("rank 0 frozen for %llu ms: rank 1 (a frame held) used %ld ms of CPU, rank 2 (none) %ld ms\n",
           (unsigned long long)wall, d1, d2);
    CHECK(c1 >= 0 && c2 >= 0);
    CHECK(!c.done); /* still waiting for rank 0 */
    CHECK(d1 <= d2 + (long)wall / 10);
    CHECK_EQ(kill(s[0].pid, SIGCONT), 0);
    while (!c.done)
        uv_run(loop, UV_RUN_ONCE);
    if (c.status)
        fprintf(stderr, "barrier after the thaw: %s\n", c.error);
    CHECK_EQ(c.status, 0);
    mlos_group_close_sync(&g);
    stop_all(s, N);
}

static void noop_group(mlos_group_t *g, int st) {}

static void case_errors(void)
{
    mlos_shard_t plain, member;
    mlos_group_t g;
    struct mlos_spawn_opts po = {.arch = "process"};
    CHECK_EQ(mlos_spawn_sync(loop, &plain, &po), 0);
    spawn(&member, "process");
    mlos_shard_t *m[2] = {&member, &plain};
    struct mlos_group_opts o = {.mem = &gm, .members = m, .n = 2};
    CHECK_EQ(mlos_group_create(loop, &g, &o, noop_group), MLOS_EINVAL); /* plain has no group memory */
    m[1] = &member;
    CHECK_EQ(mlos_group_create(loop, &g, &o, noop_group), MLOS_EINVAL); /* one shard, two ranks */
    o.n = 0;
    CHECK_EQ(mlos_group_create(loop, &g, &o, noop_group), MLOS_EINVAL);
    o.n = 1;
    o.ring_bytes = 5000;
    CHECK_EQ(mlos_group_create(loop, &g, &o, noop_group), MLOS_EINVAL); /* not a power of two */
    o.ring_bytes = 0;
    /* A group too big for the memory left. */
    mlos_group_mem_t small;
    CHECK_EQ(mlos_group_mem_init(&small, 1), 0);
    CHECK_EQ(small.size, 1u << 20);
    mlos_group_mem_close(&small);
    CHECK_EQ(mlos_group_mem_init(&small, (96u << 20) + 1), 0);
    CHECK_EQ(small.size, 128u << 20); /* a power of two: a PowerPC member's PCI BAR */
    mlos_group_mem_close(&small);
    CHECK_EQ(mlos_group_mem_close(&small), MLOS_EINVAL);
    /* A group call outside a group: the check tasks say so. */
    char err[200];
    void *res;
    size_t rl;
    CHECK_EQ(mlos_call_sync(&member, "group.check", "", 0, &res, &rl, err, sizeof(err)), MLOS_EINVAL);
    /* A forged join (outside the group memory) is refused by the shard. */
    uint8_t j[48] = {0};
    mlos_put_le32(j + 8, 2);
    mlos_put_le64(j + 16, 1ull << 40);
    mlos_put_le64(j + 24, 1u << 20);
    mlos_put_le32(j + 32, 65536);
    CHECK_EQ(mlos_call_sync(&member, "mlos.group.join", j, sizeof(j), &res, &rl, err, sizeof(err)), MLOS_EINVAL);
    CHECK_EQ(mlos_call_sync(&plain, "mlos.group.join", j, sizeof(j), &res, &rl, err, sizeof(err)), MLOS_ENOENT);
    /* The group memory is in use while a group lives. */
    o.n = 1;
    CHECK_EQ(mlos_group_create_sync(loop, &g, &o), 0);
    CHECK_EQ(mlos_group_mem_close(&gm), MLOS_EINVAL);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 0, 0, 0, 9, 3, NULL, NULL); /* n = 1 */
    mlos_group_close_sync(&g);
    printf("bad options refused\n");
    mlos_shard_stop_sync(&plain);
    mlos_shard_stop_sync(&member);
}

int main(int argc, char **argv)
{
    loop = uv_default_loop();
    exp_buf = malloc(4u << 20);
    got_buf = malloc(4u << 20);
    CHECK(exp_buf && got_buf);
    CHECK_EQ(mlos_group_mem_init(&gm, 96u << 20), 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "process"))
            case_process();
        else if (!strcmp(argv[i], "x86_64") || !strcmp(argv[i], "ppc"))
            case_arch(argv[i]);
        else if (!strcmp(argv[i], "mixed"))
            case_mixed();
        else if (!strcmp(argv[i], "failure"))
            case_failure_of("process");
        else if (!strcmp(argv[i], "fails"))
            case_fails();
        else if (!strcmp(argv[i], "failure-ppc"))
            case_failure_of("ppc");
        else if (!strcmp(argv[i], "many"))
            case_many();
        else if (!strcmp(argv[i], "errors"))
            case_errors();
        else if (!strcmp(argv[i], "pool"))
            case_pool();
        else if (!strcmp(argv[i], "hostile"))
            case_hostile();
        else if (!strcmp(argv[i], "poll"))
            case_poll();
        else if (!strcmp(argv[i], "sleepers"))
            case_sleepers();
        else if (!strcmp(argv[i], "user") && i + 1 < argc)
            case_user(argv[++i]);
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
    }
    CHECK_EQ(mlos_group_mem_close(&gm), 0);
    free(exp_buf);
    free(got_buf);
    CHECK_DONE();
}
