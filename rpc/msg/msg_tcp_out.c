/* Output side of the tcp transport: frame queues in post order, send
 * credits, and one coalesced uv_write per loop iteration (msg_tcp_ep.h). */
#include <stdlib.h>
#include <string.h>

#include "msg_tcp_ep.h"

struct frame *mlos__tcp_frame_new(struct tcp_ep *t)
{
    struct frame *f = t->cache;
    if (f) {
        t->cache = f->next;
        t->ncache--;
    } else if (!(f = malloc(sizeof(*f)))) {
        return NULL;
    }
    memset(f, 0, sizeof(*f));
    return f;
}

void mlos__tcp_frame_free(struct tcp_ep *t, struct frame *f)
{
    free(f->owned);
    if (t->ncache < TCP_FRAME_CACHE) {
        f->next = t->cache;
        t->cache = f;
        t->ncache++;
    } else {
        free(f);
    }
}

static void complete_fifo(struct tcp_ep *t, struct fifo *q)
{
    struct frame *f;
    while ((f = fifo_pop(q))) {
        if (f->wr && f->last)
            mlos__wr_complete(f->wr, MLOS_ECONNRESET);
        mlos__tcp_frame_free(t, f);
    }
}

/* Complete every request still on the output side with MLOS_ECONNRESET.
 * Frames inside in-flight writes stay until their (cancelled) callbacks;
 * only their requests are completed now. */
void mlos__tcp_out_abort(struct tcp_ep *t)
{
    complete_fifo(t, &t->out);
    complete_fifo(t, &t->wait);
    complete_fifo(t, &t->rma);
    for (struct batch *b = t->inflight_head; b; b = b->next)
        for (struct frame *f = b->done; f; f = f->next)
            if (f->wr) {
                if (f->last)
                    mlos__wr_complete(f->wr, MLOS_ECONNRESET);
                f->wr = NULL;
            }
}

static void flush(uv_prepare_t *h);

/* Flush before the loop next waits for I/O: everything posted until then
 * goes out in one write. */
void mlos__tcp_kick(struct tcp_ep *t)
{
    if (!t->torn && !uv_is_active((uv_handle_t *)&t->flusher))
        uv_prepare_start(&t->flusher, flush);
}

/* In post order: a frame waits if anything already waits, or if it is a
 * SEND without credit. */
void mlos__tcp_enqueue(struct tcp_ep *t, struct frame *f)
{
    if (!t->wait.head && (f->h.op != MLOS_TCP_SEND || t->credits)) {
        if (f->h.op == MLOS_TCP_SEND)
            t->credits--;
        fifo_push(&t->out, f);
    } else {
        fifo_push(&t->wait, f);
    }
}

void mlos__tcp_release_waiting(struct tcp_ep *t)
{
    while (t->wait.head && (t->wait.head->h.op != MLOS_TCP_SEND || t->credits)) {
        struct frame *f = fifo_pop(&t->wait);
        if (f->h.op == MLOS_TCP_SEND)
            t->credits--;
        fifo_push(&t->out, f);
    }
    if (t->out.head)
        mlos__tcp_kick(t);
}

static void on_write(uv_write_t *req, int status)
{
    struct batch *b = req->data;
    struct tcp_ep *t = b->t;
    struct frame *f;

    /* writes complete in order */
    t->inflight_head = b->next;
    if (!t->inflight_head)
        t->inflight_tail = NULL;
    while ((f = b->done)) {
        b->done = f->next;
        if (f->wr && f->last)
            mlos__wr_complete(f->wr, status < 0 ? MLOS_ECONNRESET : 0);
        if (f->h.op == MLOS_TCP_PUT_ACK || f->h.op == MLOS_TCP_GET_DATA)
            t->out_bytes -= MLOS_TCP_HDR_SIZE + (size_t)f->h.len;
        mlos__tcp_frame_free(t, f);
    }
    free(b);
    if (status < 0) {
        mlos__tcp_fail(t, MLOS_ECONNRESET);
        return;
    }
    t->last_progress = uv_now(t->tcp.loop);
    if (t->aborting && !t->out.head && !t->inflight_head)
        mlos__tcp_fail(t, t->abort_status); /* the peer has been told */
    else if (t->paused)
        mlos__tcp_resume(t);
}

