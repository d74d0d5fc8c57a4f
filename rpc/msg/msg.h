/* rpc/msg/msg.h -- verbs-shaped messaging between shards.
 *
 * One API, three transports chosen per peer by the address:
 *   "shm:PATH"            same host: a unix socket at PATH for setup; data
 *                         through shared memory (memfd rings + eventfd
 *                         doorbells); one-sided ops are plain stores into the
 *                         peer's memfd-backed region (zero copy).
 *   "tcp:HOST:PORT"       any host: libuv TCP; one-sided ops are served by the
 *                         peer's progress engine; a receiver can have big
 *                         messages read straight into its regions
 *                         (mlos_ep_set_place) and an idle sender writes
 *                         from the caller's buffers (mlos_sendv).
 *   "verbs:IPV4:PORT"     RDMA NIC or Soft-RoCE (rxe): libibverbs RC queue
 *                         pair (SEND, RDMA WRITE, RDMA READ); queue pair
 *                         numbers are exchanged over a TCP side channel.
 *
 * Objects (libuv style: caller-owned structs, callbacks on the domain's
 * loop, never called re-entrantly from the function that queued them):
 *   mlos_domain_t   a loop plus the table of registered memory regions
 *   mlos_mr_t       a registered region: lkey (local use) and rkey (peers)
 *   mlos_listener_t accepts endpoints
 *   mlos_ep_t       a connected endpoint (one peer, one transport)
 *   mlos_wr_t       one work request (send, put, get) until its completion
 *
 * Two-sided: mlos_send() delivers (type, bytes) to the peer's recv
 * callback, in order; typically a packed protobuf-c message. Sends are
 * flow controlled with credits: at most MLOS_EP_CREDITS messages are in
 * flight per endpoint; further sends queue locally, in order.
 *
 * One-sided: mlos_ep_put()/mlos_ep_get() copy between a local region and a
 * peer's region named by a struct mlos_rkey the peer exported (typically sent
 * in a message). Every access is checked against the region's key, access
 * rights and bounds: locally before posting (MLOS_ERANGE, MLOS_EACCES) and by
 * the target (shm: when it hands out the mapping; tcp: its progress engine;
 * verbs: the NIC). A bad key completes with MLOS_EKEY. Nothing is ever
 * written outside a registered region. A refused access fails only that
 * request: the endpoint stays open on every transport (verbs brings both
 * RC queue pairs back through its side channel and re-posts what the
 * error flushed, in order; requests made meanwhile wait) -- unless the peer
 * has presented too many keys that match no region (below).
 *
 * Keys are capabilities. A region's key is a handle (slot and a
 * registration counter: not secret, it only finds the region fast) plus
 * 64 bits drawn from the kernel's random generator (getrandom) for every
 * registration, so knowing one region's key says nothing about another's
 * and a revoked key never matches a later region. The target compares the
 * secret in constant time. A peer that presents more than
 * MLOS_EP_MAX_BAD_KEYS keys that match no live region (revoked or never
 * issued: a guessing client, or a badly broken one) is disconnected: the
 * target logs why, tells the initiator (tcp: an ABORT frame; shm: a BYE
 * record with the reason) and both sides' on_fail get MLOS_EKEY. A key naming a live region with the wrong rights or bounds is
 * not a guess and is not counted. Over verbs the NIC checks its own rkey
 * (32 bits, chosen by the driver, often partly predictable) and cannot
 * tell a bad key from bad bounds; the target counts the queue pair
 * recoveries the peer causes and closes after 16 (msg_verbs_wire.h): keep
 * verbs regions on fabrics you trust.
 *
 * Outstanding work per peer is bounded: a tcp target stops reading from a
 * peer whose replies (GET data, acknowledgements) queued for writing exceed
 * MLOS_EP_OUT_SOFT bytes -- backpressure: the request waits unread and the
 * peer's own writes block -- and resumes once they drained below half of
 * that. A peer that never reads thus holds at most MLOS_EP_OUT_SOFT plus one
 * chunk (1 MiB) of the target's memory, and is dropped after
 * MLOS_EP_IDLE_TIMEOUT_MS without progress. An endpoint that waits for
 * replies to requests of its own is not paused (two peers paused on each
 * other would never resume); it is closed once it owes the peer more than
 * MLOS_EP_OUT_HARD. shm and verbs targets queue nothing for their peers
 * (one-sided ops are copies or the NIC's business).
 *
 * Errors: negative MLOS_E* codes. An endpoint whose peer disappears, or
 * whose transport fails, completes every outstanding request with
 * MLOS_ECONNRESET and then calls its close callback if one was set.
 * Timeouts: connect (argument), and MLOS_EP_IDLE_TIMEOUT_MS without any
 * progress on an outstanding request (the peer is declared dead).
 */
