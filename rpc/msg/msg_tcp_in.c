/* Input side of the tcp transport: the read buffer, payload sinks for
 * frames bigger than it, serving one-sided requests as their target and
 * matching replies as their initiator (msg_tcp_ep.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_tcp_ep.h"

static void finish_reply(struct tcp_ep *t, int status)
{
    struct frame *f = fifo_pop(&t->rma);
    t->own_rma--;
    if (status && !t->rma_err)
        t->rma_err = status;
    if (f->last) {
        mlos__wr_complete(f->wr, t->rma_err);
        t->rma_err = 0;
    }
    mlos__tcp_frame_free(t, f);
}

/* Where a GET piece's bytes [done, done+n) land, or NULL if the local
 * region went away (deregistered while the request was outstanding). */
static uint8_t *get_dest(struct tcp_ep *t, const struct frame *f, size_t done, size_t n)
{
    mlos_mr_t *mr = f->wr->local;
    if (mr->dom != t->ep->dom || mlos_mr_check(mr->dom, mr->lkey, mr->secret, f->local_off + done, n, 0, NULL) < 0)
        return NULL;
    return (uint8_t *)mr->addr + f->local_off + done;
}

/* Where the current payload's next n bytes go; NULL: discard them. PUT and
 * GET destinations are checked right before every copy, so a region
 * revoked mid-transfer is never written. */
static uint8_t *sink_ptr(struct tcp_ep *t, size_t n)
{
    mlos_mr_t *mr;
    uint64_t off = t->sink.h.off + t->sink.done;
    uint8_t *d;

    if (t->sink.status)
        return NULL;
    switch (t->sink.kind) {
    case SINK_SEND:
        return t->sink.dest + t->sink.done;
    case SINK_PUT:
        t->sink.status =
            mlos_mr_check(t->ep->dom, t->sink.h.arg, t->sink.h.key, off, n, MLOS_ACCESS_REMOTE_WRITE, &mr);
        return t->sink.status ? NULL : (uint8_t *)mr->addr + off;
    case SINK_GET:
        if (!(d = get_dest(t, t->rma.head, t->sink.done, n)))
            t->sink.status = MLOS_EKEY;
        return d;
    case SINK_PLACE:
        /* by key, not by the caller's pointer: a region deregistered since
         * (its struct maybe gone) no longer matches */
        off = t->sink.pl.off + (t->sink.done - t->sink.pl.head_len);
        if ((t->sink.status = mlos_mr_check(t->ep->dom, t->sink.pl_key, t->sink.pl_secret, off, n, 0, &mr)) < 0) {
            t->sink.status = MLOS_EKEY;
            return NULL;
        }
        return (uint8_t *)mr->addr + off;
    default:
        return NULL;
    }
}

static void sink_finish(struct tcp_ep *t)
{
    struct mlos_tcp_hdr h = t->sink.h;
    uint8_t *msg = t->sink.dest;

    /* a payload bigger than the read buffer: more may follow (not after
     * small placed messages, which arrive many to a read) */
    t->after_stream = MLOS_TCP_HDR_SIZE + (size_t)h.len > TCP_RBUF_CAP;
    if (t->sink.kind == SINK_PLACE) {
        t->sink.kind = SINK_NONE;
        if (!t->torn && ++t->owed >= TCP_CREDIT_BATCH)
            mlos__tcp_kick(t);
        __atomic_thread_fence(__ATOMIC_RELEASE); /* the bytes before whatever on_placed tells */
        t->ep->on_placed(t->ep, &t->sink.pl, t->sink.status);
        return;
    }
    t->sink.kind = SINK_NONE;
    if (h.op == MLOS_TCP_SEND) {
        mlos__ep_deliver(t->ep, h.arg, msg, h.len);
        free(msg);
        if (!t->torn && ++t->owed >= TCP_CREDIT_BATCH)
            mlos__tcp_kick(t);
    } else if (h.op == MLOS_TCP_PUT) {
        mlos__tcp_reply(t, MLOS_TCP_PUT_ACK, h.id, t->sink.status, NULL, 0);
    } else {
        finish_reply(t, t->sink.status);
    }
}

/* Feed n payload bytes from the read buffer to the current sink. */
static void sink_feed(struct tcp_ep *t, const uint8_t *p, size_t n)
{
    uint8_t *d = n ? sink_ptr(t, n) : NULL;
    if (d)
        memcpy(d, p, n);
    t->sink.done += n;
}

