/* One master supervising many shards behind node agents, with minimal
 * stand-ins for the agents and their shards.
 *
 *   bench_scale [SHARDS] [NODES] [ROUNDS]     (default 1000 10 5)
 *
 * NODES stand-in agents (forked processes, one libuv loop each) speak the
 * node protocol (rpc/abi/node_proto.h) over tcp on 127.0.0.1, with the real
 * handshake; their shards cost nothing (SPAWN is answered at once, a CALL of
 * "echo" with its argument, no slave behind). What is measured is the
 * master's side, the real library code:
 *   - pool growth: a pool with min_shards = SHARDS spread over the nodes,
 *     init to all ready (shards/s);
 *   - master memory per shard: RSS growth over that, divided by SHARDS;
 *   - idle supervision CPU: the master's CPU over 3 s with every shard idle
 *     (node pings; the agents, not the master, ping slaves), per shard;
 *   - fan-out: one 8-byte echo call to every shard at once, ROUNDS times:
 *     p50 and p99 of the per-call completion time and the time to the last
 *     reply; beside it, the same calls one after another (one round trip
 *     each) as the baseline of what a single call costs here.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "mlos.pb-c.h"
#include "node_proto.h"
#include "remote.h"

static const char secret_text[] = "bench-scale-secret-0123456789abcdef";

/* ---- the stand-in agent (a child process) ---- */

static uv_loop_t *floop;
static mlos_ep_t fep;
static struct mlos_remote_secret fsecret;
static uint8_t fnonce[MLOS_REMOTE_NONCE];
static int fauthed, fwelcomed, fidx;
static uint32_t fepoch;

struct omsg {
    mlos_wr_t wr;
    uint8_t buf[];
};
static void omsg_done(mlos_wr_t *wr, int st)
{
    (void)st;
    free(wr->data);
}

static void fsend(uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p, size_t n, int raw)
{
    size_t len = (raw ? 0 : MLOS_NODE_HDR) + n;
    struct omsg *m = malloc(sizeof(*m) + len + 1);
    struct mlos_node_hdr h = {fepoch, shard, req, aux};
    if (!raw)
        mlos_node_hdr_put(m->buf, &h);
    if (n)
        memcpy(m->buf + (raw ? 0 : MLOS_NODE_HDR), p, n);
    m->wr.data = m;
    if (mlos_send(&fep, &m->wr, type, m->buf, len, omsg_done) < 0)
        free(m);
}

static void f_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct mlos_node_hdr h;
    (void)e;
    if (!fauthed) {
        uint8_t proof[MLOS_REMOTE_AUTH_PROOF_SIZE] = {MLOS_REMOTE_AUTH_PROOF, MLOS_REMOTE_AUTH_VERSION};
        char hello[200];
        if (len != MLOS_REMOTE_AUTH_RESPONSE_SIZE ||
            !mlos_remote_mac_ok(&fsecret, MLOS_REMOTE_ROLE_MASTER, fnonce, p + 2, p + 2 + MLOS_REMOTE_NONCE))
            _exit(2);
        mlos_remote_mac(&fsecret, MLOS_REMOTE_ROLE_WORKER, fnonce, p + 2, proof + 2);
        fsend(MLOS_REMOTE_MSG_AUTH, 0, 0, 0, proof, sizeof(proof), 1);
        fauthed = 1;
        int n = snprintf(hello, sizeof(hello), "version=%u\nname=standin%d\ncores=1\nmem_bytes=%llu\nkvm=0\npid=%d\n",
                         MLOS_NODE_VERSION, fidx, 1ull << 34, (int)getpid());
        fsend(MLOS_NODE_HELLO, 0, 0, 0, hello, (size_t)n, 0);
        return;
    }
    if (mlos_node_hdr_get(p, len, &h) < 0)
        _exit(3);
    p += MLOS_NODE_HDR;
    len -= MLOS_NODE_HDR;
    if (!fwelcomed) {
        fepoch = h.epoch;
        fwelcomed = 1;
        return;
    }
    switch (type) {
    case MLOS_NODE_SPAWN: {
        static char *tasks[] = {"echo"};
        Mlos__Hello hm = MLOS__HELLO__INIT;
        uint8_t buf[128] = {0};
        hm.arch = "stand-in";
        hm.tasks = tasks;
        hm.n_tasks = 1;
        hm.abi = 1;
        size_t n = mlos__hello__pack(&hm, buf + 16);
        fsend(MLOS_NODE_SPAWNED, h.shard, 0, 0, buf, 16 + n, 0);
        return;
    }
    case MLOS_NODE_CALL: {
        Mlos__TaskCall *c = mlos__task_call__unpack(NULL, len, p);
        Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
        uint8_t buf[256];
        if (!c)
            _exit(4);
        r.result = c->arg;
        size_t n = mlos__task_reply__get_packed_size(&r);
        if (n <= sizeof(buf)) {
            mlos__task_reply__pack(&r, buf);
            fsend(MLOS_NODE_REPLY, h.shard, h.req, 0, buf, n, 0);
        }
        mlos__task_call__free_unpacked(c, NULL);
        return;
    }
    case MLOS_NODE_PING: {
        uint8_t pong[12] = {0};
        memcpy(pong, p, len >= 8 ? 8 : 0);
        fsend(MLOS_NODE_PONG, 0, h.req, 0, pong, sizeof(pong), 0);
        return;
    }
    case MLOS_NODE_STOP:
        fsend(MLOS_NODE_GONE, h.shard, 0, 0, "stopped", 7, 0);
        return;
    case MLOS_NODE_BYE:
        _exit(0);
    default:
        return;
    }
}

