/* Queue pair recovery of the verbs transport.
 *
 * An RC queue pair goes to the error state when one of its requests fails,
 * e.g. when the target NIC refuses an RDMA WRITE (bad rkey, rights or
 * range). The requester's QP errs; the responder's may too (rxe moves it
 * to error as well; other NICs may not). Rather than failing the endpoint,
 * both sides bring their QP back, coordinated over the TCP side channel
 * (records in msg_verbs_wire.h):
 *
 *   trigger: a recoverable error completion (mlos_verbs_wc_recoverable), a
 *   flushed completion (our QP erred as a target), or the peer's RESET
 *     FLUSH        QP -> ERR; wait until every posted WR has completed
 *                  (flushed or not): receives that made it are delivered
 *                  and counted, and afterwards the NIC holds nothing of ours
 *     WAIT_PEER    QP -> RESET -> INIT, epoch + 1, every receive posted
 *                  again, new PSN; send RESET{epoch, qpn, psn, consumed}
 *     WAIT_RESUME  the peer's RESET{epoch}: QP -> RTR (its PSN) -> RTS;
 *                  send RESUME{epoch}
 *     NONE         the peer's RESUME{epoch}: its QP is in RTR, so post
 *                  again what the error flushed, in the original order,
 *                  then the FIFO
 * Both sides may start at once; the order of records on the TCP stream
 * makes every other interleaving impossible (mlos_verbs_rec_action).
 *
 * What is posted again: the SENDs from the peer's `consumed` on (RC
 * delivers in order and the peer counted every receive before its reset),
 * so a message is neither lost nor delivered twice; the chunks of puts and
 * gets that were flushed (the same bytes land again), except WRITEs older
 * than a SEND that arrived (RC executed them first). The request whose
 * error started it all completes with the mapped code (MLOS_EKEY ...).
 *
 * A peer whose accesses keep making our queue pair fail (a key guesser) is
 * closed after MLOS_VERBS_MAX_PEER_RECOVERIES of them with REJECT{MLOS_EKEY}; both ends
 * fail with MLOS_EKEY. Recoveries for our own refused requests are not
 * counted.
 *
 * Requests made meanwhile wait in the FIFO. The whole recovery is bounded
 * by the connect timeout (at least RECOVER_MIN_MS), else MLOS_ETIMEDOUT; an
 * error while recovering, a record out of turn (MLOS_EPROTO) or the peer
 * leaving fails the endpoint as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_verbs_ep.h"

#define RECOVER_MIN_MS 2000

static void rec_timeout(uv_timer_t *t)
{
    struct verbs_ep *v = t->data;
    if (v->rec == MLOS_VERBS_REC_NONE)
        return;
    verbs_log("verbs: recovery stuck in state %d (%u sends, %u receives not completed)", v->rec, v->sq_out,
              v->rq_out);
    verbs_fail(v, MLOS_ETIMEDOUT);
}

static int qp_state(struct verbs_ep *v, enum ibv_qp_state st)
{
    struct ibv_qp_attr a = {.qp_state = st};
    return ibv_modify_qp(v->qp, &a, IBV_QP_STATE) ? MLOS_EIO : 0;
}

void verbs_recover_begin(struct verbs_ep *v)
{
    unsigned ms = v->timeout_ms > RECOVER_MIN_MS ? v->timeout_ms : RECOVER_MIN_MS;
    if (v->failed || v->rec == MLOS_VERBS_REC_FLUSH)
        return;
    if (v->rec != MLOS_VERBS_REC_NONE) {
        verbs_log("verbs: queue pair failed again while recovering");
        verbs_fail(v, MLOS_ECONNRESET);
        return;
    }
    if (!v->rec_own && ++v->peer_recoveries > MLOS_VERBS_MAX_PEER_RECOVERIES) {
        static struct mlos_log_limit lim;
        struct mlos_verbs_setup rej = {.kind = MLOS_VERBS_REJECT, .status = MLOS_EKEY};
        if (mlos__log_allowed(&lim)) /* not only when debugging: someone may be guessing keys */
            fprintf(stderr, "mlos verbs: closing the connection to a peer: %u of its accesses were refused by our "
                            "NIC (guessing keys?)\n", v->peer_recoveries);
        (void)verbs_send_rec(v, &rej);
        verbs_fail(v, MLOS_EKEY);
        return;
    }
    v->rec_own = 0;
    verbs_log("verbs: recovering the queue pair of epoch %u (%u sends, %u receives outstanding)", v->epoch,
              v->sq_out, v->rq_out);
    v->rec = MLOS_VERBS_REC_FLUSH;
    v->ready = 0;
    if (qp_state(v, IBV_QPS_ERR) < 0) { /* it may be there already; a target QP may not */
        verbs_fail(v, MLOS_EIO);
        return;
    }
    uv_timer_start(&v->timer, rec_timeout, ms, 0);
}

/* The peer's RESET for our epoch: connect to its new PSN, then RESUME. */
static void connect_peer(struct verbs_ep *v, const struct mlos_verbs_setup *r)
{
    struct mlos_verbs_setup m = {.kind = MLOS_VERBS_RESUME, .epoch = v->epoch};
    int rc;
    if (r->qpn != v->peer.qpn || mlos_verbs_before(v->sent, r->consumed) ||
        v->sent - r->consumed > MLOS_VERBS_SLOTS) {
        verbs_log("verbs: RESET names another queue pair or more SENDs than were in flight");
        verbs_fail(v, MLOS_EPROTO);
        return;
    }
    v->peer.psn = r->psn;
    v->rec_got = r->consumed;
    if ((rc = verbs_qp_connect(v, &v->peer)) < 0 || (rc = verbs_send_rec(v, &m)) < 0) {
        verbs_fail(v, rc);
        return;
    }
    v->rec = MLOS_VERBS_REC_WAIT_RESUME;
}

