/* A node agent that lies: the master must drop what does not fit, fence
 * what breaks the protocol, and never crash or complete a call wrongly.
 *
 * The fake agent runs in this process on the same loop (its own msg.h
 * domain, a real tcp connection, the real handshake). Checked:
 *   - messages with another epoch, or for a shard the master never
 *     started, are dropped and counted (stale_dropped); the node stays up;
 *   - a SPAWNED whose HELLO does not decode, or that carries a window key
 *     over a tcp link, fails that spawn (the node stays up);
 *   - a REPLY for a call id that is not pending fences that shard
 *     (MLOS_EPROTO), its call fails, KILL goes to the agent;
 *   - a GONE with an out-of-range error code reads as MLOS_ESHARDDIED;
 *   - a message without a header, or of an unknown type, loses the node:
 *     its shards fail with MLOS_ESHARDDIED, the connection is closed;
 *   - GET answers: pieces in order complete a get byte for byte, one of
 *     another epoch is dropped, an error code ends it with that code; a
 *     GET_DATA for a request id never sent, or longer than asked, loses
 *     the node (the get fails, nothing is written past its buffer).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "node_proto.h"
#include "cluster.h"
#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "remote.h"

static const char secret[] = "hostile-test-secret-0123456789abcdef";
static uv_loop_t *loop;
static mlos_domain_t fdom;
static mlos_ep_t fep_store[3], *fep = &fep_store[0]; /* one per connection */
static struct mlos_remote_secret fsec;
static uint8_t fnonce[MLOS_REMOTE_NONCE];
static int fauthed, fwelcomed, fclosed, kills;
static uint32_t fepoch, last_spawn, last_call, spawns;
static uint32_t gets, get_req, get_shard;
static uint64_t get_off, get_len;

struct omsg {
    mlos_wr_t wr;
    uint8_t buf[];
};
static void omsg_done(mlos_wr_t *wr, int st)
{
    (void)st;
    free(wr->data);
}

static void raw_send(uint32_t type, const void *p, size_t n)
{
    struct omsg *m = malloc(sizeof(*m) + n + 1);
    memcpy(m->buf, p, n);
    m->wr.data = m;
    if (mlos_send(fep, &m->wr, type, m->buf, n, omsg_done) < 0)
        free(m);
}

static void fsend(uint32_t type, uint32_t epoch, uint32_t shard, uint32_t req, uint32_t aux, const void *p, size_t n)
{
    uint8_t *b = malloc(MLOS_NODE_HDR + n + 1);
    struct mlos_node_hdr h = {epoch, shard, req, aux};
    mlos_node_hdr_put(b, &h);
    if (n)
        memcpy(b + MLOS_NODE_HDR, p, n);
    raw_send(type, b, MLOS_NODE_HDR + n);
    free(b);
}

/* SPAWNED as the agent sends it: good, with a HELLO that does not decode
 * (SP_BAD_HELLO), or with a window key, which only a verbs link carries
 * (SP_KEY_ON_TCP: this link is tcp) */
enum { SP_BAD_HELLO, SP_GOOD, SP_KEY_ON_TCP };

static void send_spawned(uint32_t shard, int how)
{
    static char *tasks[] = {"echo"};
    Mlos__Hello hm = MLOS__HELLO__INIT;
    uint8_t buf[256] = {0};
    size_t n, k = how == SP_KEY_ON_TCP ? MLOS_NODE_WINKEY_SIZE : 0;
    hm.arch = "liar";
    hm.tasks = tasks;
    hm.n_tasks = 1;
    hm.abi = 1;
    mlos_put_le64(buf, 1u << 20); /* a 1 MiB window */
    mlos_put_le32(buf + 12, (uint32_t)k);
    memset(buf + 16, 0x11, k); /* a key's bytes: refused for the link, whatever they say */
    n = mlos__hello__pack(&hm, buf + 16 + k);
    if (how == SP_BAD_HELLO) {
        memset(buf + 16, 0xff, 12); /* not a protobuf message */
        n = 12;
    }
    fsend(MLOS_NODE_SPAWNED, fepoch, shard, 0, 0, buf, 16 + k + n);
}

