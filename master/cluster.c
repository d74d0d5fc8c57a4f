/* master/cluster.c -- the master's side of node agents: accept and
 * authenticate them, keep them alive, carry their shards' traffic, fence
 * lost nodes (cluster.h; wire protocol rpc/abi/node_proto.h). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_get.h"
#include "cluster_rdma.h"
#include "group_node.h"
#include "group_nodes.h"
#include "master_internal.h"
#include "node_proto.h"
#include "remote.h"

enum { N_AUTH = 0, N_PROOF, N_HELLO, N_READY, N_LOST };

#define TICK_MS 100
#define JUDGE_EVERY_MS 20

struct mlos_node_shard {
    mlos_node_t *node;
    struct mlos_shard_impl *im;
    uint32_t id; /* the master's shard id: the name on the wire */
    struct mlos__node_win *win; /* its window as an RDMA region of the agent (verbs link), or NULL */
    struct mlos_node_shard *next;
};

static void maybe_closed(mlos_cluster_t *c);
static void on_ep_closed(mlos_ep_t *ep);

/* ---- sending ---- */

struct nmsg {
    mlos_wr_t wr;
    mlos_node_t *n; /* counted in n->out_bytes until sent */
    size_t len;
    uint8_t buf[];
};

/* Put pieces are the big messages: a few of their buffers are kept for
 * reuse, so that a stream of puts does not map and fault in fresh pages
 * for each piece. */
#define PUT_BUF (sizeof(struct nmsg) + MLOS_NODE_HDR + 8 + MLOS_NODE_PUT_CHUNK)
#define PUT_CACHE 8
static void *put_cache[PUT_CACHE]; /* the loop's thread only, as everything here */
static unsigned put_cached;

static struct nmsg *nmsg_alloc(size_t len)
{
    if (sizeof(struct nmsg) + len > PUT_BUF / 2 && sizeof(struct nmsg) + len <= PUT_BUF)
        return put_cached ? put_cache[--put_cached] : malloc(PUT_BUF);
    return malloc(sizeof(struct nmsg) + len);
}

static void nmsg_free(struct nmsg *m)
{
    if (sizeof(*m) + m->len > PUT_BUF / 2 && sizeof(*m) + m->len <= PUT_BUF && put_cached < PUT_CACHE)
        put_cache[put_cached++] = m;
    else
        free(m);
}

static void nmsg_done(mlos_wr_t *wr, int status)
{
    struct nmsg *m = wr->data;
    (void)status; /* a failed endpoint reports itself through on_fail */
    if (m->n)
        m->n->out_bytes -= m->len;
    nmsg_free(m);
}

/* One message: header, then up to two payload pieces, copied. */
static int node_send(mlos_node_t *n, uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p1,
                     size_t l1, const void *p2, size_t l2)
{
    struct mlos_node_hdr h = {n->epoch, shard, req, aux};
    size_t len = MLOS_NODE_HDR + l1 + l2;
    struct nmsg *m;
    int rc;
    if (n->state != N_READY || !n->ep_open)
        return MLOS_ECONNRESET;
    if (len > MLOS_EP_MAX_MSG)
        return MLOS_ETOOBIG;
    if (!(m = nmsg_alloc(len)))
        return MLOS_ENOMEM;
    mlos_node_hdr_put(m->buf, &h);
    if (l1)
        memcpy(m->buf + MLOS_NODE_HDR, p1, l1);
    if (l2)
        memcpy(m->buf + MLOS_NODE_HDR + l1, p2, l2);
    m->wr.data = m;
    m->n = n;
    m->len = len;
    n->out_bytes += len;
    if ((rc = mlos_send(&n->ep, &m->wr, type, m->buf, len, nmsg_done)) < 0) {
        n->out_bytes -= len;
        nmsg_free(m);
    }
    return rc;
}

int mlos__node_send(mlos_node_t *n, uint32_t type, uint32_t shard, uint32_t req, uint32_t aux, const void *p1,
                    size_t l1, const void *p2, size_t l2)
{
    return node_send(n, type, shard, req, aux, p1, l1, p2, l2);
}

/* One put piece: header and offset, then the caller's bytes, gathered by
 * mlos_sendv. An idle link writes them straight from src; a busy one copies
 * what it must (src is the caller's again on return, as mlos_put promises). */
struct nput {
    mlos_wr_t wr;
    mlos_node_t *n;
    size_t len;
};

static void nput_done(mlos_wr_t *wr, int status)
{
    struct nput *m = wr->data;
    (void)status; /* a failed endpoint reports itself through on_fail */
    m->n->out_bytes -= m->len;
    free(m);
}

