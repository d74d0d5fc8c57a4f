/* Node agents on this host (no root, no namespaces): what a cluster must
 * get right one case at a time.
 *
 *   test_cluster_local AGENT ARCH CASE...
 *
 * Every case starts its own agent(s) with the local launcher on
 * 127.0.0.1 and a fresh secret file, and checks that nothing of theirs
 * remains at the end (the agent exited, its slaves' pids are gone).
 *   refuse    an agent with another secret is refused and exits 2
 *   info      the node reports cores, memory and KVM as this host has them;
 *             kvm=1 fails at once where KVM cannot run a guest; an image the
 *             node does not have (sent by file name) fails at once; the
 *             registry names the node
 *   put       8 MiB put through the agent (many pieces) then sum_u64 over
 *             it; out of range MLOS_ERANGE; mlos_get MLOS_ENOTSUP
 *   get       mlos_node_get over the tcp link (GET requests the agent
 *             answers): byte for byte for 1, a piece -1, a piece, a piece +1
 *             and 12 MiB (two requests) at odd offsets, right after the put
 *             (ordered after it); out of range MLOS_ERANGE; a get pending
 *             when the agent hangs fails MLOS_ESHARDDIED once the node is
 *             lost, a later one at once
 *   crash     a slave that crashes: its call fails MLOS_ESHARDDIED naming the
 *             node, the shard reads dead, the agent runs nothing afterwards
 *   deadline  a fenced call deadline: MLOS_ETIMEDOUT, the agent kills it
 *   stop      mlos_shard_stop reaches the slave on its node
 *   heartbeat the agent watches a slave with the heartbeat the master set:
 *             a task past its timeout fences the slave (MLOS_ETIMEDOUT, "stopped
 *             answering"); a longer timeout lets a long task finish
 *   hang      SIGSTOP the agent: its node is lost within 1.5 s, its shards'
 *             calls fail; after SIGCONT the agent finds its connection
 *             dead and exits 3
 *   clistop=MLOS  `mlos ps` lists this master's local and remote shards with
 *             their nodes; `mlos stop` (MLOS) stops a remote one with a call
 *             pending (MLOS_ESTOPPED, slave gone, the others work), a local
 *             one, a pool member under a task (re-run, replaced), a group
 *             member during barriers (its rank down); another
 *             uid is refused; a shard of a second loop is out of its reach
 *   term      SIGTERM the agent: it stops its slaves and exits 0
 *   close     the cluster closed under an open shard: the agent stops it and
 *             exits 0; the handle reads dead and can still be stopped
 *   putsizes  puts of 0, 1, piece-1, piece, piece+1 bytes and several MiB at
 *             odd offsets, one at a time and back to back, the source
 *             overwritten at once: every 4 KiB of the window checked
 *             against a local mirror; PUT messages out of the window or for
 *             another shard write nothing, and the shard goes on
 *   faults    a pool of 3 slaves behind one agent runs 150 idempotent
 *             put+sum_u64 tasks while 20 random slaves are SIGKILLed on the
 *             node: every task answered once and correctly, the node stays
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "cluster.h"
#include "cluster_rdma.h"
#include "node_proto.h"
#include "cluster_util.h"
#include "launcher.h"
#include "mlos_endian.h"
#include "mlos_group.h"
#include "node_proto.h"
#include "registry.h"

static uv_loop_t *loop;
static const char *agent, *arch;
static char secret_path[300], other_path[300], rtdir[200];

static void start_agent(mlos_cluster_t *c, struct agent *a, const char *name, const char *secret)
{
    char addr[128];
    static char maddr[160];
    const char *extra[] = {"--name", name, NULL};
    CHECK(mlos_cluster_addr(c, addr, sizeof(addr)) == 0);
    snprintf(maddr, sizeof(maddr), "tcp:127.0.0.1:%s", strrchr(addr, ':') + 1);
    struct mlos_launch_opts lo = {.launcher = "local", .program = agent, .master_addr = maddr,
                                  .secret_file = secret, .extra_args = extra};
    memset(a, 0, sizeof(*a));
    a->la.data = a;
    CHECK(mlos_launch_start(loop, &a->la, &lo, on_exit_cb) == 0);
}

static void wait_exit(struct agent *a, unsigned ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (!a->exited && uv_hrtime() < end)
        run_ms(loop, 10);
}

static void listen_cluster(mlos_cluster_t *c)
{
    struct mlos_cluster_opts o = {.secret_file = secret_path};
    CHECK(mlos_cluster_listen(c, loop, "tcp:127.0.0.1:0", &o) == 0);
}

static int node_spawn_sync(mlos_node_t *n, mlos_shard_t *s, int kvm)
{
    struct mlos_spawn_opts o = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 16u << 20, .kvm = kvm,
                                .hello_timeout_ms = 30000};
    return node_spawn_wait(loop, n, s, &o);
}

/* Shards the agent runs, -1 if it does not answer. */
static int agent_shards(mlos_node_t *n)
{
    struct ps_state p = {0};
    uint64_t end = uv_hrtime() + 5000000000ull;
    if (mlos_node_ps(n, on_ps, &p) < 0)
        return -1;
    while (!p.done && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    if (!p.done || p.status)
        return -1;
    int lines = 0;
    for (const char *q = p.text; *q; q++)
        lines += *q == '\n';
    return lines;
}

static int agent_shards_settle(mlos_node_t *n, int want)
{
    int got = -1;
    for (int i = 0; i < 50 && (got = agent_shards(n)) != want; i++)
        run_ms(loop, 100);
    return got;
}

static mlos_node_t *one_node(mlos_cluster_t *c, struct agent *a, const char *name)
{
    listen_cluster(c);
    start_agent(c, a, name, secret_path);
    CHECK(mlos_cluster_wait_nodes(c, 1, 30000) == 0);
    mlos_node_t *n = mlos_cluster_node_at(c, 0);
    CHECK(n && !strcmp(n->name, name));
    return n;
}

static void finish(mlos_cluster_t *c, struct agent *a, int want_status)
{
    mlos_cluster_close_sync(c);
    wait_exit(a, 8000);
    CHECK(a->exited);
    if (a->status != want_status)
        fprintf(stderr, "agent exit %d, wanted %d: %s\n", a->status, want_status, a->err);
    CHECK_EQ(a->status, want_status);
    mlos_launch_stop(&a->la);
}

static void case_refuse(void)
{
    mlos_cluster_t c;
    struct agent a;
    listen_cluster(&c);
    start_agent(&c, &a, "intruder", other_path);
    wait_exit(&a, 10000);
    CHECK(a.exited);
    CHECK_EQ(a.status, 2);
    CHECK_EQ(c.nnodes, 0);
    CHECK(c.rejected >= 1);
    mlos_launch_stop(&a.la);
    mlos_cluster_close_sync(&c);
}

static void case_info(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    char why[200];
    mlos_node_t *n = one_node(&c, &a, "n-info");
    int kvm_here = mlos_kvm_usable(why, sizeof(why)) == 0;
    CHECK(n->cores >= 1 && n->mem_bytes > (64ull << 20));
    CHECK_EQ(n->kvm, kvm_here);
    CHECK(n->kvm || n->kvm_why[0]);
    CHECK(n->agent_pid == n->agent_pid && n->agent_pid > 0);
    if (strcmp(arch, "x86_64") == 0 && !kvm_here) {
        /* asked for KVM where it cannot run: fail at once, not at the HELLO timeout */
        uint64_t t0 = uv_hrtime();
        int rc = node_spawn_sync(n, &s, 1);
        uint64_t ms = (uv_hrtime() - t0) / 1000000u;
        printf("kvm=1 on a node without KVM: %s after %llu ms\n", mlos_strerror(rc), (unsigned long long)ms);
        CHECK_EQ(rc, MLOS_ESPAWN);
        CHECK(ms < 3000);
        mlos_shard_stop_sync(&s);
    }
    /* an image the node does not have: refused there by name, at once, the node stays */
    {
        struct mlos_spawn_opts o = {.arch = arch, .image = "/far/away/no-such-image.elf", .hello_timeout_ms = 30000};
        uint64_t t0 = uv_hrtime();
        CHECK_EQ(node_spawn_wait(loop, n, &s, &o), MLOS_ENOENT); /* the agent looked it up by name */
        printf("spawn of an image the node lacks: refused after %.1f ms\n", (uv_hrtime() - t0) / 1e6);
        CHECK(uv_hrtime() - t0 < 3000000000ull);
        mlos_shard_stop_sync(&s);
        CHECK(!n->lost);
    }
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    CHECK(!strcmp(s.node, "n-info") && s.pid > 0 && s.ntasks > 0);
    /* the registry: a record naming the node and the pid there */
    struct mlos_registry_rec *v;
    int nr = mlos_registry_list(&v), found = 0;
    for (int i = 0; i < nr; i++)
        found += v[i].master_pid == getpid() && v[i].shard_id == s.id && !strcmp(v[i].node, "n-info") &&
                 v[i].host_pid == s.pid && !strcmp(v[i].state, "ready");
    if (nr > 0)
        free(v);
    CHECK_EQ(found, 1);
    int pid = s.pid;
    mlos_shard_stop_sync(&s);
    CHECK(pid_gone(loop, pid, 300));
    finish(&c, &a, 0);
}

static void case_put(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    const size_t words = (8u << 20) / 8;
    uint64_t *v = malloc(words * 8), sum = 0, got = 0, arg[2] = {0, words * 8};
    void *res = NULL;
    size_t rlen = 0;
    char err[200];
    mlos_node_t *n = one_node(&c, &a, "n-put");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    for (size_t i = 0; i < words; i++)
        sum += v[i] = i * 0x9e3779b97f4a7c15ull;
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_put(&s, 0, v, words * 8), 0);
    memset(v, 0, words * 8); /* the put copied: reusing the buffer changes nothing */
    CHECK_EQ(mlos_call_sync(&s, "sum_u64", arg, sizeof(arg), &res, &rlen, err, sizeof(err)), 0);
    printf("8 MiB put + sum_u64 through the agent: %.1f ms\n", (uv_hrtime() - t0) / 1e6);
    CHECK_EQ(rlen, 8);
    memcpy(&got, res, 8);
    free(res);
    CHECK(got == sum);
    CHECK_EQ(mlos_put(&s, (16u << 20) - 4, v, 8), MLOS_ERANGE);
    CHECK_EQ(mlos_get(&s, 0, v, 8), MLOS_ENOTSUP);
    size_t blen = 0;
    CHECK(mlos_shard_bulk(&s, &blen) == NULL && blen == (16u << 20));
    free(v);
    mlos_shard_stop_sync(&s);
    finish(&c, &a, 0);
}