/* Checks common to replies: they must answer the oldest request. */
static struct frame *match_reply(struct tcp_ep *t, const struct mlos_tcp_hdr *h)
{
    struct frame *f = t->rma.head;
    uint8_t want = h->op == MLOS_TCP_PUT_ACK ? MLOS_TCP_PUT : MLOS_TCP_GET;
    if (!f || f->h.op != want || f->h.id != h->id) {
        mlos__tcp_proto_fail(t, MLOS_EPROTO, "reply does not match the oldest outstanding request");
        return NULL;
    }
    if (h->op == MLOS_TCP_GET_DATA && !h->arg && h->len != f->h.len) {
        mlos__tcp_proto_fail(t, MLOS_EPROTO, "GET_DATA length differs from the request");
        return NULL;
    }
    return f;
}

/* The peer named a region that does not exist (reply already queued):
 * a few such keys are a broken or guessing peer, not bad luck. */
static void count_key(struct tcp_ep *t, int st)
{
    char why[128];
    if (st != MLOS_EKEY || ++t->bad_keys <= MLOS_EP_MAX_BAD_KEYS)
        return;
    snprintf(why, sizeof(why), "it presented %u region keys that match no region (guessing?)", t->bad_keys);
    mlos__tcp_abort(t, MLOS_EKEY, why);
}

static struct mlos_log_limit abort_log;

static const char *abort_reason(int status)
{
    return status == MLOS_EKEY ? "this side presented too many region keys that match no region there"
                               : "this side broke the protocol";
}

/* A frame whose payload (if any) is entirely at p. */
static void handle_frame(struct tcp_ep *t, const struct mlos_tcp_hdr *h, const uint8_t *p)
{
    mlos_mr_t *mr;
    struct frame *f;
    int st;

    switch (h->op) {
    case MLOS_TCP_SEND:
        mlos__ep_deliver(t->ep, h->arg, p, h->len);
        if (!t->torn && ++t->owed >= TCP_CREDIT_BATCH)
            mlos__tcp_kick(t);
        return;
    case MLOS_TCP_CREDIT:
        return;
    case MLOS_TCP_PUT:
        st = mlos_mr_check(t->ep->dom, h->arg, h->key, h->off, h->len, MLOS_ACCESS_REMOTE_WRITE, &mr);
        if (!st && h->len)
            memcpy((uint8_t *)mr->addr + h->off, p, h->len);
        if (mlos__tcp_reply(t, MLOS_TCP_PUT_ACK, h->id, st, NULL, 0) == 0)
            count_key(t, st);
        return;
    case MLOS_TCP_GET: {
        void *copy = NULL;
        st = mlos_mr_check(t->ep->dom, h->arg, h->key, h->off, h->len, MLOS_ACCESS_REMOTE_READ, &mr);
        if (!st && h->len) {
            /* a copy: the region may be revoked before the write completes */
            if (!(copy = malloc(h->len))) {
                mlos__tcp_fail(t, MLOS_ECONNRESET);
                return;
            }
            memcpy(copy, (uint8_t *)mr->addr + h->off, h->len);
        }
        if (mlos__tcp_reply(t, MLOS_TCP_GET_DATA, h->id, st, copy, st ? 0 : h->len) == 0)
            count_key(t, st);
        return;
    }
    case MLOS_TCP_ABORT:
        if (mlos__log_allowed(&abort_log))
            fprintf(stderr, "mlos tcp: the peer closed the connection: %s\n", abort_reason(mlos_tcp_status(h)));
        mlos__tcp_fail(t, mlos_tcp_status(h));
        return;
    case MLOS_TCP_PUT_ACK:
        if (match_reply(t, h))
            finish_reply(t, (int32_t)h->arg);
        return;
    default: /* GET_DATA */
        if (!(f = match_reply(t, h)))
            return;
        if (!h->arg) {
            uint8_t *d = get_dest(t, f, 0, h->len);
            if (!d) {
                finish_reply(t, MLOS_EKEY);
                return;
            }
            memcpy(d, p, h->len);
        }
        finish_reply(t, (int32_t)h->arg);
        return;
    }
}

/* Start streaming a payload too big for the read buffer. */
static void sink_start(struct tcp_ep *t, const struct mlos_tcp_hdr *h)
{
    t->sink.h = *h;
    t->sink.done = 0;
    t->sink.dest = NULL;
    t->sink.status = 0;
    switch (h->op) {
    case MLOS_TCP_SEND:
        if (!(t->sink.dest = malloc(h->len))) {
            mlos__tcp_fail(t, MLOS_ECONNRESET);
            return;
        }
        t->sink.kind = SINK_SEND;
        return;
    case MLOS_TCP_PUT:
        /* the whole range first: nothing is written if any of it is refused */
        t->sink.status = mlos_mr_check(t->ep->dom, h->arg, h->key, h->off, h->len, MLOS_ACCESS_REMOTE_WRITE, NULL);
        t->sink.kind = SINK_PUT;
        count_key(t, t->sink.status);
        return;
    default: /* GET_DATA with data */
        if (!match_reply(t, h))
            return;
        if (!get_dest(t, t->rma.head, 0, h->len))
            t->sink.status = MLOS_EKEY; /* discard, complete with MLOS_EKEY */
        t->sink.kind = SINK_GET;
        return;
    }
}