static int node_put_piece(mlos_node_t *n, uint32_t shard, uint64_t off, const void *src, size_t k)
{
    struct mlos_node_hdr h = {n->epoch, shard, 0, 0};
    uint8_t head[MLOS_NODE_HDR + 8];
    struct mlos_iov iov[2] = {{head, sizeof(head)}, {src, k}};
    struct nput *m;
    int rc;
    if (n->state != N_READY || !n->ep_open)
        return MLOS_ECONNRESET;
    if (!(m = malloc(sizeof(*m))))
        return MLOS_ENOMEM;
    mlos_node_hdr_put(head, &h);
    mlos_put_le64(head + MLOS_NODE_HDR, off);
    m->wr.data = m;
    m->n = n;
    m->len = sizeof(head) + k;
    n->out_bytes += m->len;
    if ((rc = mlos_sendv(&n->ep, &m->wr, MLOS_NODE_PUT, iov, 2, nput_done)) < 0) {
        n->out_bytes -= m->len;
        free(m);
    }
    return rc;
}

static void bye_done(mlos_wr_t *wr, int status)
{
    struct nmsg *m = wr->data;
    mlos_node_t *n = *(mlos_node_t **)(m->buf + MLOS_NODE_HDR);
    (void)status;
    free(m);
    n->bye_pending = 0;
    if (n->ep_open && mlos_ep_close(&n->ep, on_ep_closed) < 0) {
        n->ep_open = 0;
        n->c->handles_open--;
    }
}

/* BYE; the message carries nothing for the agent beyond its header (the
 * pointer after it is ours, to find the node at completion). */
static int send_bye(mlos_node_t *n)
{
    struct mlos_node_hdr h = {n->epoch, 0, 0, 0};
    struct nmsg *m = malloc(sizeof(*m) + MLOS_NODE_HDR + sizeof(n));
    int rc;
    if (!m)
        return MLOS_ENOMEM;
    m->n = NULL;
    mlos_node_hdr_put(m->buf, &h);
    memcpy(m->buf + MLOS_NODE_HDR, &n, sizeof(n));
    m->wr.data = m;
    if ((rc = mlos_send(&n->ep, &m->wr, MLOS_NODE_BYE, m->buf, MLOS_NODE_HDR, bye_done)) < 0)
        free(m);
    return rc;
}

/* ---- shards: the operations shard_remote.c calls ---- */

static struct mlos_node_shard *find_shard(mlos_node_t *n, uint32_t id)
{
    for (struct mlos_node_shard *rs = n->list; rs; rs = rs->next)
        if (rs->id == id)
            return rs;
    return NULL;
}

/* rctx is NULL for a shard whose cluster was closed before it was
 * stopped: it is dead, and nothing goes anywhere. */
static int op_call(struct mlos_shard_impl *im, uint32_t id, const void *packed, size_t len)
{
    struct mlos_node_shard *rs = im->rctx;
    if (!rs)
        return MLOS_ESHARDDIED;
    return node_send(rs->node, MLOS_NODE_CALL, rs->id, id, 0, packed, len, NULL, 0);
}

static int op_put(struct mlos_shard_impl *im, size_t off, const void *src, size_t len)
{
    struct mlos_node_shard *rs = im->rctx;
    int rc = 0;
    if (!rs)
        return MLOS_ESHARDDIED;
    if (rs->win) /* verbs: RDMA WRITE straight into the slave's window */
        return mlos__win_put(rs->node, rs->id, rs->win, off, src, len);
    /* pieces in order on one connection: the agent applies them before
     * any later CALL, which is all mlos_put promises */
    for (size_t done = 0; done < len && rc == 0;) {
        size_t k = len - done < MLOS_NODE_PUT_CHUNK ? len - done : MLOS_NODE_PUT_CHUNK;
        rc = node_put_piece(rs->node, rs->id, (uint64_t)(off + done), (const uint8_t *)src + done, k);
        done += k;
    }
    return rc == MLOS_ECONNRESET ? MLOS_ESHARDDIED : rc;
}

static void op_stop(struct mlos_shard_impl *im)
{
    struct mlos_node_shard *rs = im->rctx;
    if (!rs)
        return;
    mlos__win_dead(rs->node, rs->id, rs->win, 0); /* STOP releases it: nothing posted after */
    (void)node_send(rs->node, MLOS_NODE_STOP, rs->id, 0, 0, NULL, 0, NULL, 0);
}

static void op_fence(struct mlos_shard_impl *im)
{
    struct mlos_node_shard *rs = im->rctx;
    if (!rs)
        return;
    mlos__win_dead(rs->node, rs->id, rs->win, 0); /* KILL releases it */
    (void)node_send(rs->node, MLOS_NODE_KILL, rs->id, 0, 0, NULL, 0, NULL, 0);
}

