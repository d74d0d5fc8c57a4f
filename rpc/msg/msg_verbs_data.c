/* Data path of the verbs transport on an established RC queue pair: see
 * msg_verbs_ep.h for the protocol summary. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "msg_verbs_ep.h"

enum { TAG_SEND = 1, TAG_RECV = 2, TAG_RDMA = 3 };
/* epoch in the upper half: completions of a reset incarnation are ignored */
#define WRID(v, tag, i) ((uint64_t)(v)->epoch << 32 | (uint64_t)(i) << 2 | (uint64_t)(tag))
#define CREDIT_AFTER (VERBS_WINDOW / 2)

_Static_assert(VERBS_WINDOW == MLOS_EP_CREDITS, "window is the API's credit count");

static int post_recv(struct verbs_ep *v, unsigned i)
{
    struct ibv_sge sge = {.addr = (uintptr_t)(v->rbuf + (size_t)i * MLOS_VERBS_SLOT_SIZE),
                          .length = MLOS_VERBS_SLOT_SIZE,
                          .lkey = v->rmr->lkey};
    struct ibv_recv_wr wr = {.wr_id = WRID(v, TAG_RECV, i), .sg_list = &sge, .num_sge = 1}, *bad;
    if (ibv_post_recv(v->qp, &wr, &bad))
        return MLOS_EIO;
    v->rq_out++;
    return 0;
}

int verbs_post_recvs(struct verbs_ep *v)
{
    for (unsigned i = 0; i < MLOS_VERBS_SLOTS; i++)
        if (post_recv(v, i) < 0)
            return MLOS_EIO;
    return 0;
}

