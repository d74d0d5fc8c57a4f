/* rpc/msg/msg_transport.h -- what a messaging transport implements.
 *
 * The core (msg.c) parses the address prefix ("shm:", "tcp:", "verbs:"),
 * validates every request (arguments, local bounds and access, remote
 * bounds against the exported rkey) and then hands it to the transport. A
 * transport moves bytes and reports back through the mlos__* calls below,
 * always from the loop, never re-entrantly from inside a core entry point
 * (queueing a completion with mlos__wr_complete is always safe).
 *
 * Transport duties:
 *   - sends: in order, at most MLOS_EP_CREDITS in flight, the rest queued;
 *     the peer's recv callback gets (type, bytes) exactly once each.
 *   - put/get: target-side check with mlos_mr_check() (shm: before handing
 *     out a mapping; tcp: per request) or by the NIC (verbs), mapping NIC
 *     errors to MLOS_EKEY / MLOS_EACCES / MLOS_ERANGE.
 *   - failures: complete everything outstanding with MLOS_ECONNRESET and
 *     report mlos__ep_failed; connect timeouts with MLOS_ETIMEDOUT.
 *   - close: release every fd, mapping, handle; then mlos__ep_closed.
 */
#ifndef MLOS_MSG_TRANSPORT_H
#define MLOS_MSG_TRANSPORT_H

#include "msg.h"

struct mlos_transport {
    const char *name; /* address prefix without ':' */
    int (*listen)(mlos_listener_t *l, const char *where);
    int (*accept)(mlos_listener_t *l, mlos_ep_t *ep);
    int (*listener_addr)(const mlos_listener_t *l, char *out, size_t cap); /* full address incl. prefix */
    void (*listener_close)(mlos_listener_t *l);
    int (*connect)(mlos_ep_t *ep, const char *where, unsigned timeout_ms);
    void (*close)(mlos_ep_t *ep);
    int (*post)(mlos_ep_t *ep, mlos_wr_t *wr); /* wr validated; 0 or an immediate error */
    /* optional: a region of dom was deregistered; stop serving rkey at once */
    void (*revoke)(mlos_domain_t *dom, uint32_t rkey);
    /* optional: refusals of the peer's accesses counted toward closing it;
     * forgive takes one off (0, MLOS_ENOENT when none is counted) */
    unsigned (*refused)(const mlos_ep_t *ep);
    int (*forgive)(mlos_ep_t *ep);
    /* optional: polling mode (mlos_ep_set_spin) */
    int (*set_spin)(mlos_ep_t *ep, unsigned spin_us);
    /* optional: mlos_sendv without copying what can be written at once;
     * 0 (the transport took the request), MLOS_EAGAIN (not now: the core
     * copies the message and posts it), or an error */
    int (*sendv)(mlos_ep_t *ep, mlos_wr_t *wr, const struct mlos_iov *iov, unsigned niov);
    /* 1 if the transport offers incoming messages to ep->on_place */
    int places;
};

extern const struct mlos_transport mlos_transport_shm;
extern const struct mlos_transport mlos_transport_tcp;
extern const struct mlos_transport mlos_transport_verbs; /* stub returning MLOS_ENOTSUP without libibverbs */

/* RDMA device hooks, called by the core (msg_verbs.c; the stub build
 * returns MLOS_ENOTSUP from open and does nothing else). */
int mlos__verbs_open(mlos_domain_t *dom);          /* sets dom->verbs */
void mlos__verbs_close(mlos_domain_t *dom);
int mlos__verbs_reg(mlos_domain_t *dom, mlos_mr_t *mr);   /* sets mr->verbs_mr, mr->verbs_rkey */
void mlos__verbs_dereg(mlos_mr_t *mr);

/* Reset ep for transport tp in dom, keeping the caller's data, on_recv and
 * on_fail (for transports that bind endpoints outside listen/connect). */
void mlos__ep_init(mlos_ep_t *ep, mlos_domain_t *dom, const struct mlos_transport *tp);

/* Queue wr's completion; the callback runs from the loop soon after. */
void mlos__wr_complete(mlos_wr_t *wr, int status);
/* Connection outcome of mlos_connect (once). */
void mlos__ep_connected(mlos_ep_t *ep, int status);
/* A message arrived: calls ep->on_recv (data valid during the call). */
void mlos__ep_deliver(mlos_ep_t *ep, uint32_t type, const void *data, size_t len);
/* The transport broke or the peer left: the endpoint is unusable. */
void mlos__ep_failed(mlos_ep_t *ep, int status);
/* Teardown finished (after close, or after failure + close). */
void mlos__ep_closed(mlos_ep_t *ep);
/* A peer is waiting to be accepted on l. */
void mlos__listener_incoming(mlos_listener_t *l, int status);

/* Rate limit for log lines a peer can trigger at will (one per connection
 * it opens): at most MLOS_LOG_BURST a second per limiter, then one line
 * saying how many were suppressed. 1: print this one. */
#define MLOS_LOG_BURST 10u
struct mlos_log_limit {
    uint64_t t0;
    unsigned n, dropped;
};
int mlos__log_allowed(struct mlos_log_limit *l);

/* Endpoint states (ep->state). */
enum { MLOS_EP_INIT, MLOS_EP_CONNECTING, MLOS_EP_OPEN, MLOS_EP_FAILED, MLOS_EP_CLOSING, MLOS_EP_CLOSED };

#endif