static void f_recv(mlos_ep_t *e, uint32_t type, const void *data, size_t len)
{
    const uint8_t *p = data;
    struct mlos_node_hdr h;
    (void)e;
    if (!fauthed) {
        uint8_t proof[MLOS_REMOTE_AUTH_PROOF_SIZE] = {MLOS_REMOTE_AUTH_PROOF, MLOS_REMOTE_AUTH_VERSION};
        char hello[160];
        int hlen = snprintf(hello, sizeof(hello), "version=%u\nname=liar\ncores=4\nmem_bytes=1073741824\nkvm=0\npid=1\n",
                            MLOS_NODE_VERSION); /* this build's protocol: the lies are elsewhere */
        CHECK(len == MLOS_REMOTE_AUTH_RESPONSE_SIZE);
        CHECK(mlos_remote_mac_ok(&fsec, MLOS_REMOTE_ROLE_MASTER, fnonce, p + 2, p + 2 + MLOS_REMOTE_NONCE));
        mlos_remote_mac(&fsec, MLOS_REMOTE_ROLE_WORKER, fnonce, p + 2, proof + 2);
        raw_send(MLOS_REMOTE_MSG_AUTH, proof, sizeof(proof));
        fauthed = 1;
        fsend(MLOS_NODE_HELLO, 0, 0, 0, 0, hello, (size_t)hlen);
        return;
    }
    CHECK(mlos_node_hdr_get(p, len, &h) == 0);
    if (!fwelcomed) {
        CHECK(type == MLOS_NODE_WELCOME);
        fepoch = h.epoch;
        fwelcomed = 1;
        return;
    }
    CHECK(h.epoch == fepoch); /* the master always speaks this connection's epoch */
    if (type == MLOS_NODE_SPAWN) {
        last_spawn = h.shard;
        spawns++;
    } else if (type == MLOS_NODE_CALL)
        last_call = h.req;
    else if (type == MLOS_NODE_KILL)
        kills++;
    else if (type == MLOS_NODE_GET && len == MLOS_NODE_HDR + MLOS_NODE_GET_SIZE) {
        get_req = h.req;
        get_shard = h.shard;
        get_off = mlos_get_le64(p + MLOS_NODE_HDR);
        get_len = mlos_get_le64(p + MLOS_NODE_HDR + 8);
        gets++;
    }
    else if (type == MLOS_NODE_PING) {
        uint8_t pong[12] = {0};
        fsend(MLOS_NODE_PONG, fepoch, 0, h.req, 0, pong, sizeof(pong));
    }
}

static void f_fail(mlos_ep_t *e, int st)
{
    (void)st;
    if (!fclosed) {
        fclosed = 1;
        mlos_ep_close(e, NULL);
    }
}

static void f_connected(mlos_ep_t *e, int st)
{
    uint8_t ch[MLOS_REMOTE_AUTH_CHALLENGE_SIZE] = {MLOS_REMOTE_AUTH_CHALLENGE, MLOS_REMOTE_AUTH_VERSION};
    (void)e;
    CHECK(st == 0);
    mlos_remote_nonce(fnonce);
    memcpy(ch + 2, fnonce, MLOS_REMOTE_NONCE);
    raw_send(MLOS_REMOTE_MSG_AUTH, ch, sizeof(ch));
}

/* A new connection of the fake agent (after the last one was closed). */
static mlos_node_t *reconnect(mlos_cluster_t *c, const char *addr)
{
    static unsigned k;
    fep = &fep_store[++k];
    fauthed = fwelcomed = fclosed = 0;
    fep->on_recv = f_recv;
    fep->on_fail = f_fail;
    CHECK_EQ(mlos_connect(&fdom, fep, addr, 5000, f_connected), 0);
    CHECK_EQ(mlos_cluster_wait_nodes(c, 1, 5000), 0);
    while (!fwelcomed)
        uv_run(loop, UV_RUN_ONCE);
    return mlos_cluster_node_at(c, 0);
}

struct gst {
    int done, status;
};
static void got(void *arg, int status)
{
    struct gst *g = arg;
    g->done++;
    g->status = status;
}

/* Issue a get and wait until the fake agent has its GET. */
static void get_out(mlos_shard_t *s, size_t off, void *dst, size_t len, struct gst *g)
{
    uint32_t before = gets;
    CHECK_EQ(mlos_node_get(s, off, dst, len, got, g), 0);
    while (gets == before)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(get_shard, s->id);
    CHECK_EQ(get_off, off);
    CHECK_EQ(get_len, len);
}