#ifndef MLOS_MSG_H
#define MLOS_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mlos_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLOS_EP_CREDITS 64
#define MLOS_EP_MAX_MSG (1u << 20)       /* largest two-sided message */
#define MLOS_EP_IDLE_TIMEOUT_MS 10000
#define MLOS_EP_MAX_BAD_KEYS 4           /* unknown keys a peer may present; one more drops it */
#define MLOS_EP_OUT_SOFT (8u << 20)      /* replies queued per endpoint before reading pauses */
#define MLOS_EP_OUT_HARD (256u << 20)    /* queued bytes that close an endpoint that cannot pause */

typedef struct mlos_domain_s mlos_domain_t;
typedef struct mlos_mr_s mlos_mr_t;
typedef struct mlos_ep_s mlos_ep_t;
typedef struct mlos_listener_s mlos_listener_t;
typedef struct mlos_wr_s mlos_wr_t;

/* ---- memory regions ---- */

enum mlos_access {
    MLOS_ACCESS_LOCAL = 0,        /* source/target of local operations only */
    MLOS_ACCESS_REMOTE_READ = 1,  /* peers may mlos_ep_get from it */
    MLOS_ACCESS_REMOTE_WRITE = 2, /* peers may mlos_ep_put into it */
};

struct mlos_mr_s {
    void *addr;      /* read-only after registration */
    size_t len;
    unsigned access; /* enum mlos_access bits */
    uint32_t lkey;
    uint32_t rkey;   /* handle: slot | counter << 16 (not secret) */
    uint64_t secret; /* 64 random bits, fresh per registration */
    /* private */
    mlos_domain_t *dom;
    int memfd;        /* >= 0 for regions from mlos_mr_alloc (shareable) */
    int owned;        /* memory allocated by mlos_mr_alloc */
    void *verbs_mr;   /* struct ibv_mr * when the domain has an RDMA device */
    uint32_t verbs_rkey;
};

/* What a peer needs to address a region: export with mlos_mr_rkey and send
 * it (mlos_rkey_encode gives 40 little-endian bytes). Whoever holds it can
 * use the region: send it only to peers that should. */
struct mlos_rkey {
    uint64_t addr;       /* region base in the owner's address space */
    uint64_t len;
    uint32_t rkey;       /* mlos key handle (shm, tcp) */
    uint32_t verbs_rkey; /* NIC key (verbs), 0 if none */
    uint32_t access;
    uint32_t reserved;
    uint64_t secret;     /* mlos key secret (shm, tcp): checked by the target */
};
#define MLOS_RKEY_WIRE_SIZE 40u
void mlos_mr_rkey(const mlos_mr_t *mr, struct mlos_rkey *out);
void mlos_rkey_encode(const struct mlos_rkey *k, uint8_t out[MLOS_RKEY_WIRE_SIZE]);
int mlos_rkey_decode(const uint8_t *buf, size_t len, struct mlos_rkey *out);

/* ---- domain ---- */

struct mlos_domain_s {
    uv_loop_t *loop;
    void *data;
    /* private */
    mlos_mr_t **mrs;       /* indexed by key & 0xffff */
    uint32_t nmrs;
    uint32_t generation;   /* upper handle bits, request ids */
    void *verbs;           /* opened RDMA device context/PD, if any */
    mlos_wr_t *done_head, *done_tail; /* completions waiting for the loop */
    uv_idle_t completer;
};

/* flags for mlos_domain_init */
#define MLOS_DOMAIN_VERBS 1u /* open the first RDMA device (MLOS_ENOTSUP if none) */