struct get_state {
    int done, status;
};

static void got(void *arg, int status)
{
    struct get_state *g = arg;
    g->done++;
    g->status = status;
}

/* mlos_node_get, waited for: its callback's status (or the call's error) */
static int node_get_sync(mlos_shard_t *s, size_t off, void *dst, size_t len)
{
    struct get_state g = {0};
    int rc = mlos_node_get(s, off, dst, len, got, &g);
    if (rc < 0)
        return rc;
    while (!g.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(g.done, 1);
    return g.status;
}

static void case_get(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    const size_t win = 16u << 20, piece = MLOS_NODE_GET_CHUNK;
    uint8_t *v = malloc(win), *back = malloc(win);
    const size_t sizes[] = {1, piece - 1, piece, piece + 1, 12u << 20};
    const size_t offs[] = {win - 1, 3, 4096, 1000001, 777};
    mlos_node_t *n = one_node(&c, &a, "n-get");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    for (size_t i = 0; i < win; i++)
        v[i] = (uint8_t)(i * 2654435761u >> 13);
    CHECK_EQ(mlos_put(&s, 0, v, win), 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t t0 = uv_hrtime();
        memset(back, 0xa5, sizes[i] + 1);
        CHECK_EQ(node_get_sync(&s, offs[i], back, sizes[i]), 0); /* the first: right behind the put */
        CHECK(memcmp(back, v + offs[i], sizes[i]) == 0);
        CHECK_EQ(back[sizes[i]], 0xa5); /* not a byte more */
        if (sizes[i] >= (1u << 20))
            printf("get of %zu bytes over tcp: %.1f ms\n", sizes[i], (uv_hrtime() - t0) / 1e6);
    }
    CHECK(n->get_bytes >= 1 + 3 * piece + (12u << 20));
    CHECK_EQ(mlos_node_get(&s, win - 4, back, 8, got, NULL), MLOS_ERANGE);
    CHECK_EQ(mlos_node_get(&s, win + 1, back, 1, got, NULL), MLOS_ERANGE);
    CHECK_EQ(mlos_node_get(&s, 0, back, 0, got, NULL), MLOS_EINVAL);
    CHECK_EQ(node_get_sync(&s, 0, back, win), 0); /* the whole window */
    CHECK(memcmp(back, v, win) == 0);

    /* the agent hangs: a get out then ends MLOS_ESHARDDIED when the node is lost */
    struct get_state g = {0};
    int pid = s.pid;
    kill(a.la.pid, SIGSTOP);
    CHECK_EQ(mlos_node_get(&s, 0, back, win, got, &g), 0);
    uint64_t t0 = uv_hrtime();
    while (!g.done && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(g.done, 1);
    CHECK_EQ(g.status, MLOS_ESHARDDIED);
    CHECK(n->lost);
    CHECK_EQ(mlos_node_get(&s, 0, back, 8, got, &g), MLOS_ESHARDDIED);
    run_ms(loop, 50);
    CHECK_EQ(g.done, 1); /* no second callback */
    mlos_shard_stop_sync(&s);
    kill(a.la.pid, SIGCONT);
    wait_exit(&a, 8000);
    CHECK(a.exited);
    CHECK_EQ(a.status, 3);
    CHECK(pid_gone(loop, pid, 300));
    mlos_launch_stop(&a.la);
    mlos_cluster_close_sync(&c);
    free(v);
    free(back);
}

static void case_crash(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    char err[400];
    mlos_node_t *n = one_node(&c, &a, "n-crash");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    int pid = s.pid;
    int rc = mlos_call_sync(&s, "crash", NULL, 0, NULL, NULL, err, sizeof(err));
    printf("crash: %s: %s\n", mlos_strerror(rc), err);
    CHECK_EQ(rc, MLOS_ESHARDDIED);
    CHECK(strstr(err, "n-crash"));
    CHECK(!mlos_shard_alive(&s));
    CHECK_EQ(mlos_call_sync(&s, "echo", "x", 1, NULL, NULL, err, sizeof(err)), MLOS_ESHARDDIED);
    CHECK(pid_gone(loop, pid, 300));
    mlos_shard_stop_sync(&s);
    CHECK_EQ(agent_shards_settle(n, 0), 0);
    finish(&c, &a, 0);
}

struct call_state {
    int done, status, timed_out;
};

static void called(mlos_call_t *req, int status)
{
    struct call_state *st = req->data;
    st->done = 1;
    st->status = status;
    st->timed_out = req->timed_out;
}

static void case_deadline(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    mlos_call_t req;
    struct call_state st = {0};
    uint64_t ns = 5000000000ull; /* 5 s of spinning */
    mlos_node_t *n = one_node(&c, &a, "n-deadline");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    int pid = s.pid;
    struct mlos_call_opts co = {.timeout_ms = 300, .flags = MLOS_CALL_FENCE};
    req.data = &st;
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_call_ex(&s, &req, "spin", &ns, sizeof(ns), &co, called), 0);
    while (!st.done)
        uv_run(loop, UV_RUN_ONCE);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    CHECK_EQ(st.status, MLOS_ETIMEDOUT);
    CHECK(st.timed_out);
    CHECK(ms < 2000);
    CHECK(!mlos_shard_alive(&s));
    CHECK(pid_gone(loop, pid, 300)); /* the agent killed it: well before the 5 s task would end */
    CHECK((uv_hrtime() - t0) / 1000000u < 4500);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(agent_shards_settle(n, 0), 0);
    finish(&c, &a, 0);
}

static void case_stop(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s[3];
    mlos_node_t *n = one_node(&c, &a, "n-stop");
    for (int i = 0; i < 3; i++)
        CHECK_EQ(node_spawn_sync(n, &s[i], MLOS_KVM_AUTO), 0);
    CHECK_EQ(n->shards, 3);
    CHECK_EQ(agent_shards(n), 3);
    int pid = s[1].pid;
    mlos_shard_stop_sync(&s[1]);
    CHECK(pid_gone(loop, pid, 300));
    CHECK_EQ(agent_shards_settle(n, 2), 2);
    CHECK_EQ(n->shards, 2);
    mlos_shard_stop_sync(&s[0]);
    mlos_shard_stop_sync(&s[2]);
    CHECK_EQ(agent_shards_settle(n, 0), 0);
    finish(&c, &a, 0);
}

static void case_heartbeat(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s, t;
    char err[300];
    uint64_t ns = 3000000000ull, ok_ns = 900000000ull;
    mlos_node_t *n = one_node(&c, &a, "n-hb");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    CHECK_EQ(mlos_shard_heartbeat(&s, 100, 400), 0);
    run_ms(loop, 100); /* the setting travels behind the spawn */
    uint64_t t0 = uv_hrtime();
    int rc = mlos_call_sync(&s, "spin", &ns, sizeof(ns), NULL, NULL, err, sizeof(err));
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    printf("3 s task under a 400 ms heartbeat: %s after %llu ms: %s\n", mlos_strerror(rc), (unsigned long long)ms, err);
    CHECK_EQ(rc, MLOS_ETIMEDOUT);
    CHECK(strstr(err, "n-hb") && strstr(err, "stopped answering"));
    CHECK(ms < 2000);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(node_spawn_sync(n, &t, MLOS_KVM_AUTO), 0);
    CHECK_EQ(mlos_shard_heartbeat(&t, 100, 3000), 0);
    run_ms(loop, 100);
    CHECK_EQ(mlos_call_sync(&t, "spin", &ok_ns, sizeof(ok_ns), NULL, NULL, err, sizeof(err)), 0);
    mlos_shard_stop_sync(&t);
    CHECK_EQ(agent_shards_settle(n, 0), 0);
    finish(&c, &a, 0);
}

static void case_hang(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    char err[300];
    mlos_node_t *n = one_node(&c, &a, "n-hang");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    int pid = s.pid;
    CHECK_EQ(mlos_call_sync(&s, "echo", "hi", 2, NULL, NULL, err, sizeof(err)), 0);
    kill(a.la.pid, SIGSTOP);
    uint64_t t0 = uv_hrtime();
    while (!n->lost && uv_hrtime() - t0 < 5000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    printf("hung agent: node lost after %llu ms\n", (unsigned long long)ms);
    CHECK(n->lost);
    CHECK(ms <= 1500);
    CHECK_EQ(c.lost, 1);
    CHECK(!mlos_shard_alive(&s));
    CHECK_EQ(mlos_call_sync(&s, "echo", "x", 1, NULL, NULL, err, sizeof(err)), MLOS_ESHARDDIED);
    mlos_shard_stop_sync(&s);
    /* awake again: its connection is gone, so it stops its slave and exits */
    kill(a.la.pid, SIGCONT);
    wait_exit(&a, 8000);
    CHECK(a.exited);
    CHECK_EQ(a.status, 3);
    CHECK(pid_gone(loop, pid, 300));
    mlos_launch_stop(&a.la);
    mlos_cluster_close_sync(&c);
}

static void case_term(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s[2];
    mlos_node_t *n = one_node(&c, &a, "n-term");
    for (int i = 0; i < 2; i++)
        CHECK_EQ(node_spawn_sync(n, &s[i], MLOS_KVM_AUTO), 0);
    int p0 = s[0].pid, p1 = s[1].pid;
    kill(a.la.pid, SIGTERM);
    wait_exit(&a, 8000);
    CHECK(a.exited);
    CHECK_EQ(a.status, 0);
    CHECK(pid_gone(loop, p0, 300) && pid_gone(loop, p1, 300));
    while (!n->lost)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(!mlos_shard_alive(&s[0]) && !mlos_shard_alive(&s[1]));
    mlos_shard_stop_sync(&s[0]);
    mlos_shard_stop_sync(&s[1]);
    mlos_launch_stop(&a.la);
    mlos_cluster_close_sync(&c);
}

/* On every exit path, also a failed CHECK: no secret or record stays in /tmp. */
static void remove_tmp(void)
{
    char cmd[400];
    if (rtdir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rtdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", rtdir);
    }
}

static void case_close(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    char err[200];
    uint64_t v = 1;
    mlos_node_t *n = one_node(&c, &a, "n-close");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);
    int pid = s.pid;
    mlos_cluster_close_sync(&c);
    CHECK(!mlos_shard_alive(&s));
    CHECK(mlos_call_sync(&s, "echo", "x", 1, NULL, NULL, err, sizeof(err)) < 0);
    CHECK(mlos_put(&s, 0, &v, sizeof(v)) < 0);
    CHECK_EQ(mlos_shard_heartbeat(&s, 100, 500), 0);
    mlos_shard_stop_sync(&s);
    wait_exit(&a, 8000);
    CHECK(a.exited);
    CHECK_EQ(a.status, 0);
    CHECK(pid_gone(loop, pid, 300));
    mlos_launch_stop(&a.la);
}

struct ftask {
    mlos_pool_call_t req;
    unsigned i, answers;
    int status;
};
static unsigned f_done;

static int f_prep(mlos_pool_call_t *req, mlos_shard_t *shard)
{
    struct ftask *t = req->data;
    uint64_t v[64];
    for (unsigned j = 0; j < 64; j++)
        v[j] = t->i * 7919u + j;
    return mlos_put(shard, 0, v, sizeof(v));
}

static void f_reply(mlos_pool_call_t *req, int status)
{
    struct ftask *t = req->data;
    uint64_t want = 0, got = 0;
    for (unsigned j = 0; j < 64; j++)
        want += t->i * 7919u + j;
    if (status == 0 && req->result_len == 8)
        memcpy(&got, req->result, 8);
    t->status = status ? status : got == want ? 0 : -1000;
    t->answers++;
    f_done++;
}

static void f_event(mlos_pool_t *pool, const mlos_shard_t *shard, enum mlos_pool_event ev, int status, const char *why)
{
    (void)pool;
    (void)shard;
    if (ev == MLOS_POOL_SHARD_SPAWN_FAILED) /* says why if the pool never comes up */
        fprintf(stderr, "spawn failed: %s: %s\n", mlos_strerror(status), why);
}

static void case_faults(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_pool_t p;
    const unsigned n = 150;
    struct ftask *t = calloc(n, sizeof(*t));
    uint64_t arg[2] = {0, 64 * 8};
    unsigned kills = 0;
    mlos_node_t *node = one_node(&c, &a, "n-faults");
    struct mlos_pool_opts po = {.spawn = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20,
                                          .kvm = MLOS_KVM_AUTO, .hello_timeout_ms = 30000},
                                .min_shards = 3, .max_shards = 3, .max_retries = 50,
                                .placement = mlos_cluster_placement(&c), .idle_timeout_ms = 60000, .on_event = f_event};
    CHECK_EQ(mlos_pool_init(loop, &p, &po), 0);
    uint64_t end = uv_hrtime() + 60000000000ull;
    while (p.ready < 3 && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(p.ready, 3);
    for (unsigned i = 0; i < n; i++) {
        t[i].i = i;
        t[i].req.data = &t[i];
        CHECK_EQ(mlos_pool_call_prep(&p, &t[i].req, "sum_u64", arg, sizeof(arg), MLOS_POOL_IDEMPOTENT, f_prep,
                                     f_reply),
                 0);
    }
    srand(1234);
    end = uv_hrtime() + 60000000000ull;
    while (f_done < n && uv_hrtime() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (kills < 20 && f_done >= kills * (n / 25)) {
            mlos_shard_t *sh[3];
            size_t k = mlos_pool_shards(&p, sh, 3);
            if (k) {
                int pid = sh[(size_t)rand() % k]->pid;
                if (pid > 0 && kill(pid, SIGKILL) == 0)
                    kills++;
            }
        }
        usleep(500);
    }
    unsigned good = 0;
    for (unsigned i = 0; i < n; i++)
        good += t[i].answers == 1 && t[i].status == 0;
    printf("faults: %u of %u tasks right with %u slaves killed on the node; pool shards failed %llu, re-runs %llu\n",
           good, n, kills, (unsigned long long)p.failed, (unsigned long long)p.retries);
    CHECK_EQ(good, n);
    CHECK(kills >= 10);
    CHECK(!node->lost);
    CHECK_EQ(c.lost, 0);
    mlos_pool_close_sync(&p);
    CHECK_EQ(agent_shards_settle(node, 0), 0);
    free(t);
    finish(&c, &a, 0);
}
/* The mlos command, run as a child while this master's loop serves its
 * stop socket (a blocking wait would leave `mlos stop` unanswered): the
 * exit status. stdout goes to out_fd (-1: ours); as_uid >= 0 runs it as
 * that user (and its group as_gid). */
struct cli_state {
    int done;
    int64_t status;
};

static void cli_exited(uv_process_t *p, int64_t status, int sig)
{
    struct cli_state *st = p->data;
    st->done = 1;
    st->status = sig ? -sig : status;
    uv_close((uv_handle_t *)p, NULL);
}

static const char *mlos_tool; /* the mlos command, from "clistop=PATH" */

static int run_mlos(const char *verb, const char *arg, int out_fd, int as_uid, int as_gid)
{
    char *args[] = {(char *)mlos_tool, (char *)verb, (char *)arg, NULL};
    struct cli_state st = {0};
    uv_process_t p;
    uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = out_fd >= 0 ? out_fd : 1},
                                  {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = cli_exited, .file = mlos_tool, .args = args, .stdio_count = 3, .stdio = io};
    if (as_uid >= 0) {
        o.flags = UV_PROCESS_SETUID | UV_PROCESS_SETGID;
        o.uid = (uv_uid_t)as_uid;
        o.gid = (uv_gid_t)as_gid;
    }
    p.data = &st;
    CHECK_EQ(uv_spawn(loop, &p, &o), 0);
    while (!st.done)
        uv_run(loop, UV_RUN_ONCE);
    uv_run(loop, UV_RUN_NOWAIT); /* the close */
    return (int)st.status;
}

