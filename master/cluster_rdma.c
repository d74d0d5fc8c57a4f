/* master/cluster_rdma.c -- puts and gets of remote shards by RDMA straight
 * into the slave's window, over a verbs link to its agent (cluster_rdma.h;
 * protocol: the end of rpc/abi/node_proto.h).
 *
 * A put is staged once in registered memory here (mlos_put's caller may
 * reuse its buffer on return), written with RDMA WRITE to the address in
 * the agent's region over the slave's window, and followed by a PUT_RDMA
 * notice on the same connection. The queue pair is reliable and ordered,
 * so the data is in the slave's memory before the agent sees the notice or
 * any CALL sent after the put: the same put-before-call order as over tcp,
 * with no copy on the node.
 *
 * If the agent's NIC refuses a WRITE to a window that is still live for
 * us, the data did not arrive: the shard is failed (MLOS_EPROTO) rather
 * than left to compute on what is not there. Refusals for a window already
 * dead here are the race the epochs exist for; the agent answers them
 * PUT_STALE.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_get.h"
#include "cluster_rdma.h"
#include "mlos_endian.h"
#include "node_proto.h"

_Static_assert(MLOS_NODE_WINKEY_SIZE == MLOS_RKEY_WIRE_SIZE + 8u, "window key: an rkey, epoch, zero");

struct mlos__node_win {
    struct mlos_node_window pub;
    struct mlos_shard_impl *im; /* NULL once the handle is released */
    int dead;                   /* no more RDMA to it */
    int released;               /* the handle let go of it */
    unsigned inflight;          /* RDMA requests using it, not completed */
};

/* Staging: pieces of at most STAGE_BYTES, registered once and kept for
 * reuse (a few; more are made while a burst of puts is in flight). */
#define STAGE_BYTES (1u << 20)
#define STAGE_KEEP 40u

struct stage {
    mlos_wr_t wr;
    mlos_mr_t mr;
    mlos_cluster_t *c;
    mlos_node_t *n;
    struct mlos__node_win *w;
    uint32_t shard;
    size_t len;
    struct stage *next;
    uint8_t *buf;
};

struct cluster_rdma {
    struct stage *free_list;
    unsigned nfree;
};

/* A get or a put of the caller's own memory: registered for the request. */
struct direct {
    mlos_wr_t wr;
    mlos_mr_t mr;
    mlos_node_t *n;
    struct mlos__node_win *w; /* NULL for mlos_node_put_window */
    int get;
    size_t len;
    mlos_node_rdma_cb cb;
    void *arg;
};

static void win_maybe_free(struct mlos__node_win *w)
{
    if (w->released && !w->inflight)
        free(w);
}

int mlos__win_parse(struct mlos_shard_impl *im, const uint8_t *key, size_t klen, uint64_t bulk_len,
                    struct mlos__node_win **out)
{
    struct mlos__node_win *w;
    struct mlos_rkey k;
    uint32_t epoch;
    *out = NULL;
    if (klen != MLOS_NODE_WINKEY_SIZE || mlos_rkey_decode(key, klen, &k) < 0)
        return MLOS_EPROTO;
    epoch = mlos_get_le32(key + MLOS_RKEY_WIRE_SIZE);
    /* exactly the window, both rights, a NIC key, nothing in the unused fields */
    if (!epoch || mlos_get_le32(key + MLOS_RKEY_WIRE_SIZE + 4) || !k.addr || k.len != bulk_len || !bulk_len ||
        k.addr + k.len < k.addr || !k.verbs_rkey ||
        k.access != (MLOS_ACCESS_REMOTE_READ | MLOS_ACCESS_REMOTE_WRITE) || k.rkey || k.secret)
        return MLOS_EPROTO;
    if (!(w = calloc(1, sizeof(*w))))
        return MLOS_ENOMEM;
    w->pub.key = k;
    w->pub.epoch = epoch;
    w->im = im;
    *out = w;
    return 0;
}

int mlos__win_live(const struct mlos__node_win *w) { return w && !w->dead; }

void mlos__win_dead(mlos_node_t *n, uint32_t shard, struct mlos__node_win *w, int release)
{
    if (!w || w->dead)
        return;
    w->dead = 1;
    if (release && n && !n->lost) /* after everything posted to it: the agent may deregister */
        (void)mlos__node_send(n, MLOS_NODE_WIN_RELEASE, shard, 0, w->pub.epoch, NULL, 0, NULL, 0);
}

void mlos__win_unref(struct mlos__node_win *w)
{
    if (!w)
        return;
    w->dead = 1;
    w->im = NULL;
    w->released = 1;
    win_maybe_free(w);
}

/* ---- staging ---- */

