/* Shard groups whose members run behind node agents on this host (no
 * root): the agent keeps the node's copy of the group memory, formats the
 * master's slices in it and serves its members' wake-ups.
 *
 *   test_cluster_groups AGENT ARCH CASE...
 *
 *   one      3 shards behind one agent: every collective against the serial
 *            computation (test/group_ref.h), messages and one-sided access,
 *            members that sleep at once (wake-ups served by the agent), f64
 *            allreduce byte-identical to an all-local group; malformed
 *            GROUP_* messages change nothing; the agent's group memory is
 *            gone once its shards are
 *   member   a member SIGKILLed during barriers: the call fails with
 *            MLOS_ESHARDDIED naming its rank within the bound; re-formed
 *            with a replacement on the node, the group computes again; a
 *            member frozen (SIGSTOP) under group heartbeats is fenced by
 *            its agent within the heartbeat bound
 *   agent    the agent SIGKILLed during barriers: MLOS_ESHARDDIED naming a
 *            rank of that node within the node-fencing bound, its slaves
 *            gone; a new group on another agent computes
 *   mix      a member on this host, two behind one agent, one behind
 *            another: every collective, messages, one-sided access, f64
 *            allreduce byte-identical to an all-local group; a group of
 *            two agents only (agent to agent through the master); relayed
 *            frames with a bad length or pair refused by the agent; the
 *            second agent SIGKILLed during barriers: MLOS_ESHARDDIED naming
 *            its rank within the bound; re-formed with a replacement on
 *            the first agent, the group computes again
 *   eight    8 ranks interleaved over this host and two agents: every
 *            collective, messages, one-sided access, f64 identical to local
 *   master   the master's own rank with members behind two agents and one
 *            here: collectives; an agent killed under barriers fails the
 *            master's rank too; re-formed on the other agent
 *   pool     a pool over two agents (2 shards each) as a 4-rank group:
 *            collectives; a call past its deadline ends with every rank
 *            MLOS_ETIMEDOUT (the abort reaches each node's copy)
 *   netns NODES CUT HEAL  (test_cluster_groups_netns.sh) two agents in
 *            network namespaces, NODES "name,master-ip,wrapper words;...":
 *            this host + two behind the first + one behind the second,
 *            every collective; the second's link cut (shell command CUT)
 *            during barriers: MLOS_ESHARDDIED naming its rank within the
 *            heartbeat bound; re-formed on the first; after HEAL the cut
 *            agent finds its connection dead and exits
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "../group_call.h"
#include "../group_ref.h"
#include "cluster.h"
#include "cluster_rdma.h"
#include "cluster_util.h"
#include "group.h"
#include "group_nodes.h"
#include "ring.h"
#include "group_node.h"
#include "launcher.h"
#include "mlos_coll.h"
#include "mlos_group.h"
#include "mlos_task_api.h"

static uv_loop_t *loop;
static const char *agent, *arch;
static char secret_path[300], rtdir[200];
static mlos_group_mem_t gm;
static uint8_t *exp_buf;

static void start_agent(mlos_cluster_t *c, struct agent *a, const char *name)
{
    char addr[128];
    static char maddr[160];
    const char *extra[] = {"--name", name, NULL};
    CHECK(mlos_cluster_addr(c, addr, sizeof(addr)) == 0);
    snprintf(maddr, sizeof(maddr), "tcp:127.0.0.1:%s", strrchr(addr, ':') + 1);
    struct mlos_launch_opts lo = {.launcher = "local", .program = agent, .master_addr = maddr,
                                  .secret_file = secret_path, .extra_args = extra};
    memset(a, 0, sizeof(*a));
    a->la.data = a;
    CHECK(mlos_launch_start(loop, &a->la, &lo, on_exit_cb) == 0);
}

static mlos_node_t *add_node(mlos_cluster_t *c, struct agent *a, const char *name, unsigned have)
{
    start_agent(c, a, name);
    CHECK(mlos_cluster_wait_nodes(c, have + 1, 30000) == 0);
    for (unsigned i = 0; i <= have; i++) {
        mlos_node_t *n = mlos_cluster_node_at(c, i);
        if (n && !strcmp(n->name, name))
            return n;
    }
    CHECK(0);
    return NULL;
}

static void listen_cluster(mlos_cluster_t *c)
{
    struct mlos_cluster_opts o = {.secret_file = secret_path};
    CHECK(mlos_cluster_listen(c, loop, "tcp:127.0.0.1:0", &o) == 0);
}

static struct mlos_spawn_opts member_opts(void)
{
    return (struct mlos_spawn_opts){.arch = arch, .group_mem = &gm, .mem_bytes = 16u << 20,
                                    .bulk_bytes = 2u << 20, .ring_bytes = 1u << 20, .kvm = MLOS_KVM_AUTO,
                                    .hello_timeout_ms = 30000};
}

static void spawn_on(mlos_node_t *n, mlos_shard_t *s)
{
    struct mlos_spawn_opts o = member_opts();
    int rc = n ? node_spawn_wait(loop, n, s, &o) : mlos_spawn_sync(loop, s, &o);
    if (rc)
        fprintf(stderr, "spawn on %s: %s\n", n ? n->name : "this host", mlos_strerror(rc));
    CHECK_EQ(rc, 0);
}

static void wait_exit(struct agent *a, unsigned ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (!a->exited && uv_hrtime() < end)
        run_ms(loop, 10);
}

static void finish(mlos_cluster_t *c, struct agent *a, int n_agents, int want_status)
{
    mlos_cluster_close_sync(c);
    for (int i = 0; i < n_agents; i++) {
        wait_exit(&a[i], 8000);
        CHECK(a[i].exited);
        if (a[i].status != want_status)
            fprintf(stderr, "agent exit %d, wanted %d: %s\n", a[i].status, want_status, a[i].err);
        CHECK_EQ(a[i].status, want_status);
        mlos_launch_stop(&a[i].la);
    }
}

/* Group-memory files the agent process holds open. */
static int agent_group_fds(int pid)
{
    char dir[64], path[400], link[256];
    int found = 0;
    snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t k = readlink(path, link, sizeof(link) - 1);
        if (k > 0) {
            link[k] = 0;
            found += strstr(link, "memfd:mlos-group") != NULL;
        }
    }
    closedir(d);
    return found;
}

/* The agent's copy of the group memory, mapped here as one of its members
 * maps it (same user: through /proc); *len its size. */
static uint8_t *agent_group_map(int pid, size_t *len)
{
    char dir[64], path[400], link[256];
    uint8_t *map = NULL;
    snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    for (struct dirent *e; !map && (e = readdir(d));) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t k = readlink(path, link, sizeof(link) - 1);
        if (k <= 0)
            continue;
        link[k] = 0;
        if (!strstr(link, "memfd:mlos-group"))
            continue;
        int fd = open(path, O_RDWR);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0) {
            map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            *len = (size_t)st.st_size;
            if (map == MAP_FAILED)
                map = NULL;
        }
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    return map;
}

/* ---- group calls ---- */

