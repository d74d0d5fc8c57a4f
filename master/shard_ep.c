/* Messaging endpoints bound to spawned shards (mlos_shard_ep, in mlos.h):
 * the shm transport of rpc/msg/msg.h for shards whose memory the master shares
 * through their window -- bare-metal guests and process shards alike.
 *
 * Two-sided: a send is one MLOS_FRAME_MSG frame (request id = the user's
 * type) in the shard's to_shard ring; the shard's libos runtime hands it to
 * the handler set with mlos_shard_on_msg (libos/runtime/shard_msg.h) from its event
 * loop, and its answers come back the same way into ep->on_recv. A full
 * ring queues sends in order until the shard frees room.
 * One-sided: the shard's bulk window is the one remote region, named by the
 * rkey mlos_shard_rkey exports (a random key drawn at spawn); put/get are
 * copies into the shared mapping after the key and bounds are checked.
 * The endpoint fails with MLOS_ECONNRESET when the shard dies or stops. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "master_internal.h"
#include "msg_transport.h"

struct shard_ep {
    struct mlos_shard_impl *im;
    mlos_wr_t *q, *q_end; /* sends waiting for ring room */
    mlos_wr_t close_wr;   /* defers the close callback to the loop */
};

uint32_t mlos__shard_new_rkey(void)
{
    uint32_t k = 0;
    while (!k)
        if (getrandom(&k, sizeof(k), 0) != sizeof(k))
            k = (uint32_t)uv_hrtime() | 1;
    return k;
}

static void flush(struct shard_ep *se)
{
    struct mlos_shard_impl *im = se->im;
    int sent = 0;
    while (se->q && im) {
        mlos_wr_t *wr = se->q, *next = wr->next; /* completing reuses wr->next */
        int rc = mlos_ring_push(&im->to_shard, MLOS_FRAME_MSG, wr->type, wr->buf, (uint32_t)wr->len);
        if (rc == MLOS_EPROTO) {
            /* the shard moved our ring's consumer index where it cannot be */
            mlos__shard_fail(im, MLOS_EPROTO, "shard %u broke the protocol: it corrupted the message ring's index",
                             im->shard->id);
            break;
        }
        if (rc == MLOS_EAGAIN) {
            if (mlos_ring_producer_prepare_wait(&im->to_shard, (uint32_t)wr->len))
                continue;
            break; /* the shard rings us once it has consumed */
        }
        mlos_ring_producer_done_wait(&im->to_shard);
        se->q = next;
        if (!next)
            se->q_end = NULL;
        mlos__wr_complete(wr, rc);
        sent = 1;
    }
    if (sent)
        mlos__ring_shard(im);
}

void mlos__shard_ep_drain(struct mlos_shard_impl *im)
{
    if (im->ep && im->ep->impl)
        flush(im->ep->impl);
}

static void fail_all(struct shard_ep *se, int status)
{
    mlos_wr_t *w = se->q;
    se->q = se->q_end = NULL;
    while (w) {
        mlos_wr_t *next = w->next;
        mlos__wr_complete(w, status);
        w = next;
    }
}

/* The shard is going away: the endpoint is unusable from now on. */
void mlos__shard_ep_gone(struct mlos_shard_impl *im)
{
    mlos_ep_t *ep = im->ep;
    if (!ep)
        return;
    im->ep = NULL;
    if (ep->impl) {
        struct shard_ep *se = ep->impl;
        se->im = NULL;
        fail_all(se, MLOS_ECONNRESET);
    }
    mlos__ep_failed(ep, MLOS_ECONNRESET);
}

static int ep_post(mlos_ep_t *ep, mlos_wr_t *wr)
{
    struct shard_ep *se = ep->impl;
    struct mlos_shard_impl *im = se ? se->im : NULL;
    if (!im)
        return MLOS_ECONNRESET;
    if (wr->op == MLOS_WR_SEND) {
        if (wr->len > im->to_shard.max_payload)
            return MLOS_ETOOBIG;
        wr->next = NULL;
        if (se->q_end)
            se->q_end->next = wr;
        else
            se->q = wr;
        se->q_end = wr;
        flush(se);
        return 0;
    }
    /* One-sided: the only remote region is the bulk window. */
    int rc = 0;
    if (wr->remote.rkey != im->bulk_rkey)
        rc = MLOS_EKEY;
    else if (wr->remote_off > im->bulk_len || wr->len > im->bulk_len - wr->remote_off)
        rc = MLOS_ERANGE;
    else if (wr->op == MLOS_WR_PUT)
        mlos_put(im->shard, wr->remote_off, (uint8_t *)wr->local->addr + wr->local_off, wr->len);
    else
        mlos_get(im->shard, wr->remote_off, (uint8_t *)wr->local->addr + wr->local_off, wr->len);
    mlos__wr_complete(wr, rc);
    return 0;
}

static void closed_cb(mlos_wr_t *wr, int status)
{
    mlos_ep_t *ep = wr->data;
    free(ep->impl);
    ep->impl = NULL;
    mlos__ep_closed(ep);
}

static void ep_close(mlos_ep_t *ep)
{
    struct shard_ep *se = ep->impl;
    if (se->im && se->im->ep == ep)
        se->im->ep = NULL;
    se->im = NULL;
    fail_all(se, MLOS_ECONNRESET);
    memset(&se->close_wr, 0, sizeof(se->close_wr));
    se->close_wr.data = ep;
    se->close_wr.ep = ep;
    se->close_wr.cb = closed_cb;
    mlos__wr_complete(&se->close_wr, 0); /* after every request's completion */
}

static const struct mlos_transport window_transport = {
    .name = "shard",
    .close = ep_close,
    .post = ep_post,
};

int mlos_shard_ep(mlos_domain_t *dom, mlos_shard_t *shard, mlos_ep_t *ep)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    struct shard_ep *se;
    if (!dom || !dom->mrs || !ep || !im)
        return MLOS_EINVAL;
    if (im->state != SHARD_READY)
        return MLOS_ESTOPPED;
    if (im->rops)
        return MLOS_ENOTSUP; /* no window of ours: messaging goes to the node's agent */
    if (im->ep)
        return MLOS_EINVAL; /* one endpoint per shard */
    if (!(se = calloc(1, sizeof(*se))))
        return MLOS_ENOMEM;
    mlos__ep_init(ep, dom, &window_transport);
    ep->impl = se;
    ep->state = MLOS_EP_OPEN;
    se->im = im;
    im->ep = ep;
    return 0;
}

int mlos_shard_rkey(mlos_shard_t *shard, struct mlos_rkey *out)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    if (!im || !out)
        return MLOS_EINVAL;
    memset(out, 0, sizeof(*out));
    out->addr = (uint64_t)(uintptr_t)im->bulk;
    out->len = im->bulk_len;
    out->rkey = im->bulk_rkey;
    out->access = MLOS_ACCESS_REMOTE_READ | MLOS_ACCESS_REMOTE_WRITE;
    return 0;
}