int verbs_qp_init(struct verbs_ep *v)
{
    struct ibv_qp_attr a = {0};
    a.qp_state = IBV_QPS_INIT;
    a.pkey_index = 0;
    a.port_num = v->dev->port;
    a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
    if (ibv_modify_qp(v->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
        return MLOS_EIO;
    return 0;
}

void verbs_rebuild_free(struct verbs_ep *v)
{
    v->nsfree = 0;
    for (int i = VERBS_SEND_SLOTS - 1; i >= 0; i--)
        if (!v->s_busy[i])
            v->sfree[v->nsfree++] = (uint16_t)i;
    v->nrfree = 0;
    for (int i = VERBS_RDMA_MAX - 1; i >= 0; i--)
        if (!v->r_busy[i])
            v->rfree[v->nrfree++] = (uint16_t)i;
}

int verbs_data_init(struct verbs_ep *v)
{
    struct mlos_verbs_dev *d = v->dev;
    size_t bytes = (size_t)MLOS_VERBS_SLOTS * MLOS_VERBS_SLOT_SIZE;
    size_t sbytes = (size_t)VERBS_SEND_SLOTS * MLOS_VERBS_SLOT_SIZE;
    struct ibv_qp_init_attr qa = {0};

    v->asm_have = -1;
    verbs_rebuild_free(v);

    if (!(v->rbuf = aligned_alloc(4096, bytes)) || !(v->sbuf = aligned_alloc(4096, sbytes)))
        return MLOS_ENOMEM;
    if (!(v->rmr = ibv_reg_mr(d->pd, v->rbuf, bytes, IBV_ACCESS_LOCAL_WRITE)) ||
        !(v->smr = ibv_reg_mr(d->pd, v->sbuf, sbytes, 0)))
        return MLOS_ENOMEM;
    if (!(v->ch = ibv_create_comp_channel(d->ctx)))
        return MLOS_EIO;
    fcntl(v->ch->fd, F_SETFL, fcntl(v->ch->fd, F_GETFL) | O_NONBLOCK);
    if (!(v->cq = ibv_create_cq(d->ctx, VERBS_CQ_DEPTH, v, v->ch, 0)))
        return MLOS_EIO;
    qa.send_cq = qa.recv_cq = v->cq;
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = VERBS_SQ_DEPTH;
    qa.cap.max_recv_wr = MLOS_VERBS_SLOTS;
    qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
    if (!(v->qp = ibv_create_qp(d->pd, &qa)))
        return MLOS_EIO;
    if (verbs_qp_init(v) < 0)
        return MLOS_EIO;
    /* Receives go up before the peer learns our QP number. */
    if (verbs_post_recvs(v) < 0)
        return MLOS_EIO;
    if (ibv_req_notify_cq(v->cq, 0))
        return MLOS_EIO;
    return 0;
}

void verbs_data_free(struct verbs_ep *v)
{
    if (v->cq && v->cq_unacked)
        ibv_ack_cq_events(v->cq, v->cq_unacked);
    if (v->qp)
        ibv_destroy_qp(v->qp);
    if (v->cq)
        ibv_destroy_cq(v->cq);
    if (v->ch)
        ibv_destroy_comp_channel(v->ch);
    if (v->rmr)
        ibv_dereg_mr(v->rmr);
    if (v->smr)
        ibv_dereg_mr(v->smr);
    free(v->rbuf);
    free(v->sbuf);
    free(v->asm_buf);
    v->qp = NULL;
    v->cq = NULL;
    v->ch = NULL;
    v->rmr = v->smr = NULL;
    v->rbuf = v->sbuf = v->asm_buf = NULL;
}

/* ---- completing ---- */

void verbs_data_abort(struct verbs_ep *v)
{
    for (int i = 0; i < VERBS_RDMA_MAX; i++) {
        if (v->rdma_wr[i] && v->rdma_last[i])
            mlos__wr_complete(v->rdma_wr[i], MLOS_ECONNRESET);
        v->rdma_wr[i] = NULL;
    }
    while (v->q_head) {
        mlos_wr_t *wr = v->q_head;
        v->q_head = wr->next;
        mlos__wr_complete(wr, MLOS_ECONNRESET);
    }
    v->q_tail = NULL;
    v->head_off = 0;
    free(v->asm_buf);
    v->asm_buf = NULL;
    v->asm_have = -1;
}

/* ---- posting ---- */

static void dequeue_head(struct verbs_ep *v)
{
    mlos_wr_t *wr = v->q_head;
    v->q_head = wr->next;
    if (!v->q_head)
        v->q_tail = NULL;
    wr->next = NULL;
    v->head_off = 0;
}

static int post_send(struct verbs_ep *v, struct ibv_send_wr *wr)
{
    struct ibv_send_wr *bad;
    if (ibv_post_send(v->qp, wr, &bad))
        return MLOS_ECONNRESET;
    v->sq_out++;
    return 0;
}

int verbs_post_send_slot(struct verbs_ep *v, unsigned i)
{
    struct ibv_sge sge = {.addr = (uintptr_t)(v->sbuf + (size_t)i * MLOS_VERBS_SLOT_SIZE), .length = v->s_len[i],
                          .lkey = v->smr->lkey};
    struct ibv_send_wr wr = {.wr_id = WRID(v, TAG_SEND, i), .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
                             .send_flags = IBV_SEND_SIGNALED};
    int rc = post_send(v, &wr);
    if (rc == 0)
        v->s_pseq[i] = v->pseq++;
    return rc;
}

/* One SEND from a staging slot: header + n bytes of data (NULL for a CREDIT). */
static int post_slot(struct verbs_ep *v, const struct mlos_verbs_hdr *h, const void *data, size_t n)
{
    unsigned i = v->sfree[--v->nsfree];
    uint8_t *p = v->sbuf + (size_t)i * MLOS_VERBS_SLOT_SIZE;
    mlos_verbs_hdr_encode(h, p);
    if (n)
        memcpy(p + MLOS_VERBS_HDR_SIZE, data, n);
    v->s_len[i] = (uint32_t)(MLOS_VERBS_HDR_SIZE + n);
    v->s_seq[i] = v->sent;
    if (verbs_post_send_slot(v, i) < 0) {
        v->sfree[v->nsfree++] = (uint16_t)i;
        return MLOS_ECONNRESET;
    }
    v->s_busy[i] = 1;
    v->sent++;
    v->reported = v->consumed; /* every header returns credit */
    return 0;
}

static int post_fragment(struct verbs_ep *v, mlos_wr_t *wr)
{
    size_t n = wr->len - v->head_off;
    struct mlos_verbs_hdr h = {.kind = MLOS_VERBS_MSG, .type = wr->type, .total = (uint32_t)wr->len,
                               .consumed = v->consumed};
    int rc;
    if (n > MLOS_VERBS_FRAG)
        n = MLOS_VERBS_FRAG;
    if (v->head_off == 0)
        h.flags |= MLOS_VERBS_FIRST;
    if (v->head_off + n == wr->len)
        h.flags |= MLOS_VERBS_LAST;
    rc = post_slot(v, &h, (const uint8_t *)wr->buf + v->head_off, n);
    if (rc == 0) {
        v->head_off += n;
        if (h.flags & MLOS_VERBS_LAST) {
            dequeue_head(v);
            mlos__wr_complete(wr, 0); /* copied: the caller's buffer is free */
        }
    }
    return rc;
}

int verbs_post_rdma_slot(struct verbs_ep *v, unsigned i)
{
    mlos_wr_t *wr = v->rdma_wr[i];
    struct ibv_mr *lmr = wr->local->verbs_mr;
    struct ibv_sge sge = {.addr = (uintptr_t)wr->local->addr + wr->local_off + v->r_off[i], .length = v->r_len[i],
                          .lkey = lmr->lkey};
    struct ibv_send_wr swr = {.wr_id = WRID(v, TAG_RDMA, i), .sg_list = &sge, .num_sge = 1,
                              .opcode = wr->op == MLOS_WR_PUT ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
                              .send_flags = IBV_SEND_SIGNALED};
    int rc;
    swr.wr.rdma.remote_addr = wr->remote.addr + wr->remote_off + v->r_off[i];
    swr.wr.rdma.rkey = wr->remote.verbs_rkey;
    if ((rc = post_send(v, &swr)) == 0)
        v->r_pseq[i] = v->pseq++;
    return rc;
}

/* The next chunk of the head put/get. */
static int post_rdma(struct verbs_ep *v, mlos_wr_t *wr)
{
    unsigned i = v->rfree[--v->nrfree];
    size_t max = v->dev->pattr.max_msg_sz ? v->dev->pattr.max_msg_sz : (1u << 20), n = wr->len - v->head_off;
    if (max > (1u << 30))
        max = 1u << 30;
    if (n > max)
        n = max;
    v->rdma_wr[i] = wr;
    v->r_off[i] = v->head_off;
    v->r_len[i] = (uint32_t)n;
    if (verbs_post_rdma_slot(v, i) < 0) {
        v->rdma_wr[i] = NULL;
        v->rfree[v->nrfree++] = (uint16_t)i;
        return MLOS_ECONNRESET;
    }
    v->r_busy[i] = 1;
    v->head_off += n;
    v->rdma_last[i] = v->head_off == wr->len;
    if (v->rdma_last[i])
        dequeue_head(v);
    return 0;
}

/* A CREDIT when enough receives are unreported and nothing else carried them. */
static void maybe_credit(struct verbs_ep *v)
{
    struct mlos_verbs_hdr h = {.kind = MLOS_VERBS_CREDIT};
    if (v->consumed - v->reported < CREDIT_AFTER || v->sent - v->peer_consumed >= MLOS_VERBS_SLOTS || !v->nsfree)
        return;
    h.consumed = v->consumed;
    if (post_slot(v, &h, NULL, 0) < 0)
        verbs_fail(v, MLOS_ECONNRESET);
}

void verbs_data_flush(struct verbs_ep *v)
{
    if (!v->ready || v->failed) /* not ready: connecting or recovering; requests wait */
        return;
    while (v->q_head) {
        mlos_wr_t *wr = v->q_head;
        int rc;
        if (wr->op == MLOS_WR_SEND) {
            if (v->sent - v->peer_consumed >= VERBS_WINDOW || !v->nsfree)
                break;
            rc = post_fragment(v, wr);
        } else {
            if (!v->nrfree)
                break;
            rc = post_rdma(v, wr);
        }
        if (rc < 0) {
            verbs_fail(v, rc);
            return;
        }
    }
    maybe_credit(v);
}

int verbs_data_post(struct verbs_ep *v, mlos_wr_t *wr)
{
    if (wr->op != MLOS_WR_SEND) {
        if (!wr->local->verbs_mr)
            return MLOS_EINVAL; /* not registered with the NIC (see mlos_verbs_dom_ensure) */
        if (!wr->remote.verbs_rkey) { /* the peer's region has no NIC key */
            mlos__wr_complete(wr, MLOS_EKEY);
            return 0;
        }
    }
    wr->next = NULL;
    if (v->q_tail)
        v->q_tail->next = wr;
    else
        v->q_head = wr;
    v->q_tail = wr;
    verbs_data_flush(v);
    return 0;
}

/* ---- receiving ---- */

static void on_recv(struct verbs_ep *v, unsigned i, size_t len)
{
    const uint8_t *p = v->rbuf + (size_t)i * MLOS_VERBS_SLOT_SIZE;
    const char *why = NULL;
    struct mlos_verbs_hdr h;
    size_t frag = len - MLOS_VERBS_HDR_SIZE;
    long now;
    int rc = mlos_verbs_hdr_decode(p, len, &h, &why);

    if (rc < 0)
        goto bad;
    v->peer_consumed = h.consumed;
    if (h.kind == MLOS_VERBS_MSG) {
        if ((now = mlos_verbs_reasm_step(&h, frag, v->asm_have, v->asm_total)) < 0) {
            rc = MLOS_EPROTO;
            why = "fragment out of sequence";
            goto bad;
        }
        if ((h.flags & MLOS_VERBS_FIRST) && (h.flags & MLOS_VERBS_LAST)) {
            mlos__ep_deliver(v->ep, h.type, p + MLOS_VERBS_HDR_SIZE, frag); /* zero copy from the slot */
        } else {
            if (h.flags & MLOS_VERBS_FIRST) {
                if (!(v->asm_buf = malloc(h.total))) {
                    rc = MLOS_ENOMEM;
                    why = "no memory to reassemble a message";
                    goto bad;
                }
                v->asm_total = h.total;
                v->asm_type = h.type;
            }
            memcpy(v->asm_buf + (v->asm_have < 0 ? 0 : v->asm_have), p + MLOS_VERBS_HDR_SIZE, frag);
            v->asm_have = now;
            if (h.flags & MLOS_VERBS_LAST) {
                uint8_t *msg = v->asm_buf;
                v->asm_buf = NULL;
                v->asm_have = -1;
                mlos__ep_deliver(v->ep, v->asm_type, msg, v->asm_total);
                free(msg);
            }
        }
    }
    if (v->failed) /* the receive callback closed the endpoint */
        return;
    if (v->rec == MLOS_VERBS_REC_FLUSH) { /* QP in error: every slot is posted again after the reset */
        v->consumed++;
        return;
    }
    if (post_recv(v, i) < 0) {
        verbs_fail(v, MLOS_ECONNRESET);
        return;
    }
    v->consumed++;
    return;
bad:
    verbs_log("verbs: bad message from peer: %s", why ? why : "?");
    verbs_fail(v, rc == MLOS_ENOMEM ? rc : MLOS_EPROTO);
}

/* A put/get failed on its own: its other chunks must not complete it again. */
static void fail_request(struct verbs_ep *v, mlos_wr_t *owner, int rc)
{
    for (int k = 0; k < VERBS_RDMA_MAX; k++)
        if (v->rdma_wr[k] == owner)
            v->rdma_wr[k] = NULL;
    if (v->q_head == owner) /* partly posted: nothing more of it goes out */
        dequeue_head(v);
    mlos__wr_complete(owner, rc);
}

/* An error completion: recover from what the target refused, fail on the rest. */
static void wc_failed(struct verbs_ep *v, unsigned tag, unsigned i, int status)
{
    const char *why;
    int rc = mlos_verbs_wc_error(status, &why);
    if (status != IBV_WC_WR_FLUSH_ERR) /* flushes come by the dozen */
        verbs_log("verbs: %s completion failed: %s (%s)", tag == TAG_RDMA ? "RDMA" : tag == TAG_SEND ? "SEND" : "RECV",
                  ibv_wc_status_str(status), why);
    if (status == IBV_WC_WR_FLUSH_ERR) {
        /* Our QP is in error (we were the target of a refused access, or
         * an earlier completion said why): the WR stays for the replay. */
        verbs_recover_begin(v);
        return;
    }
    if (tag == TAG_RDMA && mlos_verbs_wc_recoverable(status)) {
        if (v->rdma_wr[i])
            fail_request(v, v->rdma_wr[i], rc);
        v->r_busy[i] = 0;
        v->rec_own = 1;
        verbs_recover_begin(v);
        return;
    }
    verbs_fail(v, MLOS_ECONNRESET);
}

static void on_wc(struct verbs_ep *v, const struct ibv_wc *wc)
{
    unsigned tag = (unsigned)(wc->wr_id & 3), i = (unsigned)(wc->wr_id >> 2 & 0x3fffffff);
    if ((uint32_t)(wc->wr_id >> 32) != v->epoch) {
        verbs_log("verbs: ignoring a completion of reset epoch %u", (unsigned)(wc->wr_id >> 32));
        return;
    }
    if (tag == TAG_RECV)
        v->rq_out--;
    else
        v->sq_out--;
    if (wc->status != IBV_WC_SUCCESS) {
        wc_failed(v, tag, i, wc->status);
        return;
    }
    switch (tag) {
    case TAG_SEND:
        v->s_busy[i] = 0;
        v->sfree[v->nsfree++] = (uint16_t)i;
        break;
    case TAG_RDMA:
        v->r_busy[i] = 0;
        v->rfree[v->nrfree++] = (uint16_t)i;
        if (v->rdma_wr[i] && v->rdma_last[i]) /* RC: earlier chunks are done too */
            mlos__wr_complete(v->rdma_wr[i], 0);
        v->rdma_wr[i] = NULL;
        break;
    case TAG_RECV:
        on_recv(v, i, wc->byte_len);
        break;
    }
}

/* Polling mode: keep the loop polling the CQ for spin_us from now. */
void verbs_spin_extend(struct verbs_ep *v)
{
    if (!v->spin_us || !v->poll_init || v->failed)
        return;
    v->spin_until = uv_hrtime() + (uint64_t)v->spin_us * 1000u;
    if (!uv_is_active((uv_handle_t *)&v->spin))
        uv_idle_start(&v->spin, verbs_spin_poll);
}

/* While an idle handle runs, the loop polls for I/O without blocking, so
 * this runs once per loop pass: completions are seen without the device's
 * event (the CQ stays armed, so an event that comes anyway finds the CQ
 * drained and costs one empty poll). */
void verbs_spin_poll(uv_idle_t *h)
{
    struct verbs_ep *v = h->data;
    verbs_data_drain(v);
    if (v->failed || uv_hrtime() >= v->spin_until)
        uv_idle_stop(h);
}

void verbs_data_drain(struct verbs_ep *v)
{
    struct ibv_wc wc[32];
    int n;
    while (!v->failed && v->cq && (n = ibv_poll_cq(v->cq, 32, wc)) != 0) {
        if (n < 0) {
            verbs_fail(v, MLOS_EIO);
            return;
        }
        verbs_spin_extend(v);
        for (int k = 0; k < n && !v->failed; k++)
            on_wc(v, &wc[k]);
    }
    verbs_recover_progress(v);
    verbs_data_flush(v);
}

void verbs_data_cq_ready(uv_poll_t *h, int status, int events)
{
    struct verbs_ep *v = h->data;
    struct ibv_cq *cq;
    void *ctx;
    while (ibv_get_cq_event(v->ch, &cq, &ctx) == 0)
        v->cq_unacked++;
    if (v->cq_unacked >= 64) { /* acking takes a lock: batch it */
        ibv_ack_cq_events(v->cq, v->cq_unacked);
        v->cq_unacked = 0;
    }
    if (v->failed)
        return;
    ibv_req_notify_cq(v->cq, 0); /* re-arm first, then poll: nothing slips between */
    verbs_data_drain(v);
}
