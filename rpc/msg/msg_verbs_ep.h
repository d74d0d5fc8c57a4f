/* rpc/msg/msg_verbs_ep.h -- one verbs endpoint: an RC queue pair plus its TCP
 * side channel (private to msg_verbs*.c).
 *
 * msg_verbs.c    connection setup over TCP, listener, close
 * msg_verbs_data.c  the data path on an established queue pair
 * msg_verbs_recover.c  bringing both queue pairs back after an error
 *
 * Data path summary (details in msg_verbs_data.c):
 *   - MLOS_VERBS_SLOTS receive slots of MLOS_VERBS_SLOT_SIZE bytes are
 *     posted per endpoint; a message larger than one slot is sent as
 *     fragments, each a SEND of header + up to MLOS_VERBS_FRAG bytes, and
 *     reassembled by the receiver. The first MLOS_EP_CREDITS slots of the
 *     window carry messages, the last MLOS_VERBS_RESERVE only credit
 *     returns, so a credit return never waits for credit.
 *   - Credits: every header carries the sender's cumulative count of
 *     consumed (and re-posted) receives; a SEND is posted only when
 *     sent - peer_consumed < window, so the peer always has a receive
 *     posted (no RNR). Without traffic to piggy-back on, a CREDIT message
 *     is sent once MLOS_EP_CREDITS/2 receives are unreported.
 *   - A send completes once its last fragment is copied to a staging slot
 *     and posted (like the other transports: the buffer is free again).
 *   - Put/get are RDMA WRITE/READ straight between the registered regions,
 *     in chunks of at most the port's max_msg_sz (8 MiB on rxe); they
 *     complete when the NIC reports the last chunk done.
 *   - Everything is posted in call order from one FIFO; the head waits for
 *     credit or a free send slot, and what follows waits behind it.
 *   - A put/get refused by the target (remote access or invalid request
 *     error), or by our own NIC (local protection/access error), completes
 *     with the mapped code (MLOS_EKEY ...) and the endpoint recovers: the
 *     RC queue pairs went to the error state, both are reset and connected
 *     again (msg_verbs_recover.c), and what the error flushed is posted
 *     again in its original order; requests made meanwhile wait in the
 *     FIFO. Any other error completion fails the endpoint: everything
 *     outstanding gets MLOS_ECONNRESET.
 *   - Work request ids carry the queue pair's incarnation (epoch), so a
 *     completion from before a reset is never taken for a current one.
 */
#ifndef MLOS_MSG_VERBS_EP_H
#define MLOS_MSG_VERBS_EP_H

#include <uv.h>

#include "msg_transport.h"
#include "msg_verbs_dev.h"
#include "msg_verbs_wire.h"

#define VERBS_WINDOW (MLOS_VERBS_SLOTS - MLOS_VERBS_RESERVE) /* message credits */
#define VERBS_SEND_SLOTS (MLOS_VERBS_SLOTS + 4)               /* staging for SENDs */
#define VERBS_RDMA_MAX 64                                     /* RDMA ops in flight */
#define VERBS_SQ_DEPTH (VERBS_SEND_SLOTS + VERBS_RDMA_MAX)
/* twice what can be outstanding: room for a stray completion of a reset
 * incarnation next to the current ones */
#define VERBS_CQ_DEPTH (2 * (VERBS_SQ_DEPTH + MLOS_VERBS_SLOTS))


struct verbs_ep {
    mlos_ep_t *ep;
    struct mlos_verbs_dev *dev;
    int side; /* 0: connected out, 1: accepted */

    /* side channel and handles */
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;
    uv_poll_t cq_poll;
    uv_idle_t spin;     /* polling mode: the loop polls the CQ while this runs */
    int tcp_init, poll_init, handles_open;
    unsigned spin_us;   /* 0: completions only by the channel's event */
    uint64_t spin_until; /* uv_hrtime() at which polling gives way to the event again */
    uint8_t in[MLOS_VERBS_SETUP_SIZE];
    size_t in_len;
    int stage; /* enum in msg_verbs.c */
    int pending_rc; /* setup error to report from the loop */
    unsigned timeout_ms; /* connect timeout: also bounds a recovery */

    /* queue pair */
    struct ibv_comp_channel *ch;
    struct ibv_cq *cq;
    struct ibv_qp *qp;
    unsigned cq_unacked;
    int gid_index;
    union ibv_gid gid;
    uint32_t psn;
    uint8_t rd_atomic; /* RDMA READs we serve at once */
    struct mlos_verbs_setup peer; /* its HELLO/ACCEPT: recovery connects to it again */
    unsigned sq_out, rq_out; /* posted WRs not completed yet (this epoch) */