static void op_release(struct mlos_shard_impl *im)
{
    struct mlos_node_shard *rs = im->rctx, **pp;
    mlos_node_t *n;
    if (!rs)
        return;
    n = rs->node;
    for (pp = &n->list; *pp; pp = &(*pp)->next)
        if (*pp == rs) {
            *pp = rs->next;
            break;
        }
    n->shards--;
    im->rctx = NULL;
    mlos__win_unref(rs->win);
    free(rs);
}

static void op_heartbeat(struct mlos_shard_impl *im, unsigned interval_ms, unsigned timeout_ms)
{
    struct mlos_node_shard *rs = im->rctx;
    if (rs)
        (void)node_send(rs->node, MLOS_NODE_HEARTBEAT, rs->id, timeout_ms, interval_ms, NULL, 0, NULL, 0);
}

/* group memory mirrored by the agent (master/group_nodes.c) */
static int op_group_msg(struct mlos_shard_impl *im, uint32_t type, const void *p, size_t len)
{
    struct mlos_node_shard *rs = im->rctx;
    return rs ? node_send(rs->node, type, 0, 0, 0, p, len, NULL, 0) : MLOS_ESHARDDIED;
}

static const void *op_node_of(const struct mlos_shard_impl *im)
{
    const struct mlos_node_shard *rs = im->rctx;
    return rs ? rs->node : NULL;
}

static const struct mlos__remote_ops node_ops = {
    .call = op_call, .put = op_put, .stop = op_stop, .fence = op_fence, .release = op_release,
    .heartbeat = op_heartbeat, .group_msg = op_group_msg, .node_of = op_node_of,
};

int mlos_node_spawn(mlos_node_t *n, mlos_shard_t *shard, const struct mlos_spawn_opts *opts, mlos_spawn_cb cb)
{
    static const struct mlos_spawn_opts defaults;
    const struct mlos_spawn_opts *o = opts ? opts : &defaults;
    const char *arch = o->arch ? o->arch : "x86_64";
    struct mlos_node_shard *rs;
    char text[400];
    int rc, len;

    if (!n || !shard || !cb)
        return MLOS_EINVAL;
    if (strcmp(arch, "x86_64") && strcmp(arch, "ppc") && strcmp(arch, "process"))
        return MLOS_EINVAL;
    if (n->state != N_READY)
        return MLOS_ESHARDDIED;
    if (!(rs = calloc(1, sizeof(*rs))))
        return MLOS_ENOMEM;
    if ((rc = mlos__remote_shard_new(n->c->loop, shard, o, &node_ops, rs, n->name, cb)) < 0) {
        free(rs);
        return rc;
    }
    rs->node = n;
    rs->im = shard->impl;
    rs->id = shard->id;
    rs->next = n->list;
    n->list = rs;
    n->shards++;
    len = snprintf(text, sizeof(text), "arch=%s\nmem=%zu\nbulk=%zu\nring=%u\nkvm=%d\nhello_timeout=%u\nspin_us=%u\n",
                   arch, o->mem_bytes, o->bulk_bytes, o->ring_bytes, o->kvm, o->hello_timeout_ms, o->spin_us);
    len += (int)mlos__group_spawn_kv(o->group_mem, text + len, sizeof(text) - (size_t)len);
    /* an application's own image goes by its file name, which the agent
     * looks up in its own MLOS_IMAGE_PATH (paths here mean nothing there) */
    if (o->image) {
        const char *base = strrchr(o->image, '/') ? strrchr(o->image, '/') + 1 : o->image;
        if (strlen(base) < 128 && len + 8 + (int)strlen(base) < (int)sizeof(text))
            len += snprintf(text + len, sizeof(text) - (size_t)len, "image=%s\n", base);
    }
    /* A failed send means the connection broke: on_fail settles the
     * shard (from the loop, never inside this call). */
    (void)node_send(n, MLOS_NODE_SPAWN, rs->id, 0, 0, text, (size_t)len, NULL, 0);
    return 0;
}

int mlos_node_ps(mlos_node_t *n, void (*cb)(mlos_node_t *, int, const char *, size_t, void *), void *arg)
{
    int rc;
    if (!n || !cb)
        return MLOS_EINVAL;
    if (n->state != N_READY)
        return MLOS_ESHARDDIED;
    if (n->ps_cb)
        return MLOS_EAGAIN;
    if ((rc = node_send(n, MLOS_NODE_PS, 0, ++n->ps_req, 0, NULL, 0, NULL, 0)) < 0)
        return rc;
    n->ps_cb = cb;
    n->ps_arg = arg;
    return 0;
}

/* ---- node life ---- */

static void on_ep_closed(mlos_ep_t *ep)
{
    mlos_node_t *n = ep->data;
    mlos_cluster_t *c = n->c;
    n->ep_open = 0;
    c->handles_open--;
    maybe_closed(c);
}