int mlos_domain_init(mlos_domain_t *dom, uv_loop_t *loop, unsigned flags);
/* All endpoints must be closed and all regions deregistered first:
 * MLOS_EINVAL otherwise. */
int mlos_domain_close(mlos_domain_t *dom);

/* Register existing memory. Works for every transport for local access and
 * for tcp/verbs remote access; a shm peer can only reach regions from
 * mlos_mr_alloc (shareable memory): remote access bits on mlos_mr_reg'ed
 * memory are refused for shm peers with MLOS_EACCES. */
int mlos_mr_reg(mlos_domain_t *dom, mlos_mr_t *mr, void *addr, size_t len, unsigned access);
/* Allocate shareable, zeroed memory (memfd) and register it. The memfd is
 * sealed: peers it is shared with cannot resize it, and without
 * MLOS_ACCESS_REMOTE_WRITE only the mapping made here can write it. */
int mlos_mr_alloc(mlos_domain_t *dom, mlos_mr_t *mr, size_t len, unsigned access);
/* Revoke: the keys stop working at once (peers get MLOS_EKEY); memory from
 * mlos_mr_alloc is freed. */
int mlos_mr_dereg(mlos_mr_t *mr);

/* Target-side check used by transports: the region behind (rkey, secret)
 * if it grants `need` access to [off, off+len). The secret is compared in
 * constant time. Errors: MLOS_EKEY (no live region has this key: the
 * caller counts it against the peer), MLOS_EACCES, MLOS_ERANGE. */
int mlos_mr_check(mlos_domain_t *dom, uint32_t rkey, uint64_t secret, uint64_t off, uint64_t len, unsigned need,
                  mlos_mr_t **out);

/* ---- endpoints ---- */

typedef void (*mlos_connection_cb)(mlos_listener_t *l, int status);
typedef void (*mlos_connect_cb)(mlos_ep_t *ep, int status);
typedef void (*mlos_recv_cb)(mlos_ep_t *ep, uint32_t type, const void *data, size_t len);
typedef void (*mlos_ep_close_cb)(mlos_ep_t *ep);
typedef void (*mlos_wr_cb)(mlos_wr_t *wr, int status);

struct mlos_transport; /* private: one per backend (msg_transport.h) */
struct mlos_place;     /* mlos_ep_set_place */

struct mlos_listener_s {
    void *data;
    /* private */
    mlos_domain_t *dom;
    const struct mlos_transport *tp;
    void *impl;
    mlos_connection_cb cb;
};

typedef void (*mlos_ep_fail_cb)(mlos_ep_t *ep, int status);

struct mlos_ep_s {
    void *data;
    mlos_recv_cb on_recv;     /* set before or right after connect/accept */
    mlos_ep_fail_cb on_fail;  /* optional: the peer left or the transport broke; call mlos_ep_close */
    char transport[8];        /* "shm", "tcp", "verbs" */
    /* private */
    mlos_domain_t *dom;
    const struct mlos_transport *tp;
    void *impl;
    int state;
    mlos_connect_cb connect_cb;
    mlos_ep_close_cb close_cb;
    size_t place_head; /* mlos_ep_set_place; no on_place: every message goes to on_recv */
    int (*on_place)(mlos_ep_t *ep, struct mlos_place *pl);
    void (*on_placed)(mlos_ep_t *ep, struct mlos_place *pl, int status);
};

enum mlos_wr_op { MLOS_WR_SEND = 1, MLOS_WR_PUT = 2, MLOS_WR_GET = 3 };

struct mlos_wr_s {
    void *data;
    int status;          /* valid in the callback */
    /* private */
    enum mlos_wr_op op;
    mlos_ep_t *ep;
    mlos_wr_cb cb;
    mlos_wr_t *next;
    uint64_t id;
    /* operation arguments kept until completion */
    uint32_t type;
    const void *buf;
    size_t len;
    mlos_mr_t *local;
    size_t local_off;
    struct mlos_rkey remote;
    uint64_t remote_off;
    void *owned;         /* buffer the library allocated for this request (mlos_send_pb) */
};

/* Listen on addr; cb runs for each incoming connection, which the callback
 * takes with mlos_accept(). */