    /* state */
    int ready;   /* peer's queue pair is ready to receive: may post */
    int failed;  /* queue pair dead or endpoint closing: nothing more completes normally */
    int closing;

    /* recovery (msg_verbs_recover.c) */
    int rec;             /* enum mlos_verbs_rec_state */
    uint32_t epoch;      /* queue pair incarnation, in every wr_id */
    struct mlos_verbs_setup rec_kept; /* the peer's RESET, while we flush */
    int rec_have_kept;
    uint32_t rec_got;    /* our SENDs the peer processed (its RESET) */
    int rec_own;         /* the recovery about to start is for our own refused request */
    unsigned peer_recoveries; /* recoveries the peer caused */

    /* buffers */
    uint8_t *rbuf, *sbuf;
    struct ibv_mr *rmr, *smr;
    uint16_t sfree[VERBS_SEND_SLOTS]; /* staging slots not in flight */
    int nsfree;
    mlos_wr_t *rdma_wr[VERBS_RDMA_MAX]; /* request of each RDMA op in flight (NULL: failed) */
    uint8_t rdma_last[VERBS_RDMA_MAX];  /* its last chunk: completes the request */
    uint16_t rfree[VERBS_RDMA_MAX];
    int nrfree;
    /* what a slot in flight holds, to post it again after a recovery */
    uint32_t pseq;                      /* post order of send-queue WRs */
    uint8_t s_busy[VERBS_SEND_SLOTS];
    uint32_t s_seq[VERBS_SEND_SLOTS];   /* value of `sent` when posted */
    uint32_t s_pseq[VERBS_SEND_SLOTS];
    uint32_t s_len[VERBS_SEND_SLOTS];   /* header + payload */
    uint8_t r_busy[VERBS_RDMA_MAX];
    uint32_t r_pseq[VERBS_RDMA_MAX];
    size_t r_off[VERBS_RDMA_MAX];       /* chunk: offset in its request, length */
    uint32_t r_len[VERBS_RDMA_MAX];

    /* requests not yet (fully) posted, in call order; head_off: bytes of the
     * head request already posted (as fragments or chunks) */
    mlos_wr_t *q_head, *q_tail;
    size_t head_off;

    /* credits (cumulative counters, wrapping) */
    uint32_t sent;          /* SENDs posted */
    uint32_t peer_consumed; /* receives the peer re-posted, as last told */
    uint32_t consumed;      /* receives we re-posted */
    uint32_t reported;      /* consumed as last told to the peer */

    /* reassembly of a fragmented message */
    uint8_t *asm_buf;
    long asm_have; /* -1: none in progress */
    uint32_t asm_total, asm_type;
};

/* msg_verbs_data.c */
int verbs_data_init(struct verbs_ep *v);    /* buffers, CQ, QP in INIT, receives posted */
int verbs_qp_init(struct verbs_ep *v);      /* QP RESET -> INIT */
int verbs_post_recvs(struct verbs_ep *v);   /* every receive slot */
int verbs_post_send_slot(struct verbs_ep *v, unsigned i); /* staged SEND i, again */
int verbs_post_rdma_slot(struct verbs_ep *v, unsigned i); /* RDMA chunk i, again */
void verbs_rebuild_free(struct verbs_ep *v); /* free lists from the busy flags */
void verbs_data_free(struct verbs_ep *v);   /* after every handle is closed */
void verbs_data_cq_ready(uv_poll_t *h, int status, int events);
void verbs_data_drain(struct verbs_ep *v);  /* poll the CQ until empty */
void verbs_spin_extend(struct verbs_ep *v);   /* polling mode: poll from the loop for spin_us from now */
void verbs_spin_poll(uv_idle_t *h);
void verbs_data_flush(struct verbs_ep *v);  /* post what the queue and credits allow */
int verbs_data_post(struct verbs_ep *v, mlos_wr_t *wr);
void verbs_data_abort(struct verbs_ep *v);  /* complete everything with MLOS_ECONNRESET */

/* msg_verbs_recover.c */
void verbs_recover_begin(struct verbs_ep *v);    /* our QP is (or must go) in error */
void verbs_recover_progress(struct verbs_ep *v); /* after draining the CQ */
void verbs_recover_record(struct verbs_ep *v, const struct mlos_verbs_setup *s); /* RESET/RESUME */

/* msg_verbs.c: the endpoint is unusable (idempotent). */
void verbs_fail(struct verbs_ep *v, int status);
int verbs_send_rec(struct verbs_ep *v, const struct mlos_verbs_setup *s);
int verbs_qp_connect(struct verbs_ep *v, const struct mlos_verbs_setup *peer); /* INIT -> RTR -> RTS */
uint32_t verbs_new_psn(void);
void verbs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
