/* Pool placement over nodes (mlos_pool_opts.placement), with a placement
 * of pretend nodes whose shards are process shards on this host: which
 * node each new shard goes to, and the per-node limits.
 *   - spread: min_shards 6 over 3 nodes gives 2 on each;
 *   - pack: node_max 3, min_shards 4 gives 3 on the first node, 1 on the next;
 *   - node_min 1: one shard on every node with no other demand, kept past
 *     the idle timeout; a node that joins gets its own;
 *   - node_max 2 caps growth at 2 per live node whatever max_shards says;
 *   - a spawn refused because the node just left is retried elsewhere, and
 *     calls do not fail for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlos_pool.h"

static uv_loop_t *loop;

struct fake {
    uint32_t ids[8];
    size_t n;
    int refuse_once; /* node id whose next spawn says it is gone */
    unsigned spawned_on[16];
};

static size_t f_nodes(void *ctx, uint32_t *ids, size_t cap)
{
    struct fake *f = ctx;
    for (size_t i = 0; ids && i < f->n && i < cap; i++)
        ids[i] = f->ids[i];
    return f->n;
}

static int f_spawn(void *ctx, uint32_t node, uv_loop_t *l, mlos_shard_t *shard, const struct mlos_spawn_opts *o,
                   mlos_spawn_cb cb)
{
    struct fake *f = ctx;
    if (f->refuse_once && (int)node == f->refuse_once) {
        f->refuse_once = 0;
        for (size_t i = 0, k = 0; i < f->n; i++) /* it left */
            if (f->ids[i] != node)
                f->ids[k++] = f->ids[i];
        f->n--;
        return MLOS_ESHARDDIED;
    }
    int rc = mlos_spawn(l, shard, o, cb);
    if (rc == 0 && node < 16)
        f->spawned_on[node]++;
    return rc;
}

#define RUN_UNTIL(cond, ms)                                                                                      \
    do {                                                                                                         \
        uint64_t end_ = uv_hrtime() + (uint64_t)(ms) * 1000000u;                                                 \
        while (!(cond) && uv_hrtime() < end_)                                                                    \
            uv_run(loop, UV_RUN_ONCE);                                                                           \
    } while (0)

static void run_ms(unsigned ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT);
}

static struct mlos_pool_opts base(struct fake *f, struct mlos_pool_placement *pl)
{
    memset(f->spawned_on, 0, sizeof(f->spawned_on));
    pl->ctx = f;
    pl->nodes = f_nodes;
    pl->spawn = f_spawn;
    return (struct mlos_pool_opts){.spawn = {.arch = "process", .mem_bytes = 4u << 20, .bulk_bytes = 1u << 20},
                                   .placement = pl, .idle_timeout_ms = 60000};
}

static int done_n, ok_n;
static void on_reply(mlos_pool_call_t *req, int status)
{
    done_n++;
    ok_n += status == 0;
    free(req);
}

int main(void)
{
    struct fake f = {.ids = {1, 2, 3}, .n = 3};
    struct mlos_pool_placement pl;
    mlos_pool_t p;
    loop = uv_default_loop();
    setenv("MLOS_REGISTRY", "0", 1);

    /* bad combinations */
    struct mlos_pool_opts o = base(&f, &pl);
    o.node_min = 3;
    o.node_max = 2;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), MLOS_EINVAL);
    o = base(&f, &pl);
    o.placement = NULL;
    o.node_max = 2;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), MLOS_EINVAL);

    /* spread */
    o = base(&f, &pl);
    o.min_shards = o.max_shards = 6;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(p.ready == 6, 20000);
    CHECK_EQ(p.ready, 6);
    CHECK(f.spawned_on[1] == 2 && f.spawned_on[2] == 2 && f.spawned_on[3] == 2);
    mlos_pool_close_sync(&p);

    /* pack */
    o = base(&f, &pl);
    o.min_shards = 4;
    o.max_shards = 9;
    o.node_max = 3;
    o.spread = MLOS_POOL_PACK;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(p.ready == 4, 20000);
    CHECK_EQ(p.ready, 4);
    CHECK(f.spawned_on[1] == 3 && f.spawned_on[2] == 1 && f.spawned_on[3] == 0);
    mlos_pool_close_sync(&p);

    /* node_min: one each, kept idle; a new node gets one too */
    o = base(&f, &pl);
    o.node_min = 1;
    o.max_shards = 8;
    o.idle_timeout_ms = 100;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(p.ready == 3, 20000);
    CHECK_EQ(p.ready, 3);
    CHECK(f.spawned_on[1] == 1 && f.spawned_on[2] == 1 && f.spawned_on[3] == 1);
    run_ms(400); /* past the idle timeout */
    CHECK_EQ(p.shards, 3);
    CHECK_EQ(p.retired, 0);
    f.ids[f.n++] = 4;
    RUN_UNTIL(p.ready == 4, 20000);
    CHECK_EQ(p.ready, 4);
    CHECK_EQ(f.spawned_on[4], 1);
    f.n = 3;
    mlos_pool_close_sync(&p);

    /* node_max caps growth: 12 calls of 200 ms, at most 2 shards on each of 3 nodes */
    o = base(&f, &pl);
    o.max_shards = 10;
    o.node_max = 2;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    done_n = ok_n = 0;
    for (int i = 0; i < 12; i++) {
        mlos_pool_call_t *req = calloc(1, sizeof(*req));
        uint64_t ns = 200000000ull;
        CHECK_EQ(mlos_pool_call(&p, req, "spin", &ns, sizeof(ns), 0, on_reply), 0);
    }
    RUN_UNTIL(done_n == 12, 30000);
    CHECK_EQ(ok_n, 12);
    CHECK_EQ(p.peak_shards, 6);
    mlos_pool_close_sync(&p);

    /* a node that leaves between listing and spawning */
    o = base(&f, &pl);
    o.max_shards = 2;
    f.refuse_once = 1;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    done_n = ok_n = 0;
    mlos_pool_call_t *req = calloc(1, sizeof(*req));
    CHECK_EQ(mlos_pool_call(&p, req, "echo", "x", 1, 0, on_reply), 0);
    RUN_UNTIL(done_n == 1, 20000);
    CHECK_EQ(ok_n, 1);
    CHECK_EQ(f.spawned_on[1], 0);
    CHECK(f.spawned_on[2] + f.spawned_on[3] >= 1);
    CHECK_EQ(f.n, 2);
    mlos_pool_close_sync(&p);

    /* paused spares are local QEMUs: with a placement none is started, on
     * this host or on a node (nor tried: no spawn failure), even for a QEMU
     * kind with a node that has room */
    struct fake one = {.ids = {1}, .n = 1};
    o = base(&one, &pl);
    o.spawn.arch = "x86_64";
    o.paused_spares = 2;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    run_ms(300);
    CHECK_EQ(p.paused, 0);
    CHECK_EQ(p.shards, 0);
    CHECK_EQ(p.spawn_failed, 0);
    CHECK_EQ(one.spawned_on[1], 0);
    mlos_pool_close_sync(&p);
    CHECK_DONE();
}