/* Offer a SEND to on_place (its first place_head payload bytes are at
 * head). 1: taken (placed or refused: the sink reads the rest), 0: passed on
 * to the usual delivery. Nothing is consumed from the read buffer here. */
static int place_offer(struct tcp_ep *t, const struct mlos_tcp_hdr *h, const uint8_t *head)
{
    mlos_ep_t *ep = t->ep;
    struct mlos_place *pl = &t->sink.pl;
    size_t rest;
    int rc;

    memset(pl, 0, sizeof(*pl));
    pl->type = h->arg;
    pl->len = h->len;
    pl->head_len = ep->place_head;
    memcpy(pl->head, head, pl->head_len);
    rc = ep->on_place(ep, pl);
    if (rc >= 0 && !pl->mr)
        return 0;
    rest = pl->len - pl->head_len;
    t->sink.h = *h;
    t->sink.kind = SINK_PLACE;
    t->sink.done = pl->head_len;
    t->sink.dest = NULL;
    t->sink.status = rc < 0 ? rc : 0;
    if (!t->sink.status) {
        /* the whole range before any byte lands */
        mlos_mr_t *mr = pl->mr;
        if (mr->dom != ep->dom)
            t->sink.status = MLOS_EKEY;
        else
            t->sink.status = mlos_mr_check(ep->dom, mr->lkey, mr->secret, pl->off, rest, 0, NULL);
        t->sink.pl_key = mr->lkey;
        t->sink.pl_secret = mr->secret;
    }
    return 1;
}

/* Apply the header's piggy-backed credit and receive accounting. */
static int account(struct tcp_ep *t, const struct mlos_tcp_hdr *h)
{
    if (h->credit) {
        if (t->credits + h->credit > MLOS_EP_CREDITS) {
            mlos__tcp_proto_fail(t, MLOS_EPROTO, "peer returned more credits than it was given");
            return -1;
        }
        t->credits += h->credit;
        mlos__tcp_release_waiting(t);
    }
    if (h->op == MLOS_TCP_SEND && ++t->recv_unacked > MLOS_EP_CREDITS) {
        mlos__tcp_proto_fail(t, MLOS_EPROTO, "peer sent more messages than it had credits");
        return -1;
    }
    return 0;
}

/* May a request that makes us owe a reply be served now? 0: yes; else
 * reading pauses (or, past the hard limit, the endpoint is closed). */
static int over_bound(struct tcp_ep *t)
{
    if (t->out_bytes <= MLOS_EP_OUT_SOFT)
        return 0;
    if (t->own_rma) {
        /* our own requests wait for this peer's replies: pausing could
         * deadlock two peers that both wait; only the hard limit applies */
        if (t->out_bytes <= MLOS_EP_OUT_HARD)
            return 0;
        fprintf(stderr, "mlos tcp: dropping a peer that owes us reads of %zu reply bytes\n", t->out_bytes);
        mlos__tcp_fail(t, MLOS_ECONNRESET);
        return 1;
    }
    t->paused = 1;
    uv_read_stop((uv_stream_t *)&t->tcp);
    mlos__tcp_arm_idle(t);
    return 1;
}

/* Consume whatever the read buffer holds. Stops as soon as the endpoint is
 * torn down (a recv callback may close it), aborting, or paused. */