/* Every WR of the old incarnation completed: reset ours and tell the peer. */
static void reset_qp(struct verbs_ep *v)
{
    struct mlos_verbs_setup r = {.kind = MLOS_VERBS_RESET};
    int rc;
    if ((rc = qp_state(v, IBV_QPS_RESET)) < 0 || (rc = verbs_qp_init(v)) < 0)
        goto fail;
    v->epoch++;
    v->sq_out = v->rq_out = 0;
    if ((rc = verbs_post_recvs(v)) < 0)
        goto fail;
    v->psn = verbs_new_psn();
    v->reported = v->consumed;
    r.qpn = v->qp->qp_num;
    r.psn = v->psn;
    r.epoch = v->epoch;
    r.consumed = v->consumed;
    if ((rc = verbs_send_rec(v, &r)) < 0)
        goto fail;
    v->rec = MLOS_VERBS_REC_WAIT_PEER;
    verbs_log("verbs: queue pair reset to INIT for epoch %u", v->epoch);
    if (v->rec_have_kept) {
        v->rec_have_kept = 0;
        connect_peer(v, &v->rec_kept);
    }
    return;
fail:
    verbs_log("verbs: could not reset the queue pair: %s", mlos_strerror(rc));
    verbs_fail(v, rc);
}

void verbs_recover_progress(struct verbs_ep *v)
{
    if (!v->failed && v->rec == MLOS_VERBS_REC_FLUSH && !v->sq_out && !v->rq_out)
        reset_qp(v);
}

struct replay {
    uint32_t pseq;
    uint16_t slot;
    uint8_t rdma;
};

/* Which slots in flight go out again (see the top of the file). */
static int collect(struct verbs_ep *v, struct replay *e)
{
    uint32_t got = v->rec_got, newest = 0;
    int n = 0, have_newest = 0;
    for (unsigned i = 0; i < VERBS_SEND_SLOTS; i++) {
        if (!v->s_busy[i])
            continue;
        if (mlos_verbs_before(v->s_seq[i], got)) { /* arrived */
            if (!have_newest || mlos_verbs_before(newest, v->s_pseq[i]))
                newest = v->s_pseq[i];
            have_newest = 1;
            v->s_busy[i] = 0;
            continue;
        }
        mlos_verbs_hdr_set_consumed(v->sbuf + (size_t)i * MLOS_VERBS_SLOT_SIZE, v->consumed);
        e[n++] = (struct replay){v->s_pseq[i], (uint16_t)i, 0};
    }
    for (unsigned i = 0; i < VERBS_RDMA_MAX; i++) {
        mlos_wr_t *wr = v->rdma_wr[i];
        if (!v->r_busy[i])
            continue;
        if (!wr) { /* its request already failed */
            v->r_busy[i] = 0;
            continue;
        }
        if (wr->op == MLOS_WR_PUT && have_newest && mlos_verbs_before(v->r_pseq[i], newest)) {
            v->r_busy[i] = 0; /* executed before a SEND that arrived */
            v->rdma_wr[i] = NULL;
            if (v->rdma_last[i])
                mlos__wr_complete(wr, 0);
            continue;
        }
        e[n++] = (struct replay){v->r_pseq[i], (uint16_t)i, 1};
    }
    for (int k = 1; k < n; k++) /* a few dozen at most: insertion sort by post order */
        for (int j = k; j > 0 && mlos_verbs_before(e[j].pseq, e[j - 1].pseq); j--) {
            struct replay t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
        }
    return n;
}

static void resume(struct verbs_ep *v)
{
    struct replay e[VERBS_SEND_SLOTS + VERBS_RDMA_MAX];
    int n, rc = 0;
    uv_timer_stop(&v->timer);
    v->rec = MLOS_VERBS_REC_NONE;
    n = collect(v, e);
    verbs_rebuild_free(v);
    v->peer_consumed = v->rec_got; /* the peer's slots are all posted again */
    for (int k = 0; k < n && rc == 0; k++)
        rc = e[k].rdma ? verbs_post_rdma_slot(v, e[k].slot) : verbs_post_send_slot(v, e[k].slot);
    if (rc < 0) {
        verbs_fail(v, rc);
        return;
    }
    verbs_log("verbs: queue pair recovered (epoch %u), %d WRs posted again", v->epoch, n);
    v->ready = 1;
    verbs_data_drain(v);
}

void verbs_recover_record(struct verbs_ep *v, const struct mlos_verbs_setup *s)
{
    int act = mlos_verbs_rec_action(v->rec, v->epoch, v->rec_have_kept, s);
    verbs_log("verbs: %s for epoch %u in state %d (our epoch %u)", s->kind == MLOS_VERBS_RESET ? "RESET" : "RESUME",
              s->epoch, v->rec, v->epoch);
    switch (act) {
    case MLOS_VERBS_ACT_BEGIN:
        verbs_recover_begin(v);
        if (v->failed)
            return;
        /* fall through */
    case MLOS_VERBS_ACT_KEEP:
        v->rec_kept = *s;
        v->rec_have_kept = 1;
        verbs_data_drain(v); /* collect what is flushed so far; resets once all is in */
        return;
    case MLOS_VERBS_ACT_CONNECT:
        connect_peer(v, s);
        return;
    case MLOS_VERBS_ACT_RESUME:
        resume(v);
        return;
    default:
        verbs_log("verbs: recovery record out of turn");
        verbs_fail(v, MLOS_EPROTO);
    }
}