static struct cluster_rdma *rdma_of(mlos_cluster_t *c)
{
    if (!c->rdma)
        c->rdma = calloc(1, sizeof(struct cluster_rdma));
    return c->rdma;
}

static struct stage *stage_get(mlos_cluster_t *c)
{
    struct cluster_rdma *r = rdma_of(c);
    struct stage *st;
    if (!r)
        return NULL;
    if ((st = r->free_list)) {
        r->free_list = st->next;
        r->nfree--;
        return st;
    }
    if (!(st = calloc(1, sizeof(*st))))
        return NULL;
    if (!(st->buf = aligned_alloc(4096, STAGE_BYTES)) ||
        mlos_mr_reg(&c->dom, &st->mr, st->buf, STAGE_BYTES, MLOS_ACCESS_LOCAL) < 0) {
        free(st->buf);
        free(st);
        return NULL;
    }
    st->c = c;
    return st;
}

static void stage_free(struct stage *st)
{
    mlos_mr_dereg(&st->mr);
    free(st->buf);
    free(st);
}

static void stage_put(struct stage *st)
{
    struct cluster_rdma *r = st->c->rdma;
    if (r && r->nfree < STAGE_KEEP && !st->c->closing) {
        st->next = r->free_list;
        r->free_list = st;
        r->nfree++;
    } else
        stage_free(st);
}

void mlos__win_cluster_free(mlos_cluster_t *c)
{
    struct cluster_rdma *r = c->rdma;
    if (!r)
        return;
    while (r->free_list) {
        struct stage *st = r->free_list;
        r->free_list = st->next;
        stage_free(st);
    }
    free(r);
    c->rdma = NULL;
}

/* A WRITE the agent's NIC refused, for a window still live here: the
 * bytes are not in the slave's memory, so the shard must not go on. */
static void put_lost(struct mlos__node_win *w, mlos_node_t *n, uint32_t shard, int status)
{
    n->rdma_refused++;
    if (status == MLOS_ECONNRESET || w->dead || !w->im)
        return; /* the node is lost, or the shard is gone already: settled elsewhere */
    mlos__shard_fail(w->im, MLOS_EPROTO, "shard %u on node %s: an RDMA put into its window failed (%s)", shard,
                     n->name, mlos_strerror(status));
    w->dead = 1;
    mlos__fence(w->im);
}

static void put_done(mlos_wr_t *wr, int status)
{
    struct stage *st = wr->data;
    struct mlos__node_win *w = st->w;
    mlos_node_t *n = st->n;
    n->out_bytes -= st->len;
    w->inflight--;
    if (status == 0)
        n->rdma_put_bytes += st->len;
    else
        put_lost(w, n, st->shard, status);
    st->w = NULL;
    stage_put(st);
    win_maybe_free(w);
}

static int notice(mlos_node_t *n, uint32_t shard, uint32_t epoch, uint32_t rkey, uint64_t off, uint64_t len)
{
    uint8_t b[MLOS_NODE_PUT_RDMA_SIZE];
    mlos_put_le64(b, off);
    mlos_put_le64(b + 8, len);
    mlos_put_le32(b + 16, rkey);
    mlos_put_le32(b + 20, 0);
    return mlos__node_send(n, MLOS_NODE_PUT_RDMA, shard, 0, epoch, b, sizeof(b), NULL, 0);
}

int mlos__win_put(mlos_node_t *n, uint32_t shard, struct mlos__node_win *w, size_t off, const void *src, size_t len)
{
    int rc = 0;
    if (!mlos__win_live(w) || n->lost)
        return MLOS_ESHARDDIED;
    if (off > w->pub.key.len || len > w->pub.key.len - off)
        return MLOS_ERANGE;
    for (size_t done = 0; done < len;) {
        size_t k = len - done < STAGE_BYTES ? len - done : STAGE_BYTES;
        struct stage *st = stage_get(n->c);
        if (!st) {
            rc = MLOS_ENOMEM;
            break;
        }
        memcpy(st->buf, (const uint8_t *)src + done, k);
        st->n = n;
        st->w = w;
        st->shard = shard;
        st->len = k;
        st->wr.data = st;
        if ((rc = mlos_ep_put(&n->ep, &st->wr, &st->mr, 0, &w->pub.key, off + done, k, put_done)) < 0) {
            st->w = NULL;
            stage_put(st);
            break;
        }
        w->inflight++;
        n->out_bytes += k;
        done += k;
    }
    /* Even after a partial failure: the agent learns the put was tried. A
     * failed post means the connection broke (the node is being lost) or
     * memory ran out; either way the shard cannot be trusted with this
     * put's data. */
    int nrc = notice(n, shard, w->pub.epoch, w->pub.key.verbs_rkey, off, len);
    if (rc == 0)
        rc = nrc;
    if (rc < 0 && rc != MLOS_ECONNRESET && w->im) {
        mlos__shard_fail(w->im, MLOS_EPROTO, "shard %u on node %s: an RDMA put could not be posted (%s)", shard,
                         n->name, mlos_strerror(rc));
        w->dead = 1;
        mlos__fence(w->im);
    }
    return rc == MLOS_ECONNRESET ? MLOS_ESHARDDIED : rc;
}