static void process(struct tcp_ep *t)
{
    while (!t->torn && !t->aborting && !t->paused) {
        size_t avail = t->rlen - t->rpos;
        const uint8_t *p = t->rbuf + t->rpos;
        struct mlos_tcp_hdr h;
        const char *why = NULL;
        uint32_t plen;
        int rc;

        if (t->sink.kind != SINK_NONE) {
            size_t n = t->sink.h.len - t->sink.done;
            if (n > avail)
                n = avail;
            sink_feed(t, p, n);
            t->rpos += n;
            if (t->sink.done < t->sink.h.len)
                break;
            sink_finish(t);
            continue;
        }
        if (!t->peer_hello) {
            struct mlos_tcp_hello hello;
            if (avail < MLOS_TCP_HELLO_SIZE)
                break;
            if ((rc = mlos_tcp_hello_decode(p, avail, &hello, &why)) < 0) {
                mlos__tcp_proto_fail(t, rc, why);
                return;
            }
            t->rpos += MLOS_TCP_HELLO_SIZE;
            t->peer_hello = 1;
            if (!t->opened) { /* connector: usable now */
                t->opened = 1;
                uv_timer_stop(&t->timer);
                mlos__ep_connected(t->ep, 0);
            }
            continue;
        }
        if (avail < MLOS_TCP_HDR_SIZE)
            break;
        if ((rc = mlos_tcp_hdr_decode(p, avail, &h, &why)) < 0) {
            mlos__tcp_proto_fail(t, rc, why);
            return;
        }
        if ((h.op == MLOS_TCP_GET || h.op == MLOS_TCP_PUT) && over_bound(t))
            return; /* the request stays in the buffer until we resume */
        plen = mlos_tcp_payload_len(&h);
        if (h.op == MLOS_TCP_SEND && t->ep->on_place && plen > t->ep->place_head && !t->place_declined &&
            t->ep->state == MLOS_EP_OPEN) {
            if (avail - MLOS_TCP_HDR_SIZE < t->ep->place_head)
                break; /* the application's header first */
            rc = place_offer(t, &h, p + MLOS_TCP_HDR_SIZE);
            if (t->torn)
                return;
            if (rc) {
                t->rpos += MLOS_TCP_HDR_SIZE + t->ep->place_head;
                account(t, &h);
                continue; /* the sink takes the rest */
            }
            t->place_declined = 1; /* until this frame is consumed */
        }
        if (avail - MLOS_TCP_HDR_SIZE >= plen) {
            t->rpos += MLOS_TCP_HDR_SIZE + plen;
            t->place_declined = 0;
            if (account(t, &h) == 0)
                handle_frame(t, &h, p + MLOS_TCP_HDR_SIZE);
            continue;
        }
        if (MLOS_TCP_HDR_SIZE + (size_t)plen <= TCP_RBUF_CAP)
            break; /* fits: wait for the rest */
        t->rpos += MLOS_TCP_HDR_SIZE;
        t->place_declined = 0;
        if (account(t, &h) == 0)
            sink_start(t, &h);
    }
}

void mlos__tcp_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    struct tcp_ep *t = hd->data;
    size_t left = t->sink.h.len - t->sink.done, want = 0,
           next = MLOS_TCP_HDR_SIZE + (t->ep->on_place ? t->ep->place_head : 0), cap;

    t->direct = 0;
    if (t->rpos == t->rlen)
        t->rpos = t->rlen = 0;
    if (t->sink.kind != SINK_NONE && !t->rlen && left >= TCP_DIRECT_MIN) {
        /* checked now; the kernel fills it before any user code runs */
        uint8_t *d = sink_ptr(t, left);
        if (d) {
            t->direct = 1;
            *buf = uv_buf_init((char *)d, (unsigned)left);
            return;
        }
    }
    if (t->rpos) {
        memmove(t->rbuf, t->rbuf + t->rpos, t->rlen - t->rpos);
        t->rlen -= t->rpos;
        t->rpos = 0;
    }
    /* Behind a streamed payload another big frame often follows: read only
     * up to its header (and the head on_place wants), so that its payload
     * goes straight to its destination rather than through this buffer and
     * a copy. Costs one more read per streamed frame. */
    if (t->sink.kind != SINK_NONE)
        want = left + next;
    else if (t->after_stream)
        want = next;
    t->after_stream = t->sink.kind != SINK_NONE && t->after_stream;
    cap = TCP_RBUF_CAP - t->rlen;
    if (want > t->rlen && want - t->rlen < cap)
        cap = want - t->rlen;
    *buf = uv_buf_init((char *)t->rbuf + t->rlen, (unsigned)cap);
}

void mlos__tcp_resume(struct tcp_ep *t)
{
    if (!t->paused || t->torn || t->aborting || t->out_bytes > MLOS_EP_OUT_SOFT / 2)
        return;
    t->paused = 0;
    if (uv_read_start((uv_stream_t *)&t->tcp, mlos__tcp_alloc, mlos__tcp_read) < 0) {
        mlos__tcp_fail(t, MLOS_ECONNRESET);
        return;
    }
    process(t); /* what waited in the read buffer */
}

void mlos__tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_ep *t = s->data;

    if (nread < 0) {
        mlos__tcp_fail(t, MLOS_ECONNRESET);
        return;
    }
    if (nread == 0 || t->torn)
        return;
    t->last_progress = uv_now(s->loop);
    if (t->direct) {
        t->sink.done += (size_t)nread;
        if (t->sink.done == t->sink.h.len)
            sink_finish(t);
    } else {
        t->rlen += (size_t)nread;
    }
    process(t);
}