static void f_fail(mlos_ep_t *e, int st)
{
    (void)e;
    (void)st;
    _exit(0);
}

static void f_connected(mlos_ep_t *e, int st)
{
    uint8_t ch[MLOS_REMOTE_AUTH_CHALLENGE_SIZE] = {MLOS_REMOTE_AUTH_CHALLENGE, MLOS_REMOTE_AUTH_VERSION};
    (void)e;
    if (st < 0)
        _exit(2);
    mlos_remote_nonce(fnonce);
    memcpy(ch + 2, fnonce, MLOS_REMOTE_NONCE);
    fsend(MLOS_REMOTE_MSG_AUTH, 0, 0, 0, ch, sizeof(ch), 1);
}

static void standin(int idx, const char *addr)
{
    mlos_domain_t dom;
    char why[100];
    fidx = idx;
    floop = uv_loop_new();
    mlos_remote_secret_load(&fsecret, secret_text, NULL, 0, why, sizeof(why));
    mlos_domain_init(&dom, floop, 0);
    fep.on_recv = f_recv;
    fep.on_fail = f_fail;
    if (mlos_connect(&dom, &fep, addr, 5000, f_connected) < 0)
        _exit(2);
    uv_run(floop, UV_RUN_DEFAULT);
    _exit(0);
}

/* ---- the master ---- */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct fan {
    mlos_call_t req;
    uint64_t t0, dt;
    int done, status;
};
static unsigned fan_done;
static void fan_cb(mlos_call_t *req, int status)
{
    struct fan *f = req->data;
    f->dt = uv_hrtime() - f->t0;
    f->done = 1;
    f->status = status;
    fan_done++;
}