static int gcall_start(mlos_group_t *grp, struct gcall *g, const char *task, const void *arg, size_t len,
                       unsigned tmo)
{
    gcall_prepare(g);
    return mlos_group_call(grp, &g->req, task, arg, len, tmo, gcall_done);
}

static int gcall(mlos_group_t *grp, struct gcall *g, const char *task, const void *arg, size_t len, unsigned tmo)
{
    return gcall_wait(loop, g, gcall_start(grp, g, task, arg, len, tmo));
}

/* The first len bytes of a member's bulk window (group.out: mlos_get does
 * not reach a shard behind an agent). malloc'ed. */
static uint8_t *member_out(mlos_shard_t *s, size_t len)
{
    uint8_t arg[8];
    void *res = NULL;
    size_t rl = 0;
    char err[300];
    mlos_put_le64(arg, len);
    int rc = mlos_call_sync(s, "group.out", arg, 8, &res, &rl, err, sizeof(err));
    if (rc)
        fprintf(stderr, "group.out: %s: %s\n", mlos_strerror(rc), err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(rl, len);
    return res;
}

/* One collective on the group, every rank's output checked; keep (if not
 * NULL) gets rank 0's output. */
static void check_one(mlos_group_t *grp, mlos_shard_t **m, int which, int type, int op, unsigned root,
                      uint64_t count, uint64_t seed, uint8_t *keep, size_t *keep_len)
{
    uint8_t arg[32];
    struct gcall g;
    mlos_gc_encode(arg, (uint32_t)which, (uint32_t)type, (uint32_t)op, root, count, seed);
    int rc = gcall(grp, &g, "group.check", arg, sizeof(arg), 60000);
    if (rc)
        fprintf(stderr, "collective %d n=%u type %d op %d count %llu: %s (%s)\n", which, grp->n, type, op,
                (unsigned long long)count, mlos_strerror(rc), g.error);
    CHECK_EQ(rc, 0);
    for (unsigned r = 0; r < grp->n; r++) {
        size_t want = expected(which, type, op, root, count, seed, grp->n, r, exp_buf);
        CHECK_EQ(gcall_u64(&g, r), want);
        if (!want)
            continue;
        uint8_t *got = member_out(m[r], want);
        if (memcmp(got, exp_buf, want)) {
            size_t i = 0;
            while (got[i] == exp_buf[i])
                i++;
            fprintf(stderr, "collective %d n=%u type %d op %d count %llu: rank %u differs at byte %zu\n", which,
                    grp->n, type, op, (unsigned long long)count, r, i);
            CHECK(0);
        }
        if (keep && r == 0) {
            memcpy(keep, got, want);
            *keep_len = want;
        }
        free(got);
    }
}

static void all_collectives(mlos_group_t *g, mlos_shard_t **m)
{
    static const uint64_t counts[] = {1, 7, 700, 20000};
    static const uint64_t bytes[] = {1, 100, 5000, 70000};
    uint64_t seed = 500 + g->n;
    check_one(g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, seed, NULL, NULL);
    for (int t = 0; t < 3; t++)
        for (int op = 0; op < 3; op++)
            for (int ci = 0; ci < 4; ci++) {
                if (ci % 2 == 0 && op)
                    continue;
                check_one(g, m, MLOS_GC_ALLREDUCE, t, op, 0, counts[ci], seed++, NULL, NULL);
                check_one(g, m, MLOS_GC_REDUCE, t, op, (unsigned)(seed % g->n), counts[ci], seed, NULL, NULL);
                seed++;
            }
    for (int bi = 0; bi < 4; bi++) {
        check_one(g, m, MLOS_GC_BCAST, 0, 0, (unsigned)(seed % g->n), bytes[bi], seed, NULL, NULL);
        seed++;
        if (g->n * bytes[bi] > (512u << 10))
            continue; /* group.out reads at most 512 KiB back */
        check_one(g, m, MLOS_GC_GATHER, 0, 0, (unsigned)(seed % g->n), bytes[bi], seed, NULL, NULL);
        seed++;
        check_one(g, m, MLOS_GC_ALLGATHER, 0, 0, 0, bytes[bi], seed, NULL, NULL);
        seed++;
    }
}

static void make_group_ring(mlos_group_t *g, mlos_shard_t **m, unsigned n, unsigned spin_us, uint32_t ring)
{
    struct mlos_group_opts o = {.mem = &gm, .members = m, .n = n, .spin_us = spin_us, .ring_bytes = ring};
    memset(g, 0, sizeof(*g));
    int rc = mlos_group_create_sync(loop, g, &o);
    if (rc)
        fprintf(stderr, "group create: %s: %s\n", mlos_strerror(rc), g->error ? g->error : "");
    CHECK_EQ(rc, 0);
}

static void make_group(mlos_group_t *g, mlos_shard_t **m, unsigned n, unsigned spin_us)
{
    make_group_ring(g, m, n, spin_us, 0);
}

static void on_reformed(mlos_group_t *g, int status) { *(int *)g->data = status; }

static int reform_sync(mlos_group_t *g, unsigned rank, mlos_shard_t *repl)
{
    int st = 1;
    g->data = &st;
    int rc = mlos_group_reform(g, rank, repl, on_reformed);
    while (rc == 0 && st == 1)
        uv_run(loop, UV_RUN_ONCE);
    g->data = NULL;
    return rc ? rc : st;
}

static void p2p_rma(mlos_group_t *g)
{
    struct gcall c;
    uint8_t arg[16];
    mlos_put_le64(arg, 40000);
    mlos_put_le64(arg + 8, 31);
    CHECK_EQ(gcall(g, &c, "group.p2p", arg, 16, 30000), 0);
    mlos_put_le64(arg, 30000);
    CHECK_EQ(gcall(g, &c, "group.rma", arg, 16, 30000), 0);
}

/* ---- cases ---- */

static void case_one(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t rs[3], ls[3];
    mlos_shard_t *rm[3], *lm[3];
    mlos_group_t rg, rg2, lg;
    listen_cluster(&c);
    mlos_node_t *n = add_node(&c, &a, "g-one", 0);
    for (int i = 0; i < 3; i++) {
        spawn_on(n, &rs[i]);
        spawn_on(NULL, &ls[i]);
        rm[i] = &rs[i];
        lm[i] = &ls[i];
    }
    CHECK_EQ(agent_group_fds(n->agent_pid), 1); /* one node copy for the three */
    /* members that sleep at once: every wake-up goes through the agent */
    make_group(&rg, rm, 3, 0);
    all_collectives(&rg, rm);
    p2p_rma(&rg);
    printf("3 shards behind one agent: every collective matches the serial computation\n");
    /* f64 sums bit for bit as an all-local group's (the fold order is the group's, not the transport's) */
    make_group(&lg, lm, 3, 0);
    static uint8_t rbuf[200000], lbuf[200000];
    size_t rl = 0, ll = 0;
    check_one(&rg, rm, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 77, rbuf, &rl);
    check_one(&lg, lm, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 77, lbuf, &ll);
    CHECK(rl == 160000 && ll == rl && !memcmp(rbuf, lbuf, rl));
    printf("f64 allreduce of 20000 elements: byte-identical to the all-local group\n");
    /* a second group over the same shards, polling members, beside the first */
    mlos_shard_t *rm2[3] = {rm[2], rm[0], rm[1]};
    make_group(&rg2, rm2, 3, 100);
    check_one(&rg2, rm2, MLOS_GC_ALLGATHER, 0, 0, 0, 3000, 9, NULL, NULL);
    check_one(&rg, rm, MLOS_GC_REDUCE, 1, 1, 2, 5000, 10, NULL, NULL);
    /* malformed group messages: refused by the agent, nothing changes */
    uint8_t bad[MLOS_GROUP_FORMAT_HDR + 4 * 3];
    struct mlos_group_format_msg f = {.key = mlos__group_mem_key(&gm), .offset = gm.size - 4096,
                                      .slice_len = 1 << 20, .group_id = rg.id, .generation = rg.generation,
                                      .n = 3, .ring_bytes = 1 << 16, .shard = {rs[0].id, rs[1].id, rs[2].id}};
    size_t bl = mlos_group_format_encode(&f, bad); /* past the end of the memory */
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_FORMAT, 0, 0, 0, bad, bl, NULL, 0), 0);
    f.offset = 4096 + 1; /* unaligned */
    bl = mlos_group_format_encode(&f, bad);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_FORMAT, 0, 0, 0, bad, bl, NULL, 0), 0);
    f.offset = 0;
    f.key ^= 1; /* a memory it does not have */
    bl = mlos_group_format_encode(&f, bad);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_FORMAT, 0, 0, 0, bad, bl, NULL, 0), 0);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_FORMAT, 0, 0, 0, bad, 7, NULL, 0), 0); /* truncated */
    uint8_t mark[MLOS_GROUP_MARK_BYTES];
    mlos_put_le32(mark, rg.id);
    mlos_put_le32(mark + 4, rg.generation + 5); /* another generation */
    mlos_put_le32(mark + 8, 1);
    mlos_put_le32(mark + 12, MLOS_GROUP_DOWN_DIED);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_MARK, 0, 0, 0, mark, sizeof(mark), NULL, 0), 0);
    mlos_put_le32(mark + 4, rg.generation);
    mlos_put_le32(mark + 8, 77); /* no such rank */
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_MARK, 0, 0, 0, mark, sizeof(mark), NULL, 0), 0);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_MARK, 0, 0, 0, mark, 3, NULL, 0), 0);
    check_one(&rg, rm, MLOS_GC_ALLREDUCE, 0, 0, 0, 700, 11, NULL, NULL);
    check_one(&rg2, rm2, MLOS_GC_BCAST, 0, 0, 1, 5000, 12, NULL, NULL);
    CHECK(!n->lost);
    printf("malformed GROUP_FORMAT and GROUP_MARK messages: ignored, both groups still compute\n");
    mlos_group_close_sync(&rg2);
    mlos_group_close_sync(&rg);
    mlos_group_close_sync(&lg);
    int pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = rs[i].pid;
        mlos_shard_stop_sync(&rs[i]);
        mlos_shard_stop_sync(&ls[i]);
    }
    for (int i = 0; i < 3; i++)
        CHECK(pid_gone(loop, pids[i], 300));
    int fds = -1;
    for (int i = 0; i < 100 && (fds = agent_group_fds(n->agent_pid)) != 0; i++)
        run_ms(loop, 20);
    CHECK_EQ(fds, 0); /* the node copy went with its last shard */
    finish(&c, &a, 1, 0);
}

