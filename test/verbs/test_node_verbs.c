/* A master and a node agent over verbs (Soft-RoCE inside the test guest,
 * run_guest.py), with process shards behind the agent: puts are RDMA
 * WRITEs straight into the slave's window and gets RDMA READs out of it.
 *
 *   test_node_verbs AGENT IMAGE_PATH IP
 *
 * Checks, in one run with one agent:
 *   put      8 MiB put by RDMA: mlos_put returns with the buffer free, and a
 *            call right after it (no waiting) sums each 256 KiB block on the
 *            slave: every sum matches; the master counted the bytes as RDMA,
 *            not as messages; a 13-byte put at an odd offset; ranges outside
 *            the window MLOS_ERANGE
 *   get      the 8 MiB read back by RDMA READ, byte for byte, and the small
 *            put with the bytes around it
 *   pool     a pool of two shards placed over the node: 40 tasks, each
 *            putting its own 64 KiB into the shard it got (by RDMA WRITE:
 *            all counted as such) and summing it there, all answered right
 *   stale    the slave crashes; the master releases its window (the agent
 *            holds it until then); a replacement gets a new epoch and key;
 *            20 puts with the dead slave's key (more than the 16 refusals
 *            after which the transport closes a peer) are refused by the NIC
 *            with MLOS_EKEY, each answered PUT_STALE, and the link stays up;
 *            the replacement's data is untouched
 *   notices  PUT_RDMA notices of the wrong length, with the reserved word
 *            set, past the window's end, or with a wrapping range: each
 *            answered PUT_FORGED, the link up (no NIC refusal happened, so
 *            the transport counts none), the slave's data untouched
 *   forged   a key the agent never gave out (the live epoch with another
 *            rkey): refused (MLOS_EKEY), answered PUT_FORGED, still counted:
 *            3 of them leave the link up, and going on closes it before 17
 *            more have gone through (guessing keys ends the link, stale keys
 *            do not)
 * The agent polls its end of the link (--link-spin-us), the master sleeps
 * on its own: both modes meet on one connection. The agent must exit on
 * its own once its link is closed, and no shard process may be left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "../cluster/cluster_util.h"
#include "cluster.h"
#include "cluster_rdma.h"
#include "node_proto.h"
#include "launcher.h"
#include "mlos_endian.h"

#define WIN (16u << 20)
#define BIG (8u << 20)
#define BLOCK (256u << 10)
#define BIG_OFF 8192u

static uv_loop_t *loop;
static const char *agent_path;
static char secret_path[128];

static int spawn_on(mlos_node_t *n, mlos_shard_t *s)
{
    struct mlos_spawn_opts o = {.arch = "process", .mem_bytes = 16u << 20, .bulk_bytes = WIN,
                                .hello_timeout_ms = 60000};
    return node_spawn_wait(loop, n, s, &o);
}

struct rdma_state {
    int done, status;
};

static void rdma_done(void *arg, int status)
{
    struct rdma_state *st = arg;
    st->done = 1;
    st->status = status;
}

static int wait_rdma(struct rdma_state *st)
{
    uint64_t end = uv_hrtime() + 60000000000ull;
    while (!st->done && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(st->done);
    return st->status;
}

static int get_sync(mlos_shard_t *s, size_t off, void *dst, size_t len)
{
    struct rdma_state st = {0};
    int rc = mlos_node_get(s, off, dst, len, rdma_done, &st);
    return rc < 0 ? rc : wait_rdma(&st);
}

static uint64_t sum_on_slave(mlos_shard_t *s, uint64_t off, uint64_t len)
{
    uint8_t arg[16];
    void *res = NULL;
    size_t rlen = 0;
    char err[300] = "";
    uint64_t v;
    mlos_put_le64(arg, off);
    mlos_put_le64(arg + 8, len);
    int rc = mlos_call_sync(s, "sum_u64", arg, sizeof(arg), &res, &rlen, err, sizeof(err));
    if (rc)
        fprintf(stderr, "sum_u64: %s: %s\n", mlos_strerror(rc), err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(rlen, 8);
    v = mlos_get_le64(res);
    free(res);
    return v;
}

static uint64_t sum_here(const uint8_t *p, size_t len)
{
    uint64_t s = 0;
    for (size_t i = 0; i < len; i += 8)
        s += mlos_get_le64(p + i);
    return s;
}

/* Every block of [off, off+len) summed on the slave, against the bytes here. */
static void check_sums(mlos_shard_t *s, uint64_t off, const uint8_t *want, size_t len)
{
    for (size_t b = 0; b < len; b += BLOCK) {
        size_t k = len - b < BLOCK ? len - b : BLOCK;
        uint64_t got = sum_on_slave(s, off + b, k), exp = sum_here(want + b, k);
        if (got != exp)
            fprintf(stderr, "block at %zu: slave sums %#llx, expected %#llx\n", b, (unsigned long long)got,
                    (unsigned long long)exp);
        CHECK(got == exp);
    }
}