int mlos_listen(mlos_domain_t *dom, mlos_listener_t *l, const char *addr, mlos_connection_cb cb);
int mlos_accept(mlos_listener_t *l, mlos_ep_t *ep);
/* The address peers connect to (e.g. the real port after "tcp:127.0.0.1:0"). */
int mlos_listener_addr(const mlos_listener_t *l, char *out, size_t cap);
/* Stop listening; endpoints already accepted stay open. The listener's
 * resources are released from the loop (run it once more). */
void mlos_listener_close(mlos_listener_t *l);

/* Connect to addr; cb(ep, 0) when usable, cb(ep, <0) on failure or after
 * timeout_ms (0: 5000). */
int mlos_connect(mlos_domain_t *dom, mlos_ep_t *ep, const char *addr, unsigned timeout_ms, mlos_connect_cb cb);

/* Tear down: outstanding requests complete with MLOS_ECONNRESET, then cb.
 * The peer sees its endpoint close. */
int mlos_ep_close(mlos_ep_t *ep, mlos_ep_close_cb cb);

/* Two-sided send of len bytes (<= MLOS_EP_MAX_MSG) tagged with type. buf
 * must stay valid until cb. */
int mlos_send(mlos_ep_t *ep, mlos_wr_t *wr, uint32_t type, const void *buf, size_t len, mlos_wr_cb cb);

/* Two-sided send of a protobuf-c message: packed into a buffer the library
 * owns until cb (so msg may be freed at once). MLOS_ETOOBIG over
 * MLOS_EP_MAX_MSG, MLOS_ENOMEM. The peer unpacks (type, bytes) itself. */
struct ProtobufCMessage;
int mlos_send_pb(mlos_ep_t *ep, mlos_wr_t *wr, uint32_t type, const struct ProtobufCMessage *msg, mlos_wr_cb cb);

/* Two-sided send of the concatenation of niov buffers (at most
 * MLOS_EP_SENDV_MAX, together at most MLOS_EP_MAX_MSG bytes), tagged with
 * type. The buffers are the caller's again when this returns. Over tcp, an
 * endpoint with nothing queued or being written and a send credit free
 * writes straight from them whatever the kernel's socket buffer takes at
 * once and copies only the rest; otherwise, and over shm and verbs, the
 * message is copied whole. The copy is the library's until cb, which runs
 * once the message has been handed to the transport, as for mlos_send.
 * For big messages from memory the caller may change right after the call
 * (a put's source): an idle link sends them without a copy. */
#define MLOS_EP_SENDV_MAX 8u
struct mlos_iov {
    const void *base;
    size_t len;
};
int mlos_sendv(mlos_ep_t *ep, mlos_wr_t *wr, uint32_t type, const struct mlos_iov *iov, unsigned niov,
               mlos_wr_cb cb);

/* Placement: big messages read off the wire straight into registered
 * memory, for an application that knows where a kind of message belongs
 * (a put's bytes into a window) and would otherwise copy it there out of
 * the message buffer. With hooks set, every incoming message longer than
 * head_len bytes is first offered to on_place, with its type, its length
 * and a copy of its first head_len bytes (what the application needs to
 * decide: its own header). on_place
 *   - returns 0 and leaves pl->mr NULL: the message goes to on_recv as usual;
 *   - returns 0 with pl->mr (a region of the endpoint's domain) and pl->off:
 *     bytes [head_len, len) of the message are read into mr at off, and
 *     on_placed(ep, pl, 0) runs once they are all there;
 *   - returns < 0: the message is refused: read and dropped, and
 *     on_placed(ep, pl, that code).
 * The transport checks [off, off + len - head_len) against the region
 * before a byte lands (outside it, or a region no longer registered:
 * nothing is written, the message is dropped, on_placed gets MLOS_ERANGE or
 * MLOS_EKEY), and again before every read into it: a region deregistered
 * in the middle of a message is not written any further (the rest is
 * dropped, MLOS_EKEY). Nothing is ever written outside that range. The
 * endpoint stays open in every one of these cases. A placed message takes
 * its credit and its place in the order like any other: on_placed runs
 * before the next message is delivered. If the endpoint fails or is
 * closed in the middle of a message, on_placed is not called (on_fail or
 * the close callback are) and the range may hold the part that arrived.
 * on_place must not close the endpoint; on_placed may.
 * Set after mlos_connect or mlos_accept; NULL hooks turn placement off.
 * 0, MLOS_EINVAL (head_len over MLOS_EP_PLACE_HEAD_MAX, one hook without the
 * other, an endpoint not open or connecting), MLOS_ENOTSUP (shm and verbs:
 * messages arrive in the transport's own buffers there). */