static void case_member(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s[4];
    mlos_shard_t *m[3];
    mlos_group_t g;
    struct gcall call;
    listen_cluster(&c);
    mlos_node_t *n = add_node(&c, &a, "g-member", 0);
    for (int i = 0; i < 3; i++) {
        spawn_on(n, &s[i]);
        m[i] = &s[i];
    }
    make_group(&g, m, 3, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 0, 0, 0, 7, 1, NULL, NULL);
    CHECK_EQ(gcall_start(&g, &call, "group.barriers", NULL, 0, 0), 0);
    run_ms(loop, 200); /* barriers under way */
    CHECK(!call.done);
    int victim = 1, pid = s[victim].pid;
    uint64_t t0 = uv_hrtime();
    kill(pid, SIGKILL);
    while (!call.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(call.done);
    uint64_t ms = (call.t_done - t0) / 1000000u;
    printf("member killed: %s after %llu ms, failed rank %d: %s\n", mlos_strerror(call.status),
           (unsigned long long)ms, call.failed_rank, call.error);
    CHECK_EQ(call.status, MLOS_ESHARDDIED);
    CHECK_EQ(call.failed_rank, victim);
    CHECK_EQ(g.failed_rank, victim);
    CHECK(ms < 1500); /* the agent scans its slaves every 20 ms and marks the rank at once */
    for (int r = 0; r < 3; r++)
        if (r != victim)
            CHECK_EQ(call.rank_status[r], MLOS_ESHARDDIED); /* the survivors saw the mark, not a timeout */
    CHECK_EQ(gcall(&g, &call, "group.barriers", NULL, 0, 0), MLOS_ESHARDDIED); /* broken until re-formed */
    CHECK(pid_gone(loop, pid, 300));
    spawn_on(n, &s[3]);
    m[victim] = &s[3];
    uint32_t gen = g.generation;
    CHECK_EQ(reform_sync(&g, (unsigned)victim, &s[3]), 0);
    CHECK(g.generation == gen + 1 && g.failed_rank == -1);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 700, 2, NULL, NULL);
    check_one(&g, m, MLOS_GC_GATHER, 0, 0, 2, 5000, 3, NULL, NULL);
    printf("re-formed with a replacement on the node: the group computes again\n");
    mlos_group_close_sync(&g);
    /* a frozen member: the agent's heartbeat (set through the group) fences it, its rank goes down */
    struct mlos_group_opts ho = {.mem = &gm, .members = m, .n = 3, .heartbeat_ms = 100, .heartbeat_timeout_ms = 400};
    memset(&g, 0, sizeof(g));
    CHECK_EQ(mlos_group_create_sync(loop, &g, &ho), 0);
    check_one(&g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, 4, NULL, NULL);
    CHECK_EQ(gcall_start(&g, &call, "group.barriers", NULL, 0, 0), 0);
    run_ms(loop, 200);
    CHECK(!call.done);
    int frozen = s[2].pid;
    t0 = uv_hrtime();
    kill(frozen, SIGSTOP);
    while (!call.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(call.done);
    ms = (call.t_done - t0) / 1000000u;
    printf("member frozen: %s after %llu ms, failed rank %d: %s\n", mlos_strerror(call.status),
           (unsigned long long)ms, call.failed_rank, call.error);
    CHECK_EQ(call.status, MLOS_ESHARDDIED);
    CHECK_EQ(call.failed_rank, 2);
    CHECK(ms < 2000); /* a ping every 100 ms, 400 ms to answer, the agent's 20 ms scan */
    CHECK(pid_gone(loop, frozen, 300)); /* fenced: killed on its node */
    mlos_group_close_sync(&g);
    for (int i = 0; i < 4; i++)
        mlos_shard_stop_sync(&s[i]);
    finish(&c, &a, 1, 0);
}

static void case_agent(void)
{
    mlos_cluster_t c;
    struct agent a[2];
    mlos_shard_t s[3], t[3];
    mlos_shard_t *m[3], *mt[3];
    mlos_group_t g, g2;
    struct gcall call;
    listen_cluster(&c);
    mlos_node_t *n = add_node(&c, &a[0], "g-lost", 0);
    mlos_node_t *n2 = add_node(&c, &a[1], "g-spare", 1);
    int pids[3];
    for (int i = 0; i < 3; i++) {
        spawn_on(n, &s[i]);
        spawn_on(n2, &t[i]);
        m[i] = &s[i];
        mt[i] = &t[i];
        pids[i] = s[i].pid;
    }
    make_group(&g, m, 3, 0);
    check_one(&g, m, MLOS_GC_BCAST, 0, 0, 0, 100, 4, NULL, NULL);
    CHECK_EQ(gcall_start(&g, &call, "group.barriers", NULL, 0, 0), 0);
    run_ms(loop, 200);
    CHECK(!call.done);
    uint64_t t0 = uv_hrtime();
    kill(a[0].la.pid, SIGKILL);
    while (!call.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(call.done);
    uint64_t ms = (call.t_done - t0) / 1000000u;
    printf("agent killed: %s after %llu ms, failed rank %d: %s\n", mlos_strerror(call.status),
           (unsigned long long)ms, call.failed_rank, call.error);
    CHECK_EQ(call.status, MLOS_ESHARDDIED);
    CHECK(call.failed_rank >= 0 && call.failed_rank < 3);
    CHECK(strstr(call.error, "g-lost"));
    CHECK(n->lost);
    CHECK(ms < 1500); /* the node-fencing bound: 1 s after silence, at once for a broken connection */
    for (int i = 0; i < 3; i++)
        CHECK(pid_gone(loop, pids[i], 300)); /* the slaves died with their agent */
    /* every rank of the group was on that node: re-forming one rank is refused, a new group goes elsewhere */
    CHECK_EQ(mlos_group_reform(&g, 0, &t[0], on_reformed), MLOS_EINVAL);
    mlos_group_close_sync(&g);
    make_group(&g2, mt, 3, 0);
    check_one(&g2, mt, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 5, NULL, NULL);
    check_one(&g2, mt, MLOS_GC_ALLGATHER, 0, 0, 0, 5000, 6, NULL, NULL);
    printf("a new group on the other agent computes\n");
    mlos_group_close_sync(&g2);
    for (int i = 0; i < 3; i++) {
        mlos_shard_stop_sync(&s[i]);
        mlos_shard_stop_sync(&t[i]);
    }
    mlos_cluster_close_sync(&c);
    wait_exit(&a[0], 8000);
    wait_exit(&a[1], 8000);
    CHECK(a[0].exited && a[1].exited);
    CHECK_EQ(a[1].status, 0);
    mlos_launch_stop(&a[0].la);
    mlos_launch_stop(&a[1].la);
}

/* A relayed frame for the agent of node n, of rank `from` to rank `to`. */
static void send_data(mlos_node_t *n, const mlos_group_t *g, unsigned from, unsigned to, uint32_t claimed,
                      size_t real)
{
    uint8_t m[MLOS_GROUP_DATA_HDR + 64] = {0};
    mlos_put_le32(m, g->id);
    mlos_put_le32(m + 4, g->generation);
    m[8] = (uint8_t)from;
    m[9] = (uint8_t)to;
    m[10] = MLOS_GROUP_RING_COLL;
    m[11] = 3;
    mlos_put_le32(m + 16, claimed);
    memset(m + MLOS_GROUP_DATA_HDR, 0xa5, real);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_GROUP_DATA, 0, 0, 0, m, MLOS_GROUP_DATA_HDR + real, NULL, 0), 0);
}

