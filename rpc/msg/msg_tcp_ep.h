/* rpc/msg/msg_tcp_ep.h -- private state of the "tcp:" transport, shared by
 *   msg_tcp.c      lifecycle: listen, connect, accept, post, close,
 *                  teardown, connect and idle timers
 *   msg_tcp_out.c  output: frame queues, send credits, coalescing flush
 *   msg_tcp_in.c   input: read buffer, payload sinks, serving one-sided
 *                  requests, matching replies
 * Wire format: msg_tcp_wire.h. Everything runs on the domain's loop.
 *
 * Sending: work requests become frames on an in-order output queue; a
 * uv_prepare handle flushes everything queued during one loop iteration as
 * one uv_write (many buffers, one writev), so small messages coalesce while
 * an idle endpoint still writes at once. SENDs need a credit (at most
 * MLOS_EP_CREDITS unacknowledged); without one they wait, in order, with
 * everything posted after them. The receiver returns credits piggy-backed
 * on the first frame it writes, or in a CREDIT frame once CREDIT_BATCH are
 * owed. A SEND completes when libuv has handed its bytes to the kernel.
 *
 * One-sided: PUT/GET are split into MLOS_TCP_RMA_CHUNK pieces. The target
 * checks every piece with mlos_mr_check right before touching the region
 * (a region revoked mid-transfer is never written) and answers PUT_ACK /
 * GET_DATA in request order; the initiator matches each reply to its
 * oldest outstanding piece and completes the wr with the first error among
 * its pieces, or 0.
 *
 * mlos_sendv on an idle endpoint (nothing queued or in flight, a credit
 * free) writes the frame at once with uv_try_write straight from the
 * caller's buffers; only the tail the kernel did not take is copied, into
 * a raw frame that goes out first (its header is already on the wire).
 *
 * Receiving: frames that fit the 64 KiB read buffer are handled in place
 * (messages are delivered straight from it); larger payloads stream into
 * their destination (a message buffer, the target region, the initiator's
 * local region, a region on_place chose), read directly there when the
 * read buffer is empty. Right after such a payload the next read stops at
 * the next frame's header, so that a big frame behind it is read directly
 * too. A message offered to on_place waits in the read buffer until its
 * first place_head bytes are there.
 *
 * Bounds on a peer (msg.h): a target answers MLOS_EKEY for a key that
 * matches no live region and, past MLOS_EP_MAX_BAD_KEYS of them, queues
 * ABORT(MLOS_EKEY), stops reading and fails the endpoint with MLOS_EKEY
 * once ABORT is written (or the idle timer gives up). Replies it owes are
 * counted in out_bytes; before serving a PUT or GET while out_bytes is over
 * MLOS_EP_OUT_SOFT it stops reading (the request waits in the read buffer)
 * and resumes when the writes drained it under half of that. It does not
 * pause while requests of its own wait for this peer's replies (two peers
 * paused on each other would never resume): then MLOS_EP_OUT_HARD bytes
 * owed close the endpoint.
 *
 * Failure (EOF, reset, write error, malformed frame, idle or connect
 * timeout): every outstanding wr completes with MLOS_ECONNRESET, the
 * handles close, and the core hears mlos__ep_failed (or the connect
 * error). Close: same teardown, then mlos__ep_closed once every handle is
 * released, queued behind the wr completions on the core's completion
 * queue so the close callback comes last.
 */
#ifndef MLOS_MSG_TCP_EP_H
#define MLOS_MSG_TCP_EP_H

#include "msg_tcp_wire.h"
#include "msg_transport.h"

#define TCP_RBUF_CAP (64u << 10)   /* frames up to this size are handled in place */
#define TCP_DIRECT_MIN (16u << 10) /* streamed payloads at least this big skip the read buffer */
#define TCP_CREDIT_BATCH 16u       /* return credits alone once this many are owed */
#define TCP_BATCH_MAX 64u          /* frames per uv_write */
#define TCP_FRAME_CACHE 256u       /* recycled frame structs per endpoint */

/* One outgoing frame. */
struct frame {
    struct frame *next;
    mlos_wr_t *wr;          /* the request it belongs to; NULL for replies and credits */
    int last;               /* the wr completes with this frame (SEND, last PUT/GET piece) */
    struct mlos_tcp_hdr h;  /* encoded at flush, when the credit field is known */
    const void *payload;    /* h.len bytes for SEND, PUT, GET_DATA */
    void *owned;            /* payload copy freed with the frame (GET_DATA) */
    size_t local_off;       /* GET: where this piece lands in wr->local */
    size_t raw_len;         /* > 0: the unwritten tail of a frame mlos_sendv began
                               writing (header included), in owned; first in out */
};

struct fifo {
    struct frame *head, *tail;
};