/* Write everything queued this iteration, TCP_BATCH_MAX frames per uv_write. */
static void flush(uv_prepare_t *h)
{
    struct tcp_ep *t = h->data;

    uv_prepare_stop(h);
    if (t->torn)
        return;
    if (t->pending_fail) {
        mlos__tcp_fail(t, t->pending_fail);
        return;
    }
    /* a raw tail cannot carry credits: they need a frame of their own */
    if ((!t->out.head || (t->out.head->raw_len && !t->out.head->next)) && t->owed >= TCP_CREDIT_BATCH) {
        struct frame *c = mlos__tcp_frame_new(t);
        if (!c) {
            mlos__tcp_fail(t, MLOS_ENOMEM);
            return;
        }
        c->h.op = MLOS_TCP_CREDIT;
        fifo_push(&t->out, c);
    }
    while (t->out.head) {
        unsigned n = 0, i, nb = 0;
        struct frame *f = t->out.head, *done_tail = NULL;
        struct batch *b;
        int rc;

        for (; f && n < TCP_BATCH_MAX; f = f->next)
            n++;
        b = malloc(sizeof(*b) + n * (2 * sizeof(uv_buf_t) + MLOS_TCP_HDR_SIZE));
        if (!b) {
            mlos__tcp_fail(t, MLOS_ENOMEM);
            return;
        }
        b->t = t;
        b->next = NULL;
        b->done = NULL;
        b->bufs = (uv_buf_t *)(b + 1);
        b->hdrs = (uint8_t(*)[MLOS_TCP_HDR_SIZE])(b->bufs + 2 * n);
        for (i = 0; i < n; i++) {
            f = fifo_pop(&t->out);
            if (f->raw_len) { /* bytes already encoded, the start of them already written */
                b->bufs[nb++] = uv_buf_init((char *)f->owned, (unsigned)f->raw_len);
                goto finished;
            }
            if (t->owed) { /* piggy-back every owed credit on the first frame */
                f->h.credit = (uint16_t)t->owed;
                t->recv_unacked -= t->owed;
                t->owed = 0;
            }
            mlos_tcp_hdr_encode(&f->h, b->hdrs[i]);
            b->bufs[nb++] = uv_buf_init((char *)b->hdrs[i], MLOS_TCP_HDR_SIZE);
            if (mlos_tcp_payload_len(&f->h))
                b->bufs[nb++] = uv_buf_init((char *)f->payload, f->h.len);
            if (f->h.op == MLOS_TCP_PUT || f->h.op == MLOS_TCP_GET) {
                fifo_push(&t->rma, f); /* the reply may come before this write's callback */
            } else {
            finished:
                f->next = NULL;
                if (done_tail)
                    done_tail->next = f;
                else
                    b->done = f;
                done_tail = f;
            }
        }
        b->req.data = b;
        rc = uv_write(&b->req, (uv_stream_t *)&t->tcp, b->bufs, nb, on_write);
        if (rc < 0) { /* never started: no callback will come */
            while ((f = b->done)) {
                b->done = f->next;
                if (f->wr && f->last)
                    mlos__wr_complete(f->wr, MLOS_ECONNRESET);
                mlos__tcp_frame_free(t, f);
            }
            free(b);
            mlos__tcp_fail(t, MLOS_ECONNRESET);
            return;
        }
        if (t->inflight_tail)
            t->inflight_tail->next = b;
        else
            t->inflight_head = b;
        t->inflight_tail = b;
    }
}

/* Queue a frame that is not a SEND (replies, one-sided pieces of the
 * target side): straight to the output, ahead of nothing already queued. */