#define MLOS_EP_PLACE_HEAD_MAX 64u
struct mlos_place {
    uint32_t type;                        /* the message's type */
    size_t len;                           /* its whole length */
    size_t head_len;                      /* bytes in head */
    uint8_t head[MLOS_EP_PLACE_HEAD_MAX]; /* its first head_len bytes (a copy) */
    mlos_mr_t *mr;                        /* set by on_place: where the rest goes */
    size_t off;
    void *ctx;                            /* free for the hooks */
};
typedef int (*mlos_place_cb)(mlos_ep_t *ep, struct mlos_place *pl);
typedef void (*mlos_placed_cb)(mlos_ep_t *ep, struct mlos_place *pl, int status);
int mlos_ep_set_place(mlos_ep_t *ep, size_t head_len, mlos_place_cb on_place, mlos_placed_cb on_placed);

/* Fire and forget one mlos frame (rpc/wire/frame.h): the header with type and
 * request_id, then msg packed (nothing when msg is NULL); the message is
 * tagged with type too. The library owns the request and the bytes and
 * frees them when the send completes, however it ends (a failed endpoint
 * reports itself). MLOS_ETOOBIG over MLOS_EP_MAX_MSG, MLOS_ENOMEM, or
 * mlos_send's errors. */
int mlos_send_frame(mlos_ep_t *ep, uint8_t type, uint32_t request_id, const struct ProtobufCMessage *msg);

/* Refused accesses the peer still has counted against it: over verbs, the
 * queue pair recoveries its accesses caused (MLOS_VERBS_MAX_PEER_RECOVERIES
 * more close it). 0 on transports that do not count that way (tcp and shm
 * count unknown keys themselves, MLOS_EP_MAX_BAD_KEYS). */
unsigned mlos_ep_refused(const mlos_ep_t *ep);
/* Take one refusal off that count: for an application that knows the
 * refused access was honest, because the peer used a key this side revoked
 * itself while the peer's request was already on its way (a region torn
 * down under a put in flight). The application must tie each forgiveness
 * to such a key, and bound how many one key may earn: every refusal it
 * forgives is one more guess a hostile peer gets. 0, MLOS_ENOENT (nothing
 * counted), MLOS_ENOTSUP (the transport does not count refusals),
 * MLOS_EINVAL. */
int mlos_ep_forgive(mlos_ep_t *ep);

/* Polling mode: after each completion and each post, the endpoint polls
 * its completion queue from the loop for spin_us microseconds before it
 * waits for the device's event again, and the loop does not sleep while it
 * polls (it keeps one core busy). For links where waking a sleeping thread
 * costs more than the round trip itself (RDMA). 0 (the default) turns it
 * off; at most MLOS_EP_SPIN_MAX_US. 0, MLOS_ENOTSUP (the transport has no
 * completion queue to poll: shm, tcp), MLOS_EINVAL. */
#define MLOS_EP_SPIN_MAX_US 1000000u
int mlos_ep_set_spin(mlos_ep_t *ep, unsigned spin_us);

/* One-sided: copy len bytes from local[local_off] to the peer's region
 * remote at remote_off (put), or the other way (get). cb runs when the data
 * is in place at the destination. */
int mlos_ep_put(mlos_ep_t *ep, mlos_wr_t *wr, mlos_mr_t *local, size_t local_off, const struct mlos_rkey *remote,
                uint64_t remote_off, size_t len, mlos_wr_cb cb);
int mlos_ep_get(mlos_ep_t *ep, mlos_wr_t *wr, mlos_mr_t *local, size_t local_off, const struct mlos_rkey *remote,
                uint64_t remote_off, size_t len, mlos_wr_cb cb);

#ifdef __cplusplus
}
#endif

#endif