int main(int argc, char **argv)
{
    unsigned nsh = argc > 1 ? (unsigned)atoi(argv[1]) : 1000, nnode = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
    unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 5;
    uv_loop_t *loop = uv_default_loop();
    mlos_cluster_t cl;
    char addr[128];
    pid_t kids[256];
    if (!nsh || !nnode || nnode > 256 || !rounds)
        return 2;
    setenv("MLOS_REGISTRY", "0", 1); /* measured: the supervision, not files */
    struct mlos_cluster_opts co = {.secret = secret_text};
    if (mlos_cluster_listen(&cl, loop, "tcp:127.0.0.1:0", &co) < 0)
        return 1;
    mlos_cluster_addr(&cl, addr, sizeof(addr));
    for (unsigned i = 0; i < nnode; i++)
        if ((kids[i] = fork()) == 0)
            standin((int)i, addr);
    if (mlos_cluster_wait_nodes(&cl, nnode, 20000) < 0) {
        fprintf(stderr, "bench_scale: only %u of %u stand-ins joined\n", cl.nnodes, nnode);
        return 1;
    }
    long rss0 = rss_kib();
    mlos_pool_t pool;
    struct mlos_pool_opts po = {.spawn = {.arch = "process"}, .min_shards = nsh, .max_shards = nsh,
                                .placement = mlos_cluster_placement(&cl), .spread = MLOS_POOL_SPREAD,
                                .idle_timeout_ms = 600000};
    uint64_t t0 = uv_hrtime();
    if (mlos_pool_init(loop, &pool, &po) < 0)
        return 1;
    while (pool.ready < nsh && uv_hrtime() - t0 < 60000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    double grow_s = (uv_hrtime() - t0) / 1e9;
    if (pool.ready < nsh) {
        fprintf(stderr, "bench_scale: %u of %u shards up\n", pool.ready, nsh);
        return 1;
    }
    long rss1 = rss_kib();
    /* idle supervision */
    double c0 = cpu_s();
    uint64_t ti = uv_hrtime();
    while (uv_hrtime() - ti < 3000000000ull)
        uv_run(loop, UV_RUN_ONCE);
    double idle_cpu = (cpu_s() - c0) / ((uv_hrtime() - ti) / 1e9);

    mlos_shard_t **sh = calloc(nsh, sizeof(*sh));
    struct fan *f = calloc(nsh, sizeof(*f));
    uint64_t *lat = calloc((size_t)nsh * rounds, 8), *last = calloc(rounds, 8), *seq = calloc(nsh, 8);
    size_t k = mlos_pool_shards(&pool, sh, nsh);
    uint64_t v = 42;
    for (unsigned r = 0; r < rounds; r++) {
        fan_done = 0;
        uint64_t start = uv_hrtime();
        for (size_t i = 0; i < k; i++) {
            f[i].req.data = &f[i];
            f[i].t0 = start;
            if (mlos_call(sh[i], &f[i].req, "echo", &v, 8, fan_cb) < 0)
                return 1;
        }
        while (fan_done < k)
            uv_run(loop, UV_RUN_ONCE);
        last[r] = uv_hrtime() - start;
        for (size_t i = 0; i < k; i++) {
            if (f[i].status)
                return 1;
            lat[r * k + i] = f[i].dt;
        }
    }
    /* baseline: the same call, one at a time */
    for (size_t i = 0; i < k; i++) {
        fan_done = 0;
        f[i].req.data = &f[i];
        f[i].t0 = uv_hrtime();
        mlos_call(sh[i], &f[i].req, "echo", &v, 8, fan_cb);
        while (!fan_done)
            uv_run(loop, UV_RUN_ONCE);
        seq[i] = f[i].dt;
    }
    qsort(lat, k * rounds, 8, cmp_u64);
    qsort(last, rounds, 8, cmp_u64);
    qsort(seq, k, 8, cmp_u64);
    printf("%zu shards behind %u stand-in agents (loopback tcp, one master loop):\n", k, nnode);
    printf("  pool growth      %.0f shards/s (%.2f s from init to all ready)\n", nsh / grow_s, grow_s);
    printf("  master memory    %.1f KiB per shard (RSS %ld -> %ld KiB)\n", (double)(rss1 - rss0) / nsh, rss0, rss1);
    printf("  idle supervision %.2f%% of a core in all: %.4f%% per shard, %.3f%% per node (node pings every %u ms)\n",
           100 * idle_cpu, 100 * idle_cpu / nsh, 100 * idle_cpu / nnode, MLOS_CLUSTER_HEARTBEAT_MS);
    printf("  fan-out to all   p50 %.0f us, p99 %.0f us per call; last reply after %.1f ms (median of %u rounds)\n",
           lat[k * rounds / 2] / 1e3, lat[k * rounds * 99 / 100] / 1e3, last[rounds / 2] / 1e6, rounds);
    printf("  one call alone   p50 %.0f us, p99 %.0f us (baseline: the same calls one after another)\n",
           seq[k / 2] / 1e3, seq[k * 99 / 100] / 1e3);
    mlos_pool_close_sync(&pool);
    mlos_cluster_close_sync(&cl);
    for (unsigned i = 0; i < nnode; i++) {
        kill(kids[i], SIGTERM);
        waitpid(kids[i], NULL, 0);
    }
    return 0;
}