/* ---- the public calls (cluster.h) ---- */

/* The live window of a ready cluster shard: 0, *n and *w; MLOS_EINVAL (not
 * a cluster shard), MLOS_ENOTSUP (its agent copies puts), MLOS_ESHARDDIED. */
static int ready_win(const mlos_shard_t *shard, mlos_node_t **n, struct mlos__node_win **w)
{
    *w = mlos__node_shard_win(shard, n);
    if (!*n)
        return MLOS_EINVAL;
    if (!*w)
        return MLOS_ENOTSUP;
    if ((*w)->dead || !shard->impl || shard->impl->state != SHARD_READY)
        return MLOS_ESHARDDIED;
    return 0;
}

int mlos_node_shard_window(const mlos_shard_t *shard, struct mlos_node_window *out)
{
    mlos_node_t *n;
    struct mlos__node_win *w;
    int rc;
    if (!shard || !out)
        return MLOS_EINVAL;
    if ((rc = ready_win(shard, &n, &w)) < 0)
        return rc;
    *out = w->pub;
    return 0;
}

static void direct_done(mlos_wr_t *wr, int status)
{
    struct direct *d = wr->data;
    mlos_mr_dereg(&d->mr);
    if (status == 0) {
        if (d->get)
            d->n->rdma_get_bytes += d->len;
        else
            d->n->rdma_put_bytes += d->len;
    } else
        d->n->rdma_refused++;
    if (d->w) {
        d->w->inflight--;
        win_maybe_free(d->w);
    }
    if (d->cb)
        d->cb(d->arg, status);
    free(d);
}

static int direct_post(mlos_node_t *n, struct mlos__node_win *w, const struct mlos_rkey *key, int get,
                       uint64_t off, void *buf, size_t len, mlos_node_rdma_cb cb, void *arg)
{
    struct direct *d;
    int rc;
    if (!len || !buf)
        return MLOS_EINVAL;
    if (n->lost)
        return MLOS_ESHARDDIED;
    if (off > key->len || len > key->len - off)
        return MLOS_ERANGE;
    if (!(d = calloc(1, sizeof(*d))))
        return MLOS_ENOMEM;
    if ((rc = mlos_mr_reg(&n->c->dom, &d->mr, buf, len, MLOS_ACCESS_LOCAL)) < 0) {
        free(d);
        return rc;
    }
    d->n = n;
    d->w = w;
    d->get = get;
    d->len = len;
    d->cb = cb;
    d->arg = arg;
    d->wr.data = d;
    rc = get ? mlos_ep_get(&n->ep, &d->wr, &d->mr, 0, key, off, len, direct_done)
             : mlos_ep_put(&n->ep, &d->wr, &d->mr, 0, key, off, len, direct_done);
    if (rc < 0) {
        mlos_mr_dereg(&d->mr);
        free(d);
        return rc == MLOS_ECONNRESET ? MLOS_ESHARDDIED : rc;
    }
    if (w)
        w->inflight++;
    return 0;
}

int mlos_node_get(mlos_shard_t *shard, size_t offset, void *dst, size_t len, mlos_node_rdma_cb cb, void *arg)
{
    mlos_node_t *n;
    struct mlos__node_win *w;
    int rc;
    if (!shard || !cb)
        return MLOS_EINVAL;
    if ((rc = ready_win(shard, &n, &w)) == MLOS_ENOTSUP) { /* no RDMA window: the agent reads it for us */
        if (shard->impl->state != SHARD_READY || shard->impl->fenced)
            return MLOS_ESHARDDIED;
        return mlos__node_tcp_get(n, shard->id, shard->impl->bulk_len, offset, dst, len, cb, arg);
    }
    if (rc < 0)
        return rc;
    return direct_post(n, w, &w->pub.key, 1, offset, dst, len, cb, arg);
}

int mlos_node_put_window(mlos_node_t *n, uint32_t shard_id, const struct mlos_node_window *w, uint64_t offset,
                         void *src, size_t len, mlos_node_rdma_cb cb, void *arg)
{
    int rc;
    if (!n || !w || !cb)
        return MLOS_EINVAL;
    if ((rc = direct_post(n, NULL, &w->key, 0, offset, src, len, cb, arg)) < 0)
        return rc;
    (void)notice(n, shard_id, w->epoch, w->key.verbs_rkey, offset, len); /* a failure shows as the node's loss */
    return 0;
}