/* GET_DATA: le64 offset in the request, then n bytes of pattern from at */
static void send_piece(uint32_t epoch, uint32_t req, uint64_t at, size_t n)
{
    uint8_t b[256];
    mlos_put_le64(b, at);
    for (size_t i = 0; i < n; i++)
        b[8 + i] = (uint8_t)(at + i + 1);
    fsend(MLOS_NODE_GET_DATA, epoch, get_shard, req, 0, b, 8 + n);
}

static void run_ms(unsigned ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (uv_hrtime() < end)
        uv_run(loop, UV_RUN_NOWAIT);
}

struct st {
    int done, status;
};
static void spawned(mlos_shard_t *s, int status)
{
    struct st *x = s->data;
    x->done = 1;
    x->status = status;
}
static void called(mlos_call_t *r, int status)
{
    struct st *x = r->data;
    x->done = 1;
    x->status = status;
}

/* Spawn on the liar; it answers with SPAWNED as send_spawned's how says. */
static int spawn_on(mlos_node_t *n, mlos_shard_t *s, int how)
{
    struct st x = {0};
    uint32_t before = spawns;
    s->data = &x;
    CHECK_EQ(mlos_node_spawn(n, s, &(struct mlos_spawn_opts){.arch = "process"}, spawned), 0);
    while (spawns == before)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(last_spawn, s->id);
    send_spawned(last_spawn, how);
    while (!x.done)
        uv_run(loop, UV_RUN_ONCE);
    return x.status;
}