static int run_mlos_stop(const char *id) { return run_mlos("stop", id, -1, -1, -1); }

/* `mlos ps` into text (NUL-terminated): its exit status. */
static int mlos_ps_text(char *text, size_t cap)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/ps.out", rtdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    int rc = run_mlos("ps", NULL, fd, -1, -1);
    ssize_t n = pread(fd, text, cap - 1, 0);
    text[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return rc;
}

/* The NODE (last) and HOST PID (fifth) columns of shard id in `mlos ps`
 * output (MEMORY holds a space: "16.0 MiB"); 0 if listed. */
static int ps_row(const char *text, const char *id, char *node, size_t ncap, int *host_pid)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char buf[512], *tok[16], *save = NULL;
        int k = 0;
        size_t len = strcspn(line, "\n");
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), line);
        for (char *t = strtok_r(buf, " ", &save); t && k < 16; t = strtok_r(NULL, " ", &save))
            tok[k++] = t;
        if (k >= 9 && !strcmp(tok[0], id)) {
            snprintf(node, ncap, "%s", tok[k - 1]);
            *host_pid = atoi(tok[4]);
            return 0;
        }
    }
    return -1;
}

/* A client of another user on the stop socket, with the modes of the
 * runtime directory and the socket loosened on purpose so that only the
 * master's own SO_PEERCRED check is left: its answer. Exit 0 of the child:
 * "error: permission denied", 3: "stopped", 4: anything else, 5: no
 * connection. */
