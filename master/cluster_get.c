/* master/cluster_get.c -- mlos_node_get over a link without RDMA: GET
 * requests answered by the agent with the window's bytes (GET_DATA; wire
 * protocol rpc/abi/node_proto.h, public API cluster.h).
 *
 * A get is split into requests of at most MLOS_NODE_GET_MAX bytes, at most
 * GET_INFLIGHT of them out at once, so what the agent queues for one get
 * stays bounded. The agent answers each in order on the one connection:
 * the bytes it reads are those after every PUT and every REPLY it sent
 * before the GET, so a get issued after a call's reply sees what the call
 * wrote. Every GET_DATA is checked against the request it names (id,
 * shard, the next offset, the length left); one that does not fit is a
 * lying agent, and its node is lost.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_get.h"
#include "mlos_endian.h"
#include "node_proto.h"

#define GET_INFLIGHT 2u

struct get_op { /* one mlos_node_get */
    mlos_node_t *n;
    uint32_t shard;
    uint8_t *dst;
    size_t off, len;
    size_t asked;      /* bytes requested so far */
    unsigned inflight; /* requests out */
    int status;        /* the first failure */
    mlos_node_rdma_cb cb;
    void *arg;
};

struct get_req { /* one GET on the wire */
    struct get_op *g;
    uint32_t id;
    size_t base, len, got; /* base: offset in the get */
    struct get_req *next;
};

static int issue(struct get_op *g)
{
    mlos_node_t *n = g->n;
    while (g->inflight < GET_INFLIGHT && g->asked < g->len && !g->status) {
        size_t k = g->len - g->asked < MLOS_NODE_GET_MAX ? g->len - g->asked : MLOS_NODE_GET_MAX;
        struct get_req *r = calloc(1, sizeof(*r));
        uint8_t b[MLOS_NODE_GET_SIZE];
        int rc;
        if (!r)
            return MLOS_ENOMEM;
        r->g = g;
        r->id = ++n->get_seq ? n->get_seq : ++n->get_seq; /* 0 is never an id */
        r->base = g->asked;
        r->len = k;
        mlos_put_le64(b, (uint64_t)(g->off + g->asked));
        mlos_put_le64(b + 8, (uint64_t)k);
        if ((rc = mlos__node_send(n, MLOS_NODE_GET, g->shard, r->id, 0, b, sizeof(b), NULL, 0)) < 0) {
            free(r);
            return rc == MLOS_ECONNRESET ? MLOS_ESHARDDIED : rc;
        }
        r->next = n->gets;
        n->gets = r;
        g->asked += k;
        g->inflight++;
    }
    return 0;
}

int mlos__node_tcp_get(mlos_node_t *n, uint32_t shard, size_t bulk_len, size_t offset, void *dst, size_t len,
                       mlos_node_rdma_cb cb, void *arg)
{
    struct get_op *g;
    int rc;
    if (!dst || !len)
        return MLOS_EINVAL;
    if (n->lost)
        return MLOS_ESHARDDIED;
    if (offset > bulk_len || len > bulk_len - offset)
        return MLOS_ERANGE;
    if (!(g = calloc(1, sizeof(*g))))
        return MLOS_ENOMEM;
    g->n = n;
    g->shard = shard;
    g->dst = dst;
    g->off = offset;
    g->len = len;
    g->cb = cb;
    g->arg = arg;
    if ((rc = issue(g)) < 0 && !g->inflight) {
        free(g);
        return rc;
    }
    if (rc < 0)
        g->status = rc; /* the requests out still end it */
    return 0;
}

static void unlink_req(mlos_node_t *n, struct get_req *r)
{
    struct get_req *prev = NULL;
    for (struct get_req *q = n->gets; q; prev = q, q = q->next)
        if (q == r) {
            if (prev)
                prev->next = r->next;
            else
                n->gets = r->next;
            return;
        }
}

/* A request ended (all its bytes, or an error): maybe the get. */
static void req_end(mlos_node_t *n, struct get_req *r, int status)
{
    struct get_op *g = r->g;
    unlink_req(n, r);
    free(r);
    g->inflight--;
    if (status < 0 && !g->status)
        g->status = status;
    if (!g->status && g->asked < g->len) {
        int rc = issue(g);
        if (rc < 0)
            g->status = rc;
    }
    if (g->inflight)
        return;
    if (!g->status)
        n->get_bytes += g->len;
    g->cb(g->arg, g->status);
    free(g);
}

const char *mlos__node_get_data(mlos_node_t *n, const struct mlos_node_hdr *h, const uint8_t *p, size_t len)
{
    struct get_req *r;
    uint64_t at;
    int32_t err = (int32_t)h->aux;
    for (r = n->gets; r && r->id != h->req; r = r->next)
        ;
    if (!r || !h->req)
        return "GET_DATA for no GET it was sent";
    if (r->g->shard != h->shard) {
        req_end(n, r, MLOS_EPROTO);
        return "GET_DATA for another shard than its GET";
    }
    if (err) {
        if (len || err > 0 || err < -1000) {
            req_end(n, r, MLOS_EPROTO);
            return "malformed GET_DATA error";
        }
        req_end(n, r, err == MLOS_ERANGE || err == MLOS_EINVAL ? err : MLOS_ESHARDDIED);
        return NULL;
    }
    if (len < 8) {
        req_end(n, r, MLOS_EPROTO);
        return "GET_DATA too short";
    }
    at = mlos_get_le64(p);
    p += 8;
    len -= 8;
    /* in order, within the request, not empty, not longer than a piece */
    if (at != r->got || !len || len > MLOS_NODE_GET_CHUNK || len > r->len - r->got) {
        req_end(n, r, MLOS_EPROTO);
        return "GET_DATA of the wrong offset or length";
    }
    memcpy(r->g->dst + r->base + r->got, p, len);
    r->got += len;
    if (r->got == r->len)
        req_end(n, r, 0);
    return NULL;
}

void mlos__node_gets_fail(mlos_node_t *n, int err)
{
    while (n->gets)
        req_end(n, n->gets, err);
}