/* Fence the node: close its connection, settle all its shards. */
static void node_lost(mlos_node_t *n, int err, const char *why)
{
    mlos_cluster_t *c = n->c;
    int was_ready = n->state == N_READY;
    char msg[300];
    uint32_t *ids = NULL;
    size_t k = 0;

    if (n->state == N_LOST)
        return;
    if (was_ready && err != MLOS_ESTOPPED)
        (void)node_send(n, MLOS_NODE_BYE, 0, 0, 0, NULL, 0, NULL, 0); /* in case it still hears us */
    n->state = N_LOST;
    n->lost = 1;
    if (was_ready) {
        c->nnodes--;
        if (err != MLOS_ESTOPPED)
            c->lost++;
    } else
        c->rejected++;
    if (n->ep_open && !n->bye_pending && mlos_ep_close(&n->ep, on_ep_closed) < 0) {
        n->ep_open = 0;
        c->handles_open--;
    }
    if (n->ps_cb) {
        void (*cb)(mlos_node_t *, int, const char *, size_t, void *) = n->ps_cb;
        n->ps_cb = NULL;
        cb(n, MLOS_ESHARDDIED, "", 0, n->ps_arg);
    }
    mlos__node_gets_fail(n, MLOS_ESHARDDIED);
    snprintf(msg, sizeof(msg), "node %s lost: %s", n->name[0] ? n->name : "?", why);
    /* Callbacks may stop shards (which unlinks them): walk a copy of ids. */
    if (n->shards && (ids = malloc(n->shards * sizeof(*ids))))
        for (struct mlos_node_shard *rs = n->list; rs && k < n->shards; rs = rs->next)
            ids[k++] = rs->id;
    for (size_t i = 0; i < k; i++) {
        struct mlos_node_shard *rs = find_shard(n, ids[i]);
        if (rs && rs->im)
            mlos__remote_gone(rs->im, err == MLOS_ESTOPPED ? MLOS_ESTOPPED : MLOS_ESHARDDIED, msg);
    }
    free(ids);
    if (was_ready && c->o.on_node)
        c->o.on_node(c, n, 0, why);
    maybe_closed(c);
}

/* ---- receiving ---- */

static void refuse(mlos_node_t *n, const char *why)
{
    fprintf(stderr, "mlos cluster: agent connection %u refused: %s\n", n->id, why);
    node_lost(n, MLOS_EAUTH, why);
}

/* The master's half of the handshake of remote_auth.h. */
static void auth_step(mlos_node_t *n, uint32_t type, const uint8_t *p, size_t len)
{
    mlos_cluster_t *c = n->c;
    if (type != MLOS_REMOTE_MSG_AUTH || !c->secret.len) {
        refuse(n, type != MLOS_REMOTE_MSG_AUTH ? "it did not authenticate" : "this master runs without a secret");
        return;
    }
    if (len < 2 || p[1] != MLOS_REMOTE_AUTH_VERSION) {
        refuse(n, "unsupported authentication version");
        return;
    }
    if (n->state == N_AUTH) {
        struct nmsg *m;
        if (p[0] != MLOS_REMOTE_AUTH_CHALLENGE || len != MLOS_REMOTE_AUTH_CHALLENGE_SIZE) {
            refuse(n, "malformed authentication challenge");
            return;
        }
        memcpy(n->nonce_w, p + 2, MLOS_REMOTE_NONCE);
        if (!(m = malloc(sizeof(*m) + MLOS_REMOTE_AUTH_RESPONSE_SIZE)) || mlos_remote_nonce(n->nonce_m) < 0) {
            free(m);
            refuse(n, "out of memory or no randomness");
            return;
        }
        m->n = NULL;
        m->len = MLOS_REMOTE_AUTH_RESPONSE_SIZE;
        m->buf[0] = MLOS_REMOTE_AUTH_RESPONSE;
        m->buf[1] = MLOS_REMOTE_AUTH_VERSION;
        memcpy(m->buf + 2, n->nonce_m, MLOS_REMOTE_NONCE);
        m->wr.data = m;
        if (mlos_remote_mac(&c->secret, MLOS_REMOTE_ROLE_MASTER, n->nonce_w, n->nonce_m,
                            m->buf + 2 + MLOS_REMOTE_NONCE) < 0 ||
            mlos_send(&n->ep, &m->wr, MLOS_REMOTE_MSG_AUTH, m->buf, MLOS_REMOTE_AUTH_RESPONSE_SIZE, nmsg_done) < 0) {
            free(m);
            refuse(n, "cannot answer the challenge");
            return;
        }
        n->state = N_PROOF;
        return;
    }
    if (p[0] != MLOS_REMOTE_AUTH_PROOF || len != MLOS_REMOTE_AUTH_PROOF_SIZE) {
        refuse(n, "malformed authentication proof");
        return;
    }
    if (!mlos_remote_mac_ok(&c->secret, MLOS_REMOTE_ROLE_WORKER, n->nonce_w, n->nonce_m, p + 2)) {
        refuse(n, "wrong proof of the shared secret");
        return;
    }
    n->state = N_HELLO;
}