static int foreign_stop(const char *sock, uint32_t shard_id, uid_t uid, gid_t gid)
{
    char run[300];
    snprintf(run, sizeof(run), "%s/run", rtdir);
    CHECK(chmod(rtdir, 0711) == 0 && chmod(run, 0711) == 0 && chmod(sock, 0666) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = 5};
        char req[32], reply[200];
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(6);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (strlen(sock) >= sizeof(sa.sun_path))
            _exit(5);
        memcpy(sa.sun_path, sock, strlen(sock) + 1);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            _exit(5);
        int len = snprintf(req, sizeof(req), "stop %u\n", shard_id);
        (void)!write(fd, req, (size_t)len);
        ssize_t n = read(fd, reply, sizeof(reply) - 1);
        reply[n > 0 ? n : 0] = 0;
        _exit(!strncmp(reply, "error: permission denied", 24) ? 0 : !strncmp(reply, "stopped", 7) ? 3 : 4);
    }
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0)
        run_ms(loop, 10); /* the socket is served by this loop */
    CHECK(chmod(sock, 0600) == 0 && chmod(run, 0700) == 0 && chmod(rtdir, 0700) == 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void spin_done(mlos_call_t *req, int status)
{
    int *st = req->data;
    *st = status;
}

static void group_done(mlos_group_call_t *req, int status)
{
    int *st = req->data;
    *st = status;
}

struct ptask {
    mlos_pool_call_t req;
    int status, answers;
    char why[300];
};

static void ptask_done(mlos_pool_call_t *req, int status)
{
    struct ptask *t = req->data;
    t->status = status;
    t->answers++;
    snprintf(t->why, sizeof(t->why), "%s", status ? req->error : "");
}

static void case_clistop(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s[2], local;
    char id[48], err[400], text[8192], node[64], sock[400];
    int hp;
    mlos_node_t *n = one_node(&c, &a, "n-clistop");
    for (int i = 0; i < 2; i++)
        CHECK_EQ(node_spawn_sync(n, &s[i], MLOS_KVM_AUTO), 0);
    struct mlos_spawn_opts lo = {.arch = "process", .mem_bytes = 16u << 20};
    CHECK_EQ(mlos_spawn_sync(loop, &local, &lo), 0);
    CHECK_EQ(agent_shards(n), 2);
    snprintf(sock, sizeof(sock), "%s/run/master-%d.ctl", rtdir, (int)getpid());

    /* `mlos ps` lists all three with their nodes; a remote one's HOST PID
     * is its slave's pid on the node */
    CHECK_EQ(mlos_ps_text(text, sizeof(text)), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof(id), "%d.%u", (int)getpid(), s[i].id);
        CHECK_EQ(ps_row(text, id, node, sizeof(node), &hp), 0);
        if (strcmp(node, "n-clistop"))
            fprintf(stderr, "mlos ps:\n%s", text);
        CHECK(!strcmp(node, "n-clistop"));
        CHECK_EQ(hp, s[i].pid);
    }
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), local.id);
    CHECK_EQ(ps_row(text, id, node, sizeof(node), &hp), 0);
    CHECK(!strcmp(node, "-"));
    CHECK_EQ(hp, local.pid);

    /* another user may not stop them: `mlos stop` as nobody cannot use our
     * runtime directory, and a foreign client on the stop socket itself
     * (modes loosened) is told "permission denied"; nothing is stopped */
    struct passwd *nobody = getuid() == 0 ? getpwnam("nobody") : NULL;
    if (nobody) {
        snprintf(id, sizeof(id), "%d.%u", (int)getpid(), s[0].id);
        CHECK_EQ(run_mlos("stop", id, -1, (int)nobody->pw_uid, (int)nobody->pw_gid), 1);
        CHECK_EQ(foreign_stop(sock, s[0].id, nobody->pw_uid, nobody->pw_gid), 0);
        CHECK(mlos_shard_alive(&s[0]));
        CHECK_EQ(agent_shards(n), 2);
    } else {
        printf("not root (or no user nobody): the other-user refusal is not exercised\n");
    }

    /* a shard on the node, with a call pending: the call completes with
     * MLOS_ESTOPPED, the agent kills the slave, later calls fail the same
     * way and say why */
    int pid = s[1].pid, spin_status = 1;
    uint64_t spin_ns = mlos_to_le64(20000000000ull);
    mlos_call_t spin;
    spin.data = &spin_status;
    CHECK_EQ(mlos_call(&s[1], &spin, "spin", &spin_ns, sizeof(spin_ns), spin_done), 0);
    run_ms(loop, 100);
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), s[1].id);
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(run_mlos_stop(id), 0);
    printf("mlos stop of a shard on the node: %.1f ms until it exited (slave killed, record dead)\n",
           (double)(uv_hrtime() - t0) / 1e6);
    for (int i = 0; i < 100 && spin_status == 1; i++)
        run_ms(loop, 10);
    CHECK_EQ(spin_status, MLOS_ESTOPPED);
    CHECK(!mlos_shard_alive(&s[1]));
    CHECK_EQ(mlos_call_sync(&s[1], "echo", "x", 1, NULL, NULL, err, sizeof(err)), MLOS_ESTOPPED);
    CHECK(strstr(err, "stopped by mlos stop"));
    CHECK(pid_gone(loop, pid, 300));
    CHECK_EQ(agent_shards_settle(n, 1), 1);
    CHECK(mlos_shard_alive(&s[0])); /* the other one is untouched */
    CHECK_EQ(mlos_call_sync(&s[0], "echo", "x", 1, NULL, NULL, err, sizeof(err)), 0);
    CHECK_EQ(mlos_ps_text(text, sizeof(text)), 0); /* dead until its owner releases it */
    CHECK(strstr(text, id) && strstr(strstr(text, id), "dead"));

    /* a local shard of the same master */
    pid = local.pid;
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), local.id);
    CHECK_EQ(run_mlos_stop(id), 0);
    CHECK(!mlos_shard_alive(&local));
    CHECK_EQ(mlos_call_sync(&local, "echo", "x", 1, NULL, NULL, err, sizeof(err)), MLOS_ESTOPPED);
    CHECK(pid_gone(loop, pid, 300));

    /* no such shard: a clear error, exit 1; one stopped already (dead,
     * not yet released by its owner): stopping it again is no error */
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), 99999u);
    CHECK_EQ(run_mlos_stop(id), 1);
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), s[1].id);
    CHECK_EQ(run_mlos_stop(id), 0);
    mlos_shard_stop_sync(&s[1]);
    mlos_shard_stop_sync(&local);

    /* a pool member on the node stopped under a running idempotent task (a
     * spin answers no heartbeat: their timeout is longer than it):
     * the pool counts a failed shard, re-runs the task elsewhere and
     * replaces the member */
    mlos_pool_t p;
    struct ptask t = {0};
    struct mlos_pool_opts po = {.spawn = {.arch = arch, .mem_bytes = 16u << 20, .kvm = MLOS_KVM_AUTO,
                                          .hello_timeout_ms = 30000},
                                .min_shards = 2, .max_shards = 2, .max_retries = 3, .heartbeat_timeout_ms = 10000,
                                .placement = mlos_cluster_placement(&c), .idle_timeout_ms = 60000};
    CHECK_EQ(mlos_pool_init(loop, &p, &po), 0);
    uint64_t end = uv_hrtime() + 60000000000ull;
    while (p.ready < 2 && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(p.ready, 2);
    spin_ns = mlos_to_le64(3000000000ull); /* long enough that the stop lands first, even under load */
    t.req.data = &t;
    CHECK_EQ(mlos_pool_call(&p, &t.req, "spin", &spin_ns, sizeof(spin_ns), MLOS_POOL_IDEMPOTENT, ptask_done), 0);
    run_ms(loop, 200);
    mlos_shard_t *members[2];
    CHECK_EQ(mlos_pool_shards(&p, members, 2), 2);
    mlos_shard_t *victim = members[0]->id == t.req.shard_id ? members[0] : members[1];
    CHECK_EQ(victim->id, t.req.shard_id); /* the task runs on it */
    pid = victim->pid;
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), victim->id);
    CHECK_EQ(run_mlos_stop(id), 0);
    end = uv_hrtime() + 30000000000ull;
    while ((!t.answers || p.ready < 2) && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(t.answers, 1);
    if (t.status)
        fprintf(stderr, "pool task: %s\n", t.why);
    CHECK_EQ(t.status, 0);
    CHECK(t.req.attempts >= 2);
    CHECK(p.failed >= 1);
    CHECK_EQ(p.ready, 2);
    CHECK(pid_gone(loop, pid, 300));
    mlos_pool_close_sync(&p);

    /* a group member stopped during barriers: the group sees its rank go
     * down (MLOS_ESHARDDIED naming it), as for a member that died; the
     * other member keeps working */
    mlos_group_mem_t gm;
    mlos_shard_t gs[2], *gmem[2] = {&gs[0], &gs[1]};
    mlos_group_t g;
    mlos_group_call_t gc;
    int gstatus = 1;
    CHECK_EQ(mlos_group_mem_init(&gm, 4u << 20), 0);
    struct mlos_spawn_opts go_spawn = {.arch = "process", .mem_bytes = 16u << 20, .group_mem = &gm};
    for (int i = 0; i < 2; i++)
        CHECK_EQ(mlos_spawn_sync(loop, &gs[i], &go_spawn), 0);
    struct mlos_group_opts gopt = {.mem = &gm, .members = gmem, .n = 2};
    CHECK_EQ(mlos_group_create_sync(loop, &g, &gopt), 0);
    gc.data = &gstatus;
    CHECK_EQ(mlos_group_call(&g, &gc, "group.barriers", "\0\0\0\0", 4, 0, group_done), 0);
    run_ms(loop, 100);
    pid = gs[1].pid;
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), gs[1].id);
    CHECK_EQ(run_mlos_stop(id), 0);
    end = uv_hrtime() + 10000000000ull;
    while (gstatus == 1 && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(gstatus, MLOS_ESHARDDIED);
    CHECK_EQ(g.failed_rank, 1);
    CHECK(pid_gone(loop, pid, 300));
    CHECK_EQ(mlos_call_sync(&gs[0], "echo", "x", 1, NULL, NULL, err, sizeof(err)), 0);
    mlos_group_close_sync(&g);
    for (int i = 0; i < 2; i++)
        mlos_shard_stop_sync(&gs[i]);
    CHECK_EQ(mlos_group_mem_close(&gm), 0);

    /* a shard of a second loop is listed, but the socket (served on the
     * first loop) cannot reach it: its record names no socket and mlos
     * stop says so, touching nothing */
    uv_loop_t loop2;
    mlos_shard_t other;
    struct mlos_registry_rec *v;
    CHECK_EQ(uv_loop_init(&loop2), 0);
    CHECK_EQ(mlos_spawn_sync(&loop2, &other, &lo), 0);
    int nr = mlos_registry_list(&v), found = 0;
    for (int i = 0; i < nr; i++) {
        if (v[i].master_pid != getpid())
            continue;
        if (v[i].shard_id == other.id) {
            found = 1;
            CHECK(!v[i].stop_socket[0]);
        } else if (v[i].shard_id == s[0].id) {
            CHECK(!strcmp(v[i].stop_socket, sock));
        }
    }
    if (nr > 0)
        free(v);
    CHECK(found);
    snprintf(id, sizeof(id), "%d.%u", (int)getpid(), other.id);
    CHECK_EQ(run_mlos_stop(id), 1);
    CHECK(mlos_shard_alive(&other));
    CHECK_EQ(mlos_call_sync(&other, "echo", "x", 1, NULL, NULL, err, sizeof(err)), 0);
    mlos_shard_stop_sync(&other);
    CHECK_EQ(uv_loop_close(&loop2), 0);

    mlos_shard_stop_sync(&s[0]);
    CHECK_EQ(agent_shards_settle(n, 0), 0);
    finish(&c, &a, 0);
    /* the last shard gone, the stop socket went with it */
    CHECK(access(sock, F_OK) != 0);
}