int main(void)
{
    mlos_cluster_t c;
    char addr[128], why[100];
    mlos_shard_t a, b, d;
    struct st x = {0};
    mlos_call_t req;
    loop = uv_default_loop();
    setenv("MLOS_REGISTRY", "0", 1);
    setenv("MLOS_QUIET", "1", 1);
    CHECK_EQ(mlos_cluster_listen(&c, loop, "tcp:127.0.0.1:0", &(struct mlos_cluster_opts){.secret = secret}), 0);
    CHECK_EQ(mlos_cluster_addr(&c, addr, sizeof(addr)), 0);
    CHECK_EQ(mlos_remote_secret_load(&fsec, secret, NULL, 0, why, sizeof(why)), 0);
    CHECK_EQ(mlos_domain_init(&fdom, loop, 0), 0);
    fep->on_recv = f_recv;
    fep->on_fail = f_fail;
    CHECK_EQ(mlos_connect(&fdom, fep, addr, 5000, f_connected), 0);
    CHECK_EQ(mlos_cluster_wait_nodes(&c, 1, 5000), 0);
    while (!fwelcomed)
        uv_run(loop, UV_RUN_ONCE);
    mlos_node_t *n = mlos_cluster_node_at(&c, 0);
    CHECK(n && !strcmp(n->name, "liar") && n->cores == 4);

    /* another epoch; a shard never started */
    fsend(MLOS_NODE_REPLY, fepoch ^ 0x5555u, 1, 1, 0, NULL, 0);
    send_spawned(999, SP_GOOD);
    fsend(MLOS_NODE_GONE, fepoch, 998, 0, 0, "x", 1);
    run_ms(100);
    CHECK_EQ(c.stale_dropped, 3);
    CHECK(!n->lost);

    /* a HELLO that does not decode fails that spawn only */
    CHECK(spawn_on(n, &a, SP_BAD_HELLO) < 0);
    CHECK(!n->lost);
    mlos_shard_stop_sync(&a);

    /* a window key over tcp (puts would go by RDMA the link cannot do)
     * fails that spawn only */
    CHECK(spawn_on(n, &a, SP_KEY_ON_TCP) < 0);
    CHECK(!n->lost);
    mlos_shard_stop_sync(&a);

    /* a REPLY for a call that is not pending fences the shard */
    CHECK_EQ(spawn_on(n, &b, SP_GOOD), 0);
    CHECK(!strcmp(b.node, "liar"));
    req.data = &x;
    CHECK_EQ(mlos_call(&b, &req, "echo", "hi", 2, called), 0);
    while (!last_call)
        uv_run(loop, UV_RUN_ONCE);
    fsend(MLOS_NODE_REPLY, fepoch, b.id, last_call + 7, 0, NULL, 0);
    while (!x.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(x.status, MLOS_EPROTO);
    CHECK(!mlos_shard_alive(&b));
    run_ms(100);
    CHECK(kills >= 1);
    CHECK(!n->lost);
    mlos_shard_stop_sync(&b);

    /* GONE with a nonsense error code */
    CHECK_EQ(spawn_on(n, &d, SP_GOOD), 0);
    x.done = 0;
    CHECK_EQ(mlos_call(&d, &req, "echo", "hi", 2, called), 0);
    fsend(MLOS_NODE_GONE, fepoch, d.id, 0, 12345, "bogus\001text", 10);
    while (!x.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(x.status, MLOS_ESHARDDIED);
    mlos_shard_stop_sync(&d);

    /* a message without a header loses the node, and its shards with it */
    CHECK_EQ(spawn_on(n, &d, SP_GOOD), 0);
    x.done = 0;
    CHECK_EQ(mlos_call(&d, &req, "echo", "hi", 2, called), 0);
    raw_send(MLOS_NODE_PONG, "abc", 3);
    while (!x.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(x.status, MLOS_ESHARDDIED);
    CHECK(n->lost);
    CHECK_EQ(c.nnodes, 0);
    CHECK_EQ(c.lost, 1);
    CHECK_EQ(mlos_node_spawn(n, &a, NULL, spawned), MLOS_ESHARDDIED);
    mlos_shard_stop_sync(&d);
    while (!fclosed) /* the master closed the connection */
        uv_run(loop, UV_RUN_ONCE);

    /* GET answered in two pieces, with a piece of another epoch between */
    uint8_t gbuf[200];
    struct gst g = {0};
    n = reconnect(&c, addr);
    CHECK_EQ(spawn_on(n, &d, SP_GOOD), 0);
    memset(gbuf, 0, sizeof(gbuf));
    get_out(&d, 10, gbuf, 100, &g);
    uint64_t stale = c.stale_dropped;
    send_piece(fepoch, get_req, 0, 60);
    send_piece(fepoch ^ 0x77u, get_req, 60, 40);
    run_ms(100);
    CHECK_EQ(g.done, 0);
    CHECK_EQ(c.stale_dropped, stale + 1);
    send_piece(fepoch, get_req, 60, 40);
    while (!g.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(g.status, 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gbuf[i], (uint8_t)(i + 1));
    CHECK_EQ(gbuf[100], 0);
    CHECK_EQ(n->get_bytes, 100);
    /* an error answer ends the get with it; out of range of the window here */
    g.done = 0;
    get_out(&d, 0, gbuf, 8, &g);
    fsend(MLOS_NODE_GET_DATA, fepoch, get_shard, get_req, (uint32_t)(int32_t)MLOS_ERANGE, NULL, 0);
    while (!g.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(g.status, MLOS_ERANGE);
    CHECK_EQ(mlos_node_get(&d, (1u << 20) - 1, gbuf, 2, got, &g), MLOS_ERANGE); /* checked here first */
    CHECK(!n->lost);
    /* a request id never sent: the node is lost, the get out fails */
    g.done = 0;
    get_out(&d, 0, gbuf, 100, &g);
    send_piece(fepoch, get_req + 1000, 0, 100);
    while (!g.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(g.status, MLOS_ESHARDDIED);
    CHECK(n->lost);
    mlos_shard_stop_sync(&d);
    while (!fclosed)
        uv_run(loop, UV_RUN_ONCE);

    /* more bytes than asked: refused, nothing past the buffer, node lost */
    n = reconnect(&c, addr);
    CHECK_EQ(spawn_on(n, &d, SP_GOOD), 0);
    memset(gbuf, 0, sizeof(gbuf));
    g.done = 0;
    get_out(&d, 0, gbuf, 50, &g);
    send_piece(fepoch, get_req, 0, 51);
    while (!g.done)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(g.status, MLOS_EPROTO);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gbuf[i], 0);
    CHECK(n->lost);
    CHECK_EQ(c.lost, 3);
    mlos_shard_stop_sync(&d);
    while (!fclosed)
        uv_run(loop, UV_RUN_ONCE);

    mlos_cluster_close_sync(&c);
    uv_run(loop, UV_RUN_NOWAIT);
    CHECK_EQ(mlos_domain_close(&fdom), 0);
    CHECK_DONE();
}