static unsigned long long kv_num(const uint8_t *p, size_t len, const char *key, unsigned long long dflt)
{
    char v[32], *end;
    unsigned long long x;
    if (mlos_node_kv(p, len, key, v, sizeof(v)) < 0)
        return dflt;
    x = strtoull(v, &end, 10);
    return *end || end == v ? dflt : x;
}

static void on_node_hello(mlos_node_t *n, const uint8_t *p, size_t len)
{
    mlos_cluster_t *c = n->c;
    char v[32];
    if (mlos_node_kv(p, len, "version", v, sizeof(v)) < 0 || strtoul(v, NULL, 10) != MLOS_NODE_VERSION) {
        refuse(n, "agent of another protocol version");
        return;
    }
    if (mlos_node_kv(p, len, "name", n->name, sizeof(n->name)) < 0 || !n->name[0])
        snprintf(n->name, sizeof(n->name), "node%u", n->id);
    for (char *q = n->name; *q; q++) /* shown in ps and messages: printable, no spaces */
        if (*q <= ' ' || *q > '~')
            *q = '_';
    n->cores = (unsigned)kv_num(p, len, "cores", 1);
    n->mem_bytes = kv_num(p, len, "mem_bytes", 0);
    n->kvm = kv_num(p, len, "kvm", 0) == 1;
    if (mlos_node_kv(p, len, "kvm_why", n->kvm_why, sizeof(n->kvm_why)) < 0)
        n->kvm_why[0] = 0;
    n->agent_pid = (int)kv_num(p, len, "pid", 0);
    n->max_shards = (unsigned)kv_num(p, len, "max_shards", 0);
    n->state = N_READY;
    n->last_rx_ms = uv_now(c->loop);
    c->nnodes++;
    if (node_send(n, MLOS_NODE_WELCOME, 0, 0, c->o.heartbeat_ms, NULL, 0, NULL, 0) < 0) {
        node_lost(n, MLOS_ECONNRESET, "cannot welcome it");
        return;
    }
    if (c->o.on_node)
        c->o.on_node(c, n, 1, "");
}

static void on_spawned(mlos_node_t *n, struct mlos_node_shard *rs, const uint8_t *p, size_t len)
{
    uint64_t bulk;
    uint32_t pid, klen;
    if (len < 16) {
        node_lost(n, MLOS_EPROTO, "SPAWNED too short");
        return;
    }
    memcpy(&bulk, p, 8);
    memcpy(&pid, p + 8, 4);
    memcpy(&klen, p + 12, 4);
    klen = mlos_from_le32(klen);
    if (klen > len - 16) {
        node_lost(n, MLOS_EPROTO, "SPAWNED too short for its window key");
        return;
    }
    /* a window key: puts and gets go by RDMA, which only a verbs link has */
    if (klen && !rs->win &&
        (strcmp(n->ep.transport, "verbs") ||
         mlos__win_parse(rs->im, p + 16, klen, mlos_from_le64(bulk), &rs->win) < 0)) {
        mlos__shard_fail(rs->im, MLOS_EPROTO, "shard %u on node %s: a bad window key in SPAWNED", rs->id, n->name);
        mlos__remote_gone(rs->im, MLOS_ESPAWN, rs->im->death_msg);
        return;
    }
    p += klen;
    len -= klen;
    if (mlos__remote_hello(rs->im, p + 16, len - 16, mlos_from_le64(bulk), (int)mlos_from_le32(pid)) < 0) {
        mlos__shard_fail(rs->im, MLOS_EPROTO, "shard %u on node %s: its HELLO does not decode", rs->id, n->name);
        mlos__remote_gone(rs->im, MLOS_ESPAWN, rs->im->death_msg);
    }
}