/* ---- putsizes ---- */

#define PS_WIN (16u << 20)
#define PS_BLOCK 4096u

/* The sum_u64 of the window's [off, off + len) (8-byte aligned). */
static uint64_t window_sum(mlos_shard_t *s, size_t off, size_t len)
{
    uint64_t arg[2] = {off, len}, got = 0;
    void *res = NULL;
    size_t rlen = 0;
    char err[200];
    if (mlos_call_sync(s, "sum_u64", arg, sizeof(arg), &res, &rlen, err, sizeof(err)) != 0 || rlen != 8) {
        fprintf(stderr, "sum_u64 [%zu, +%zu): %s\n", off, len, err);
        CHECK(0);
    }
    memcpy(&got, res, 8);
    free(res);
    return got;
}

static uint64_t mirror_sum(const uint8_t *m, size_t off, size_t len)
{
    uint64_t sum = 0, w;
    for (size_t i = 0; i < len; i += 8) {
        memcpy(&w, m + off + i, 8);
        sum += w;
    }
    return sum;
}

/* Every 4 KiB block of [off, off + len), widened to blocks, and one block
 * either side: a byte wrong anywhere there changes its block's sum. */
static void check_blocks(mlos_shard_t *s, const uint8_t *mirror, size_t off, size_t len)
{
    size_t b0 = off / PS_BLOCK, b1 = (off + len + PS_BLOCK - 1) / PS_BLOCK;
    b0 = b0 ? b0 - 1 : 0;
    b1 = b1 + 1 < PS_WIN / PS_BLOCK ? b1 + 1 : PS_WIN / PS_BLOCK;
    for (size_t b = b0; b < b1; b++)
        if (window_sum(s, b * PS_BLOCK, PS_BLOCK) != mirror_sum(mirror, b * PS_BLOCK, PS_BLOCK)) {
            fprintf(stderr, "window block %zu (put at %zu, +%zu) differs\n", b, off, len);
            CHECK(0);
        }
}