static void case_mix(void)
{
    mlos_cluster_t c;
    struct agent a[2];
    mlos_shard_t s[7], l[4];
    memset(s, 0, sizeof(s));
    mlos_group_t g, g2, lg;
    struct gcall call;
    listen_cluster(&c);
    mlos_node_t *na = add_node(&c, &a[0], "g-a", 0);
    mlos_node_t *nb = add_node(&c, &a[1], "g-b", 1);
    /* ranks: 0 this host, 1 and 2 behind g-a, 3 behind g-b */
    spawn_on(NULL, &s[0]);
    spawn_on(na, &s[1]);
    spawn_on(na, &s[2]);
    spawn_on(nb, &s[3]);
    for (int i = 0; i < 4; i++)
        spawn_on(NULL, &l[i]);
    mlos_shard_t *m[4] = {&s[0], &s[1], &s[2], &s[3]}, *lm[4] = {&l[0], &l[1], &l[2], &l[3]};
    make_group(&g, m, 4, 0);
    all_collectives(&g, m);
    p2p_rma(&g);
    printf("this host + 2 behind g-a + 1 behind g-b: every collective matches the serial computation\n");
    make_group(&lg, lm, 4, 0);
    static uint8_t rbuf[200000], lbuf[200000];
    size_t rl = 0, ll = 0;
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 78, rbuf, &rl);
    check_one(&lg, lm, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 78, lbuf, &ll);
    CHECK(rl == 160000 && ll == rl && !memcmp(rbuf, lbuf, rl));
    printf("f64 allreduce of 20000 elements: byte-identical to the all-local group\n");
    mlos_group_close_sync(&lg);
    /* two agents, nobody on this host: agent to agent through the master */
    mlos_shard_t *m2[3] = {&s[1], &s[3], &s[2]};
    make_group(&g2, m2, 3, 50);
    check_one(&g2, m2, MLOS_GC_ALLREDUCE, 0, 0, 0, 20000, 79, NULL, NULL);
    check_one(&g2, m2, MLOS_GC_ALLGATHER, 0, 0, 0, 5000, 80, NULL, NULL);
    check_one(&g2, m2, MLOS_GC_BARRIER, 0, 0, 0, 0, 81, NULL, NULL);
    printf("g-a + g-b + g-a: collectives through the master match\n");
    mlos_group_close_sync(&g2);
    /* the smallest rings: every large collective waits on credit many times */
    mlos_shard_t *m3[3] = {&s[3], &s[0], &s[1]};
    make_group_ring(&g2, m3, 3, 0, 4096);
    check_one(&g2, m3, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 88, NULL, NULL);
    check_one(&g2, m3, MLOS_GC_BCAST, 0, 0, 0, 70000, 89, NULL, NULL);
    check_one(&g2, m3, MLOS_GC_ALLGATHER, 0, 0, 0, 5000, 92, NULL, NULL);
    struct gcall pc;
    uint8_t parg[16];
    mlos_put_le64(parg, 40000);
    mlos_put_le64(parg + 8, 33);
    CHECK_EQ(gcall(&g2, &pc, "group.p2p", parg, 16, 30000), 0);
    printf("4 KiB collective rings, 16 KiB message rings across nodes: collectives and messages match\n");
    mlos_group_close_sync(&g2);
    /* hostile relayed frames: refused by the agent, nothing reaches the rings */
    uint64_t refused0 = mlos__group_nodes_refused();
    send_data(na, &g, 3, 1, 1u << 20, 8);  /* a length past the ring's frame size */
    send_data(na, &g, 3, 1, 40, 8);        /* a length the message does not hold */
    send_data(na, &g, 1, 2, 8, 8);         /* a pair on the agent's own node */
    send_data(na, &g, 0, 9, 8, 8);         /* no such rank */
    check_one(&g, m, MLOS_GC_ALLREDUCE, 1, 0, 0, 700, 82, NULL, NULL);
    check_one(&g, m, MLOS_GC_GATHER, 0, 0, 3, 5000, 83, NULL, NULL);
    CHECK(!na->lost && mlos__group_nodes_refused() == refused0);
    /* and by the master: g-a speaking for a rank of g-b, a bad length into this host's ring */
    uint8_t fr[MLOS_GROUP_DATA_HDR + 16] = {0};
    mlos_put_le32(fr, g.id);
    mlos_put_le32(fr + 4, g.generation);
    fr[8] = 3; /* on g-b */
    fr[9] = 0;
    fr[11] = 3;
    mlos_put_le32(fr + 16, 16);
    mlos__group_nodes_recv(na, MLOS_NODE_GROUP_DATA, fr, sizeof(fr));
    CHECK_EQ(mlos__group_nodes_refused(), refused0 + 1);
    fr[8] = 1; /* g-a's own rank, but 16 bytes claimed beyond the message */
    mlos_put_le32(fr + 16, 32);
    mlos__group_nodes_recv(na, MLOS_NODE_GROUP_DATA, fr, sizeof(fr));
    CHECK_EQ(mlos__group_nodes_refused(), refused0 + 2);
    fr[9] = 3; /* the same bad length, for g-b: refused here, never forwarded */
    mlos__group_nodes_recv(na, MLOS_NODE_GROUP_DATA, fr, sizeof(fr));
    CHECK_EQ(mlos__group_nodes_refused(), refused0 + 3);
    uint8_t cr0[MLOS_GROUP_CREDIT_BYTES] = {0}; /* g-b returning credit for bytes nobody forwarded */
    mlos_put_le32(cr0, g.id);
    mlos_put_le32(cr0 + 4, g.generation);
    cr0[8] = 1;
    cr0[9] = 3;
    mlos_put_le32(cr0 + 12, 1u << 20);
    mlos__group_nodes_recv(nb, MLOS_NODE_GROUP_CREDIT, cr0, sizeof(cr0));
    CHECK_EQ(mlos__group_nodes_refused(), refused0 + 4);
    mlos__group_nodes_recv(nb, MLOS_NODE_GROUP_DATA, fr, 5); /* shorter than any header */
    CHECK_EQ(mlos__group_nodes_refused(), refused0 + 5);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 0, 2, 0, 7000, 85, NULL, NULL);
    printf("malformed relayed frames: refused by the agent and the master, the group still computes\n");
    /* a hostile member here: its ring to rank 1 (behind g-a) gets an index that is no record boundary;
     * the master's relay refuses it and fences the member, whose rank goes down everywhere */
    size_t slen;
    uint32_t sring;
    uint8_t *slice = mlos__group_slice(&g, &slen, &sring);
    CHECK(slice);
    struct mlos_ring_ctl *ctl = (struct mlos_ring_ctl *)(slice + mlos_group_ring_off(4, sring, 0, 1, MLOS_GROUP_RING_COLL));
    __atomic_store_n(&ctl->head, mlos_to_le32(mlos_from_le32(ctl->head) + 8), __ATOMIC_RELEASE);
    uint64_t before = mlos__group_nodes_refused();
    mlos__group_nodes_kick(g.id, g.generation, 0, 1u << 1); /* as rank 0's WAKE naming rank 1 would */
    CHECK_EQ(mlos__group_nodes_refused(), before + 1);
    CHECK(!mlos_shard_alive(&s[0]));
    CHECK_EQ(g.failed_rank, 0);
    CHECK(strstr(g.error, "corrupted its ring"));
    CHECK_EQ(gcall(&g, &call, "group.barriers", NULL, 0, 0), MLOS_ESHARDDIED);
    printf("a member corrupting a relayed ring: %s\n", g.error);
    spawn_on(NULL, &s[5]);
    m[0] = &s[5];
    CHECK_EQ(reform_sync(&g, 0, &s[5]), 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 700, 86, NULL, NULL);
    CHECK(!na->lost && !nb->lost);
    /* the same on g-a: rank 1 corrupts its ring to rank 0 in the node's copy; g-a's relay refuses it at
     * its next pass (a credit of 0 bytes makes one) and fences rank 1, which the master hears as a death */
    size_t alen = 0;
    uint8_t *amap = agent_group_map(na->agent_pid, &alen), *aslice = NULL;
    CHECK(amap);
    for (size_t off = 0; off + 4096 <= alen && !aslice; off += 4096) {
        const struct mlos_group_hdr *h = (const struct mlos_group_hdr *)(amap + off);
        if (mlos_from_le32(h->magic) == MLOS_GROUP_MAGIC && mlos_from_le32(h->group_id) == g.id &&
            mlos_from_le32(h->generation) == g.generation)
            aslice = amap + off;
    }
    CHECK(aslice);
    ctl = (struct mlos_ring_ctl *)(aslice + mlos_group_ring_off(4, sring, 1, 0, MLOS_GROUP_RING_COLL));
    __atomic_store_n(&ctl->head, mlos_to_le32(mlos_from_le32(ctl->head) + 8), __ATOMIC_RELEASE);
    uint8_t cr[MLOS_GROUP_CREDIT_BYTES] = {0};
    mlos_put_le32(cr, g.id);
    mlos_put_le32(cr + 4, g.generation);
    cr[8] = 1;
    cr[9] = 0;
    cr[10] = MLOS_GROUP_RING_COLL;
    CHECK_EQ(mlos__node_send(na, MLOS_NODE_GROUP_CREDIT, 0, 0, 0, cr, sizeof(cr), NULL, 0), 0);
    uint64_t t1 = uv_hrtime();
    while (g.failed_rank < 0 && uv_hrtime() - t1 < 3000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    printf("a member behind g-a corrupting its relayed ring: %s\n", g.error);
    CHECK_EQ(g.failed_rank, 1);
    CHECK(strstr(g.error, "on node g-a broke the group protocol: it corrupted its ring"));
    munmap(amap, alen);
    spawn_on(na, &s[6]);
    m[1] = &s[6];
    CHECK_EQ(reform_sync(&g, 1, &s[6]), 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 0, 1, 0, 7000, 87, NULL, NULL);
    CHECK(!na->lost && !nb->lost);
    /* g-b killed during barriers */
    CHECK_EQ(gcall_start(&g, &call, "group.barriers", NULL, 0, 0), 0);
    run_ms(loop, 200);
    CHECK(!call.done);
    int pid = s[3].pid;
    uint64_t t0 = uv_hrtime();
    kill(a[1].la.pid, SIGKILL);
    while (!call.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(call.done);
    uint64_t ms = (call.t_done - t0) / 1000000u;
    printf("g-b killed: %s after %llu ms, failed rank %d: %s\n", mlos_strerror(call.status), (unsigned long long)ms,
           call.failed_rank, call.error);
    CHECK_EQ(call.status, MLOS_ESHARDDIED);
    CHECK_EQ(call.failed_rank, 3);
    CHECK(strstr(call.error, "g-b"));
    CHECK(ms < 1500);
    for (int r = 0; r < 3; r++)
        CHECK_EQ(call.rank_status[r], MLOS_ESHARDDIED); /* the mark reached this host and g-a */
    CHECK(pid_gone(loop, pid, 300));
    /* rank 3 again, on g-a */
    spawn_on(na, &s[4]);
    m[3] = &s[4];
    CHECK_EQ(reform_sync(&g, 3, &s[4]), 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 84, rbuf, &rl);
    all_collectives(&g, m);
    printf("rank 3 re-formed on g-a: every collective matches again\n");
    mlos_group_close_sync(&g);
    int pids[4] = {s[6].pid, s[2].pid, s[4].pid, s[5].pid};
    for (int i = 0; i < 7; i++)
        mlos_shard_stop_sync(&s[i]);
    for (int i = 0; i < 4; i++) {
        mlos_shard_stop_sync(&l[i]);
        CHECK(pid_gone(loop, pids[i], 300));
    }
    int fds = -1;
    for (int i = 0; i < 100 && (fds = agent_group_fds(na->agent_pid)) != 0; i++)
        run_ms(loop, 20);
    CHECK_EQ(fds, 0);
    mlos_cluster_close_sync(&c);
    wait_exit(&a[0], 8000);
    wait_exit(&a[1], 8000);
    CHECK(a[0].exited && a[1].exited);
    CHECK_EQ(a[0].status, 0);
    if (!strstr(a[0].err, "4 refused so far"))
        fprintf(stderr, "agent g-a said: %s\n", a[0].err);
    CHECK(strstr(a[0].err, "refused a relayed group frame") && strstr(a[0].err, "4 refused so far"));
    CHECK(strstr(a[0].err, "rank 1 of group") && strstr(a[0].err, "corrupted a ring its relay drains"));
    mlos_launch_stop(&a[0].la);
    mlos_launch_stop(&a[1].la);
}

/* ---- the master's own rank beside members behind agents ---- */

#define MASTER_OUT (1u << 20)
static uint8_t *master_out;

/* group.check on the master's rank: the same inputs, output into master_out. */
static int master_check(struct mlos_task_ctx *ctx, void *data)
{
    (void)data;
    struct mlos_comm *c = mlos_comm_self();
    if (!c || ctx->arg_len != 32)
        return mlos_task_fail(ctx, MLOS_EINVAL, "no group on the master's rank, or not 32 bytes (%zu)", ctx->arg_len);
    struct mlos_gc g;
    mlos_gc_decode(ctx->arg, (uint32_t)mlos_comm_rank(c), (uint32_t)mlos_comm_size(c), &g);
    if (g.out_len > MASTER_OUT)
        return mlos_task_fail(ctx, MLOS_ERANGE, "output of %zu bytes", g.out_len);
    uint8_t *in = malloc(g.in_len ? g.in_len : 1);
    if (!in)
        return mlos_task_fail(ctx, MLOS_ENOMEM, "no memory");
    int rc = mlos_gc_run(c, &g, in, master_out);
    free(in);
    if (rc < 0)
        return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    uint8_t res[8];
    mlos_put_le64(res, g.out_len);
    return mlos_task_result(ctx, res, 8);
}

static int master_barriers(struct mlos_task_ctx *ctx, void *data)
{
    (void)data;
    struct mlos_comm *c = mlos_comm_self();
    for (;;) {
        int rc = mlos_barrier(c);
        if (rc < 0)
            return mlos_task_fail(ctx, rc, "%s", mlos_comm_error(c));
    }
}

/* check_one with the master at rank 0 (m[0] is NULL). */
static void check_one_m(mlos_group_t *grp, mlos_shard_t **m, int which, int type, int op, unsigned root,
                        uint64_t count, uint64_t seed)
{
    uint8_t arg[32];
    struct gcall g;
    mlos_gc_encode(arg, (uint32_t)which, (uint32_t)type, (uint32_t)op, root, count, seed);
    memset(&g, 0, sizeof(g));
    g.req.data = &g;
    int rc = mlos_group_call_master(grp, &g.req, "group.check", master_check, NULL, arg, sizeof(arg), 60000, gcall_done);
    while (rc == 0 && !g.done)
        uv_run(loop, UV_RUN_ONCE);
    if (rc == 0)
        rc = g.status;
    if (rc)
        fprintf(stderr, "collective %d with the master: %s (%s)\n", which, mlos_strerror(rc), g.error);
    CHECK_EQ(rc, 0);
    for (unsigned r = 0; r < grp->n; r++) {
        size_t want = expected(which, type, op, root, count, seed, grp->n, r, exp_buf);
        CHECK_EQ(gcall_u64(&g, r), want);
        if (!want)
            continue;
        uint8_t *got = r == 0 ? master_out : member_out(m[r], want);
        CHECK(!memcmp(got, exp_buf, want));
        if (r)
            free(got);
    }
}

/* Rank 0 the master, 1 behind g-ma, 2 behind g-mb, 3 a shard here. */
static void case_master(void)
{
    mlos_cluster_t c;
    struct agent a[2];
    mlos_shard_t s[4];
    listen_cluster(&c);
    mlos_node_t *na = add_node(&c, &a[0], "g-ma", 0);
    mlos_node_t *nb = add_node(&c, &a[1], "g-mb", 1);
    CHECK((master_out = malloc(MASTER_OUT)) != NULL);
    spawn_on(na, &s[1]);
    spawn_on(nb, &s[2]);
    spawn_on(NULL, &s[3]);
    mlos_shard_t *m[4] = {NULL, &s[1], &s[2], &s[3]};
    mlos_group_t g;
    make_group(&g, m, 4, 0);
    CHECK_EQ(mlos_group_master_rank(&g), 0);
    static const uint64_t counts[] = {1, 700, 20000};
    uint64_t seed = 300;
    for (int t = 0; t < 3; t++)
        for (int ci = 0; ci < 3; ci++) {
            check_one_m(&g, m, MLOS_GC_ALLREDUCE, t, 0, 0, counts[ci], seed++);
            check_one_m(&g, m, MLOS_GC_REDUCE, t, 2, (unsigned)(seed % 4), counts[ci], seed);
            seed++;
        }
    check_one_m(&g, m, MLOS_GC_BARRIER, 0, 0, 0, 0, seed++);
    check_one_m(&g, m, MLOS_GC_BCAST, 0, 0, 0, 70000, seed++);
    check_one_m(&g, m, MLOS_GC_BCAST, 0, 0, 2, 70000, seed++);
    check_one_m(&g, m, MLOS_GC_GATHER, 0, 0, 0, 5000, seed++);
    check_one_m(&g, m, MLOS_GC_ALLGATHER, 0, 0, 0, 5000, seed++);
    printf("the master's rank, g-ma, g-mb and a shard here: collectives match the serial computation\n");
    /* g-mb lost under barriers: the master's rank fails too, naming rank 2 */
    struct gcall call;
    memset(&call, 0, sizeof(call));
    call.req.data = &call;
    CHECK_EQ(mlos_group_call_master(&g, &call.req, "group.barriers", master_barriers, NULL, NULL, 0, 0, gcall_done), 0);
    run_ms(loop, 200);
    CHECK(!call.done);
    uint64_t t0 = uv_hrtime();
    kill(a[1].la.pid, SIGKILL);
    while (!call.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(call.done);
    printf("g-mb killed: %s after %llu ms, failed rank %d; the master's rank: %s\n", mlos_strerror(call.status),
           (unsigned long long)((call.t_done - t0) / 1000000u), call.failed_rank, mlos_strerror(call.rank_status[0]));
    CHECK_EQ(call.status, MLOS_ESHARDDIED);
    CHECK_EQ(call.failed_rank, 2);
    CHECK_EQ(call.rank_status[0], MLOS_ESHARDDIED);
    CHECK((call.t_done - t0) / 1000000u < 1500);
    mlos_shard_t r2;
    spawn_on(na, &r2);
    m[2] = &r2;
    CHECK_EQ(reform_sync(&g, 2, &r2), 0);
    check_one_m(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, seed++);
    printf("rank 2 re-formed on g-ma: the group with the master computes again\n");
    mlos_group_close_sync(&g);
    mlos_shard_stop_sync(&s[1]);
    mlos_shard_stop_sync(&s[2]);
    mlos_shard_stop_sync(&s[3]);
    mlos_shard_stop_sync(&r2);
    free(master_out);
    mlos_cluster_close_sync(&c);
    wait_exit(&a[0], 8000);
    wait_exit(&a[1], 8000);
    CHECK(a[0].exited && a[1].exited);
    CHECK_EQ(a[0].status, 0);
    mlos_launch_stop(&a[0].la);
    mlos_launch_stop(&a[1].la);
}

/* Eight ranks over three sites, interleaved (0 here, 1 a, 2 b, 3 here, ...):
 * most pairs cross, in every direction. */
static void case_eight(void)
{
    mlos_cluster_t c;
    struct agent a[2];
    mlos_shard_t s[8], l[8];
    mlos_shard_t *m[8], *lm[8];
    mlos_group_t g, lg;
    listen_cluster(&c);
    mlos_node_t *na = add_node(&c, &a[0], "g-8a", 0);
    mlos_node_t *nb = add_node(&c, &a[1], "g-8b", 1);
    for (int i = 0; i < 8; i++) {
        spawn_on(i % 3 == 0 ? NULL : i % 3 == 1 ? na : nb, &s[i]);
        spawn_on(NULL, &l[i]);
        m[i] = &s[i];
        lm[i] = &l[i];
    }
    make_group(&g, m, 8, 0);
    all_collectives(&g, m);
    p2p_rma(&g);
    make_group(&lg, lm, 8, 0);
    static uint8_t rbuf[200000], lbuf[200000];
    size_t rl = 0, ll = 0;
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 95, rbuf, &rl);
    check_one(&lg, lm, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 95, lbuf, &ll);
    CHECK(rl == 160000 && ll == rl && !memcmp(rbuf, lbuf, rl));
    printf("8 ranks interleaved over this host, g-8a and g-8b: every collective matches, f64 identical to local\n");
    mlos_group_close_sync(&lg);
    mlos_group_close_sync(&g);
    for (int i = 0; i < 8; i++) {
        mlos_shard_stop_sync(&s[i]);
        mlos_shard_stop_sync(&l[i]);
    }
    finish(&c, a, 2, 0);
}

/* A pool spread over two agents (at most 2 shards each) makes a 4-rank
 * group; a call past its deadline aborts every rank on every node (the
 * abort word reaches each node's copy). */
static void case_pool(void)
{
    mlos_cluster_t c;
    struct agent a[2];
    mlos_pool_t pool;
    listen_cluster(&c);
    mlos_node_t *na = add_node(&c, &a[0], "g-p1", 0);
    mlos_node_t *nb = add_node(&c, &a[1], "g-p2", 1);
    struct mlos_pool_opts po = {.spawn = member_opts(), .placement = mlos_cluster_placement(&c), .node_max = 2,
                                .min_shards = 4, .max_shards = 4};
    CHECK_EQ(mlos_pool_init(loop, &pool, &po), 0);
    uint64_t t0 = uv_hrtime();
    while (pool.ready < 4 && uv_hrtime() - t0 < 30000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    mlos_shard_t *m[4];
    CHECK_EQ(mlos_pool_shards(&pool, m, 4), 4);
    int on_a = 0;
    for (int i = 0; i < 4; i++)
        on_a += !strcmp(m[i]->node, na->name);
    CHECK_EQ(on_a, 2); /* two per node */
    CHECK_EQ(nb->shards, 2);
    mlos_group_t g;
    make_group(&g, m, 4, 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 41, NULL, NULL);
    check_one(&g, m, MLOS_GC_ALLGATHER, 0, 0, 0, 3000, 42, NULL, NULL);
    check_one(&g, m, MLOS_GC_REDUCE, 1, 2, 3, 700, 43, NULL, NULL);
    printf("a group of pool shards over two agents: collectives match\n");
    struct gcall call;
    t0 = uv_hrtime();
    int rc = gcall(&g, &call, "group.barriers", "\0\0\0\0", 4, 500);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    printf("barriers past a 500 ms deadline: %s after %llu ms\n", mlos_strerror(rc), (unsigned long long)ms);
    CHECK_EQ(rc, MLOS_ETIMEDOUT);
    for (unsigned r = 0; r < 4; r++)
        CHECK_EQ(call.rank_status[r], MLOS_ETIMEDOUT); /* each rank overran or was aborted, none hangs */
    CHECK(ms < 5000);
    CHECK(g.failed_rank >= 0);
    mlos_group_close_sync(&g);
    mlos_pool_close_sync(&pool);
    finish(&c, a, 2, 0);
}

/* An agent in a namespace: spec "name,ip,wrapper words..." (',' separated). */
static void start_agent_spec(mlos_cluster_t *c, struct agent *a, char *spec, const char **extra_more, char **name)
{
    static char maddr[4][160];
    static int k;
    static const char *wrap[4][16];
    static const char *extra[4][8];
    char addr[128], *save = NULL;
    const char **w = wrap[k % 4], **x = extra[k % 4];
    char *ma = maddr[k++ % 4];
    *name = strtok_r(spec, ",", &save);
    char *ip = strtok_r(NULL, ",", &save);
    CHECK(*name && ip);
    int nw = 0;
    for (char *t; nw < 15 && (t = strtok_r(NULL, ",", &save));)
        w[nw++] = t;
    w[nw] = NULL;
    x[0] = "--name";
    x[1] = *name;
    int nx = 2;
    for (int i = 0; extra_more && extra_more[i] && nx < 7; i++)
        x[nx++] = extra_more[i];
    x[nx] = NULL;
    CHECK(mlos_cluster_addr(c, addr, sizeof(addr)) == 0);
    snprintf(ma, 160, "tcp:%s:%s", ip, strrchr(addr, ':') + 1);
    struct mlos_launch_opts lo = {.launcher = "local", .program = agent, .master_addr = ma,
                                  .secret_file = secret_path, .extra_args = x, .wrapper = nw ? w : NULL};
    memset(a, 0, sizeof(*a));
    a->la.data = a;
    CHECK(mlos_launch_start(loop, &a->la, &lo, on_exit_cb) == 0);
}

static mlos_node_t *node_named(mlos_cluster_t *c, const char *name)
{
    for (unsigned i = 0; i < c->nnodes; i++) {
        mlos_node_t *n = mlos_cluster_node_at(c, i);
        if (n && !strcmp(n->name, name))
            return n;
    }
    return NULL;
}

static void case_netns(const char *nodes, const char *cut, const char *heal)
{
    char spec[2][400];
    const char *semi = strchr(nodes, ';');
    CHECK(semi);
    snprintf(spec[0], sizeof(spec[0]), "%.*s", (int)(semi - nodes), nodes);
    snprintf(spec[1], sizeof(spec[1]), "%s", semi + 1);
    mlos_cluster_t c;
    struct agent a[2];
    char *name[2];
    struct mlos_cluster_opts co = {.secret_file = secret_path};
    CHECK(mlos_cluster_listen(&c, loop, "tcp:0.0.0.0:0", &co) == 0);
    const char *patient[] = {"--link-timeout", "600000", NULL}; /* only the master's fencing keeps it out */
    start_agent_spec(&c, &a[0], spec[0], NULL, &name[0]);
    start_agent_spec(&c, &a[1], spec[1], patient, &name[1]);
    CHECK(mlos_cluster_wait_nodes(&c, 2, 30000) == 0);
    mlos_node_t *na = node_named(&c, name[0]), *nb = node_named(&c, name[1]);
    CHECK(na && nb);
    mlos_shard_t s[5];
    memset(s, 0, sizeof(s));
    spawn_on(NULL, &s[0]);
    spawn_on(na, &s[1]);
    spawn_on(na, &s[2]);
    spawn_on(nb, &s[3]);
    mlos_shard_t *m[4] = {&s[0], &s[1], &s[2], &s[3]};
    mlos_group_t g;
    struct gcall call;
    make_group(&g, m, 4, 0);
    all_collectives(&g, m);
    p2p_rma(&g);
    printf("this host + 2 on %s + 1 on %s over veth: every collective matches\n", name[0], name[1]);
    CHECK_EQ(gcall_start(&g, &call, "group.barriers", NULL, 0, 0), 0);
    run_ms(loop, 200);
    CHECK(!call.done);
    uint64_t t0 = uv_hrtime();
    CHECK(system(cut) == 0);
    while (!call.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(call.done);
    uint64_t ms = (call.t_done - t0) / 1000000u;
    printf("%s's link cut: %s after %llu ms, failed rank %d: %s\n", name[1], mlos_strerror(call.status),
           (unsigned long long)ms, call.failed_rank, call.error);
    CHECK_EQ(call.status, MLOS_ESHARDDIED);
    CHECK_EQ(call.failed_rank, 3);
    CHECK(nb->lost);
    /* a ping every 200 ms, 800 ms to answer it: fenced within 1.0 s of silence, plus loop latency */
    CHECK(ms < 2000);
    spawn_on(na, &s[4]);
    m[3] = &s[4];
    CHECK_EQ(reform_sync(&g, 3, &s[4]), 0);
    check_one(&g, m, MLOS_GC_ALLREDUCE, 2, 0, 0, 20000, 90, NULL, NULL);
    check_one(&g, m, MLOS_GC_ALLGATHER, 0, 0, 0, 5000, 91, NULL, NULL);
    printf("rank 3 re-formed on %s: the group computes again\n", name[0]);
    mlos_group_close_sync(&g);
    CHECK(system(heal) == 0);
    for (int i = 0; i < 5; i++)
        mlos_shard_stop_sync(&s[i]);
    for (int i = 0; i < 1500 && !a[1].exited; i++) /* its connection is dead: it finds out and exits */
        run_ms(loop, 10);
    CHECK(a[1].exited);
    printf("%s, healed, found its connection dead and exited (%d)\n", name[1], a[1].status);
    mlos_cluster_close_sync(&c);
    for (int i = 0; i < 800 && !a[0].exited; i++)
        run_ms(loop, 10);
    CHECK(a[0].exited);
    CHECK_EQ(a[0].status, 0);
    mlos_launch_stop(&a[0].la);
    mlos_launch_stop(&a[1].la);
}

static void remove_tmp(void)
{
    char p[400];
    snprintf(p, sizeof(p), "rm -rf '%s'", rtdir);
    if (system(p)) {
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_cluster_groups AGENT ARCH CASE...\n");
        return 2;
    }
    agent = argv[1];
    arch = argv[2];
    loop = uv_default_loop();
    snprintf(rtdir, sizeof(rtdir), "/tmp/mlos-cluster-groups-%d", (int)getpid());
    CHECK(mkdir(rtdir, 0700) == 0);
    atexit(remove_tmp);
    snprintf(secret_path, sizeof(secret_path), "%s/secret", rtdir);
    CHECK(write_secret(secret_path, "right") == 0);
    char run[300];
    snprintf(run, sizeof(run), "%s/run", rtdir);
    CHECK(mkdir(run, 0700) == 0);
    setenv("MLOS_RUNTIME_DIR", run, 1);
    setenv("MLOS_QUIET", "1", 1);
    CHECK_EQ(mlos_group_mem_init(&gm, 64u << 20), 0);
    CHECK((exp_buf = malloc(1u << 20)) != NULL);
    for (int i = 3; i < argc; i++) {
        printf("== %s (%s)\n", argv[i], arch);
        fflush(stdout);
        if (!strcmp(argv[i], "one"))
            case_one();
        else if (!strcmp(argv[i], "member"))
            case_member();
        else if (!strcmp(argv[i], "agent"))
            case_agent();
        else if (!strcmp(argv[i], "mix"))
            case_mix();
        else if (!strcmp(argv[i], "pool"))
            case_pool();
        else if (!strcmp(argv[i], "eight"))
            case_eight();
        else if (!strcmp(argv[i], "master"))
            case_master();
        else if (!strcmp(argv[i], "netns") && i + 3 < argc) {
            case_netns(argv[i + 1], argv[i + 2], argv[i + 3]);
            i += 3;
        }
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
        fflush(stdout);
    }
    CHECK_EQ(mlos_group_mem_close(&gm), 0);
    free(exp_buf);
    unlink(secret_path);
    CHECK(rmdir(run) == 0); /* no registry record left */
    CHECK_DONE();
}