static void on_recv(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    mlos_node_t *n = ep->data;
    mlos_cluster_t *c = n->c;
    const uint8_t *p = data;
    struct mlos_node_hdr h;
    struct mlos_node_shard *rs = NULL;

    if (n->state == N_LOST)
        return;
    if (n->state == N_AUTH || n->state == N_PROOF) {
        if (!c->secret.len && n->state == N_AUTH && type == MLOS_NODE_HELLO)
            n->state = N_HELLO; /* insecure, as asked */
        else {
            auth_step(n, type, p, len);
            return;
        }
    }
    if (mlos_node_hdr_get(p, len, &h) < 0) {
        node_lost(n, MLOS_EPROTO, "message without a header");
        return;
    }
    p += MLOS_NODE_HDR;
    len -= MLOS_NODE_HDR;
    if (n->state == N_HELLO) {
        if (type != MLOS_NODE_HELLO)
            refuse(n, "expected NODE_HELLO");
        else
            on_node_hello(n, p, len);
        return;
    }
    if (h.epoch != n->epoch) {
        c->stale_dropped++; /* not of this connection's incarnation */
        return;
    }
    n->last_rx_ms = uv_now(c->loop);
    n->ping_wait_ms = 0;
    switch (type) {
    case MLOS_NODE_PONG:
        if (len >= 8) {
            uint64_t t;
            memcpy(&t, p, 8);
            t = mlos_from_le64(t);
            if (t && t <= uv_hrtime())
                n->hb_rtt_ns = uv_hrtime() - t;
        }
        return;
    case MLOS_NODE_PS_REPLY:
        if (n->ps_cb && h.req == n->ps_req) {
            void (*cb)(mlos_node_t *, int, const char *, size_t, void *) = n->ps_cb;
            n->ps_cb = NULL;
            cb(n, 0, (const char *)p, len, n->ps_arg);
        }
        return;
    case MLOS_NODE_PUT_STALE: /* answers to RDMA put notices (node_proto.h) */
        c->rdma_stale++;
        return;
    case MLOS_NODE_PUT_FORGED:
        c->rdma_forged++;
        return;
    case MLOS_NODE_GROUP_DATA: /* group rings that cross this node's link (group_nodes.c) */
    case MLOS_NODE_GROUP_CREDIT:
        mlos__group_nodes_recv(n, type, p, len);
        return;
    case MLOS_NODE_GET_DATA: { /* answers to GETs: checked against the request they name */
        const char *bad = mlos__node_get_data(n, &h, p, len);
        if (bad)
            node_lost(n, MLOS_EPROTO, bad);
        return;
    }
    case MLOS_NODE_SPAWNED:
    case MLOS_NODE_GONE:
    case MLOS_NODE_REPLY:
        if (!(rs = find_shard(n, h.shard)) || !rs->im) {
            c->stale_dropped++; /* released here already */
            return;
        }
        break;
    default:
        node_lost(n, MLOS_EPROTO, "unexpected message type");
        return;
    }
    if (type == MLOS_NODE_SPAWNED)
        on_spawned(n, rs, p, len);
    else if (type == MLOS_NODE_REPLY)
        mlos__remote_reply(rs->im, h.req, p, len);
    else {
        char why[256];
        size_t k = len < sizeof(why) - 1 ? len : sizeof(why) - 1;
        memcpy(why, p, k);
        why[k] = 0;
        for (size_t i = 0; i < k; i++)
            if ((unsigned char)why[i] < ' ')
                why[i] = ' ';
        int err = (int32_t)h.aux;
        if (err > 0 || err < -1000)
            err = MLOS_ESHARDDIED;
        mlos__win_dead(n, rs->id, rs->win, 1); /* the agent holds the dead slave's window until this */
        mlos__remote_gone(rs->im, err, why);
    }
}

static void on_fail(mlos_ep_t *ep, int status)
{
    mlos_node_t *n = ep->data;
    char why[128];
    snprintf(why, sizeof(why), "connection to its agent broke (%s)", mlos_strerror(status ? status : MLOS_ECONNRESET));
    node_lost(n, MLOS_ECONNRESET, why);
}

static void on_connection(mlos_listener_t *l, int status)
{
    mlos_cluster_t *c = l->data;
    mlos_node_t *n, **pp;
    if (status < 0 || c->closing || !(n = calloc(1, sizeof(*n))))
        return;
    n->c = c;
    n->id = ++c->next_id;
    n->epoch = c->epoch_base + n->id;
    if (!n->epoch)
        n->epoch = 1;
    n->t_accept = uv_now(c->loop);
    n->ep.data = n;
    n->ep.on_recv = on_recv;
    n->ep.on_fail = on_fail;
    if (mlos_accept(l, &n->ep) < 0) {
        c->rejected++;
        free(n);
        return;
    }
    n->ep_open = 1;
    c->handles_open++;
    if (c->o.link_spin_us)
        (void)mlos_ep_set_spin(&n->ep, c->o.link_spin_us); /* MLOS_ENOTSUP over tcp: it sleeps as before */
    for (pp = &c->nodes; *pp; pp = &(*pp)->next) /* oldest first */
        ;
    *pp = n;
}

/* ---- heartbeats ---- */