static void case_putsizes(void)
{
    mlos_cluster_t c;
    struct agent a;
    mlos_shard_t s;
    const size_t piece = MLOS_NODE_PUT_CHUNK;
    const struct {
        size_t off, len;
    } puts[] = {{0, 0},           {3, 1},     {4093, piece - 1}, {PS_WIN / 2 + 5, piece},
                {1 << 20, piece + 1}, {7, 5 * piece + 12345}, {PS_WIN - piece - 1, piece + 1}};
    const size_t np = sizeof(puts) / sizeof(puts[0]);
    uint8_t *mirror = calloc(1, PS_WIN), *src = malloc(PS_WIN);
    uint32_t seed = 1;
    mlos_node_t *n = one_node(&c, &a, "n-putsizes");
    CHECK_EQ(node_spawn_sync(n, &s, MLOS_KVM_AUTO), 0);

    /* a known window first: the slave's window starts zeroed */
    for (size_t k = 0; k < PS_WIN; k++)
        src[k] = mirror[k] = (uint8_t)(k * 131 + (k >> 12));
    CHECK_EQ(mlos_put(&s, 0, src, PS_WIN), 0);
    memset(src, 0, PS_WIN);
    check_blocks(&s, mirror, 0, PS_WIN);

    for (int burst = 0; burst < 2; burst++) {
        /* burst 0: each put alone on an idle link, checked at once;
         * burst 1: all back to back (the link busy behind the first) */
        for (size_t i = 0; i < np; i++) {
            for (size_t k = 0; k < puts[i].len; k++)
                src[k] = mirror[puts[i].off + k] = (uint8_t)(seed * 7 + k * 13 + (k >> 9));
            seed++;
            CHECK_EQ(mlos_put(&s, puts[i].off, src, puts[i].len), 0);
            memset(src, 0xEE, puts[i].len); /* the caller's again: the put must not change */
            if (!burst)
                check_blocks(&s, mirror, puts[i].off, puts[i].len);
        }
    }
    check_blocks(&s, mirror, 0, PS_WIN);

    /* PUT messages the master's API would refuse, sent as they are: past
     * the window's end, an offset past it, a shard the agent does not run.
     * The agent writes nothing of them; the shard and the link go on. */
    uint8_t off8[8], junk[70000];
    memset(junk, 0x5A, sizeof(junk));
    mlos_put_le64(off8, PS_WIN - sizeof(junk) + 1);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_PUT, s.id, 0, 0, off8, 8, junk, sizeof(junk)), 0);
    mlos_put_le64(off8, ~0ull - 3);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_PUT, s.id, 0, 0, off8, 8, junk, sizeof(junk)), 0);
    mlos_put_le64(off8, 0);
    CHECK_EQ(mlos__node_send(n, MLOS_NODE_PUT, s.id + 1000, 0, 0, off8, 8, junk, sizeof(junk)), 0);
    check_blocks(&s, mirror, PS_WIN - sizeof(junk), sizeof(junk));
    check_blocks(&s, mirror, 0, PS_BLOCK);
    CHECK(mlos_shard_alive(&s));
    CHECK_EQ(mlos_put(&s, 8, "12345678", 8), 0);
    memcpy(mirror + 8, "12345678", 8);
    check_blocks(&s, mirror, 8, 8);

    free(mirror);
    free(src);
    mlos_shard_stop_sync(&s);
    finish(&c, &a, 0);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_cluster_local AGENT ARCH CASE...\n");
        return 2;
    }
    agent = argv[1];
    arch = argv[2];
    loop = uv_default_loop();
    snprintf(rtdir, sizeof(rtdir), "/tmp/mlos-cluster-test-%d", (int)getpid());
    CHECK(mkdir(rtdir, 0700) == 0);
    atexit(remove_tmp);
    snprintf(secret_path, sizeof(secret_path), "%s/secret", rtdir);
    snprintf(other_path, sizeof(other_path), "%s/other", rtdir);
    CHECK(write_secret(secret_path, "right") == 0);
    CHECK(write_secret(other_path, "wrong") == 0);
    char run[300];
    snprintf(run, sizeof(run), "%s/run", rtdir);
    CHECK(mkdir(run, 0700) == 0);
    setenv("MLOS_RUNTIME_DIR", run, 1);
    setenv("MLOS_QUIET", "1", 1);
    for (int i = 3; i < argc; i++) {
        printf("== %s (%s)\n", argv[i], arch);
        fflush(stdout);
        if (!strcmp(argv[i], "refuse"))
            case_refuse();
        else if (!strcmp(argv[i], "info"))
            case_info();
        else if (!strcmp(argv[i], "put"))
            case_put();
        else if (!strcmp(argv[i], "get"))
            case_get();
        else if (!strcmp(argv[i], "crash"))
            case_crash();
        else if (!strcmp(argv[i], "deadline"))
            case_deadline();
        else if (!strcmp(argv[i], "stop"))
            case_stop();
        else if (!strcmp(argv[i], "heartbeat"))
            case_heartbeat();
        else if (!strcmp(argv[i], "hang"))
            case_hang();
        else if (!strcmp(argv[i], "term"))
            case_term();
        else if (!strcmp(argv[i], "close"))
            case_close();
        else if (!strcmp(argv[i], "faults"))
            case_faults();
        else if (!strcmp(argv[i], "putsizes"))
            case_putsizes();
        else if (!strncmp(argv[i], "clistop=", 8)) {
            mlos_tool = argv[i] + 8;
            case_clistop();
        }
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
    }
    unlink(secret_path);
    unlink(other_path);
    CHECK(rmdir(run) == 0); /* no registry record left */
    CHECK_DONE();
}