static void fill(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

/* Does the agent still list shard id (a dead slave whose window is held)? */
static int agent_lists(mlos_node_t *n, uint32_t id)
{
    struct ps_state p = {0};
    char want[16];
    CHECK_EQ(mlos_node_ps(n, on_ps, &p), 0);
    while (!p.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(p.status, 0);
    snprintf(want, sizeof(want), "%u ", id);
    for (const char *q = p.text; *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : q + strlen(q))
        if (!strncmp(q, want, strlen(want)))
            return 1;
    return 0;
}

/* One put with an explicit key, and the agent's answer to its notice. */
static int keyed_put(mlos_node_t *n, uint32_t id, const struct mlos_node_window *w, uint8_t *buf,
                     size_t len, uint64_t *answers)
{
    struct rdma_state st = {0};
    uint64_t before = *answers, end;
    int rc = mlos_node_put_window(n, id, w, BIG_OFF, buf, len, rdma_done, &st);
    if (rc < 0)
        return rc;
    rc = wait_rdma(&st);
    end = uv_hrtime() + 20000000000ull;
    while (*answers == before && !n->lost && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    return rc;
}

/* Pool tasks: each puts its own 64 KiB into the shard the pool picked
 * (an RDMA WRITE), then has the slave sum it. */
#define PTASKS 40
#define PBYTES (64u << 10)
struct ptask {
    mlos_pool_call_t req;
    unsigned i, answers;
    int status;
    uint64_t want; /* the sum of its data */
};
static unsigned p_done;

static void ptask_data(unsigned i, uint8_t *p) { fill(p, PBYTES, 0x5150u + i); }

static int p_prep(mlos_pool_call_t *req, mlos_shard_t *shard)
{
    static uint8_t buf[PBYTES];
    struct ptask *t = req->data;
    ptask_data(t->i, buf);
    return mlos_put(shard, 0, buf, PBYTES); /* staged: buf is free again on return */
}

static void p_reply(mlos_pool_call_t *req, int status)
{
    struct ptask *t = req->data;
    t->status = status ? status : req->result_len == 8 && mlos_get_le64(req->result) == t->want ? 0 : -1000;
    t->answers++;
    p_done++;
}

/* A pool of two process shards over the cluster's one (verbs) node: every
 * task answered right, every put byte by RDMA WRITE, nothing left on the
 * node after the pool closes. */
static void pool_over_verbs(mlos_cluster_t *c, mlos_node_t *n)
{
    static struct ptask t[PTASKS];
    mlos_pool_t p;
    uint8_t arg[16];
    uint64_t rdma0 = n->rdma_put_bytes, end;
    struct mlos_pool_opts po = {.spawn = {.arch = "process", .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20,
                                          .hello_timeout_ms = 60000},
                                .min_shards = 2, .max_shards = 2, .placement = mlos_cluster_placement(c),
                                .idle_timeout_ms = 600000};
    mlos_put_le64(arg, 0);
    mlos_put_le64(arg + 8, PBYTES);
    CHECK_EQ(mlos_pool_init(loop, &p, &po), 0);
    for (end = uv_hrtime() + 120000000000ull; p.ready < 2 && uv_hrtime() < end;)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(p.ready, 2);
    for (unsigned i = 0; i < PTASKS; i++) {
        static uint8_t buf[PBYTES];
        ptask_data(i, buf);
        t[i].want = sum_here(buf, PBYTES);
        t[i].i = i;
        t[i].req.data = &t[i];
        CHECK_EQ(mlos_pool_call_prep(&p, &t[i].req, "sum_u64", arg, sizeof(arg), 0, p_prep, p_reply), 0);
    }
    for (end = uv_hrtime() + 120000000000ull; p_done < PTASKS && uv_hrtime() < end;)
        uv_run(loop, UV_RUN_ONCE);
    unsigned good = 0;
    for (unsigned i = 0; i < PTASKS; i++)
        good += t[i].answers == 1 && t[i].status == 0;
    mlos_shard_t *sh[2];
    CHECK_EQ(mlos_pool_shards(&p, sh, 2), 2);
    CHECK(!strcmp(sh[0]->node, n->name) && !strcmp(sh[1]->node, n->name));
    for (int i = 0; i < 500 && n->rdma_put_bytes < rdma0 + (uint64_t)PTASKS * PBYTES; i++)
        run_ms(loop, 10); /* completions are counted from the loop */
    printf("pool over the verbs node: %u of %u tasks right, %llu bytes put by RDMA\n", good, PTASKS,
           (unsigned long long)(n->rdma_put_bytes - rdma0));
    CHECK_EQ(good, PTASKS);
    CHECK_EQ(n->rdma_put_bytes - rdma0, (uint64_t)PTASKS * PBYTES);
    int pids[2] = {sh[0]->pid, sh[1]->pid};
    uint32_t ids[2] = {sh[0]->id, sh[1]->id};
    mlos_pool_close_sync(&p);
    CHECK(!n->lost);
    for (int i = 0; i < 2; i++) {
        CHECK(pid_gone(loop, pids[i], 500));
        CHECK(!agent_lists(n, ids[i]));
    }
}

int main(int argc, char **argv)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s, r;
    char addr[128], laddr[160], err[400];
    uint8_t *big, *back, small[13], around[64];
    struct mlos_node_window w0, w1, forged;

    if (argc != 4) {
        fprintf(stderr, "usage: test_node_verbs AGENT IMAGE_PATH IP\n");
        return 2;
    }
    agent_path = argv[1];
    setenv("MLOS_IMAGE_PATH", argv[2], 1);
    setenv("MLOS_REGISTRY", "0", 1);
    loop = uv_default_loop();
    snprintf(secret_path, sizeof(secret_path), "/tmp/mlos-node-verbs-%d.secret", (int)getpid());
    CHECK(write_secret(secret_path, "node-verbs") == 0);

    snprintf(laddr, sizeof(laddr), "verbs:%s:0", argv[3]);
    struct mlos_cluster_opts co = {.secret_file = secret_path};
    int rc = mlos_cluster_listen(&c, loop, laddr, &co);
    if (rc == MLOS_ENOTSUP) {
        printf("SKIP: no RDMA device\n");
        unlink(secret_path);
        return 77;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(mlos_cluster_addr(&c, addr, sizeof(addr)), 0);
    printf("cluster listening on %s\n", addr);
    const char *extra[] = {"--name", "rxe-node", "--link-spin-us", "100", NULL}; /* the agent polls its link, the master sleeps */
    struct mlos_launch_opts lo = {.launcher = "local", .program = agent_path, .master_addr = addr,
                                  .secret_file = secret_path, .extra_args = extra};
    memset(&a, 0, sizeof(a));
    a.la.data = &a;
    CHECK_EQ(mlos_launch_start(loop, &a.la, &lo, on_exit_cb), 0);
    CHECK_EQ(mlos_cluster_wait_nodes(&c, 1, 60000), 0);
    mlos_node_t *n = mlos_cluster_node_at(&c, 0);
    CHECK(n && !strcmp(n->name, "rxe-node") && !strcmp(n->ep.transport, "verbs"));

    /* ---- put ---- */
    CHECK_EQ(spawn_on(n, &s), 0);
    CHECK_EQ(mlos_node_shard_window(&s, &w0), 0);
    printf("window of shard %u: epoch %u, rkey %#x, %llu bytes\n", s.id, w0.epoch, w0.key.verbs_rkey,
           (unsigned long long)w0.key.len);
    CHECK(w0.epoch >= 1 && w0.key.len == WIN && w0.key.verbs_rkey);
    CHECK(big = malloc(BIG));
    CHECK(back = malloc(BIG));
    fill(big, BIG, 0x1234);
    memcpy(back, big, BIG);
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_put(&s, BIG_OFF, big, BIG), 0);
    memset(big, 0xee, BIG); /* mlos_put staged it: the buffer is ours again */
    uint64_t total = sum_on_slave(&s, BIG_OFF, BIG); /* right after the put: ordered behind it */
    printf("8 MiB RDMA put + sum_u64 on the slave: %.1f ms\n", (uv_hrtime() - t0) / 1e6);
    CHECK(total == sum_here(back, BIG));
    for (int i = 0; i < 500 && n->rdma_put_bytes < BIG; i++) /* completions are counted from the loop */
        run_ms(loop, 10);
    CHECK_EQ(n->rdma_put_bytes, BIG); /* by RDMA WRITE: a put the agent copied counts nothing here */
    check_sums(&s, BIG_OFF, back, BIG);
    fill(small, sizeof(small), 99);
    CHECK_EQ(mlos_put(&s, BIG_OFF + (1u << 20) + 5, small, sizeof(small)), 0);
    memcpy(back + (1u << 20) + 5, small, sizeof(small));
    CHECK_EQ(mlos_put(&s, WIN - 4, small, 8), MLOS_ERANGE);
    CHECK_EQ(mlos_put(&s, (size_t)-4, small, 8), MLOS_ERANGE);

    /* ---- get ---- */
    memset(big, 0, BIG);
    t0 = uv_hrtime();
    CHECK_EQ(get_sync(&s, BIG_OFF, big, BIG), 0);
    printf("8 MiB RDMA get: %.1f ms\n", (uv_hrtime() - t0) / 1e6);
    CHECK(memcmp(big, back, BIG) == 0);
    CHECK_EQ(get_sync(&s, BIG_OFF + (1u << 20) - 16, around, sizeof(around)), 0);
    CHECK(memcmp(around, back + (1u << 20) - 16, sizeof(around)) == 0);
    CHECK_EQ(get_sync(&s, WIN - 8, around, 16), MLOS_ERANGE);
    CHECK_EQ(mlos_node_get(&s, 0, around, 0, rdma_done, NULL), MLOS_EINVAL);
    CHECK(n->rdma_get_bytes == BIG + sizeof(around));
    check_sums(&s, BIG_OFF + (1u << 20) - BLOCK, back + (1u << 20) - BLOCK, 2 * BLOCK);

    /* ---- pool: shards placed over the verbs-linked node ---- */
    pool_over_verbs(&c, n);

    /* ---- stale: the slave dies, a replacement comes, the old key is used ---- */
    int pid = s.pid;
    uint32_t dead_id = s.id;
    rc = mlos_call_sync(&s, "crash", NULL, 0, NULL, NULL, err, sizeof(err));
    printf("crash: %s: %s\n", mlos_strerror(rc), err);
    CHECK_EQ(rc, MLOS_ESHARDDIED);
    CHECK(pid_gone(loop, pid, 500));
    CHECK_EQ(mlos_put(&s, 0, small, 8), MLOS_ESHARDDIED);
    CHECK(mlos_node_shard_window(&s, &w1) < 0);
    for (int i = 0; i < 300 && agent_lists(n, dead_id); i++) /* released at WIN_RELEASE */
        run_ms(loop, 10);
    CHECK(!agent_lists(n, dead_id));
    mlos_shard_stop_sync(&s);
    for (int tries = 0;; tries++) {
        CHECK_EQ(spawn_on(n, &r), 0);
        CHECK_EQ(mlos_node_shard_window(&r, &w1), 0);
        /* the NIC may hand the dead key's slot out again with the same key
         * byte; the old key would then be live: take another */
        if (w1.key.verbs_rkey != w0.key.verbs_rkey)
            break;
        CHECK(tries < 3);
        mlos_shard_stop_sync(&r);
    }
    printf("replacement shard %u: epoch %u, rkey %#x\n", r.id, w1.epoch, w1.key.verbs_rkey);
    pid = r.pid; /* the agent's slave, which must be gone when the agent is */
    CHECK(pid > 0);
    CHECK(w1.epoch > w0.epoch);
    fill(big, BIG, 0x5678);
    memcpy(back, big, BIG);
    CHECK_EQ(mlos_put(&r, BIG_OFF, big, BIG), 0);
    CHECK(sum_on_slave(&r, BIG_OFF, BIG) == sum_here(back, BIG));
    uint8_t junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    for (int i = 0; i < 20; i++) {
        uint64_t stale0 = c.rdma_stale;
        CHECK_EQ(keyed_put(n, dead_id, &w0, junk, sizeof(junk), &c.rdma_stale), MLOS_EKEY);
        CHECK_EQ(c.rdma_stale, stale0 + 1);
        CHECK(!n->lost);
    }
    printf("20 stale puts: refused, answered PUT_STALE, link up (%llu stale, %llu forged)\n",
           (unsigned long long)c.rdma_stale, (unsigned long long)c.rdma_forged);
    CHECK_EQ(c.rdma_forged, 0);
    check_sums(&r, BIG_OFF, back, BIG); /* nothing of them reached the new slave */
    memset(big, 0, BIG);
    CHECK_EQ(get_sync(&r, BIG_OFF, big, BIG), 0);
    CHECK(memcmp(big, back, BIG) == 0);

    /* ---- notices: PUT_RDMA notices no honest master sends ---- */
    {
        /* [0] wrong length, [1] reserved word set, [2] past the window's
         * end, [3] an offset beyond it whose sum with the length wraps */
        struct { uint64_t off, len; uint32_t resv; size_t size; } bad[] = {
            {BIG_OFF, 64, 0, MLOS_NODE_PUT_RDMA_SIZE - 1},
            {BIG_OFF, 64, 1, MLOS_NODE_PUT_RDMA_SIZE},
            {WIN - 8, 16, 0, MLOS_NODE_PUT_RDMA_SIZE},
            {WIN + 8, UINT64_MAX - 4, 0, MLOS_NODE_PUT_RDMA_SIZE},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            uint8_t note[MLOS_NODE_PUT_RDMA_SIZE];
            uint64_t before = c.rdma_forged, end = uv_hrtime() + 20000000000ull;
            mlos_put_le64(note, bad[i].off);
            mlos_put_le64(note + 8, bad[i].len);
            mlos_put_le32(note + 16, w1.key.verbs_rkey);
            mlos_put_le32(note + 20, bad[i].resv);
            CHECK_EQ(mlos__node_send(n, MLOS_NODE_PUT_RDMA, r.id, 0, w1.epoch, note, bad[i].size, NULL, 0), 0);
            while (c.rdma_forged == before && !n->lost && uv_hrtime() < end)
                uv_run(loop, UV_RUN_ONCE);
            CHECK_EQ(c.rdma_forged, before + 1); /* answered PUT_FORGED */
            CHECK(!n->lost); /* no refusal by the NIC: nothing for the transport to count */
        }
        CHECK(mlos_shard_alive(&r));
        CHECK(sum_on_slave(&r, BIG_OFF, BIG) == sum_here(back, BIG));
        printf("4 malformed notices: each answered PUT_FORGED, link up, data untouched\n");
    }

    /* ---- forged: a key the agent never gave out ---- */
    uint64_t forged0 = c.rdma_forged;
    forged = w1;
    forged.key.verbs_rkey ^= 0x00ab0000u; /* another key slot */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(keyed_put(n, r.id, &forged, junk, sizeof(junk), &c.rdma_forged), MLOS_EKEY);
        CHECK(!n->lost);
    }
    CHECK_EQ(c.rdma_forged, forged0 + 3);
    CHECK(sum_on_slave(&r, BIG_OFF, BIG) == sum_here(back, BIG));
    int closed_after = 0;
    for (int i = 0; i < 17 && !n->lost; i++) {
        rc = keyed_put(n, r.id, &forged, junk, sizeof(junk), &c.rdma_forged);
        CHECK(rc == MLOS_EKEY || rc == MLOS_ECONNRESET || rc == MLOS_ESHARDDIED);
        closed_after = i + 1;
    }
    for (int i = 0; i < 2000 && !n->lost; i++)
        run_ms(loop, 5);
    printf("forged keys: link closed after %d more (%llu forged answered)\n", closed_after,
           (unsigned long long)c.rdma_forged);
    CHECK(n->lost);
    /* the transport closes at the 17th refusal it counts: 3 forged before,
     * so the 14th here, and only if all 20 stale ones were forgiven */
    CHECK_EQ(closed_after, 14);
    CHECK(!mlos_shard_alive(&r));
    CHECK_EQ(r.pid, 0); /* the handle forgets the pid once its node is lost */
    mlos_shard_stop_sync(&r);
    for (int i = 0; i < 1000 && !a.exited; i++)
        run_ms(loop, 10);
    CHECK(a.exited);
    printf("agent exit status %d: %s\n", a.status, a.err);
    CHECK_EQ(a.status, 3);
    CHECK(pid_gone(loop, pid, 500));
    mlos_launch_stop(&a.la);
    mlos_cluster_close_sync(&c);
    free(big);
    free(back);
    unlink(secret_path);
    CHECK_DONE();
}