int mlos__tcp_reply(struct tcp_ep *t, uint8_t op, uint64_t id, int status, void *owned, uint32_t len)
{
    struct frame *f = mlos__tcp_frame_new(t);
    if (!f) {
        free(owned);
        mlos__tcp_fail(t, MLOS_ECONNRESET);
        return MLOS_ENOMEM;
    }
    f->h.op = op;
    f->h.id = id;
    f->h.arg = (uint32_t)status;
    f->h.len = len;
    f->payload = f->owned = owned;
    t->out_bytes += MLOS_TCP_HDR_SIZE + (size_t)len;
    fifo_push(&t->out, f);
    mlos__tcp_kick(t);
    return 0;
}

/* mlos_sendv: on an idle endpoint, write the frame now from the caller's
 * buffers; copy only what the kernel did not take. MLOS_EAGAIN: not idle,
 * or nothing could be written (the core copies and posts as usual). */
int mlos__tcp_sendv(mlos_ep_t *ep, mlos_wr_t *wr, const struct mlos_iov *iov, unsigned niov)
{
    struct tcp_ep *t = ep->impl;
    uint8_t hdr[MLOS_TCP_HDR_SIZE];
    uv_buf_t bufs[1 + MLOS_EP_SENDV_MAX];
    struct mlos_tcp_hdr h = {0};
    struct frame *f;
    size_t total = MLOS_TCP_HDR_SIZE + wr->len, done, skip, at;
    unsigned nb = 0;
    int n;

    if (!t || t->torn)
        return MLOS_ECONNRESET;
    /* anything queued ahead must go first, and a frame needs a credit */
    if (t->out.head || t->wait.head || t->inflight_head || !t->credits || t->aborting || t->pending_fail ||
        uv_stream_get_write_queue_size((uv_stream_t *)&t->tcp))
        return MLOS_EAGAIN;
    if (!(f = mlos__tcp_frame_new(t))) /* before anything is written: failing later would be mid-frame */
        return MLOS_EAGAIN;
    h.op = MLOS_TCP_SEND;
    h.arg = wr->type;
    h.len = (uint32_t)wr->len;
    h.credit = (uint16_t)t->owed;
    mlos_tcp_hdr_encode(&h, hdr);
    bufs[nb++] = uv_buf_init((char *)hdr, MLOS_TCP_HDR_SIZE);
    for (unsigned i = 0; i < niov; i++)
        if (iov[i].len)
            bufs[nb++] = uv_buf_init((char *)iov[i].base, (unsigned)iov[i].len);
    n = uv_try_write((uv_stream_t *)&t->tcp, bufs, nb);
    if (n <= 0) { /* EAGAIN, or an error the usual write path will report */
        mlos__tcp_frame_free(t, f);
        return MLOS_EAGAIN;
    }
    /* the frame is on the wire from here on: its credit and the credits
     * its header returned are spent */
    t->credits--;
    t->recv_unacked -= t->owed;
    t->owed = 0;
    t->last_progress = uv_now(t->tcp.loop);
    done = (size_t)n;
    if (done == total) {
        mlos__tcp_frame_free(t, f);
        mlos__wr_complete(wr, 0);
        return 0;
    }
    f->wr = wr;
    f->last = 1;
    f->raw_len = total - done;
    if (!(f->owned = malloc(f->raw_len))) {
        /* half a frame is out and the rest is lost: the stream is broken;
         * fail from the loop, not inside the caller's call */
        mlos__tcp_frame_free(t, f);
        mlos__wr_complete(wr, MLOS_ECONNRESET);
        t->pending_fail = MLOS_ENOMEM;
        mlos__tcp_kick(t);
        return 0;
    }
    skip = done;
    at = 0;
    for (unsigned i = 0; i < nb; i++) {
        size_t k = bufs[i].len;
        if (skip >= k) {
            skip -= k;
            continue;
        }
        memcpy((uint8_t *)f->owned + at, bufs[i].base + skip, k - skip);
        at += k - skip;
        skip = 0;
    }
    fifo_push(&t->out, f);
    mlos__tcp_kick(t);
    mlos__tcp_arm_idle(t);
    return 0;
}