/* One uv_write: headers are copied here so queued frames can move on. */
struct batch {
    uv_write_t req;
    struct tcp_ep *t;
    struct batch *next;
    struct frame *done; /* frames finished by this write (SENDs, replies) */
    uv_buf_t *bufs;
    uint8_t (*hdrs)[MLOS_TCP_HDR_SIZE];
};

enum sink_kind { SINK_NONE, SINK_SEND, SINK_PUT, SINK_GET, SINK_PLACE };

struct tcp_ep {
    mlos_ep_t *ep;
    uv_tcp_t tcp;
    uv_prepare_t flusher;
    uv_timer_t timer; /* connect timeout, then idle checks */
    uv_connect_t creq;
    uv_write_t hello_req;
    uint8_t hello[MLOS_TCP_HELLO_SIZE];
    int handles;         /* open libuv handles */
    int opened;          /* connector: peer hello seen; acceptor: accepted */
    int peer_hello;      /* peer hello received */
    int torn;            /* teardown started */
    int close_requested; /* transport close() was called */
    int silent;          /* setup failed inside connect()/accept(): no callbacks */
    int connect_status;  /* connect failure still to report (<0) */
    int final_queued;
    mlos_wr_t final_wr;  /* rides the completion queue to report the end */

    /* output */
    struct fifo out;     /* ready to write, in order */
    struct fifo wait;    /* behind a SEND without credit, in order */
    struct fifo rma;     /* PUT/GET pieces written, reply pending, in order */
    struct batch *inflight_head, *inflight_tail;
    unsigned credits;    /* SENDs we may still write */
    unsigned owed;       /* credits to hand back to the peer */
    unsigned recv_unacked; /* SENDs received and not yet credited back */
    int rma_err;         /* first error among the replied pieces of the current wr */
    uint64_t next_id;
    uint64_t last_progress;
    struct frame *cache;
    unsigned ncache;
    size_t out_bytes;    /* reply bytes queued or being written (peer-driven) */
    unsigned own_rma;    /* our PUT/GET pieces posted, reply not yet in */
    unsigned bad_keys;   /* keys the peer presented that match no region */
    int paused;          /* reading stopped: out_bytes over MLOS_EP_OUT_SOFT */
    int aborting;        /* ABORT queued: fail once it is written */
    int abort_status;

    /* input */
    uint8_t *rbuf;
    size_t rpos, rlen;
    int direct;          /* the last alloc pointed into the sink */
    int after_stream;    /* a streamed payload just ended: read up to the next header only */
    struct {
        enum sink_kind kind;
        struct mlos_tcp_hdr h;
        uint8_t *dest;   /* SEND: message buffer */
        size_t done;
        int status;      /* PUT/GET/PLACE: first check failure; the rest is discarded */
        struct mlos_place pl; /* PLACE: what on_place said; the region by key, */
        uint32_t pl_key;      /* looked up again before every write into it */
        uint64_t pl_secret;
    } sink;
    int place_declined;  /* on_place passed the frame at rpos on to on_recv */
    int pending_fail;    /* an error to fail with from the loop (not inside a call) */
};

static inline void fifo_push(struct fifo *q, struct frame *f)
{
    f->next = NULL;
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
}

static inline struct frame *fifo_pop(struct fifo *q)
{
    struct frame *f = q->head;
    if (f && !(q->head = f->next))
        q->tail = NULL;
    return f;
}

/* msg_tcp.c */
void mlos__tcp_fail(struct tcp_ep *t, int status);                  /* tear down, tell the core */
void mlos__tcp_proto_fail(struct tcp_ep *t, int rc, const char *why); /* same, after logging why */
void mlos__tcp_abort(struct tcp_ep *t, int status, const char *why); /* ABORT(status) out, then fail */
void mlos__tcp_arm_idle(struct tcp_ep *t);


/* msg_tcp_out.c */
struct frame *mlos__tcp_frame_new(struct tcp_ep *t); /* zeroed; NULL when out of memory */
void mlos__tcp_frame_free(struct tcp_ep *t, struct frame *f);
void mlos__tcp_enqueue(struct tcp_ep *t, struct frame *f);  /* a posted request's frame, in post order */
void mlos__tcp_release_waiting(struct tcp_ep *t);           /* after credits came back */
int mlos__tcp_reply(struct tcp_ep *t, uint8_t op, uint64_t id, int status, void *owned, uint32_t len);
void mlos__tcp_kick(struct tcp_ep *t);                      /* flush before the loop next blocks */
void mlos__tcp_out_abort(struct tcp_ep *t);                 /* complete every queued request: ECONNRESET */
int mlos__tcp_sendv(mlos_ep_t *ep, mlos_wr_t *wr, const struct mlos_iov *iov, unsigned niov);

/* msg_tcp_in.c: the uv_read_start callbacks */
void mlos__tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void mlos__tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
void mlos__tcp_resume(struct tcp_ep *t); /* out_bytes drained: read again */

#endif