static void on_tick(uv_timer_t *t)
{
    mlos_cluster_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    for (mlos_node_t *n = c->nodes; n; n = n->next) {
        if (n->state == N_READY) {
            /* every heartbeat_ms, rounded to ticks */
            if (++n->tick * TICK_MS >= c->o.heartbeat_ms) {
                uint64_t t0 = mlos_to_le64(uv_hrtime());
                n->tick = 0;
                if (node_send(n, MLOS_NODE_PING, 0, ++n->ping_seq, 0, &t0, sizeof(t0), NULL, 0) == 0 &&
                    !n->ping_wait_ms)
                    n->ping_wait_ms = now; /* the node owes an answer from now */
            }
        } else if (n->state != N_LOST && now - n->t_accept > c->o.hello_timeout_ms)
            node_lost(n, MLOS_ETIMEDOUT, "no NODE_HELLO in time");
    }
}

/* Judged after the loop's poll phase (a check handle), so that PONGs that
 * arrived while the loop was busy are read before silence is counted; and
 * silence counts from the first PING sent after the node's last message,
 * so that a master whose loop was blocked (no PINGs went out) does not
 * fence healthy nodes. Bound: a node that falls silent gets a PING within
 * heartbeat_ms and is fenced heartbeat_timeout_ms after it. */
static void on_check(uv_check_t *h)
{
    mlos_cluster_t *c = h->data;
    uint64_t now = uv_now(c->loop);
    if (now - c->last_judge_ms < JUDGE_EVERY_MS)
        return;
    c->last_judge_ms = now;
again:
    for (mlos_node_t *n = c->nodes; n; n = n->next)
        if (n->state == N_READY && n->ping_wait_ms && now - n->ping_wait_ms >= c->o.heartbeat_timeout_ms) {
            char why[96];
            snprintf(why, sizeof(why), "no heartbeat for %" PRIu64 " ms", now - n->last_rx_ms);
            n->lost_ns = (now - n->last_rx_ms) * 1000000ull;
            node_lost(n, MLOS_ETIMEDOUT, why);
            goto again; /* callbacks may have changed the list */
        }
}

/* ---- listener ---- */

int mlos_cluster_listen(mlos_cluster_t *c, uv_loop_t *loop, const char *addr, const struct mlos_cluster_opts *o)
{
    static const struct mlos_cluster_opts defaults;
    void *user = c ? c->data : NULL;
    char why[256];
    uint8_t rnd[MLOS_REMOTE_NONCE];
    int rc;
    if (!c || !loop || !addr)
        return MLOS_EINVAL;
    memset(c, 0, sizeof(*c));
    c->data = user;
    c->loop = loop;
    c->o = o ? *o : defaults;
    if (!c->o.heartbeat_ms)
        c->o.heartbeat_ms = MLOS_CLUSTER_HEARTBEAT_MS;
    if (!c->o.heartbeat_timeout_ms)
        c->o.heartbeat_timeout_ms = MLOS_CLUSTER_HEARTBEAT_TIMEOUT_MS;
    if (!c->o.hello_timeout_ms)
        c->o.hello_timeout_ms = 10000;
    if (c->o.heartbeat_timeout_ms <= c->o.heartbeat_ms)
        return MLOS_EINVAL;
    if ((rc = mlos_remote_secret_load(&c->secret, c->o.secret, c->o.secret_file, c->o.insecure, why, sizeof(why))) <
        0) {
        fprintf(stderr, "mlos cluster: %s\n", why);
        return rc;
    }
    c->o.secret = c->o.secret_file = NULL; /* not kept: the caller's strings */
    if (!c->secret.len)
        fprintf(stderr, "mlos cluster: WARNING: accepting node agents without authentication (insecure)\n");
    /* epochs of different masters (or runs) do not collide */
    if (mlos_remote_nonce(rnd) < 0) {
        mlos_remote_secret_clear(&c->secret);
        return MLOS_EIO;
    }
    memcpy(&c->epoch_base, rnd, sizeof(c->epoch_base));
    c->epoch_base &= 0xfff00000u;
    /* "verbs:IP:PORT": agents over RC queue pairs (their messages are
     * two-sided sends there too) */
    if ((rc = mlos_domain_init(&c->dom, loop, strncmp(addr, "verbs:", 6) ? 0 : MLOS_DOMAIN_VERBS)) < 0) {
        mlos_remote_secret_clear(&c->secret);
        return rc;
    }
    c->lis.data = c;
    if ((rc = mlos_listen(&c->dom, &c->lis, addr, on_connection)) < 0) {
        mlos_domain_close(&c->dom);
        mlos_remote_secret_clear(&c->secret);
        return rc;
    }
    uv_timer_init(loop, &c->tick);
    c->tick.data = c;
    uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
    uv_check_init(loop, &c->check);
    (&c->check)->data = c;
    uv_check_start(&c->check, on_check);
    c->handles_open = 2;
    return 0;
}

int mlos_cluster_addr(const mlos_cluster_t *c, char *out, size_t cap)
{
    return c ? mlos_listener_addr(&c->lis, out, cap) : MLOS_EINVAL;
}

int mlos_cluster_wait_nodes(mlos_cluster_t *c, unsigned n, unsigned timeout_ms)
{
    uint64_t end = uv_hrtime() + timeout_ms * 1000000ull;
    while (c->nnodes < n && uv_hrtime() < end)
        uv_run(c->loop, UV_RUN_ONCE);
    return c->nnodes >= n ? 0 : MLOS_ETIMEDOUT;
}

mlos_node_t *mlos_cluster_node_at(mlos_cluster_t *c, unsigned i)
{
    for (mlos_node_t *n = c ? c->nodes : NULL; n; n = n->next)
        if (n->state == N_READY && i-- == 0)
            return n;
    return NULL;
}

mlos_node_t *mlos_cluster_node_by_id(mlos_cluster_t *c, uint32_t id)
{
    for (mlos_node_t *n = c ? c->nodes : NULL; n; n = n->next)
        if (n->id == id)
            return n;
    return NULL;
}

/* ---- placement ---- */

static size_t pl_nodes(void *ctx, uint32_t *ids, size_t cap)
{
    mlos_cluster_t *c = ctx;
    size_t k = 0;
    for (mlos_node_t *n = c->nodes; n; n = n->next)
        if (n->state == N_READY && (!n->max_shards || n->shards < n->max_shards)) {
            if (k < cap && ids)
                ids[k] = n->id;
            k++;
        }
    return k;
}

static int pl_spawn(void *ctx, uint32_t node, uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *o,
                    mlos_spawn_cb cb)
{
    mlos_cluster_t *c = ctx;
    mlos_node_t *n = mlos_cluster_node_by_id(c, node);
    if (loop != c->loop)
        return MLOS_EINVAL;
    return n ? mlos_node_spawn(n, shard, o, cb) : MLOS_ESHARDDIED;
}

struct mlos__node_win *mlos__node_shard_win(const mlos_shard_t *shard, mlos_node_t **n)
{
    const struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    const struct mlos_node_shard *rs = im && im->rops == &node_ops ? im->rctx : NULL;
    *n = rs ? rs->node : NULL;
    return rs ? rs->win : NULL;
}

const struct mlos_pool_placement *mlos_cluster_placement(mlos_cluster_t *c)
{
    c->placement.ctx = c;
    c->placement.nodes = pl_nodes;
    c->placement.spawn = pl_spawn;
    return &c->placement;
}

/* ---- close ---- */

static void maybe_closed(mlos_cluster_t *c)
{
    mlos_node_t *n;
    if (!c->closing || c->handles_open || c->closing == 2)
        return;
    c->closing = 2;
    while ((n = c->nodes)) {
        c->nodes = n->next;
        /* shards still open keep pointers into n: fail loudly rather than dangle */
        while (n->list) {
            struct mlos_node_shard *rs = n->list;
            n->list = rs->next;
            if (rs->im)
                rs->im->rctx = NULL, rs->im->fenced = 1;
            mlos__win_unref(rs->win);
            free(rs);
        }
        free(n);
    }
    mlos__win_cluster_free(c); /* registered staging memory, before the domain */
    mlos_domain_close(&c->dom);
    mlos_remote_secret_clear(&c->secret);
    while (put_cached)
        free(put_cache[--put_cached]);
    if (c->on_close)
        c->on_close(c);
}

static void handle_closed(uv_handle_t *h)
{
    mlos_cluster_t *c = h->data;
    c->handles_open--;
    maybe_closed(c);
}

void mlos_cluster_close(mlos_cluster_t *c, void (*cb)(mlos_cluster_t *c))
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    c->on_close = cb;
    mlos_listener_close(&c->lis);
    for (mlos_node_t *n = c->nodes; n; n = n->next) {
        /* the connection closes once BYE is out, so that the agent reads
         * it rather than a broken connection */
        if (n->state == N_READY && send_bye(n) == 0)
            n->bye_pending = 1;
        node_lost(n, MLOS_ESTOPPED, "the cluster closed");
    }
    uv_close((uv_handle_t *)&c->tick, handle_closed);
    uv_close((uv_handle_t *)&c->check, handle_closed);
}

static void close_sync_cb(mlos_cluster_t *c) { c->closing = 3; }

void mlos_cluster_close_sync(mlos_cluster_t *c)
{
    mlos_cluster_close(c, close_sync_cb);
    while (c->closing != 3)
        uv_run(c->loop, UV_RUN_ONCE);
    uv_run(c->loop, UV_RUN_NOWAIT); /* the listener's own handle */
}
